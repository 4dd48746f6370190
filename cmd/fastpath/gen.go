package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fastpathnet/fastpath/ether"
	"github.com/fastpathnet/fastpath/gen"
	"github.com/fastpathnet/fastpath/internal/ethtool"
	"github.com/fastpathnet/fastpath/internal/kernel"
	"github.com/fastpathnet/fastpath/internal/metrics"
	"github.com/fastpathnet/fastpath/port"
	"github.com/fastpathnet/fastpath/stack"
	"github.com/fastpathnet/fastpath/steering"
	"github.com/fastpathnet/fastpath/xsk"
	"github.com/spf13/cobra"
	"github.com/vishvananda/netlink"
)

type genFlags struct {
	dev, netns               string
	queues, cores            string
	src, dst, dstMAC         string
	size                     int
	imix, rate               string
	duration, interval       time.Duration
	count                    uint64
	flows                    int
	srcPorts, dstPorts, srcs string
	random, stamp, noCsum    bool
	mode, xdpMode            string
	batch, ring, frames      int
	busyPoll, json           bool
	metrics, control         string
}

func newGenCommand() *cobra.Command {
	var f genFlags
	cmd := &cobra.Command{
		Use:   "gen --dev IFACE --dst IP[:PORT]",
		Short: "Send UDP from AF_XDP sockets on a device's queues, at a rate or as fast as it goes",
		Long: `gen sends UDP/IPv4 from one AF_XDP socket per queue, each driven by its own
pinned sender. Frames are built once in the UMEM; each send rewrites only the
42-byte header (and the stamp), updating checksums incrementally.

Sizes count the Ethernet frame with its FCS, as pktgen and xdpsock do: --size 64
hands 60 bytes to the NIC. Bit rates count the wire (L1: frame, FCS, preamble
and gap). The destination MAC, unless given, comes from the kernel's routes and
neighbour table (shared mode): a destination behind a gateway works.

Live stats go to stderr every --interval; the summary at the end (one JSON
object on stdout with --json). SIGINT stops cleanly and still prints it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return genMain(cmd, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.dev, "dev", "", "device to send on (required)")
	fl.StringVar(&f.netns, "netns", "", "named network namespace of the device (as in ip netns exec)")
	fl.StringVar(&f.queues, "queues", "0", "queues to send on: a list such as 0,1, or all (one sender each)")
	fl.StringVar(&f.cores, "cores", "", "cores to pin the senders to, a list (default: not pinned)")
	fl.StringVar(&f.src, "src", "", "source IP[:PORT] (default: the device's first IPv4 address, port 1024)")
	fl.StringVar(&f.dst, "dst", "", "destination IP[:PORT] (required; port 9 by default)")
	fl.StringVar(&f.dstMAC, "dst-mac", "", "destination MAC (default: resolved through the kernel's routes and ARP)")
	fl.IntVar(&f.size, "size", 64, "Ethernet frame length with the 4-byte FCS, 64 to the MTU's")
	fl.StringVar(&f.imix, "imix", "", "sizes and weights instead of --size, such as 64:7,594:4,1518:1")
	fl.StringVar(&f.rate, "rate", "0", "packets/s (500, 50k, 1.5M) or bits/s on the wire (800Mbps, 10Gbps); 0: as fast as possible")
	fl.DurationVar(&f.duration, "duration", 0, "stop after this long (0: at --count, or SIGINT)")
	fl.Uint64Var(&f.count, "count", 0, "send exactly this many frames, then stop (0: no limit)")
	fl.IntVar(&f.flows, "flows", 0, "cycle through this many flows of the ranges (0: all their combinations)")
	fl.StringVar(&f.srcPorts, "src-port-range", "", "vary the source port over A-B")
	fl.StringVar(&f.dstPorts, "dst-port-range", "", "vary the destination port over A-B")
	fl.StringVar(&f.srcs, "src-ip-range", "", "vary the source address over A-B")
	fl.BoolVar(&f.random, "random", false, "pick each frame's flow at random instead of in order")
	fl.BoolVar(&f.stamp, "stamp", false, "stamp each payload with a stream, a sequence number and the send time (for fastpath sink)")
	fl.BoolVar(&f.noCsum, "no-udp-csum", false, "send no UDP checksum (0)")
	fl.StringVar(&f.mode, "mode", "auto", "AF_XDP mode: auto, copy or zerocopy")
	fl.StringVar(&f.xdpMode, "xdp-mode", "none", "attach fastpath's steering program (passing everything to the kernel) in this mode: none, native, generic or auto; TX needs none")
	fl.IntVar(&f.batch, "batch", 64, "frames per TX round, 1 to --ring")
	fl.IntVar(&f.ring, "ring", 2048, "TX ring size, a power of two")
	fl.IntVar(&f.frames, "frames", 4096, "UMEM frames per queue, more than --ring")
	fl.BoolVar(&f.busyPoll, "busy-poll", false, "busy poll the driver from the kicks (SO_PREFER_BUSY_POLL)")
	fl.DurationVar(&f.interval, "interval", time.Second, "how often to print live stats (0: never)")
	fl.BoolVar(&f.json, "json", false, "print the summary as one JSON object on stdout")
	fl.StringVar(&f.metrics, "metrics", "", metricsUsage)
	fl.StringVar(&f.control, "control", "", controlUsage)
	return cmd
}

// genConfig is a checked gen command line.
type genConfig struct {
	dev, netns string
	queues     []int // nil: all
	cores      []int
	spec       gen.Spec
	srcGiven   bool
	macGiven   bool
	rate       gen.Rate
	duration   time.Duration
	interval   time.Duration
	count      uint64
	xsk        xsk.Options
	xdpMode    string
	batch      int
	json       bool
}

func parseList(flag, s string) ([]int, error) {
	var out []int
	for _, part := range strings.Split(s, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(part))
		if err != nil || v < 0 {
			return nil, fmt.Errorf("--%s %q: use numbers such as 0 or 0,1", flag, s)
		}
		out = append(out, v)
	}
	return out, nil
}

func parseAddrPort(flag, s string, port uint16) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil && ap.Addr().Is4() {
		return ap, nil
	}
	if a, err := netip.ParseAddr(s); err == nil && a.Is4() {
		return netip.AddrPortFrom(a, port), nil
	}
	return netip.AddrPort{}, fmt.Errorf("--%s %q: use an IPv4 address with an optional port, such as 198.18.0.2 or 198.18.0.2:9", flag, s)
}

func genConfigOf(f genFlags) (genConfig, error) {
	c := genConfig{dev: f.dev, netns: f.netns, duration: f.duration, interval: f.interval, count: f.count, batch: f.batch, json: f.json}
	var err error
	if f.dev == "" {
		return c, fmt.Errorf("--dev is required: the device to send on")
	}
	if f.queues != "all" {
		if c.queues, err = parseList("queues", f.queues); err != nil {
			return c, fmt.Errorf("%w, or all", err)
		}
	}
	if f.cores != "" {
		if c.cores, err = parseList("cores", f.cores); err != nil {
			return c, err
		}
	}
	if f.dst == "" {
		return c, fmt.Errorf("--dst is required: the destination IP[:PORT], such as 198.18.0.2:9")
	}
	if c.spec.Dst, err = parseAddrPort("dst", f.dst, 9); err != nil {
		return c, err
	}
	if f.src != "" {
		c.srcGiven = true
		if c.spec.Src, err = parseAddrPort("src", f.src, 1024); err != nil {
			return c, err
		}
	}
	if f.dstMAC != "" {
		if c.spec.DstMAC, err = ether.ParseAddr(f.dstMAC); err != nil {
			return c, fmt.Errorf("--dst-mac %q: use a MAC such as 02:00:00:00:00:01", f.dstMAC)
		}
		c.macGiven = true
	}
	if f.imix != "" {
		if c.spec.Sizes, err = gen.ParseIMIX(f.imix); err != nil {
			return c, fmt.Errorf("--%w", err)
		}
	} else {
		if f.size < gen.MinSize || f.size > 9018 {
			return c, fmt.Errorf("--size %d: use an Ethernet frame length from 64 to the MTU's (1518 for MTU 1500), FCS included", f.size)
		}
		c.spec.Sizes = []gen.SizeWeight{{Size: f.size, Weight: 1}}
	}
	if c.rate, err = gen.ParseRate(f.rate); err != nil {
		return c, fmt.Errorf("--%w", err)
	}
	if f.flows < 0 {
		return c, fmt.Errorf("--flows %d: use 0 (every combination) or more", f.flows)
	}
	c.spec.Flows, c.spec.Random, c.spec.Stamp, c.spec.NoUDPChecksum = f.flows, f.random, f.stamp, f.noCsum
	c.spec.Seed = uint64(time.Now().UnixNano())
	if f.srcPorts != "" {
		if c.spec.SrcPorts, err = gen.ParsePortRange(f.srcPorts); err != nil {
			return c, fmt.Errorf("--src-%w", err)
		}
	}
	if f.dstPorts != "" {
		if c.spec.DstPorts, err = gen.ParsePortRange(f.dstPorts); err != nil {
			return c, fmt.Errorf("--dst-%w", err)
		}
	}
	if f.srcs != "" {
		if c.spec.SrcIPs, err = gen.ParseAddrRange(f.srcs); err != nil {
			return c, fmt.Errorf("--src-ip-range: %w", err)
		}
	}
	c.xsk = xsk.DefaultOptions()
	c.xsk.RXSize = 0 // TX only
	if c.xsk.Mode, err = xsk.ParseMode(f.mode); err != nil {
		return c, fmt.Errorf("--mode %q: use auto, copy or zerocopy", f.mode)
	}
	switch f.xdpMode {
	case "none", "native", "generic", "auto":
		c.xdpMode = f.xdpMode
	default:
		return c, fmt.Errorf("--xdp-mode %q: use none, native, generic or auto", f.xdpMode)
	}
	if f.ring < 64 || f.ring > 1<<16 || f.ring&(f.ring-1) != 0 {
		return c, fmt.Errorf("--ring %d: use a power of two from 64 to 65536", f.ring)
	}
	c.xsk.TXSize = uint32(f.ring)
	if f.frames <= f.ring || f.frames > 1<<20 {
		return c, fmt.Errorf("--frames %d: use more than --ring (%d) and at most 1048576", f.frames, f.ring)
	}
	c.xsk.UMEMOptions.FrameCount = uint32(f.frames)
	c.xsk.UMEMOptions.FrameSize = 4096
	if f.batch < 1 || f.batch > f.ring {
		return c, fmt.Errorf("--batch %d: use 1 to --ring (%d)", f.batch, f.ring)
	}
	c.xsk.BusyPoll.Enable = f.busyPoll
	if f.duration < 0 || f.interval < 0 {
		return c, fmt.Errorf("--duration and --interval must not be negative")
	}
	return c, nil
}

// genResult is gen's summary. Bytes count what is handed to the NIC
// (no FCS); bps counts the frames with their FCS, l1_bps the wire.
type genResult struct {
	Kernel      string  `json:"kernel"`
	Device      string  `json:"device"`
	Queues      []int   `json:"queues"`
	Cores       []int   `json:"cores,omitempty"`
	Mode        string  `json:"mode"`
	XDPMode     string  `json:"xdp_mode"`
	Rate        string  `json:"rate"`
	Sizes       string  `json:"sizes"`
	Flows       uint64  `json:"flows"`
	SentPackets uint64  `json:"sent_packets"`
	SentBytes   uint64  `json:"sent_bytes"`
	Completed   uint64  `json:"completed_packets"`
	DurationS   float64 `json:"duration_s"`
	PPS         float64 `json:"pps"`
	BPS         float64 `json:"bps"`
	L1BPS       float64 `json:"l1_bps"`
	RingFull    uint64  `json:"ring_full"`
	Kicks       uint64  `json:"kicks"`
	// BehindS is how far a paced run fell behind its rate's schedule, in
	// seconds (the mean over queues): rate x behind_s is the shortfall.
	// Stalls longer than gen.BurstTime (the CPU taken by something else)
	// or a device slower than the rate put it above zero.
	BehindS         float64 `json:"behind_s"`
	TXInvalid       uint64  `json:"tx_invalid_descs"`
	Errors          uint64  `json:"errors"`
	Interrupted     bool    `json:"interrupted"`
	DstMAC          string  `json:"dst_mac"`
	ResolvedThrough string  `json:"resolved_through,omitempty"`
}

// genRun is a running generator: one socket and sender per queue.
type genRun struct {
	cfg     genConfig
	socks   []*xsk.Socket
	senders []*gen.Sender
	steer   *steering.Steering
	stop    atomic.Bool
	wg      sync.WaitGroup
	errs    []error
	start   time.Time
	res     genResult
}

// startGen sets up the sockets in netns (resolving what was not given)
// and starts the senders.
func startGen(ctx context.Context, c genConfig) (*genRun, error) {
	g := &genRun{cfg: c}
	err := port.InNetns(c.netns, func() error { return g.setup(ctx) })
	if err != nil {
		g.close()
		return nil, err
	}
	g.start = time.Now()
	g.errs = make([]error, len(g.senders))
	for i, s := range g.senders {
		core := -1
		if len(c.cores) > 0 {
			core = c.cores[i%len(c.cores)]
		}
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			if g.errs[i] = s.Run(&g.stop, core); g.errs[i] != nil {
				g.stop.Store(true) // one sender failed: the run ends
			}
		}()
	}
	return g, nil
}

func (g *genRun) setup(ctx context.Context) error {
	c := &g.cfg
	lk, err := netlink.LinkByName(c.dev)
	if err != nil {
		return fmt.Errorf("--dev %s: %w", c.dev, err)
	}
	if c.queues == nil {
		// The TX queues in use (ethtool -l), not all the device has.
		_, tx := ethtool.QueuesInUse(c.dev, lk.Attrs().NumRxQueues, lk.Attrs().NumTxQueues)
		for q := 0; q < tx; q++ {
			c.queues = append(c.queues, q)
		}
	}
	copy(c.spec.SrcMAC[:], lk.Attrs().HardwareAddr)
	c.spec.MaxSize = lk.Attrs().MTU + ether.HeaderLen + gen.FCSLen
	if !c.srcGiven {
		addrs, err := netlink.AddrList(lk, netlink.FAMILY_V4)
		if err != nil || len(addrs) == 0 {
			return fmt.Errorf("%s has no IPv4 address to send from: give --src", c.dev)
		}
		a, _ := netip.AddrFromSlice(addrs[0].IP)
		c.spec.Src = netip.AddrPortFrom(a.Unmap(), 1024)
	}
	g.res.ResolvedThrough = ""
	if !c.macGiven {
		rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		p, err := stack.Resolve(rctx, c.dev, c.spec.Dst.Addr())
		if err != nil {
			return fmt.Errorf("%w; or give --dst-mac", err)
		}
		c.spec.DstMAC = p.MAC
		g.res.ResolvedThrough = p.NextHop.String()
	}
	if c.xdpMode != "none" {
		mode, _ := steering.ParseMode(c.xdpMode)
		if g.steer, err = steering.Attach(c.dev, steering.Options{Mode: mode, Default: steering.Pass}); err != nil {
			return err
		}
	}
	total, per := c.count, uint64(0)
	for i, q := range c.queues {
		b, err := gen.NewBuilder(c.spec, i)
		if err != nil {
			return err
		}
		if i == 0 {
			g.res.Flows = b.Flows()
		}
		sock, err := xsk.New(c.dev, q, c.xsk)
		if err != nil {
			return err
		}
		g.socks = append(g.socks, sock)
		port, err := gen.PortOf(sock)
		if err != nil {
			return err
		}
		// --count is split exactly: the first count%n senders send one
		// more.
		if total > 0 {
			per = total / uint64(len(c.queues))
			if uint64(i) < total%uint64(len(c.queues)) {
				per++
			}
			if per == 0 {
				continue
			}
		}
		s, err := gen.NewSender(port, b, c.rate.Split(len(c.queues)), c.batch, per)
		if err != nil {
			return err
		}
		g.senders = append(g.senders, s)
	}
	info := g.socks[0].Info()
	g.res.Kernel, g.res.Device, g.res.Queues, g.res.Cores = kernel.Release(), c.dev, c.queues, c.cores
	g.res.Mode, g.res.XDPMode = info.Mode.String(), c.xdpMode
	if g.steer != nil {
		g.res.XDPMode = g.steer.Mode().String()
	}
	g.res.Rate, g.res.DstMAC = c.rate.String(), c.spec.DstMAC.String()
	var sizes []string
	for _, sw := range c.spec.Sizes {
		sizes = append(sizes, fmt.Sprintf("%d:%d", sw.Size, sw.Weight))
	}
	g.res.Sizes = strings.Join(sizes, ",")
	return nil
}

// stats sums the senders' published counts.
func (g *genRun) stats() gen.Stats {
	var t gen.Stats
	for _, s := range g.senders {
		st := s.Stats()
		t.Sent += st.Sent
		t.Bytes += st.Bytes
		t.Completed += st.Completed
		t.RingFull += st.RingFull
		t.NoFrame += st.NoFrame
		t.Kicks += st.Kicks
		t.Behind += st.Behind
	}
	return t
}

// behind is the senders' mean time behind their schedules, in seconds.
func (g *genRun) behind(st gen.Stats) float64 {
	if len(g.senders) == 0 {
		return 0
	}
	return float64(st.Behind) / 1e9 / float64(len(g.senders))
}

// liveStats is /v1/stats: the totals so far and the state.
func (g *genRun) liveStats() any {
	st := g.stats()
	paused := len(g.senders) > 0 && g.senders[0].Paused()
	secs := time.Since(g.start).Seconds()
	return map[string]any{
		"sent_packets": st.Sent, "sent_bytes": st.Bytes, "completed": st.Completed,
		"ring_full": st.RingFull, "kicks": st.Kicks, "elapsed_s": secs,
		"avg_pps": float64(st.Sent) / secs, "paused": paused, "queues": g.res.Queues, "behind_s": g.behind(st),
	}
}

// metrics emits every sender's counters.
func (g *genRun) metrics(emit metrics.Emit) {
	for i, s := range g.senders {
		st := s.Stats()
		lbl := []string{"device", g.cfg.dev, "queue", strconv.Itoa(g.res.Queues[i]), "mode", g.res.Mode}
		emit("fastpath_gen_sent_packets_total", "Frames put on the TX ring.", metrics.Counter, float64(st.Sent), lbl...)
		emit("fastpath_gen_sent_bytes_total", "Bytes of the frames put on the TX ring (no FCS).", metrics.Counter, float64(st.Bytes), lbl...)
		emit("fastpath_gen_completions_total", "Frames the kernel completed.", metrics.Counter, float64(st.Completed), lbl...)
		emit("fastpath_gen_tx_ring_full_total", "Rounds the TX ring had less room than a batch.", metrics.Counter, float64(st.RingFull), lbl...)
		emit("fastpath_gen_no_frame_total", "Rounds every frame was in flight.", metrics.Counter, float64(st.NoFrame), lbl...)
		emit("fastpath_gen_kicks_total", "System calls made to wake the kernel's transmit path.", metrics.Counter, float64(st.Kicks), lbl...)
		emit("fastpath_gen_behind_seconds_total", "Time of a paced sender's schedule it missed (stalls, or a queue slower than the rate).", metrics.Counter, float64(st.Behind)/1e9, lbl...)
		paused := 0.0
		if s.Paused() {
			paused = 1
		}
		emit("fastpath_gen_paused", "1 while the control API has the sender paused.", metrics.Gauge, paused, lbl...)
		if i < len(g.socks) {
			xskMetrics(emit, g.socks[i], lbl)
		}
	}
}

// finished is closed when every sender has returned.
func (g *genRun) finished() <-chan struct{} {
	ch := make(chan struct{})
	go func() { g.wg.Wait(); close(ch) }()
	return ch
}

// finish stops the senders, waits for them, and fills in the summary.
func (g *genRun) finish(interrupted bool) (genResult, error) {
	g.stop.Store(true)
	g.wg.Wait()
	d := time.Since(g.start)
	st := g.stats()
	r := g.res
	r.SentPackets, r.SentBytes, r.Completed, r.RingFull, r.Kicks = st.Sent, st.Bytes, st.Completed, st.RingFull, st.Kicks
	r.BehindS = g.behind(st)
	r.DurationS = d.Seconds()
	r.PPS = float64(st.Sent) / r.DurationS
	r.BPS = float64(st.Bytes+gen.FCSLen*st.Sent) * 8 / r.DurationS
	r.L1BPS = float64(st.Bytes+(gen.FCSLen+gen.L1Overhead)*st.Sent) * 8 / r.DurationS
	r.Interrupted = interrupted
	var errs []error
	for _, s := range g.socks {
		if x, err := s.Stats(); err == nil {
			r.TXInvalid += x.TXInvalidDescs
			r.Errors += x.TXInvalidDescs + x.Counters.KickErrors
		}
	}
	for _, err := range g.errs {
		if err != nil {
			errs = append(errs, err)
			r.Errors++
		}
	}
	g.close()
	if len(errs) > 0 {
		return r, errs[0]
	}
	return r, nil
}

func (g *genRun) close() {
	for _, s := range g.socks {
		s.Close()
	}
	g.socks = nil
	if g.steer != nil {
		g.steer.Close()
		g.steer = nil
	}
}

// rateLine formats packets and bytes over d as live stats.
func rateLine(pkts, bytes uint64, d time.Duration) string {
	s := d.Seconds()
	pps := float64(pkts) / s
	l2 := float64(bytes+gen.FCSLen*pkts) * 8 / s
	l1 := float64(bytes+(gen.FCSLen+gen.L1Overhead)*pkts) * 8 / s
	return fmt.Sprintf("%9s pps  %9sbit/s L2  %9sbit/s L1", si(pps), si(l2), si(l1))
}

// si formats v with a k, M or G suffix.
func si(v float64) string {
	switch {
	case v >= 1e9:
		return fmt.Sprintf("%.3fG", v/1e9)
	case v >= 1e6:
		return fmt.Sprintf("%.3fM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.2fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}

func genMain(cmd *cobra.Command, f genFlags) error {
	c, err := genConfigOf(f)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(cmd.Context())
	defer cancel()
	g, err := startGen(ctx, c)
	if err != nil {
		return err
	}
	stderr := cmd.ErrOrStderr()
	ms, err := serveMetrics(f.metrics, g.metrics, stderr)
	if err != nil {
		g.stop.Store(true)
		g.finish(true)
		return err
	}
	defer ms.Close()
	ctl, err := serveControl(f.control, controls{
		stats: func() any { return g.liveStats() },
		setRate: func(v string) (any, error) {
			r, err := gen.ParseRate(v)
			if err != nil {
				return nil, fmt.Errorf("rate %q: %w", v, err)
			}
			for _, s := range g.senders {
				s.SetRate(r.Split(len(g.senders)))
			}
			return map[string]string{"rate": r.String()}, nil
		},
		pause: func(p bool) error {
			for _, s := range g.senders {
				s.Pause(p)
			}
			return nil
		},
		stop: cancel,
	}, stderr)
	if err != nil {
		g.stop.Store(true)
		g.finish(true)
		return err
	}
	defer closeControl(ctl)
	if !c.json {
		fmt.Fprintf(stderr, "gen: %s queues %v (%s AF_XDP, XDP program: %s) -> %v (%s%s), sizes %s, rate %s, %d flows; ctrl-c stops\n",
			c.dev, g.res.Queues, g.res.Mode, g.res.XDPMode, c.spec.Dst, g.res.DstMAC, via(g.res.ResolvedThrough, c.spec.Dst.Addr()), g.res.Sizes, g.res.Rate, g.res.Flows)
	}
	interrupted := genLoop(ctx, g, c, stderr)
	res, err := g.finish(interrupted)
	if err != nil {
		return err
	}
	if c.json {
		return json.NewEncoder(cmd.OutOrStdout()).Encode(res)
	}
	fmt.Fprintf(stderr, "sent %d frames (%d bytes) in %.2fs: %s; %d completed, ring full %d, kicks %d, errors %d\n",
		res.SentPackets, res.SentBytes, res.DurationS, rateLine(res.SentPackets, res.SentBytes, time.Duration(res.DurationS*float64(time.Second))),
		res.Completed, res.RingFull, res.Kicks, res.Errors)
	if res.BehindS > 0.01*res.DurationS {
		fmt.Fprintf(stderr, "rate not held: the senders fell %.3fs behind the %s schedule (stalls over %v: pin them with --cores to idle cores; or the queue is slower than the rate)\n",
			res.BehindS, res.Rate, time.Duration(gen.BurstTime))
	}
	return nil
}

// behindNote says, in a live line, how far the senders fell behind their
// schedule in the interval ("" : not at all).
func behindNote(ns uint64, senders int) string {
	if ns == 0 || senders == 0 {
		return ""
	}
	return fmt.Sprintf("  behind %v", time.Duration(ns/uint64(senders)).Round(time.Microsecond))
}

func via(hop string, dst netip.Addr) string {
	if hop == "" || hop == dst.String() {
		return ""
	}
	return " via " + hop
}

// genLoop prints live stats until the senders finish, the duration ends or
// ctx is cancelled (reported as interrupted).
func genLoop(ctx context.Context, g *genRun, c genConfig, w io.Writer) bool {
	var last gen.Stats
	lastT := g.start
	return live(ctx, c.duration, every(c.interval, c.json), []<-chan struct{}{g.finished()}, nil, func(now time.Time) {
		st := g.stats()
		fmt.Fprintf(w, "%6.1fs  tx %s  completed %d  ring full %d  kicks %d%s\n", now.Sub(g.start).Seconds(),
			rateLine(st.Sent-last.Sent, st.Bytes-last.Bytes, now.Sub(lastT)), st.Completed-last.Completed,
			st.RingFull-last.RingFull, st.Kicks-last.Kicks, behindNote(st.Behind-last.Behind, len(g.senders)))
		last, lastT = st, now
	})
}
