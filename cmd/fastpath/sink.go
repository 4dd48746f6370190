package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/fastpathnet/fastpath/gen"
	"github.com/fastpathnet/fastpath/internal/metrics"
	"github.com/fastpathnet/fastpath/sink"
	"github.com/fastpathnet/fastpath/stack"
	"github.com/fastpathnet/fastpath/steering"
	"github.com/spf13/cobra"
)

type sinkFlags struct {
	hugePages, partial bool
	ring, fill, frames int
	dev, netns         string
	port               int
	queues, cores      string
	duration, interval time.Duration
	count              uint64
	mode, xdpMode      string
	idle               string
	json               bool
	metrics, control   string
	startAt            string
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
	fl.StringVar(&f.startAt, "start-at", "", "the fleet's start, RFC 3339: the sink opens its queues at once and counts --duration from this time (a time past is an error)")
	fl.StringVar(&f.netns, "netns", "", "named network namespace of the device (as in ip netns exec)")
	fl.IntVar(&f.port, "port", 0, "UDP port to take (required)")
	fl.StringVar(&f.queues, "queues", "0", "queues to run engines on: a list such as 0,1, or all (every queue in use)")
	fl.StringVar(&f.cores, "cores", "", "cores to pin the engines to, a list (default: not pinned)")
	fl.DurationVar(&f.duration, "duration", 0, "stop after this long (0: at --count, or SIGINT)")
	fl.Uint64Var(&f.count, "count", 0, "stop after this many packets (0: no limit)")
	fl.StringVar(&f.mode, "mode", "auto", "AF_XDP mode: auto, copy or zerocopy")
	fl.StringVar(&f.xdpMode, "xdp-mode", "auto", "XDP attach mode: auto, native or generic")
	fl.StringVar(&f.idle, "idle", "busy", "idle policy: busy (spin) or adaptive (spin, then sleep in poll)")
	fl.BoolVar(&f.partial, "accept-partial-checksum", false, acceptPartialUsage)
	fl.DurationVar(&f.interval, "interval", time.Second, "how often to print live stats (0: never)")
	fl.BoolVar(&f.json, "json", false, "print the summary as one JSON object on stdout")
	fl.BoolVar(&f.hugePages, "huge-pages", false, hugePagesUsage)
	fl.IntVar(&f.ring, "ring", 0, "RX, TX, completion and fill ring sizes, a power of two (0: the engine's default, 2048)")
	fl.IntVar(&f.fill, "fill", 0, "fill ring size, a power of two (0: --ring)")
	fl.IntVar(&f.frames, "frames", 0, "UMEM frames per queue (0: the engine's default, 4096)")
	fl.StringVar(&f.metrics, "metrics", "", metricsUsage)
	fl.StringVar(&f.control, "control", "", controlUsage)
	return cmd
}

type sinkConfig struct {
	sink               sink.Config
	duration, interval time.Duration
	json               bool
	startAt            time.Time // --start-at; zero: none
}

func sinkConfigOf(f sinkFlags) (sinkConfig, error) {
	c := sinkConfig{duration: f.duration, interval: f.interval, json: f.json}
	po, err := portOptionsOf("receive on", f.dev, f.netns, f.queues, f.cores, f.mode)
	if err != nil {
		return c, err
	}
	if f.port < 1 || f.port > 65535 {
		return c, fmt.Errorf("--port %d: use a UDP port from 1 to 65535 (required)", f.port)
	}
	c.sink = sink.DefaultConfig(f.dev, uint16(f.port))
	c.sink.Netns, c.sink.Count = f.netns, f.count
	cfg := &c.sink.Stack
	cfg.XSK.UMEMOptions.HugePages = f.hugePages
	// Zero keeps the engine's default.
	if f.ring < 0 || f.fill < 0 || f.frames < 0 {
		return c, fmt.Errorf("--ring %d, --fill %d, --frames %d: use positive sizes (powers of two for the rings)", f.ring, f.fill, f.frames)
	}
	u := &cfg.XSK.UMEMOptions
	if f.ring > 0 {
		cfg.XSK.RXSize, cfg.XSK.TXSize, u.CompletionSize, u.FillSize = uint32(f.ring), uint32(f.ring), uint32(f.ring), uint32(f.ring)
	}
	if f.fill > 0 {
		u.FillSize = uint32(f.fill)
	}
	if f.frames > 0 {
		u.FrameCount = uint32(f.frames)
	}
	cfg.Queues, cfg.Cores, cfg.XSK.Mode = po.Queues, po.Cores, po.XSK.Mode
	cfg.AcceptPartialChecksum = f.partial
	if cfg.Steering.Mode, err = steering.ParseMode(f.xdpMode); err != nil {
		return c, fmt.Errorf("--xdp-mode %q: use auto, native or generic", f.xdpMode)
	}
	if cfg.Idle, err = stack.ParseIdle(f.idle); err != nil {
		return c, fmt.Errorf("--idle %q: use busy or adaptive", f.idle)
	}
	if f.duration < 0 || f.interval < 0 {
		return c, fmt.Errorf("--duration and --interval must not be negative")
	}
	if f.startAt != "" {
		if c.startAt, err = parseStartAt(f.startAt); err != nil {
			return c, err
		}
	}
	return c, nil
}

func sinkMain(cmd *cobra.Command, f sinkFlags) error {
	c, err := sinkConfigOf(f)
	if err != nil {
		return err
	}
	c.sink.Stack.Notice = noticesTo(cmd)
	stderr := cmd.ErrOrStderr()
	ctx, ctl, end, err := listenControl(cmd, f.control, stderr)
	if err != nil {
		return err
	}
	defer end()
	s, err := sink.Start(c.sink)
	if err != nil {
		return err
	}
	st := s.Stack()
	hugePagesNote(f.hugePages, st.Port().Modes(), stderr)
	dev, udp := c.sink.Stack.Device, c.sink.Port
	// On stderr with --json too: it says the sink is receiving.
	fmt.Fprintf(stderr, "sink: UDP port %d on %v (%s, queues %v, %s AF_XDP, %s XDP); ctrl-c stops\n",
		udp, st.Addrs(), dev, st.Queues(), st.Engines()[0].Socket().Info().Mode, st.Steering().Mode())
	counts, hist := metrics.Sink(s, dev, udp)
	ms, err := serveMetrics(f.metrics, counts, stderr, hist)
	if err != nil {
		s.Stop(true)
		return err
	}
	defer ms.Close()
	ctl.Attach(controls{
		Stats: func() any {
			n, b, lost := s.Counts()
			return map[string]any{"received_packets": n, "received_bytes": b, "lost_packets": lost, "elapsed_s": time.Since(s.Started()).Seconds()}
		},
		Ready: stackReady(st),
	})
	if !c.startAt.IsZero() {
		// Stopped meanwhile, the sink still prints what it counted.
		if err := gen.WaitUntil(ctx, c.startAt); err != nil && ctx.Err() == nil {
			ctl.Close()
			s.Stop(true)
			return fmt.Errorf("--start-at: %w", err)
		}
	}
	interrupted := sinkLoop(ctx, s, c, stderr)
	ctl.Close() // before the queues it reads
	res, err := s.Stop(interrupted)
	if err != nil {
		return err
	}
	if c.json {
		return json.NewEncoder(cmd.OutOrStdout()).Encode(res)
	}
	printSink(stderr, res)
	return nil
}

func printSink(w io.Writer, r sink.Result) {
	fmt.Fprintf(w, "received %d packets (%d bytes): %s pps, %sbit/s over %.2fs active; engine drops %d%s; kernel: RX ring full %d, fill ring empty %d\n",
		r.Packets, r.Bytes, si(r.PPS), si(r.BPS), r.ActiveS, r.Drops, dropReasons(r.DropReasons), r.KernelRXRingFull, r.KernelFillEmpty)
	if r.Stamp.Stamped > 0 {
		fmt.Fprintf(w, "stamped %d: lost %d, duplicated %d, reordered %d; latency µs p50 %.1f p90 %.1f p99 %.1f p99.9 %.1f max %.1f\n",
			r.Stamp.Stamped, r.Lost, r.Duplicates, r.Reordered, r.Latency.P50, r.Latency.P90, r.Latency.P99, r.Latency.P999, r.Latency.Max)
		if r.Stamp.Restarts > 0 {
			fmt.Fprintf(w, "%d streams began again (their senders' new runs, each counted on its own)\n", r.Stamp.Restarts)
		}
		if r.Stamp.Negative > 0 {
			fmt.Fprintf(w, "%d packets were stamped after they arrived: the sender's clock is ahead of the sink's, and the latency means nothing\n", r.Stamp.Negative)
		}
	}
}

// sinkLoop prints live stats until the count is reached, the duration ends
// or ctx is cancelled (reported as interrupted).
func sinkLoop(ctx context.Context, s *sink.Run, c sinkConfig, w io.Writer) bool {
	var lastN, lastB uint64
	lastT := s.Started()
	// An engine that stops on its own failed: Stop says why.
	return live(ctx, c.duration, every(c.interval, c.json), []<-chan struct{}{s.Stack().Done()}, s.Reached, func(now time.Time) {
		n, b, lost := s.Counts()
		fmt.Fprintf(w, "%6.1fs  rx %s  lost %d\n", now.Sub(s.Started()).Seconds(), rateLine(n-lastN, b-lastB, now.Sub(lastT)), lost)
		lastN, lastB, lastT = n, b, now
	})
}

// dropReasons lists the reasons of a summary's drops, " (name n, ...)",
// or nothing without drops.
func dropReasons(m map[string]uint64) string {
	if len(m) == 0 {
		return ""
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return " (" + strings.Join(parts, ", ") + ")"
}
