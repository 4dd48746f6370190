package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/fastpathnet/fastpath/gen"
	"github.com/fastpathnet/fastpath/internal/lab"
	"github.com/fastpathnet/fastpath/sink"
	"github.com/spf13/cobra"
)

type labFlags struct {
	size               int
	imix, rate         string
	count              uint64
	duration, interval time.Duration
	queues             int
	flows              int
	noStamp            bool
	sinkIdle           string
	json               bool
}

func newLabCommand() *cobra.Command {
	var f labFlags
	cmd := &cobra.Command{
		Use:   "lab",
		Short: "Build a throwaway veth lab, run gen -> sink across it, print rates and loss, clean up",
		Long: `lab builds two network namespaces joined by a veth pair, runs fastpath sink
on B's end (shared mode: B's kernel address, UDP port 9) and fastpath gen on A's
end towards it, with stamps, for --duration or --count. It prints the rates
every second, then what was sent and received, the loss, the reordering and
the one-way latency, and removes everything (on Ctrl-C too). Nothing outside
the lab is touched. It is what make run runs.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return labMain(cmd, f) },
	}
	fl := cmd.Flags()
	fl.IntVar(&f.size, "size", 64, "Ethernet frame length with the 4-byte FCS, 64 to 1518")
	fl.StringVar(&f.imix, "imix", "", "sizes and weights instead of --size, such as 64:7,594:4,1518:1")
	fl.StringVar(&f.rate, "rate", "0", "packets/s (50k, 1.5M) or bits/s (800Mbps); 0: as fast as possible")
	fl.Uint64Var(&f.count, "count", 0, "send exactly this many frames (0: for --duration)")
	fl.DurationVar(&f.duration, "duration", 3*time.Second, "how long to send")
	fl.IntVar(&f.queues, "queues", 1, "queues on each end of the veth pair, one sender and one sink engine each (1 or 2)")
	fl.IntVar(&f.flows, "flows", 1, "UDP flows (source ports 1024 and up)")
	fl.BoolVar(&f.noStamp, "no-stamp", false, "send unstamped frames (no loss or latency figures)")
	fl.StringVar(&f.sinkIdle, "sink-idle", "busy", "the sink engines' idle policy: busy or adaptive")
	fl.DurationVar(&f.interval, "interval", time.Second, "how often to print live stats (0: never)")
	fl.BoolVar(&f.json, "json", false, "print the summary as one JSON object on stdout")
	return cmd
}

// labResult is lab's summary.
type labResult struct {
	Gen        gen.Summary `json:"gen"`
	Sink       sink.Result `json:"sink"`
	Lost       int64       `json:"lost_packets"`
	LossRatio  float64     `json:"loss_ratio"`
	Namespaces string      `json:"namespaces"`
}

// labConfigs checks lab's flags and builds gen's and sink's configuration
// (the devices and namespaces are filled in once the lab exists).
func labConfigs(f labFlags) (genConfig, sinkConfig, error) {
	if f.queues < 1 || f.queues > 2 {
		return genConfig{}, sinkConfig{}, fmt.Errorf("--queues %d: use 1 or 2 (one sender and one sink engine per queue, on this lab's cores)", f.queues)
	}
	if f.flows < 1 || f.flows > 64511 {
		return genConfig{}, sinkConfig{}, fmt.Errorf("--flows %d: use 1 to 64511", f.flows)
	}
	if f.duration <= 0 && f.count == 0 {
		return genConfig{}, sinkConfig{}, errors.New("--duration must be positive unless --count is given")
	}
	qs := make([]string, f.queues)
	for i := range qs {
		qs[i] = strconv.Itoa(i)
	}
	queues := strings.Join(qs, ",")
	gf := genFlags{
		queues: queues, size: f.size, imix: f.imix, rate: f.rate, count: f.count, stamp: !f.noStamp,
		mode: "auto", xdpMode: "none", batch: 64, ring: 2048, frames: 4096, json: f.json,
		dev: "placeholder", dst: "198.18.0.2:9",
	}
	if f.flows > 1 {
		gf.srcPorts = fmt.Sprintf("1024-%d", 1024+f.flows-1)
	}
	gc, err := genConfigOf(gf)
	if err != nil {
		return gc, sinkConfig{}, err
	}
	sc, err := sinkConfigOf(sinkFlags{dev: "placeholder", port: 9, queues: queues, mode: "auto", xdpMode: "native", idle: f.sinkIdle, json: f.json})
	return gc, sc, err
}

func labMain(cmd *cobra.Command, f labFlags) error {
	gc, sc, err := labConfigs(f)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	stderr := cmd.ErrOrStderr()
	l, err := lab.New(lab.Options{Queues: f.queues})
	if err != nil {
		if errors.Is(err, os.ErrPermission) {
			return fmt.Errorf("%w (the lab needs root: sudo fastpath lab)", err)
		}
		return err
	}
	defer l.Close()
	sc.sink.Stack.Device, sc.sink.Netns = l.B.Link, l.B.Name
	gc.run.Port.Device, gc.run.Port.Netns = l.A.Link, l.A.Name
	gc.run.Spec.Dst = netip.AddrPortFrom(l.B.Addr.Addr(), 9)

	sk, err := sink.Start(sc.sink)
	if err != nil {
		return fmt.Errorf("lab: sink in B: %w", err)
	}
	sinkDone := false
	defer func() {
		if !sinkDone {
			sk.Stop(true)
		}
	}()
	g, err := startGen(ctx, gc)
	if err != nil {
		return fmt.Errorf("lab: gen in A: %w", err)
	}
	if !f.json {
		fmt.Fprintf(stderr, "lab %s <-> %s: gen on A/%s queues %v (%s AF_XDP) -> sink on B/%s UDP :9 (%s XDP, %s AF_XDP), sizes %s, rate %s\n",
			l.A.Name, l.B.Name, l.A.Link, g.Info().Queues, g.Info().Modes.AFXDP, l.B.Link, sk.Stack().Steering().Mode(),
			sk.Stack().Port().Modes().AFXDP, g.Info().Spec.SizesString(), g.Rate())
	}

	interrupted := labLoop(ctx, g, sk, f, stderr)
	gr, gerr := g.Finish(interrupted)
	sk.Drain(3 * time.Second) // what is still in flight
	sinkDone = true
	sr, serr := sk.Stop(interrupted)
	if err := errors.Join(gerr, serr); err != nil {
		return err
	}
	res := labResult{Gen: gr, Sink: sr, Namespaces: l.A.Name + " " + l.B.Name}
	res.Lost = int64(gr.Completed) - int64(sr.Packets)
	if gr.Completed > 0 {
		res.LossRatio = float64(res.Lost) / float64(gr.Completed)
	}
	return printLab(cmd, f, res)
}

func printLab(cmd *cobra.Command, f labFlags, res labResult) error {
	if f.json {
		return json.NewEncoder(cmd.OutOrStdout()).Encode(res)
	}
	stderr, gr := cmd.ErrOrStderr(), res.Gen
	fmt.Fprintf(stderr, "gen:  sent %d frames in %.2fs: %s\n", gr.SentPackets, gr.DurationS,
		rateLine(gr.SentPackets, gr.SentBytes, time.Duration(gr.DurationS*float64(time.Second))))
	fmt.Fprint(stderr, "sink: ")
	printSink(stderr, res.Sink)
	fmt.Fprintf(stderr, "lost %d of %d (%.3f%%); kernel %s, veth, %s AF_XDP, %d queue(s), one sender core per queue; lab removed\n",
		res.Lost, gr.Completed, 100*res.LossRatio, gr.Kernel, gr.Mode, f.queues)
	return nil
}

// labLoop prints both ends' live stats until gen finishes (its count), the
// duration ends, or ctx is cancelled (reported as interrupted).
func labLoop(ctx context.Context, g *genRun, s *sink.Run, f labFlags, w io.Writer) bool {
	duration := f.duration
	if f.count > 0 {
		duration = 0 // until gen has sent the count
	}
	var lastG, lastGB, lastN, lastB uint64
	lastT := g.Started()
	return live(ctx, duration, every(f.interval, f.json), []<-chan struct{}{g.Done(), s.Stack().Done()}, nil, func(now time.Time) {
		st := g.Stats()
		n, b, lost := s.Counts()
		d := now.Sub(lastT)
		fmt.Fprintf(w, "%6.1fs  gen %s | sink %s  lost %d\n", now.Sub(g.Started()).Seconds(),
			rateLine(st.Sent-lastG, st.Bytes-lastGB, d), rateLine(n-lastN, b-lastB, d), lost)
		lastG, lastGB, lastN, lastB, lastT = st.Sent, st.Bytes, n, b, now
	})
}
