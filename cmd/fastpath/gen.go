package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/fastpathnet/fastpath/ether"
	"github.com/fastpathnet/fastpath/gen"
	"github.com/fastpathnet/fastpath/internal/metrics"
	"github.com/fastpathnet/fastpath/port"
	"github.com/fastpathnet/fastpath/steering"
	"github.com/spf13/cobra"
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
	hugePages                bool
	metrics, control         string
	shard, startAt           string
	linger                   time.Duration
}

func newGenCommand() *cobra.Command {
	var f genFlags
	cmd := &cobra.Command{
		Use:   "gen --dev IFACE --dst IP[:PORT]",
		Short: "Send UDP from AF_XDP sockets on a device's queues, at a rate or as fast as it goes",
		Long: `gen sends UDP over IPv4 or IPv6 (--dst 198.18.0.2:9 or [2001:db8::2]:9) from
one AF_XDP socket per queue, each driven by its own pinned sender. Frames are
built once in the UMEM; each send rewrites only the header (42 bytes over IPv4,
62 over IPv6) and the stamp, updating checksums incrementally.

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
	fl.StringVar(&f.shard, "shard", "", "I/N: this host is shard I (0 to N-1) of N sending one fleet's traffic: flow f when f mod N = I; --rate and --count are the fleet's, each shard sending its flows' share")
	fl.DurationVar(&f.linger, "linger", 0, lingerUsage)
	fl.StringVar(&f.startAt, "start-at", "", "start the senders at this time, RFC 3339 (2026-12-04T23:30:00Z): hosts given the same time start together; a time past is an error")
	fl.StringVar(&f.queues, "queues", "0", "queues to send on: a list such as 0,1, or all (one sender each)")
	fl.StringVar(&f.cores, "cores", "", "cores to pin the senders to, a list (default: not pinned)")
	fl.StringVar(&f.src, "src", "", "source IP[:PORT] (default: the device's first address of --dst's family, global for IPv6, port 1024)")
	fl.StringVar(&f.dst, "dst", "", "destination IP[:PORT] (required; port 9 by default)")
	fl.StringVar(&f.dstMAC, "dst-mac", "", "destination MAC (default: resolved through the kernel's routes and ARP)")
	fl.IntVar(&f.size, "size", 0, "Ethernet frame length with the 4-byte FCS, to the MTU's (default the smallest: 64 over IPv4, 66 over IPv6, 82 stamped)")
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
	fl.BoolVar(&f.hugePages, "huge-pages", false, hugePagesUsage)
	fl.DurationVar(&f.interval, "interval", time.Second, "how often to print live stats (0: never)")
	fl.BoolVar(&f.json, "json", false, "print the summary as one JSON object on stdout")
	fl.StringVar(&f.metrics, "metrics", "", metricsUsage)
	fl.StringVar(&f.control, "control", "", controlUsage)
	return cmd
}

// genConfig is a checked gen command line.
type genConfig struct {
	run                gen.Config
	duration, interval time.Duration
	json               bool
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
	usable := func(a netip.Addr) bool { return !a.Is4In6() && a.Zone() == "" }
	if ap, err := netip.ParseAddrPort(s); err == nil && usable(ap.Addr()) {
		return ap, nil
	}
	if a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")); err == nil && usable(a) {
		return netip.AddrPortFrom(a, port), nil
	}
	return netip.AddrPort{}, fmt.Errorf("--%s %q: use an IPv4 or IPv6 address with an optional port, such as 198.18.0.2, 198.18.0.2:9, 2001:db8::2 or [2001:db8::2]:9 (no zone)", flag, s)
}

// portOptionsOf checks the flags every command that opens a device's
// queues shares.
func portOptionsOf(what, dev, netns, queues, cores, mode string) (port.Options, error) {
	po := port.DefaultOptions(dev)
	po.Netns = netns
	if dev == "" {
		return po, fmt.Errorf("--dev is required: the device to %s", what)
	}
	var err error
	if po.Queues, err = parseQueues(queues); err != nil {
		return po, err
	}
	if cores != "" {
		if po.Cores, err = parseList("cores", cores); err != nil {
			return po, err
		}
	}
	if po.XSK.Mode, err = port.ParseMode(mode); err != nil {
		return po, fmt.Errorf("--mode %q: use auto, copy or zerocopy", mode)
	}
	return po, nil
}

func genConfigOf(f genFlags) (genConfig, error) {
	c := genConfig{duration: f.duration, interval: f.interval, json: f.json}
	c.run.Count, c.run.Batch = f.count, f.batch
	po, err := portOptionsOf("send on", f.dev, f.netns, f.queues, f.cores, f.mode)
	if err != nil {
		return c, err
	}
	if c.run.Spec, err = genSpecOf(f); err != nil {
		return c, err
	}
	if c.run.Rate, err = gen.ParseRate(f.rate); err != nil {
		return c, fmt.Errorf("--%w", err)
	}
	if f.shard != "" {
		if c.run.Spec.Shard, c.run.Spec.Shards, err = parseShard(f.shard); err != nil {
			return c, err
		}
		// The fleet's rate and count, shared out by the shards' flows: N
		// shards send what one generator would, flow by flow.
		c.run.Rate, c.run.Count = c.run.Spec.Share(c.run.Rate, f.count)
		if f.count > 0 && c.run.Count == 0 {
			return c, fmt.Errorf("--count %d over %d shards leaves shard %d nothing to send", f.count, c.run.Spec.Shards, c.run.Spec.Shard)
		}
	}
	if f.startAt != "" {
		if c.run.StartAt, err = parseStartAt(f.startAt); err != nil {
			return c, err
		}
	}
	po.XSK.RXSize = 0 // TX only
	if f.xdpMode != "none" {
		// The steering program with no rule: everything to the kernel.
		if po.Steering.Mode, err = steering.ParseMode(f.xdpMode); err != nil {
			return c, fmt.Errorf("--xdp-mode %q: use none, native, generic or auto", f.xdpMode)
		}
		po.Program, po.Steering.Default = port.SteeringProgram, steering.Pass
	}
	switch {
	case f.ring < 64 || f.ring > 1<<16 || f.ring&(f.ring-1) != 0:
		return c, fmt.Errorf("--ring %d: use a power of two from 64 to 65536", f.ring)
	case f.frames <= f.ring || f.frames > 1<<20:
		return c, fmt.Errorf("--frames %d: use more than --ring (%d) and at most 1048576", f.frames, f.ring)
	case f.batch < 1 || f.batch > f.ring:
		return c, fmt.Errorf("--batch %d: use 1 to --ring (%d)", f.batch, f.ring)
	case f.duration < 0 || f.interval < 0 || f.linger < 0:
		return c, fmt.Errorf("--duration, --interval and --linger must not be negative")
	}
	po.XSK.TXSize = uint32(f.ring)
	po.XSK.UMEMOptions.FrameCount, po.XSK.UMEMOptions.FrameSize = uint32(f.frames), 4096
	po.XSK.BusyPoll.Enable, po.XSK.UMEMOptions.HugePages = f.busyPoll, f.hugePages
	c.run.Port = po
	return c, nil
}

// genSpecOf checks what gen's flags say to send.
func genSpecOf(f genFlags) (gen.Spec, error) {
	var sp gen.Spec
	var err error
	if f.dst == "" {
		return sp, fmt.Errorf("--dst is required: the destination IP[:PORT], such as 198.18.0.2:9 or [2001:db8::2]:9")
	}
	if sp.Dst, err = parseAddrPort("dst", f.dst, 9); err != nil {
		return sp, err
	}
	if f.src != "" {
		if sp.Src, err = parseAddrPort("src", f.src, 1024); err != nil {
			return sp, err
		}
	}
	if f.dstMAC != "" {
		if sp.DstMAC, err = ether.ParseAddr(f.dstMAC); err != nil {
			return sp, fmt.Errorf("--dst-mac %q: use a MAC such as 02:00:00:00:00:01", f.dstMAC)
		}
	}
	if f.imix != "" {
		if sp.Sizes, err = gen.ParseIMIX(f.imix); err != nil {
			return sp, fmt.Errorf("--%w", err)
		}
	} else if f.size != 0 {
		if f.size < gen.MinSize || f.size > 9018 {
			return sp, fmt.Errorf("--size %d: use an Ethernet frame length from 64 (66 over IPv6) to the MTU's (1518 for MTU 1500), FCS included", f.size)
		}
		sp.Sizes = []gen.SizeWeight{{Size: f.size, Weight: 1}}
	}
	if f.flows < 0 {
		return sp, fmt.Errorf("--flows %d: use 0 (every combination) or more", f.flows)
	}
	sp.Flows, sp.Random, sp.Stamp, sp.NoUDPChecksum = f.flows, f.random, f.stamp, f.noCsum
	sp.Seed = uint64(time.Now().UnixNano())
	for _, r := range []struct {
		format, v string
		parse     func() error
	}{
		{"--src-%w", f.srcPorts, func() (err error) { sp.SrcPorts, err = gen.ParsePortRange(f.srcPorts); return err }},
		{"--dst-%w", f.dstPorts, func() (err error) { sp.DstPorts, err = gen.ParsePortRange(f.dstPorts); return err }},
		{"--src-ip-range: %w", f.srcs, func() (err error) { sp.SrcIPs, err = gen.ParseAddrRange(f.srcs); return err }},
	} {
		if r.v != "" {
			if err := r.parse(); err != nil {
				return sp, fmt.Errorf(r.format, err)
			}
		}
	}
	return sp, nil
}

// genRun is a running generator.
type genRun struct {
	*gen.Run
	cfg genConfig
}

// startGen starts the generator c describes.
func startGen(ctx context.Context, c genConfig) (*genRun, error) {
	r, err := gen.Start(ctx, c.run)
	if err != nil {
		return nil, err
	}
	return &genRun{Run: r, cfg: c}, nil
}

// openGen opens the generator c describes, its senders held until
// Release (at --start-at).
func openGen(ctx context.Context, c genConfig) (*genRun, error) {
	r, err := gen.Open(ctx, c.run)
	if err != nil {
		return nil, err
	}
	return &genRun{Run: r, cfg: c}, nil
}

// liveStats is /v1/stats: the totals so far and the state.
func (g *genRun) liveStats() any {
	st := g.Stats()
	secs := time.Since(g.Started()).Seconds()
	return map[string]any{
		"sent_packets": st.Sent, "sent_bytes": st.Bytes, "completed": st.Completed,
		"ring_full": st.RingFull, "kicks": st.Kicks, "elapsed_s": secs,
		"avg_pps": float64(st.Sent) / secs, "paused": g.Paused(), "queues": g.Info().Queues, "behind_s": g.Behind(st),
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
	stderr := cmd.ErrOrStderr()
	// The control API first (503 while the queues open), the metrics
	// once they are; the senders wait for both, then until --start-at:
	// a fleet's scrapes and readiness probes see every host ready before
	// it starts.
	ctx, ctl, end, err := listenControl(cmd, f.control, stderr)
	if err != nil {
		return err
	}
	defer end()
	g, err := openGen(ctx, c)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("stopped while opening the queues: nothing sent (%w)", err)
		}
		return err
	}
	// Closed last: after --linger, the control API and the metrics, which
	// read the queues' statistics until then.
	defer g.Close()
	defer ctl.Close() // before the queues close
	hugePagesNote(f.hugePages, g.Info().Modes, stderr)
	ms, err := serveMetrics(f.metrics, metrics.Gen(g.Run), stderr)
	if err != nil {
		g.Finish(true)
		return err
	}
	defer ms.Close()
	ctl.Attach(controls{
		Stats: func() any { return g.liveStats() },
		SetRate: func(v string) (any, error) {
			r, err := gen.ParseRate(v)
			if err != nil {
				return nil, fmt.Errorf("rate %q: %w", v, err)
			}
			g.SetRate(r)
			return map[string]string{"rate": r.String()}, nil
		},
		Pause: func(p bool) error { g.Pause(p); return nil },
		// Ready from the queues' opening (and while waiting for
		// --start-at) until the senders end.
		Ready: func() error {
			select {
			case <-g.Done():
				return errors.New("the run ended")
			default:
				return nil
			}
		},
	})
	if err := g.Release(ctx); err != nil {
		switch {
		case ctx.Err() != nil && c.run.StartAt.IsZero():
			return errors.New("stopped while opening the queues: nothing sent")
		case ctx.Err() != nil:
			// Not a success: a fleet's shard that never ran (a Job's pod
			// deleted before its time) must not count as done.
			return fmt.Errorf("stopped before --start-at %s: nothing sent", c.run.StartAt.Format(time.RFC3339Nano))
		}
		return err
	}
	if in := g.Info(); !c.json {
		fmt.Fprintf(stderr, "gen: %s queues %v (%s AF_XDP, XDP program: %s) -> %v (%s%s), sizes %s, rate %s, %d flows; ctrl-c stops\n",
			in.Device, in.Queues, in.Modes.AFXDP, in.Modes.XDP, c.run.Spec.Dst, in.DstMAC, via(in.ResolvedThrough, c.run.Spec.Dst.Addr()), in.Spec.SizesString(), g.Rate(), in.Flows)
	}
	interrupted := genLoop(ctx, g, c, stderr)
	res, err := g.Summarize(interrupted)
	if err != nil {
		return err
	}
	defer linger(ctx, f.linger, stderr)
	// A shard stopped short of its count or duration (SIGTERM: its pod
	// evicted, deleted) sent less than its share: an error, after its
	// summary, so that its Job's index fails rather than succeeds.
	var short error
	if interrupted && c.run.Spec.Shards > 1 && (c.run.Count > 0 || c.duration > 0) {
		short = fmt.Errorf("shard %d/%d interrupted: it sent %d frames, short of its share", c.run.Spec.Shard, c.run.Spec.Shards, res.SentPackets)
	}
	if c.json {
		if err := json.NewEncoder(cmd.OutOrStdout()).Encode(res); err != nil {
			return err
		}
		return short
	}
	fmt.Fprintf(stderr, "sent %d frames (%d bytes) in %.2fs: %s; %d completed, ring full %d, kicks %d, errors %d\n",
		res.SentPackets, res.SentBytes, res.DurationS, rateLine(res.SentPackets, res.SentBytes, time.Duration(res.DurationS*float64(time.Second))),
		res.Completed, res.RingFull, res.Kicks, res.Errors)
	if res.BehindS > 0.01*res.DurationS {
		fmt.Fprintf(stderr, "rate not held: the senders fell %.3fs behind the %s schedule (stalls over %v: pin them with --cores to idle cores; or the queue is slower than the rate)\n",
			res.BehindS, res.Rate, time.Duration(gen.BurstTime))
	}
	return short
}

// behindNote says, in a live line, how far the senders fell behind their
// schedule in the interval ("" : not at all).
func behindNote(ns uint64, senders int) string {
	if ns == 0 || senders == 0 {
		return ""
	}
	return fmt.Sprintf("  behind %v", time.Duration(ns/uint64(senders)).Round(time.Microsecond))
}

func via(hop, dst netip.Addr) string {
	if !hop.IsValid() || hop == dst {
		return ""
	}
	return " via " + hop.String()
}

// genLoop prints live stats until the senders finish, the duration ends or
// ctx is cancelled (reported as interrupted).
func genLoop(ctx context.Context, g *genRun, c genConfig, w io.Writer) bool {
	var last gen.Stats
	lastT := g.Started()
	return live(ctx, c.duration, every(c.interval, c.json), []<-chan struct{}{g.Done()}, nil, func(now time.Time) {
		st := g.Stats()
		fmt.Fprintf(w, "%6.1fs  tx %s  completed %d  ring full %d  kicks %d%s\n", now.Sub(g.Started()).Seconds(),
			rateLine(st.Sent-last.Sent, st.Bytes-last.Bytes, now.Sub(lastT)), st.Completed-last.Completed,
			st.RingFull-last.RingFull, st.Kicks-last.Kicks, behindNote(st.Behind-last.Behind, len(g.Info().Queues)))
		last, lastT = st, now
	})
}

// parseShard parses --shard I/N: 0 <= I < N, N from 1 to 65536.
func parseShard(s string) (int, int, error) {
	is, ns, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(is)
	n, err2 := strconv.Atoi(ns)
	if !ok || err1 != nil || err2 != nil || n < 1 || n > 1<<16 || i < 0 || i >= n {
		return 0, 0, fmt.Errorf("--shard %q: use I/N with 0 <= I < N, such as 0/3 for the first of three hosts (a Kubernetes Indexed Job's JOB_COMPLETION_INDEX is I)", s)
	}
	return i, n, nil
}

// parseStartAt parses --start-at: an RFC 3339 time in the future.
func parseStartAt(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return t, fmt.Errorf("--start-at %q: use an RFC 3339 time such as 2026-12-04T23:30:00Z", s)
	}
	if d := time.Until(t); d <= 0 {
		return t, fmt.Errorf("--start-at %s is %v ago: give a time ahead, far enough for every host to open its queues (a few seconds)", s, (-d).Round(time.Millisecond))
	}
	return t, nil
}
