package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/fastpathnet/fastpath/ether"
	"github.com/fastpathnet/fastpath/gen"
	"github.com/fastpathnet/fastpath/internal/metrics"
	"github.com/fastpathnet/fastpath/port"
	"github.com/fastpathnet/fastpath/steering"
	"github.com/fastpathnet/fastpath/xdpsock"
	"github.com/spf13/cobra"
)

type benchFlags struct {
	hugePages                 bool
	dev, netns, queues, cores string
	size, batch, ring, frames int
	fill                      int // 0: ring
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
	fl.IntVar(&f.fill, "fill", 0, "fill ring size (0: --ring); at least --frames lets every frame wait there")
	fl.IntVar(&f.frames, "frames", 4096, "UMEM frames per queue")
	fl.BoolVar(&f.needWakeup, "need-wakeup", true, "use need_wakeup (system calls only when the kernel asks)")
	fl.BoolVar(&f.busyPoll, "busy-poll", false, "busy poll the driver (SO_PREFER_BUSY_POLL)")
	fl.BoolVar(&f.hugePages, "huge-pages", false, hugePagesUsage)
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

// benchConfig checks the bench command line.
func benchConfig(mode string, f benchFlags) (xdpsock.Config, error) {
	c := xdpsock.Config{Bench: xdpsock.Bench(mode), Batch: f.batch, Size: f.size}
	var err error
	if c.Port, err = portOptionsOf("measure", f.dev, f.netns, f.queues, f.cores, f.mode); err != nil {
		return c, err
	}
	switch {
	case mode != "txonly" && mode != "rxdrop" && mode != "l2fwd":
		return c, fmt.Errorf("bench %q: use txonly, rxdrop or l2fwd", mode)
	case f.duration <= 0:
		return c, errors.New("--duration must be positive")
	case f.ring < 64 || f.ring > 1<<16 || f.ring&(f.ring-1) != 0:
		return c, fmt.Errorf("--ring %d: use a power of two from 64 to 65536", f.ring)
	case f.batch < 1 || f.batch > f.ring:
		return c, fmt.Errorf("--batch %d: use 1 to --ring (%d)", f.batch, f.ring)
	case mode != "txonly" && f.frames < 2*f.ring:
		return c, fmt.Errorf("--frames %d: use at least twice --ring (%d)", f.frames, 2*f.ring)
	case mode == "txonly" && (f.frames <= f.ring || f.frames > 1<<20):
		return c, fmt.Errorf("--frames %d: use more than --ring (%d) and at most 1048576", f.frames, f.ring)
	case mode == "txonly" && (f.size < gen.MinSize || f.size > 9018):
		return c, fmt.Errorf("--size %d: use an Ethernet frame length from 64 to the MTU's (1518 for MTU 1500), FCS included", f.size)
	}
	po := &c.Port
	if po.Steering.Mode, err = steering.ParseMode(f.xdpMode); err != nil {
		return c, fmt.Errorf("--xdp-mode %q: use auto, native or generic", f.xdpMode)
	}
	switch f.program {
	case "redirect":
		po.Program = port.RedirectProgram
	case "steer":
		po.Program = port.SteeringProgram
	default:
		return c, fmt.Errorf("--program %q: use redirect or steer", f.program)
	}
	x := &po.XSK
	x.RXSize, x.TXSize, x.NeedWakeup, x.BusyPoll.Enable = uint32(f.ring), uint32(f.ring), f.needWakeup, f.busyPoll
	x.UMEMOptions.FrameCount, x.UMEMOptions.FillSize, x.UMEMOptions.CompletionSize = uint32(f.frames), uint32(cmp.Or(f.fill, f.ring)), uint32(f.ring)
	x.UMEMOptions.HugePages = f.hugePages
	if mode == "txonly" {
		po.Program = port.NoProgram
		if c.Dst, err = parseAddrPort("dst", f.dst, 9); err != nil {
			return c, err
		}
		if f.dstMAC != "" {
			if c.DstMAC, err = ether.ParseAddr(f.dstMAC); err != nil {
				return c, fmt.Errorf("--dst-mac %q: use a MAC such as 02:00:00:00:00:01", f.dstMAC)
			}
		}
	}
	return c, nil
}

func benchMain(cmd *cobra.Command, mode string, f benchFlags) error {
	c, err := benchConfig(mode, f)
	if err != nil {
		return err
	}
	stderr := cmd.ErrOrStderr()
	ctx, srv, end, err := listenControl(cmd, f.control, stderr)
	if err != nil {
		return err
	}
	defer end()
	r, err := xdpsock.Start(ctx, c)
	if err != nil {
		if ctx.Err() != nil && mode == "txonly" {
			return fmt.Errorf("stopped while opening the queues: nothing sent (%w)", err)
		}
		return err
	}
	hugePagesNote(f.hugePages, r.Modes(), stderr)
	// Says the queues are open (bench/ itself probes until the receiver
	// counts, rather than reading this).
	var ids []int
	for _, q := range r.Queues() {
		ids = append(ids, q.ID)
	}
	fmt.Fprintf(stderr, "%s: ready on %s queues %v\n", mode, f.dev, ids)
	ms, err := serveMetrics(f.metrics, metrics.Bench(r, mode, f.dev), stderr)
	if err != nil {
		r.Stop(true)
		return err
	}
	defer ms.Close()
	ctl := controls{Stats: benchStats(mode, r.Started(), r.Totals)}
	if mode == "txonly" {
		ctl.Pause = r.Pause
	}
	srv.Attach(ctl)
	interrupted := benchWait(ctx, f, stderr, r.Started(), r.Totals)
	srv.Close() // before the queues it reads
	res, err := r.Stop(interrupted)
	if err != nil {
		return err
	}
	return printBench(cmd, f, res)
}

func printBench(cmd *cobra.Command, f benchFlags, r xdpsock.Result) error {
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
	if r.Bench == xdpsock.L2Fwd {
		fmt.Fprintf(w, "l2fwd: received %d, sent back %d (completed)\n", r.Packets, r.Sent)
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
