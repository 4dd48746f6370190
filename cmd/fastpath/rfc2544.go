package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/fastpathnet/fastpath/gen"
	"github.com/fastpathnet/fastpath/rfc2544"
	"github.com/spf13/cobra"
)

type rfcFlags struct {
	startAt                        string
	txDev, rxDev, txNetns, rxNetns string
	txQueues, txCores              string
	rxQueues, rxCores              string
	mode, xdpMode                  string
	dst, src, dstMAC               string
	sizes                          string
	loss, pdrLoss, resolution      string
	trial, finalTrial, latTrial    time.Duration
	confirm                        int
	maxRate, minRate               string
	flows                          int
	latency                        string
	lossCurve                      bool
	backToBack, maxBurst           int
	learn                          int
	gap, drain                     time.Duration
	json                           bool
	out                            string
}

func newRFC2544Command() *cobra.Command {
	var f rfcFlags
	cmd := &cobra.Command{
		Use:   "rfc2544 --tx-dev A --rx-dev B --dst IP[:PORT]",
		Short: "Find a device under test's no-drop rate (NDR), partial drop rate and latency per frame size (RFC 2544)",
		Long: `rfc2544 sends stamped UDP with gen from --tx-dev, through the device under test,
to a receiver on the engine at --rx-dev (shared mode: --dst is the kernel's
address on --rx-dev), and searches, for each --sizes, the highest offered load
the device forwards without loss (NDR, RFC 2544 section 26.1), and with
--pdr-loss the highest with at most that loss (PDR). Each trial is preceded by
--learn frames and a --gap of quiet (section 23) and counts only its own
stamped frames; its offered load is what gen actually sent over its time: a
sender held back (by the host or by the device pushing back) makes the trial
"sender-limited", and no rate above what was offered is ever reported.

The search tries --max-rate first (default: the link's line rate for the
size), then bisects between what passed and what failed down to
--resolution, with --trial long trials, and confirms the result with
--confirm trials of --final-trial. Then latency (section 26.2) at --latency
percent of the NDR, with --loss-curve the frame loss rate curve (26.3), and
with --back-to-back N the longest burst passed without loss (26.4), N times.

A line per trial goes to stderr; the table at the end (one JSON object on
stdout with --json); --out DIR writes table.txt, result.json and the plots
throughput.svg and loss.svg. SIGINT stops the trial running and prints what
was found; the size it was on is marked incomplete, with how far its search
got.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return rfcMain(cmd, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.startAt, "start-at", "", "begin the first trial at this time, RFC 3339 (the devices are opened and learned before): benchmarks on several hosts start together; a time past is an error")
	fl.StringVar(&f.txDev, "tx-dev", "", "the device gen sends from, towards the device under test")
	fl.StringVar(&f.rxDev, "rx-dev", "", "the device the frames come back on, where the receiver counts them")
	fl.StringVar(&f.txNetns, "tx-netns", "", "--tx-dev's network namespace (default: this one)")
	fl.StringVar(&f.rxNetns, "rx-netns", "", "--rx-dev's network namespace (default: this one)")
	fl.StringVar(&f.txQueues, "tx-queues", "0", "--tx-dev's queues, one sender each: 0,1 or all")
	fl.StringVar(&f.txCores, "tx-cores", "", "cores for the senders, one per queue (default: one each from core 0)")
	fl.StringVar(&f.rxQueues, "rx-queues", "all", "--rx-dev's queues the receiver serves: 0,1 or all (frames spread by the device's RSS)")
	fl.StringVar(&f.rxCores, "rx-cores", "", "cores for the receiver's engines")
	fl.StringVar(&f.mode, "mode", "auto", "AF_XDP mode on both devices: auto, copy or zerocopy")
	fl.StringVar(&f.xdpMode, "xdp-mode", "auto", "the receiver's XDP program: auto, native or generic")
	fl.StringVar(&f.dst, "dst", "", "the receiver's address on --rx-dev, with an optional UDP port (default 9)")
	fl.StringVar(&f.dstMAC, "dst-mac", "", "the device under test's MAC on --tx-dev's side (default: resolved through the kernel's routes and neighbours)")
	fl.StringVar(&f.src, "src", "", "the source address and port (default: --tx-dev's first address, port 1024)")
	fl.StringVar(&f.sizes, "sizes", "", "frame sizes with the FCS; imix is 64:7,594:4,1518:1 (default 64,128,256,512,1024,1280,1518; over IPv6 82 for 64, the least that holds IPv6, UDP and the stamp, in the sizes and the IMIX)")
	fl.StringVar(&f.loss, "loss", "0", "the NDR's loss ratio: 0 (RFC 2544's throughput), or a percentage such as 0.001%")
	fl.StringVar(&f.pdrLoss, "pdr-loss", "", "also search the partial drop rate at this loss, such as 0.5%")
	fl.StringVar(&f.resolution, "resolution", "0.5%", "the search's relative resolution")
	fl.DurationVar(&f.trial, "trial", time.Second, "a searching trial's duration")
	fl.DurationVar(&f.finalTrial, "final-trial", 10*time.Second, "a confirming trial's duration (RFC 2544 asks for 60s)")
	fl.IntVar(&f.confirm, "confirm", 1, "confirming trials the result must pass")
	fl.StringVar(&f.maxRate, "max-rate", "", "the most to try, frames/s (1.5M) or bits/s on the wire (10Gbps); default: the link's line rate")
	fl.StringVar(&f.minRate, "min-rate", "", "the floor, frames/s or bits/s (default: a thousandth of --max-rate)")
	fl.IntVar(&f.flows, "flows", 1, "UDP flows (source ports from --src's), spread over the device's queues by its RSS")
	fl.StringVar(&f.latency, "latency", "10,50,90", "percentages of each size's NDR to measure latency at; none: skip")
	fl.DurationVar(&f.latTrial, "latency-trial", 0, "a latency trial's duration (default --final-trial)")
	fl.BoolVar(&f.lossCurve, "loss-curve", false, "also the frame loss rate curve (section 26.3): from the highest load offered down by tenths")
	fl.IntVar(&f.backToBack, "back-to-back", 0, "also search the longest burst passed without loss (section 26.4), this many times")
	fl.IntVar(&f.maxBurst, "max-burst", 0, "the longest burst to try (default: two seconds at the highest load offered)")
	fl.IntVar(&f.learn, "learn", 64, "learning frames before each trial (RFC 2544 section 23)")
	fl.DurationVar(&f.gap, "gap", 100*time.Millisecond, "quiet after the learning frames (RFC 2544 suggests 2s)")
	fl.DurationVar(&f.drain, "drain", 2*time.Second, "the longest wait for frames in flight after a trial")
	fl.BoolVar(&f.json, "json", false, "print the result as one JSON object on stdout")
	fl.StringVar(&f.out, "out", "", "write table.txt, result.json, throughput.svg and loss.svg into this directory")
	return cmd
}

// parseRatio parses a loss or a resolution: a percentage ("0.5%") or a
// ratio ("0.005").
func parseRatio(flag, s string) (float64, error) {
	t := strings.TrimSpace(s)
	scale := 1.0
	if strings.HasSuffix(t, "%") {
		t, scale = strings.TrimSuffix(t, "%"), 100
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || !(v >= 0) || math.IsInf(v, 0) || v/scale >= 1 {
		return 0, fmt.Errorf("--%s %q: use a percentage such as 0.5%% or a ratio below 1 such as 0.005", flag, s)
	}
	return v / scale, nil
}

// minSize6 is the smallest stamped IPv6/UDP frame: RFC 5180 5.1.1 too
// has IPv6 tests start above 64 bytes, as the headers and a test
// signature do not fit.
const minSize6 = gen.HeaderLen6 + gen.StampLen + gen.FCSLen

// parseSizes parses --sizes: frame lengths with the FCS, and imix; ""
// is the default list. Over IPv6 (v6) the smallest size, in the list and
// the IMIX, is minSize6.
func parseSizes(s string, v6 bool) ([]rfc2544.Size, error) {
	min, small := gen.MinSize, "64"
	if v6 {
		min, small = minSize6, strconv.Itoa(minSize6)
	}
	if s == "" {
		s = small + ",128,256,512,1024,1280,1518"
	}
	var out []rfc2544.Size
	for _, part := range strings.Split(s, ",") {
		p := strings.TrimSpace(part)
		if p == "imix" {
			sw, _ := gen.ParseIMIX(small + ":7,594:4,1518:1")
			out = append(out, rfc2544.Size{Name: "imix", Sizes: sw})
			continue
		}
		n, err := strconv.Atoi(p)
		if err != nil || n < min || n > 9018 {
			return nil, fmt.Errorf("--sizes %q: use frame lengths with the FCS from %d to the MTU's (1518 for MTU 1500), and imix, such as %s,512,1518,imix", s, min, small)
		}
		out = append(out, rfc2544.Size{Name: p, Sizes: []gen.SizeWeight{{Size: n, Weight: 1}}})
	}
	return out, nil
}

// parseRateFlag parses --max-rate and --min-rate: frames/s or bits/s on
// the wire; bits/s become frames/s at each size, so only frames/s are
// taken here when more than one size is asked for.
func parseRateFlag(flag, s string, sizes []rfc2544.Size) (float64, error) {
	if s == "" {
		return 0, nil
	}
	r, err := gen.ParseRate(s)
	if err != nil || r.Value <= 0 {
		return 0, fmt.Errorf("--%s %q: use frames/s such as 1.5M, or bits/s such as 10Gbps", flag, s)
	}
	if !r.Bits {
		return r.Value, nil
	}
	if len(sizes) != 1 {
		return 0, fmt.Errorf("--%s %q: a bit rate is a different frame rate at each size: give frames/s, or one size", flag, s)
	}
	return r.Value / ((sizes[0].Bytes() + gen.L1Overhead) * 8), nil
}

// rfcConfigOf checks rfc2544's flags and builds the benchmark.
func rfcConfigOf(f rfcFlags) (rfc2544.Benchmark, error) {
	var b rfc2544.Benchmark
	if f.txDev == "" || f.rxDev == "" {
		return b, errors.New("--tx-dev and --rx-dev are required: the devices on either side of the device under test")
	}
	if f.txDev == f.rxDev && f.txNetns == f.rxNetns {
		return b, fmt.Errorf("--tx-dev and --rx-dev are both %s: the frames must come back on another device (a second port, or the far end of the device under test)", f.txDev)
	}
	gf := genFlags{dev: f.txDev, netns: f.txNetns, queues: f.txQueues, cores: f.txCores, dst: f.dst, src: f.src, dstMAC: f.dstMAC,
		rate: "0", mode: f.mode, xdpMode: "none", batch: 64, ring: 2048, frames: 4096}
	gc, err := genConfigOf(gf)
	if err != nil {
		return b, err
	}
	sc, err := sinkConfigOf(sinkFlags{dev: f.rxDev, netns: f.rxNetns, port: int(gc.run.Spec.Dst.Port()), queues: f.rxQueues,
		cores: f.rxCores, mode: f.mode, xdpMode: f.xdpMode, idle: "busy"})
	if err != nil {
		return b, err
	}
	b.TX, b.Batch, b.Dst, b.Src, b.DstMAC = gc.run.Port, 64, gc.run.Spec.Dst, gc.run.Spec.Src, gc.run.Spec.DstMAC
	b.RX, b.RXNetns = sc.sink.Stack, sc.sink.Netns
	if b.Sizes, err = parseSizes(f.sizes, b.Dst.Addr().Is6()); err != nil {
		return b, err
	}
	sport := 1024
	if b.Src.IsValid() {
		sport = int(b.Src.Port())
	}
	if f.flows < 1 || sport+f.flows-1 > 65535 {
		return b, fmt.Errorf("--flows %d: use 1 to %d (source ports %d and up)", f.flows, 65536-sport, sport)
	}
	b.Flows, b.Learn, b.Gap, b.Drain, b.LossCurve, b.LatencyTrial = f.flows, f.learn, f.gap, f.drain, f.lossCurve, f.latTrial
	if f.learn < 0 || f.gap < 0 || f.drain < 0 || f.latTrial < 0 || f.backToBack < 0 || f.maxBurst < 0 {
		return b, errors.New("--learn, --gap, --drain, --latency-trial, --back-to-back and --max-burst must not be negative")
	}
	b.BackToBack, b.MaxBurst = f.backToBack, f.maxBurst
	s := &b.Search
	if s.LossRatio, err = parseRatio("loss", f.loss); err != nil {
		return b, err
	}
	if f.pdrLoss != "" {
		if b.PDR, err = parseRatio("pdr-loss", f.pdrLoss); err != nil {
			return b, err
		}
		if b.PDR <= s.LossRatio {
			return b, fmt.Errorf("--pdr-loss %s: use more than --loss (%s)", f.pdrLoss, f.loss)
		}
	}
	if s.Resolution, err = parseRatio("resolution", f.resolution); err != nil || s.Resolution == 0 || s.Resolution >= 0.5 {
		return b, fmt.Errorf("--resolution %q: use a percentage above 0 and below 50%%, such as 0.5%%", f.resolution)
	}
	if f.trial <= 0 || f.finalTrial <= 0 || f.confirm < 1 {
		return b, fmt.Errorf("--trial %v, --final-trial %v, --confirm %d: use positive durations and 1 or more confirmations", f.trial, f.finalTrial, f.confirm)
	}
	s.Trial, s.FinalTrial, s.Confirm = f.trial, f.finalTrial, f.confirm
	if s.MaxRate, err = parseRateFlag("max-rate", f.maxRate, b.Sizes); err != nil {
		return b, err
	}
	if s.MinRate, err = parseRateFlag("min-rate", f.minRate, b.Sizes); err != nil {
		return b, err
	}
	if s.MaxRate > 0 && s.MinRate >= s.MaxRate {
		return b, fmt.Errorf("--min-rate %s: use less than --max-rate %s", f.minRate, f.maxRate)
	}
	if f.latency != "none" && f.latency != "" {
		for _, p := range strings.Split(f.latency, ",") {
			v, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
			if err != nil || !(v > 0 && v <= 100) {
				return b, fmt.Errorf("--latency %q: use percentages of the NDR above 0 and at most 100, such as 10,50,90, or none", f.latency)
			}
			b.Latency = append(b.Latency, v/100)
		}
	}
	return b, nil
}

func rfcMain(cmd *cobra.Command, f rfcFlags) error {
	b, err := rfcConfigOf(f)
	if err != nil {
		return err
	}
	stderr := cmd.ErrOrStderr()
	b.RX.Notice = noticesTo(cmd)
	b.OnEvent = func(e rfc2544.Event) { printTrial(stderr, e) }
	var startAt time.Time
	if f.startAt != "" {
		if startAt, err = parseStartAt(f.startAt); err != nil {
			return err
		}
	}
	t, err := rfc2544.Start(b)
	if err != nil {
		return err
	}
	if !startAt.IsZero() {
		d := time.Until(startAt)
		if d <= 0 {
			t.Close()
			return fmt.Errorf("--start-at %s passed while the devices were opened (%v late): give a later time", f.startAt, (-d).Round(time.Millisecond))
		}
		select {
		case <-time.After(d):
		case <-cmd.Context().Done():
			t.Close()
			return cmd.Context().Err()
		}
	}
	names := make([]string, len(b.Sizes))
	for i, sz := range b.Sizes {
		names[i] = sz.Name
	}
	fmt.Fprintf(stderr, "rfc2544: %s -> device under test -> %s (%v); sizes %s; NDR loss %s%s; resolution %s; trials %v, final %v\n",
		b.TX.Device, b.RX.Device, b.Dst, strings.Join(names, ","), f.loss, pdrText(f.pdrLoss), f.resolution, f.trial, f.finalTrial)
	res, runErr := t.Run(cmd.Context())
	closeErr := t.Close()
	if f.out != "" && len(res.Sizes) > 0 {
		if err := rfc2544.WriteDir(f.out, res); err != nil {
			return errors.Join(runErr, fmt.Errorf("--out %s: %w", f.out, err))
		}
	}
	if f.json {
		if err := json.NewEncoder(cmd.OutOrStdout()).Encode(res); err != nil {
			return err
		}
	} else if len(res.Sizes) > 0 {
		if err := rfc2544.WriteTable(stderr, res); err != nil {
			return err
		}
	}
	if res.Interrupted {
		fmt.Fprintln(stderr, "rfc2544: interrupted; the table holds what was found")
		return closeErr
	}
	return errors.Join(runErr, closeErr)
}

func pdrText(s string) string {
	if s == "" {
		return ""
	}
	return ", PDR loss " + s
}

// printTrial is the live line of one trial.
func printTrial(w io.Writer, e rfc2544.Event) {
	verdict := "fail"
	if e.Pass {
		verdict = "pass"
	}
	if e.Final {
		verdict += " (final)"
	}
	line := fmt.Sprintf("%5s %-10s asked %9s offered %9s  loss %8.4f%%  %-12s", e.Size, e.Phase, si(e.Asked), si(e.Offered()), 100*e.Loss(), verdict)
	switch e.Phase {
	case "ndr", "pdr":
		line += fmt.Sprintf("  bounds %s .. %s", si(e.Lo), si(e.Hi))
	case "back-to-back":
		line = fmt.Sprintf("%5s %-12s burst %9d sent at %9s  loss %8.4f%%  %-12s  bounds %.0f .. %.0f", e.Size, e.Phase, e.Sent, si(e.Offered()), 100*e.Loss(), verdict, e.Lo, e.Hi)
	case "latency":
		line += fmt.Sprintf("  latency p50 %.0f p99 %.0f p99.9 %.0f max %.0f µs", e.Latency.P50, e.Latency.P99, e.Latency.P999, e.Latency.Max)
	}
	fmt.Fprintln(w, line)
}
