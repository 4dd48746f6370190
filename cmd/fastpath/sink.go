package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/fastpathnet/fastpath/gen"
	"github.com/fastpathnet/fastpath/internal/kernel"
	"github.com/fastpathnet/fastpath/internal/metrics"
	"github.com/fastpathnet/fastpath/port"
	"github.com/fastpathnet/fastpath/stack"
	"github.com/fastpathnet/fastpath/steering"
	"github.com/fastpathnet/fastpath/xsk"
	"github.com/spf13/cobra"
)

type sinkFlags struct {
	dev, netns         string
	port               int
	queues, cores      string
	duration, interval time.Duration
	count              uint64
	mode, xdpMode      string
	idle               string
	json               bool
	metrics, control   string
}

func newSinkCommand() *cobra.Command {
	var f sinkFlags
	cmd := &cobra.Command{
		Use:   "sink --dev IFACE --port P",
		Short: "Count the UDP a device receives on a port: rates, loss, reordering, latency",
		Long: `sink runs the engine on a device in shared mode: it takes UDP port P on the
kernel's addresses (the steering program passes everything else to the
kernel) and counts packets, bytes and rates. For traffic stamped by
fastpath gen --stamp it also reports lost, duplicated and reordered packets
and the one-way latency (p50, p90, p99, p99.9 and max, in microseconds, from
an HDR histogram; sender and sink must share a clock, as on one host).

With several queues, every queue's engine hands the datagrams to the first
queue's engine, which keeps the sequence state without locks.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return sinkMain(cmd, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.dev, "dev", "", "device to receive on (required)")
	fl.StringVar(&f.netns, "netns", "", "named network namespace of the device (as in ip netns exec)")
	fl.IntVar(&f.port, "port", 0, "UDP port to take (required)")
	fl.StringVar(&f.queues, "queues", "0", "queues to run engines on: a list such as 0,1, or all (every queue in use)")
	fl.StringVar(&f.cores, "cores", "", "cores to pin the engines to, a list (default: not pinned)")
	fl.DurationVar(&f.duration, "duration", 0, "stop after this long (0: at --count, or SIGINT)")
	fl.Uint64Var(&f.count, "count", 0, "stop after this many packets (0: no limit)")
	fl.StringVar(&f.mode, "mode", "auto", "AF_XDP mode: auto, copy or zerocopy")
	fl.StringVar(&f.xdpMode, "xdp-mode", "auto", "XDP attach mode: auto, native or generic")
	fl.StringVar(&f.idle, "idle", "busy", "idle policy: busy (spin) or adaptive (spin, then sleep in poll)")
	fl.DurationVar(&f.interval, "interval", time.Second, "how often to print live stats (0: never)")
	fl.BoolVar(&f.json, "json", false, "print the summary as one JSON object on stdout")
	fl.StringVar(&f.metrics, "metrics", "", metricsUsage)
	fl.StringVar(&f.control, "control", "", controlUsage)
	return cmd
}

type sinkConfig struct {
	stack              stack.Config
	netns              string
	port               uint16
	duration, interval time.Duration
	count              uint64
	json               bool
}

func sinkConfigOf(f sinkFlags) (sinkConfig, error) {
	c := sinkConfig{netns: f.netns, duration: f.duration, interval: f.interval, count: f.count, json: f.json}
	if f.dev == "" {
		return c, fmt.Errorf("--dev is required: the device to receive on")
	}
	if f.port < 1 || f.port > 65535 {
		return c, fmt.Errorf("--port %d: use a UDP port from 1 to 65535 (required)", f.port)
	}
	c.port = uint16(f.port)
	cfg := stack.DefaultConfig()
	cfg.Device, cfg.Shared = f.dev, true
	// Deep rings, and frames for a full RX ring and a full fill ring at
	// once and more in hand: a sink descheduled for 10 ms at 400k pps
	// loses nothing to an empty fill ring.
	cfg.XSK.RXSize, cfg.XSK.UMEMOptions.FillSize = 4096, 4096
	cfg.XSK.UMEMOptions.FrameSize, cfg.XSK.UMEMOptions.FrameCount = 2048, 16384
	var err error
	if cfg.Queues, err = parseQueues(f.queues); err != nil {
		return c, err
	}
	if f.cores != "" {
		if cfg.Cores, err = parseList("cores", f.cores); err != nil {
			return c, err
		}
	}
	if cfg.XSK.Mode, err = xsk.ParseMode(f.mode); err != nil {
		return c, fmt.Errorf("--mode %q: use auto, copy or zerocopy", f.mode)
	}
	if cfg.Steering.Mode, err = steering.ParseMode(f.xdpMode); err != nil {
		return c, fmt.Errorf("--xdp-mode %q: use auto, native or generic", f.xdpMode)
	}
	if cfg.Idle, err = stack.ParseIdle(f.idle); err != nil {
		return c, fmt.Errorf("--idle %q: use busy or adaptive", f.idle)
	}
	if f.duration < 0 || f.interval < 0 {
		return c, fmt.Errorf("--duration and --interval must not be negative")
	}
	c.stack = cfg
	return c, nil
}

// sinkResult is sink's summary. Bytes count frames as received (no FCS);
// pps and bps are over the time from the first packet to the last.
type sinkResult struct {
	Kernel    string  `json:"kernel"`
	Device    string  `json:"device"`
	Port      uint16  `json:"port"`
	Queues    []int   `json:"queues"`
	Mode      string  `json:"mode"`
	XDPMode   string  `json:"xdp_mode"`
	Packets   uint64  `json:"received_packets"`
	Bytes     uint64  `json:"received_bytes"`
	DurationS float64 `json:"duration_s"`
	ActiveS   float64 `json:"active_s"`
	PPS       float64 `json:"pps"`
	BPS       float64 `json:"bps"`
	Drops     uint64  `json:"engine_drops"`
	// What the kernel could not hand the sockets (XDP_STATISTICS): the
	// RX ring was full, or the fill ring had no frame.
	KernelRXRingFull uint64            `json:"kernel_rx_ring_full"`
	KernelFillEmpty  uint64            `json:"kernel_fill_ring_empty"`
	KernelRXDropped  uint64            `json:"kernel_rx_dropped"`
	Stamp            gen.TrackerResult `json:"stamp"`
	// The flat names, for scripts.
	Lost        uint64         `json:"lost_packets"`
	Duplicates  uint64         `json:"duplicate_packets"`
	Reordered   uint64         `json:"reordered_packets"`
	Latency     gen.Percentile `json:"latency_us"`
	Interrupted bool           `json:"interrupted"`
}

// sinkRun is a running sink. The handler runs on the owning engine; it
// publishes its counts through atomics and keeps the tracker to itself
// until the engines stop.
type sinkRun struct {
	cfg            sinkConfig
	st             *stack.Stack
	tracker        *gen.Tracker
	n, bytes       uint64 // engine-owned
	first, last    int64  // engine clock of the first and last packet
	pubN, pubBytes atomic.Uint64
	pubLost        atomic.Uint64
	reached        atomic.Bool
	start          time.Time
}

func startSink(c sinkConfig) (*sinkRun, error) {
	s := &sinkRun{cfg: c, tracker: gen.NewTracker()}
	err := port.InNetns(c.netns, func() (err error) {
		if s.st, err = stack.New(c.stack); err != nil {
			return err
		}
		if err := s.st.BindUDPOn(c.port, s.st.Queues()[0], s.handle); err != nil {
			return err
		}
		for _, e := range s.st.Engines() {
			if e.Queue() == s.st.Queues()[0] {
				e.OnPublish(s.publish)
			}
		}
		return nil
	})
	if err != nil {
		if s.st != nil {
			s.st.Close()
		}
		return nil, err
	}
	if err := s.st.Start(); err != nil {
		s.st.Close()
		return nil, err
	}
	s.start = time.Now()
	return s, nil
}

// handle runs on the owning engine for every datagram to the port.
func (s *sinkRun) handle(d *stack.Datagram) {
	now := d.Engine().Clock()
	if s.n == 0 {
		s.first = now
	}
	s.last = now
	s.n++
	s.bytes += uint64(d.FrameLen())
	if id, seq, sent, ok := gen.ParseStamp(d.Payload); ok {
		s.tracker.Record(id, seq, sent, now)
		if s.n&4095 == 0 {
			s.pubLost.Store(s.tracker.Lost())
		}
	}
	// Published every 1024 packets here, and by the engine's publication
	// tick (publish): an atomic store is a full barrier on x86, too dear
	// to pay twice a packet at line rate.
	if s.n&1023 == 0 {
		s.publish()
	}
	if s.cfg.count > 0 && s.n >= s.cfg.count {
		s.publish()
		s.reached.Store(true)
	}
}

// publish makes the counts visible to the live stats, the metrics and the
// control API; it runs on the owning engine.
func (s *sinkRun) publish() {
	s.pubN.Store(s.n)
	s.pubBytes.Store(s.bytes)
}

// finish stops the engines and builds the summary.
func (s *sinkRun) finish(interrupted bool) (sinkResult, error) {
	s.st.Stop()
	werr := s.st.Wait()
	c := s.st.Counters()
	e := s.st.Engines()[0]
	r := sinkResult{
		Kernel: kernel.Release(), Device: s.cfg.stack.Device, Port: s.cfg.port, Queues: s.st.Queues(),
		Mode: e.Socket().Info().Mode.String(), XDPMode: s.st.Steering().Mode().String(),
		Packets: s.n, Bytes: s.bytes, DurationS: time.Since(s.start).Seconds(), Drops: c.Drops(),
		Interrupted: interrupted,
	}
	if s.n > 1 && s.last > s.first {
		r.ActiveS = float64(s.last-s.first) / 1e9
		r.PPS = float64(s.n-1) / r.ActiveS
		r.BPS = float64(s.bytes+gen.FCSLen*s.n) * 8 / r.ActiveS
	}
	for _, e := range s.st.Engines() {
		if x, err := e.Socket().KernelStats(); err == nil {
			r.KernelRXRingFull += x.RXRingFull
			r.KernelFillEmpty += x.RXFillRingEmpty
			r.KernelRXDropped += x.RXDropped
		}
	}
	r.Stamp = s.tracker.Result()
	r.Lost, r.Duplicates, r.Reordered, r.Latency = r.Stamp.Lost, r.Stamp.Duplicates, r.Stamp.Reordered, r.Stamp.Latency
	cerr := s.st.Close()
	if werr != nil {
		return r, werr
	}
	return r, cerr
}

func sinkMain(cmd *cobra.Command, f sinkFlags) error {
	c, err := sinkConfigOf(f)
	if err != nil {
		return err
	}
	s, err := startSink(c)
	if err != nil {
		return err
	}
	stderr := cmd.ErrOrStderr()
	// On stderr with --json too: it says the sink is receiving.
	info := s.st.Engines()[0].Socket().Info()
	fmt.Fprintf(stderr, "sink: UDP port %d on %v (%s, queues %v, %s AF_XDP, %s XDP); ctrl-c stops\n",
		c.port, s.st.Addrs(), c.stack.Device, s.st.Queues(), info.Mode, s.st.Steering().Mode())
	engines := stackMetrics(s.st, c.stack.Device)
	ms, err := serveMetrics(f.metrics, func(emit metrics.Emit) {
		engines(emit)
		lbl := []string{"device", c.stack.Device, "port", strconv.Itoa(int(c.port))}
		emit("fastpath_sink_received_packets_total", "Packets the sink counted on its port.", metrics.Counter, float64(s.pubN.Load()), lbl...)
		emit("fastpath_sink_received_bytes_total", "Bytes the sink counted on its port.", metrics.Counter, float64(s.pubBytes.Load()), lbl...)
		emit("fastpath_sink_lost_packets", "Stamped packets missing so far (a gauge: late arrivals lower it).", metrics.Gauge, float64(s.pubLost.Load()), lbl...)
	}, stderr)
	if err != nil {
		s.st.Close()
		return err
	}
	defer ms.Close()
	ctx, cancel := context.WithCancel(cmd.Context())
	defer cancel()
	ctl, err := serveControl(f.control, controls{
		stats: func() any {
			secs := time.Since(s.start).Seconds()
			return map[string]any{"received_packets": s.pubN.Load(), "received_bytes": s.pubBytes.Load(),
				"lost_packets": s.pubLost.Load(), "elapsed_s": secs}
		},
		stop: cancel,
	}, stderr)
	if err != nil {
		s.st.Close()
		return err
	}
	defer closeControl(ctl)
	interrupted := sinkLoop(ctx, s, stderr)
	res, err := s.finish(interrupted)
	if err != nil {
		return err
	}
	if c.json {
		return json.NewEncoder(cmd.OutOrStdout()).Encode(res)
	}
	printSink(stderr, res)
	return nil
}

func printSink(w io.Writer, r sinkResult) {
	fmt.Fprintf(w, "received %d packets (%d bytes): %s pps, %sbit/s over %.2fs active; engine drops %d; kernel: RX ring full %d, fill ring empty %d\n",
		r.Packets, r.Bytes, si(r.PPS), si(r.BPS), r.ActiveS, r.Drops, r.KernelRXRingFull, r.KernelFillEmpty)
	if r.Stamp.Stamped > 0 {
		fmt.Fprintf(w, "stamped %d: lost %d, duplicated %d, reordered %d; latency µs p50 %.1f p90 %.1f p99 %.1f p99.9 %.1f max %.1f\n",
			r.Stamp.Stamped, r.Lost, r.Duplicates, r.Reordered, r.Latency.P50, r.Latency.P90, r.Latency.P99, r.Latency.P999, r.Latency.Max)
	}
}

// sinkLoop prints live stats until the count is reached, the duration ends
// or ctx is cancelled (reported as interrupted).
func sinkLoop(ctx context.Context, s *sinkRun, w io.Writer) bool {
	var lastN, lastB uint64
	lastT := s.start
	// An engine that stops on its own failed: finish says why.
	return live(ctx, s.cfg.duration, every(s.cfg.interval, s.cfg.json), []<-chan struct{}{s.st.Done()}, s.reached.Load, func(now time.Time) {
		n, b := s.pubN.Load(), s.pubBytes.Load()
		fmt.Fprintf(w, "%6.1fs  rx %s  lost %d\n", now.Sub(s.start).Seconds(), rateLine(n-lastN, b-lastB, now.Sub(lastT)), s.pubLost.Load())
		lastN, lastB, lastT = n, b, now
	})
}
