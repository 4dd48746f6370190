package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf/link"
	"github.com/fastpathnet/fastpath/bpf"
	"github.com/fastpathnet/fastpath/ether"
	"github.com/fastpathnet/fastpath/gen"
	"github.com/fastpathnet/fastpath/internal/ethtool"
	"github.com/fastpathnet/fastpath/internal/kernel"
	"github.com/fastpathnet/fastpath/internal/metrics"
	"github.com/fastpathnet/fastpath/port"
	"github.com/fastpathnet/fastpath/rings"
	"github.com/fastpathnet/fastpath/steering"
	"github.com/fastpathnet/fastpath/xsk"
	"github.com/spf13/cobra"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

type benchFlags struct {
	dev, netns, queues, cores string
	size, batch, ring, frames int
	needWakeup, busyPoll      bool
	mode, xdpMode             string
	dst, dstMAC               string
	duration, interval        time.Duration
	json                      bool
	metrics, program, control string
}

func newBenchCommand() *cobra.Command {
	var f benchFlags
	cmd := &cobra.Command{
		Use:   "bench txonly|rxdrop|l2fwd --dev IFACE",
		Short: "Measure a device's queues the way xdpsock does: txonly, rxdrop, l2fwd",
		Long: `bench runs one of xdpsock's modes on every --queues queue of a device, one
pinned loop per queue, and reports per queue and in total: packets and bits
per second, the link speed read from the device and the share of line rate
reached (L1: frame, FCS, preamble and gap), the modes obtained (zero-copy or
copy; native or generic XDP) and the XDP_STATISTICS deltas.

  txonly  sends 60-byte-and-up UDP frames as fast as the TX ring takes them
          (the generator's sender, one flow, no stamps).
  rxdrop  steers every frame of the queue to its socket and drops it.
  l2fwd   steers every frame to its socket, swaps the MACs and sends it back
          out of the same queue, in place.

rxdrop and l2fwd take the device's whole receive path for their queues:
run them on a test port, not on a host's management link.`,
		Args:      cobra.ExactArgs(1),
		ValidArgs: []string{"txonly", "rxdrop", "l2fwd"},
		RunE:      func(cmd *cobra.Command, args []string) error { return benchMain(cmd, args[0], f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.dev, "dev", "", "device (required)")
	fl.StringVar(&f.netns, "netns", "", "named network namespace of the device")
	fl.StringVar(&f.queues, "queues", "0", "queues, a list such as 0,1, or all")
	fl.StringVar(&f.cores, "cores", "", "cores to pin the loops to, a list (default: not pinned)")
	fl.IntVar(&f.size, "size", 64, "txonly: Ethernet frame length with FCS")
	fl.IntVar(&f.batch, "batch", 64, "descriptors per ring operation")
	fl.IntVar(&f.ring, "ring", 2048, "RX and TX ring sizes")
	fl.IntVar(&f.frames, "frames", 4096, "UMEM frames per queue")
	fl.BoolVar(&f.needWakeup, "need-wakeup", true, "use need_wakeup (system calls only when the kernel asks)")
	fl.BoolVar(&f.busyPoll, "busy-poll", false, "busy poll the driver (SO_PREFER_BUSY_POLL)")
	fl.StringVar(&f.mode, "mode", "auto", "AF_XDP mode: auto, copy or zerocopy")
	fl.StringVar(&f.xdpMode, "xdp-mode", "auto", "rxdrop, l2fwd: XDP attach mode, auto, native or generic")
	fl.StringVar(&f.dst, "dst", "198.18.0.2:9", "txonly: destination IP:PORT")
	fl.StringVar(&f.dstMAC, "dst-mac", "", "txonly: destination MAC (default: resolved by the kernel)")
	fl.DurationVar(&f.duration, "duration", 5*time.Second, "how long to run")
	fl.DurationVar(&f.interval, "interval", time.Second, "how often to print live stats (0: never)")
	fl.BoolVar(&f.json, "json", false, "print the summary as one JSON object on stdout")
	fl.StringVar(&f.metrics, "metrics", "", metricsUsage)
	fl.StringVar(&f.control, "control", "", controlUsage+"; bench: stats, stop, and pause/resume for txonly")
	fl.StringVar(&f.program, "program", "redirect", "rxdrop, l2fwd: the XDP program, redirect (minimal, as xdpsock) or steer (the engine's steering program, every frame parsed)")
	return cmd
}

// benchQueue is one queue's figures.
type benchQueue struct {
	Queue       int     `json:"queue"`
	Packets     uint64  `json:"packets"`
	Bytes       uint64  `json:"bytes"`
	PPS         float64 `json:"pps"`
	BPS         float64 `json:"bps"`
	RXDropped   uint64  `json:"rx_dropped"`
	RXRingFull  uint64  `json:"rx_ring_full"`
	FillEmpty   uint64  `json:"rx_fill_ring_empty"`
	TXInvalid   uint64  `json:"tx_invalid_descs"`
	TXRingEmpty uint64  `json:"tx_ring_empty"`
	Kicks       uint64  `json:"kicks,omitempty"`
}

// benchResult is bench's summary.
type benchResult struct {
	Kernel       string       `json:"kernel"`
	Bench        string       `json:"bench"`
	Device       string       `json:"device"`
	Mode         string       `json:"mode"`
	XDPMode      string       `json:"xdp_mode"`
	NeedWakeup   bool         `json:"need_wakeup"`
	BusyPoll     bool         `json:"busy_poll"`
	Batch        int          `json:"batch"`
	Size         int          `json:"size,omitempty"`
	Cores        []int        `json:"cores,omitempty"`
	DurationS    float64      `json:"duration_s"`
	Packets      uint64       `json:"packets"`
	Bytes        uint64       `json:"bytes"`
	PPS          float64      `json:"pps"`
	BPS          float64      `json:"bps"`
	L1BPS        float64      `json:"l1_bps"`
	LinkMbps     int          `json:"link_mbps"`
	LineRateFrac float64      `json:"line_rate_fraction"`
	Queues       []benchQueue `json:"queues"`
	Interrupted  bool         `json:"interrupted"`
}

// linkSpeed reads the device's speed in Mbit/s in netns (0: unknown).
func linkSpeed(netns, dev string) int {
	var v int
	port.InNetns(netns, func() (err error) {
		v, err = ethtool.LinkSpeed(dev)
		return err
	})
	return v
}

// xdpProgram is what rxdrop and l2fwd attach: the minimal redirect
// program (the default, as xdpsock) or the engine's steering program.
type xdpProgram interface {
	Register(queue, fd int) error
	Close() error
	Mode() steering.Mode
}

// steerProgram is the steering program with no rule and Engine as the
// default: every frame parsed, then sent to its queue's socket.
type steerProgram struct{ *steering.Steering }

func (p steerProgram) Close() error { return p.Steering.Close() }

// Mode is the attach mode obtained.
func (p *benchProgram) Mode() steering.Mode { return p.mode }

// benchProgram is the redirect program attached for rxdrop and l2fwd.
type benchProgram struct {
	*bpf.Redirect
	link link.Link
	mode steering.Mode
}

func (p *benchProgram) Close() error {
	return errors.Join(p.link.Close(), p.Redirect.Close())
}

// attachRedirect loads bpf.NewRedirect and attaches it to ifindex through
// a bpf_link in mode (auto: native, else generic).
func attachRedirect(ifindex, queues int, mode steering.Mode) (*benchProgram, error) {
	r, err := bpf.NewRedirect(queues)
	if err != nil {
		return nil, err
	}
	try := []steering.Mode{mode}
	if mode == steering.ModeAuto {
		try = []steering.Mode{steering.ModeNative, steering.ModeGeneric}
	}
	for _, m := range try {
		flags := link.XDPDriverMode
		if m == steering.ModeGeneric {
			flags = link.XDPGenericMode
		}
		l, lerr := link.AttachXDP(link.XDPOptions{Program: r.Program, Interface: ifindex, Flags: flags})
		if lerr == nil {
			return &benchProgram{Redirect: r, link: l, mode: m}, nil
		}
		err = lerr
	}
	r.Close()
	return nil, fmt.Errorf("attach the redirect program: %w", err)
}

// benchLoop is one queue's receive loop (rxdrop, l2fwd).
type benchLoop struct {
	sock        *xsk.Socket
	fwd         bool
	batch       int
	pkts, bytes atomic.Uint64
	stats0      xsk.Stats
	core        int
	err         error
}

func (b *benchLoop) run(stop *atomic.Bool) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if b.core >= 0 {
		var set unix.CPUSet
		set.Set(b.core)
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			b.err = fmt.Errorf("pin to core %d: %w", b.core, err)
			return
		}
	}
	s := b.sock
	descs := make([]rings.Desc, b.batch)
	addrs := make([]uint64, b.batch)
	area := s.UMEM()
	frameMask := ^uint64(area.FrameSize() - 1)
	var pkts, bytes uint64
	s.Refill()
	for i := 0; !stop.Load(); i++ {
		n := s.Receive(descs)
		if n == 0 {
			// Touch only what the kernel needs from us: a wakeup when it
			// asks for one, and (l2fwd) the TX side. Reading the fill
			// ring's consumer index here on every empty pass would pull
			// a cache line the kernel writes on the other core.
			s.WakeRX()
			if b.fwd {
				s.KickTX()
				s.Complete()
				s.Refill()
			}
			continue
		}
		for j := range n {
			bytes += uint64(descs[j].Len)
		}
		pkts += uint64(n)
		if b.fwd {
			for j := range n {
				// Swap the MACs in place and send the frame back.
				h := ether.Header(area.Packet(descs[j].Addr, descs[j].Len))
				dst, src := h.Dst(), h.Src()
				h.SetDst(src)
				h.SetSrc(dst)
			}
			put := s.Transmit(descs[:n])
			for j := put; j < n; j++ {
				s.Frames.Free(descs[j].Addr)
			}
			s.KickTX()
			s.Complete()
			s.Refill()
		} else {
			// Hand the frames straight back to the fill ring, as xdpsock
			// does; what does not fit goes to the allocator.
			for j := range n {
				addrs[j] = descs[j].Addr & frameMask
			}
			if put := s.Fill.Put(addrs[:n]); put < n {
				s.Frames.FreeN(addrs[put:n])
				s.Refill()
			}
		}
		if i&63 == 0 {
			b.pkts.Store(pkts)
			b.bytes.Store(bytes)
		}
	}
	b.pkts.Store(pkts)
	b.bytes.Store(bytes)
}

func benchMain(cmd *cobra.Command, mode string, f benchFlags) error {
	if mode != "txonly" && mode != "rxdrop" && mode != "l2fwd" {
		return fmt.Errorf("bench %q: use txonly, rxdrop or l2fwd", mode)
	}
	if f.dev == "" {
		return errors.New("--dev is required: the device to measure")
	}
	if f.duration <= 0 {
		return errors.New("--duration must be positive")
	}
	if mode == "txonly" {
		return benchTX(cmd, f)
	}
	xo := xsk.DefaultOptions()
	var err error
	if xo.Mode, err = xsk.ParseMode(f.mode); err != nil {
		return fmt.Errorf("--mode %q: use auto, copy or zerocopy", f.mode)
	}
	xm, err := steering.ParseMode(f.xdpMode)
	if err != nil {
		return fmt.Errorf("--xdp-mode %q: use auto, native or generic", f.xdpMode)
	}
	if f.ring < 64 || f.ring > 1<<16 || f.ring&(f.ring-1) != 0 {
		return fmt.Errorf("--ring %d: use a power of two from 64 to 65536", f.ring)
	}
	if f.batch < 1 || f.batch > f.ring {
		return fmt.Errorf("--batch %d: use 1 to --ring (%d)", f.batch, f.ring)
	}
	if f.frames < 2*f.ring {
		return fmt.Errorf("--frames %d: use at least twice --ring (%d)", f.frames, 2*f.ring)
	}
	xo.RXSize, xo.TXSize, xo.NeedWakeup, xo.BusyPoll.Enable = uint32(f.ring), uint32(f.ring), f.needWakeup, f.busyPoll
	xo.UMEMOptions.FrameCount, xo.UMEMOptions.FillSize, xo.UMEMOptions.CompletionSize = uint32(f.frames), uint32(f.ring), uint32(f.ring)
	if mode == "rxdrop" {
		xo.TXSize = 0
	}
	var cores []int
	if f.cores != "" {
		if cores, err = parseList("cores", f.cores); err != nil {
			return err
		}
	}
	var prog xdpProgram
	var loops []*benchLoop
	var queues []int
	defer func() {
		if prog != nil {
			prog.Close()
		}
		for _, l := range loops {
			l.sock.Close()
		}
	}()
	err = port.InNetns(f.netns, func() error {
		lk, err := netlink.LinkByName(f.dev)
		if err != nil {
			return fmt.Errorf("--dev %s: %w", f.dev, err)
		}
		if f.queues == "all" {
			// The queues in use: a device may have more than it uses,
			// and those beyond refuse a bind (EINVAL).
			rx, _ := ethtool.QueuesInUse(f.dev, lk.Attrs().NumRxQueues, lk.Attrs().NumTxQueues)
			for q := 0; q < rx; q++ {
				queues = append(queues, q)
			}
		} else if queues, err = parseList("queues", f.queues); err != nil {
			return err
		}
		// Every frame of the queue to its socket: the minimal redirect
		// program, as xdpsock uses (the engine's steering program would
		// add its parsing, about 50 ns a frame, to what is measured).
		switch f.program {
		case "redirect":
			if prog, err = attachRedirect(lk.Attrs().Index, max(lk.Attrs().NumRxQueues, 1), xm); err != nil {
				return err
			}
		case "steer":
			st, err := steering.Attach(f.dev, steering.Options{Mode: xm, Default: steering.Engine})
			if err != nil {
				return err
			}
			prog = steerProgram{st}
		default:
			return fmt.Errorf("--program %q: use redirect or steer", f.program)
		}
		for i, q := range queues {
			s, err := xsk.New(f.dev, q, xo)
			if err != nil {
				return err
			}
			core := -1
			if len(cores) > 0 {
				core = cores[i%len(cores)]
			}
			loops = append(loops, &benchLoop{sock: s, fwd: mode == "l2fwd", batch: f.batch, core: core})
			s.Refill()
			if err := prog.Register(q, s.FD()); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, l := range loops {
		l.stats0, _ = l.sock.Stats()
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	// Scripts (bench/) start the traffic when they read this line.
	fmt.Fprintf(cmd.ErrOrStderr(), "%s: ready on %s queues %v\n", mode, f.dev, queues)
	start := time.Now()
	for _, l := range loops {
		wg.Add(1)
		go func() { defer wg.Done(); l.run(&stop) }()
	}
	ms, err := serveMetrics(f.metrics, func(emit metrics.Emit) {
		for i, l := range loops {
			lbl := []string{"device", f.dev, "queue", strconv.Itoa(queues[i]), "mode", l.sock.Info().Mode.String(), "bench", mode}
			emit("fastpath_bench_packets_total", "Frames the bench loop handled (received; l2fwd: and sent back).", metrics.Counter, float64(l.pkts.Load()), lbl...)
			emit("fastpath_bench_bytes_total", "Bytes of those frames.", metrics.Counter, float64(l.bytes.Load()), lbl...)
			xskMetrics(emit, l.sock, lbl)
		}
	}, cmd.ErrOrStderr())
	if err != nil {
		stop.Store(true)
		wg.Wait()
		return err
	}
	defer ms.Close()
	total := func() (uint64, uint64) {
		var p, b uint64
		for _, l := range loops {
			p += l.pkts.Load()
			b += l.bytes.Load()
		}
		return p, b
	}
	ctx, cancel := context.WithCancel(cmd.Context())
	defer cancel()
	ctl, err := serveControl(f.control, controls{stats: benchStats(mode, start, total), stop: cancel}, cmd.ErrOrStderr())
	if err != nil {
		stop.Store(true)
		wg.Wait()
		return err
	}
	defer closeControl(ctl)
	interrupted := benchWait(ctx, f, cmd.ErrOrStderr(), start, total)
	stop.Store(true)
	wg.Wait()
	d := time.Since(start)
	info := loops[0].sock.Info()
	r := benchResult{Kernel: kernel.Release(), Bench: mode, Device: f.dev, Mode: info.Mode.String(), XDPMode: prog.Mode().String(),
		NeedWakeup: info.NeedWakeup, BusyPoll: f.busyPoll, Batch: f.batch, Cores: cores, DurationS: d.Seconds(), LinkMbps: linkSpeed(f.netns, f.dev)}
	for i, l := range loops {
		if l.err != nil {
			return l.err
		}
		x, _ := l.sock.Stats()
		q := benchQueue{Queue: queues[i], Packets: l.pkts.Load(), Bytes: l.bytes.Load(),
			RXDropped: x.RXDropped - l.stats0.RXDropped, RXRingFull: x.RXRingFull - l.stats0.RXRingFull,
			FillEmpty: x.RXFillRingEmpty - l.stats0.RXFillRingEmpty, TXInvalid: x.TXInvalidDescs - l.stats0.TXInvalidDescs,
			TXRingEmpty: x.TXRingEmpty - l.stats0.TXRingEmpty}
		q.PPS = float64(q.Packets) / r.DurationS
		q.BPS = float64(q.Bytes+gen.FCSLen*q.Packets) * 8 / r.DurationS
		r.Packets += q.Packets
		r.Bytes += q.Bytes
		r.Queues = append(r.Queues, q)
	}
	finishBench(&r)
	r.Interrupted = interrupted
	return printBench(cmd, f, r)
}

func finishBench(r *benchResult) {
	r.PPS = float64(r.Packets) / r.DurationS
	r.BPS = float64(r.Bytes+gen.FCSLen*r.Packets) * 8 / r.DurationS
	r.L1BPS = float64(r.Bytes+(gen.FCSLen+gen.L1Overhead)*r.Packets) * 8 / r.DurationS
	if r.LinkMbps > 0 {
		r.LineRateFrac = r.L1BPS / (float64(r.LinkMbps) * 1e6)
	}
}

func printBench(cmd *cobra.Command, f benchFlags, r benchResult) error {
	if f.json {
		return json.NewEncoder(cmd.OutOrStdout()).Encode(r)
	}
	w := cmd.ErrOrStderr()
	for _, q := range r.Queues {
		fmt.Fprintf(w, "queue %d: %s pps  %sbit/s  rx dropped %d  rx ring full %d  fill empty %d  tx invalid %d\n",
			q.Queue, si(q.PPS), si(q.BPS), q.RXDropped, q.RXRingFull, q.FillEmpty, q.TXInvalid)
	}
	line := "link speed unknown"
	if r.LinkMbps > 0 {
		line = fmt.Sprintf("%.2f%% of the %d Mbit/s link (L1)", 100*r.LineRateFrac, r.LinkMbps)
	}
	fmt.Fprintf(w, "%s on %s: %s pps, %sbit/s, %s; %s AF_XDP, %s XDP, need_wakeup %v, busy poll %v, batch %d, kernel %s\n",
		r.Bench, r.Device, si(r.PPS), si(r.BPS), line, r.Mode, r.XDPMode, r.NeedWakeup, r.BusyPoll, r.Batch, r.Kernel)
	return nil
}

// benchStats is the control API's /v1/stats of a bench run: the totals so
// far and the mean rates since the start.
func benchStats(mode string, start time.Time, total func() (uint64, uint64)) func() any {
	return func() any {
		p, b := total()
		secs := time.Since(start).Seconds()
		return map[string]any{"bench": mode, "packets": p, "bytes": b, "elapsed_s": secs,
			"pps": float64(p) / secs, "bps": float64(b+gen.FCSLen*p) * 8 / secs}
	}
}

// benchWait prints live totals until the duration ends or ctx is
// cancelled (reported as interrupted).
func benchWait(ctx context.Context, f benchFlags, w io.Writer, start time.Time, total func() (uint64, uint64)) bool {
	var lastP, lastB uint64
	lastT := start
	return live(ctx, f.duration, every(f.interval, f.json), nil, nil, func(now time.Time) {
		p, b := total()
		fmt.Fprintf(w, "%6.1fs  %s\n", now.Sub(start).Seconds(), rateLine(p-lastP, b-lastB, now.Sub(lastT)))
		lastP, lastB, lastT = p, b, now
	})
}

// benchTX is txonly: the generator's sender, one flow, no stamps.
func benchTX(cmd *cobra.Command, f benchFlags) error {
	gf := genFlags{dev: f.dev, netns: f.netns, queues: f.queues, cores: f.cores, dst: f.dst, dstMAC: f.dstMAC,
		size: f.size, rate: "0", mode: f.mode, xdpMode: "none", batch: f.batch, ring: f.ring, frames: f.frames,
		busyPoll: f.busyPoll, json: true}
	c, err := genConfigOf(gf)
	if err != nil {
		return err
	}
	c.xsk.NeedWakeup = f.needWakeup
	g, err := startGen(cmd.Context(), c)
	if err != nil {
		return err
	}
	stats0 := make([]xsk.Stats, len(g.socks))
	for i, s := range g.socks {
		stats0[i], _ = s.KernelStats() // the senders run: the kernel's part only
	}
	ms, err := serveMetrics(f.metrics, g.metrics, cmd.ErrOrStderr())
	if err != nil {
		g.stop.Store(true)
		g.wg.Wait()
		g.close()
		return err
	}
	defer ms.Close()
	total := func() (uint64, uint64) {
		st := g.stats()
		return st.Completed, st.Bytes
	}
	ctx, cancel := context.WithCancel(cmd.Context())
	defer cancel()
	ctl, err := serveControl(f.control, controls{
		stats: benchStats("txonly", g.start, total),
		pause: func(p bool) error {
			for _, s := range g.senders {
				s.Pause(p)
			}
			return nil
		},
		stop: cancel,
	}, cmd.ErrOrStderr())
	if err != nil {
		g.stop.Store(true)
		g.wg.Wait()
		g.close()
		return err
	}
	defer closeControl(ctl)
	interrupted := benchWait(ctx, f, cmd.ErrOrStderr(), g.start, total)
	g.stop.Store(true)
	g.wg.Wait()
	d := time.Since(g.start)
	info := g.socks[0].Info()
	r := benchResult{Kernel: kernel.Release(), Bench: "txonly", Device: f.dev, Mode: info.Mode.String(), XDPMode: "none (TX only)",
		NeedWakeup: info.NeedWakeup, BusyPoll: f.busyPoll, Batch: f.batch, Size: f.size, Cores: c.cores, DurationS: d.Seconds(),
		LinkMbps: linkSpeed(f.netns, f.dev)}
	for i, s := range g.senders {
		st := s.Stats()
		x, _ := g.socks[i].Stats()
		// Completed frames left the queue; bytes per frame are fixed. The
		// queues are the run's: --queues all is resolved in startGen.
		q := benchQueue{Queue: g.cfg.queues[i], Packets: st.Completed, Bytes: st.Completed * uint64(f.size-gen.FCSLen), Kicks: st.Kicks,
			TXInvalid: x.TXInvalidDescs - stats0[i].TXInvalidDescs, TXRingEmpty: x.TXRingEmpty - stats0[i].TXRingEmpty}
		q.PPS = float64(q.Packets) / r.DurationS
		q.BPS = float64(q.Bytes+gen.FCSLen*q.Packets) * 8 / r.DurationS
		r.Packets += q.Packets
		r.Bytes += q.Bytes
		r.Queues = append(r.Queues, q)
	}
	g.close()
	finishBench(&r)
	r.Interrupted = interrupted
	return printBench(cmd, f, r)
}
