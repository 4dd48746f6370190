package rfc2544

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"time"

	"github.com/fastpathnet/fastpath/ether"
	"github.com/fastpathnet/fastpath/gen"
	"github.com/fastpathnet/fastpath/port"
	"github.com/fastpathnet/fastpath/stack"
)

// Size is one frame size of a benchmark: one size, or an IMIX.
type Size struct {
	Name  string // "64", "imix"
	Sizes []gen.SizeWeight
}

// Bytes is the mean frame length with the FCS.
func (s Size) Bytes() float64 {
	var sum, w float64
	for _, sw := range s.Sizes {
		sum += float64(sw.Size * sw.Weight)
		w += float64(sw.Weight)
	}
	if w == 0 {
		return 0
	}
	return sum / w
}

// LineRate is the frames/s a link of mbps carries at this size: each
// frame costs its bytes and 20 more on the wire (preamble, delimiter,
// gap).
func (s Size) LineRate(mbps int) float64 {
	return float64(mbps) * 1e6 / ((s.Bytes() + gen.L1Overhead) * 8)
}

// Benchmark is a benchmark's set-up: gen on one device, the receiver on
// another, the device under test between them.
type Benchmark struct {
	// TX is the sending device's port (gen's: device, namespace, queues,
	// cores, rings). RX is the receiving stack (shared mode: the kernel's
	// address on the device), in RXNetns.
	TX      port.Options
	RX      stack.Config
	RXNetns string
	// Batch is gen's frames per TX round.
	Batch int
	// Dst is the receiver's address and UDP port, Src the sender's (zero:
	// the device's first address, port 1024). DstMAC, when set, is the
	// device under test's MAC (else resolved through the kernel's routes
	// and neighbours on TX's device).
	Dst, Src netip.AddrPort
	DstMAC   ether.Addr
	// Flows varies the source port over Flows values from Src's, so that
	// the device under test spreads them over its queues.
	Flows int
	Sizes []Size
	// Search is the throughput search, for each size: its Resolution,
	// Trial, FinalTrial and Confirm. LossRatio is the NDR's (0, RFC
	// 2544's throughput); MinRate and MaxRate, when zero, are set per size
	// (MaxRate the link's line rate for it, MinRate a thousandth of that).
	Search Config
	// PDR, above 0, searches a partial drop rate at that loss ratio too,
	// seeded with the NDR's trials.
	PDR float64
	// Learn frames go through the device before each trial (RFC 2544
	// section 23: its address tables and ARP), then Gap of quiet. After a
	// trial the receiver waits for frames in flight while they still
	// come, at most Drain.
	Learn        int
	Gap, Drain   time.Duration
	Latency      []float64 // fractions of each size's NDR to measure latency at
	LatencyTrial time.Duration
	LossCurve    bool // RFC 2544 section 26.3: loss from the highest load down
	// BackToBack, above 0, is how many times to search the longest burst
	// the device passes without loss (section 26.4), at MaxBurst frames
	// at most (0: two seconds at the highest load the sender offered).
	BackToBack, MaxBurst int
	OnEvent              func(Event)
}

// Event is one trial, as it ends: for live output.
type Event struct {
	Size  string
	Phase string // "ndr", "pdr", "latency", "loss-curve"
	Step
	Latency gen.Percentile
}

// Throughput is one search's answer for one size.
type Throughput struct {
	LossRatio float64 `json:"loss_ratio"`
	// FPS is the rate found, frames/s (0: none at or above the floor).
	FPS     float64 `json:"fps"`
	L1BPS   float64 `json:"l1_bps"`
	LinePct float64 `json:"line_rate_pct"`
	// Upper is the lowest offered load that failed (0: none did).
	Upper         float64 `json:"upper_fps"`
	AtMax         bool    `json:"at_max_rate"`
	SenderLimited bool    `json:"sender_limited"`
	Trials        int     `json:"trials"`
	TrialS        float64 `json:"trial_s"`
	// Bound is the most searching trials a bisection of the range at the
	// resolution needs (Config.Bound).
	Bound int `json:"bound"`
	// Bounds are the highest offered load that passed and the lowest
	// that failed when the search ended (0: none).
	Bounds [2]float64 `json:"bounds_fps"`
	// Incomplete: the search did not finish (an error, or interrupted);
	// FPS is 0 and Bounds say how far it got.
	Incomplete bool   `json:"incomplete,omitempty"`
	Steps      []Step `json:"-"`
}

// LatencyPoint is latency at a fraction of the NDR.
type LatencyPoint struct {
	Fraction float64        `json:"fraction"`
	Offered  float64        `json:"offered_fps"`
	Loss     float64        `json:"loss_ratio"`
	Latency  gen.Percentile `json:"latency_us"`
}

// CurvePoint is one trial of the loss curve.
type CurvePoint struct {
	Offered float64 `json:"offered_fps"`
	Loss    float64 `json:"loss_ratio"`
}

// BackToBack is RFC 2544 section 26.4: the longest burst at the sender's
// full speed the device passes without loss, searched Runs times.
type BackToBack struct {
	Mean     float64  `json:"mean_frames"`
	Min, Max uint64   `json:"-"`
	Bursts   []uint64 `json:"bursts"`
	// MaxBurst is the longest burst tried; AtMax: it passed every time
	// (the device's buffer is at least that).
	MaxBurst uint64 `json:"max_burst"`
	AtMax    bool   `json:"at_max"`
	// SentFPS is the rate the bursts went out at (the sender's, with no
	// pacing): what "back to back" means here.
	SentFPS float64 `json:"sent_fps"`
}

// SizeResult is a benchmark's answer for one frame size.
type SizeResult struct {
	Name       string         `json:"size"`
	FrameBytes float64        `json:"frame_bytes"`
	LineRate   float64        `json:"line_rate_fps"`
	MinRate    float64        `json:"min_rate_fps"`
	MaxRate    float64        `json:"max_rate_fps"`
	NDR        Throughput     `json:"ndr"`
	PDR        *Throughput    `json:"pdr,omitempty"`
	Latency    []LatencyPoint `json:"latency,omitempty"`
	LossCurve  []CurvePoint   `json:"loss_curve,omitempty"`
	BackToBack *BackToBack    `json:"back_to_back,omitempty"`
	// Trials is every trial of this size (searches, latency, curve) and
	// TrialS their sending time; ElapsedS is the size's wall time, the
	// rest of it set-up, learning, gaps and drains.
	Trials   []TrialRecord `json:"trials"`
	TrialS   float64       `json:"trial_s"`
	ElapsedS float64       `json:"elapsed_s"`
	// Incomplete says why this size's measurements did not finish.
	Incomplete string `json:"incomplete,omitempty"`
}

// TrialRecord is one trial as the JSON and the plots show it.
type TrialRecord struct {
	Phase     string  `json:"phase"`
	Asked     float64 `json:"asked_fps"`
	Offered   float64 `json:"offered_fps"`
	Sent      uint64  `json:"sent"`
	Received  uint64  `json:"received"`
	Loss      float64 `json:"loss_ratio"`
	DurationS float64 `json:"duration_s"`
	Pass      bool    `json:"pass"`
	Final     bool    `json:"final"`
}

// Result is a whole benchmark.
type Result struct {
	Kernel   string       `json:"kernel"`
	TX       string       `json:"tx_device"`
	RX       string       `json:"rx_device"`
	Dst      string       `json:"dst"`
	Queues   []int        `json:"tx_queues"`
	Mode     string       `json:"tx_mode"`
	RXMode   string       `json:"rx_mode"`
	XDPMode  string       `json:"rx_xdp_mode"`
	LinkMbps int          `json:"link_mbps"`
	Flows    int          `json:"flows"`
	Config   ResultConfig `json:"config"`
	Sizes    []SizeResult `json:"sizes"`
	// Stray counts the datagrams the receiver got outside any trial's
	// streams (late frames, learning frames, anything unstamped).
	Stray uint64 `json:"stray_datagrams"`
	// ReceiverRetries counts trials made again because the receiver
	// dropped frames itself.
	ReceiverRetries int  `json:"receiver_retries"`
	Interrupted     bool `json:"interrupted"`
}

// ResultConfig is the method's settings, for the record.
type ResultConfig struct {
	Resolution  float64 `json:"resolution"`
	NDRLoss     float64 `json:"ndr_loss_ratio"`
	PDRLoss     float64 `json:"pdr_loss_ratio"`
	TrialS      float64 `json:"trial_s"`
	FinalTrialS float64 `json:"final_trial_s"`
	Confirm     int     `json:"confirm"`
	Learn       int     `json:"learning_frames"`
	GapS        float64 `json:"gap_s"`
}

// Tester runs a benchmark: Start opens the receiver, Run searches each
// size, Close closes the receiver.
type Tester struct {
	cfg    Benchmark
	rx     *receiver
	stream int        // the next stamp stream
	dstMAC ether.Addr // resolved by the first gen run
	info   gen.Info   // of the first gen run
	heard  bool       // a learning frame has come through
	// receiverRetries counts trials made again because the receiver
	// dropped frames itself.
	receiverRetries int
	res             *SizeResult // the size being run
}

// Errors a benchmark reports.
var (
	ErrUnreachable = errors.New("rfc2544: no frame came through the device under test")
	ErrLinkSpeed   = errors.New("rfc2544: the sending link's speed is unknown")
	// ErrReceiverDrops: the receiver lost frames itself (its rings or its
	// core could not keep up), so the trial could not judge the device.
	ErrReceiverDrops = errors.New("rfc2544: the receiver dropped frames itself")
)

// Start checks c and opens the receiver.
func Start(c Benchmark) (*Tester, error) {
	if len(c.Sizes) == 0 {
		return nil, fmt.Errorf("%w: no frame size", ErrConfig)
	}
	if c.Learn < 0 || c.Gap < 0 || c.Drain < 0 || c.Flows < 1 || c.Flows > 64511 {
		return nil, fmt.Errorf("%w: learning %d frames, gap %v, drain %v, %d flows", ErrConfig, c.Learn, c.Gap, c.Drain, c.Flows)
	}
	if !(c.PDR >= 0 && c.PDR < 1) || c.PDR > 0 && c.PDR <= c.Search.LossRatio {
		return nil, fmt.Errorf("%w: PDR loss %v: above the NDR's (%v) and below 1", ErrConfig, c.PDR, c.Search.LossRatio)
	}
	for _, f := range c.Latency {
		if !(f > 0 && f <= 1) {
			return nil, fmt.Errorf("%w: latency at %v of the NDR: use fractions above 0, at most 1", ErrConfig, f)
		}
	}
	if c.LatencyTrial <= 0 {
		c.LatencyTrial = c.Search.FinalTrial
	}
	check := c.Search
	check.MinRate, check.MaxRate = 1, 2 // the sizes' rates are set later
	if err := check.check(); err != nil {
		return nil, err
	}
	c.Search.Resolution, c.Search.Confirm = check.Resolution, check.Confirm // the defaults
	if c.Src.IsValid() && c.Src.Port() == 0 {
		c.Src = netip.AddrPortFrom(c.Src.Addr(), 1024)
	}
	if c.Flows > 1 && int(srcPort(c.Src))+c.Flows-1 > 65535 {
		return nil, fmt.Errorf("%w: %d flows from source port %d go past 65535: use fewer flows or a lower port", ErrConfig, c.Flows, srcPort(c.Src))
	}
	rx, err := startReceiver(c.RX, c.RXNetns, c.Dst.Port())
	if err != nil {
		return nil, err
	}
	return &Tester{cfg: c, rx: rx, dstMAC: c.DstMAC}, nil
}

// Close closes the receiver.
func (t *Tester) Close() error { return t.rx.close() }

// Run benchmarks every size in turn. On an error or a cancelled ctx it
// returns what it has, with the error.
func (t *Tester) Run(ctx context.Context) (Result, error) {
	c := t.cfg
	res := Result{Dst: c.Dst.String(), Flows: c.Flows, RX: c.RX.Device, TX: c.TX.Device,
		Config: ResultConfig{Resolution: c.Search.Resolution, NDRLoss: c.Search.LossRatio, PDRLoss: c.PDR,
			TrialS: c.Search.Trial.Seconds(), FinalTrialS: c.Search.FinalTrial.Seconds(), Confirm: c.Search.Confirm,
			Learn: c.Learn, GapS: c.Gap.Seconds()}}
	st := t.rx.st
	res.RXMode = st.Engines()[0].Socket().Info().Mode.String()
	res.XDPMode = st.Steering().Mode().String()
	var err error
	for _, sz := range c.Sizes {
		var sr SizeResult
		sr, err = t.runSize(ctx, sz)
		if err != nil {
			sr.Incomplete = err.Error()
			if ctx.Err() != nil {
				sr.Incomplete = "interrupted"
			}
		}
		if len(sr.Trials) > 0 {
			res.Sizes = append(res.Sizes, sr)
		}
		if err != nil {
			break
		}
	}
	in := t.info
	res.Kernel, res.Queues, res.Mode, res.LinkMbps = in.Kernel, in.Queues, in.Modes.AFXDP.String(), in.LinkMbps
	res.Stray = t.rx.pubOther.Load() + t.rx.pubUnstmp.Load()
	res.ReceiverRetries = t.receiverRetries
	res.Interrupted = ctx.Err() != nil
	return res, err
}

// runSize searches one size: NDR, PDR, then latency and the loss curve.
func (t *Tester) runSize(ctx context.Context, sz Size) (sr SizeResult, err error) {
	c := t.cfg
	start := time.Now()
	sr = SizeResult{Name: sz.Name, FrameBytes: sz.Bytes()}
	t.res = &sr
	defer func() {
		sr.ElapsedS = time.Since(start).Seconds()
		t.res = nil
	}()
	// The first learning run resolves the next hop and tells the link's
	// speed, which MaxRate defaults to.
	if t.info.Device == "" {
		if err := t.learn(ctx, sz); err != nil {
			return sr, err
		}
	}
	sc := c.Search
	if t.info.LinkMbps > 0 {
		sr.LineRate = sz.LineRate(t.info.LinkMbps)
	}
	if sc.MaxRate == 0 {
		if sr.LineRate == 0 {
			return sr, fmt.Errorf("%w (%s): give the most frames/s to try (--max-rate)", ErrLinkSpeed, c.TX.Device)
		}
		sc.MaxRate = sr.LineRate
	}
	if sc.MinRate == 0 {
		sc.MinRate = sc.MaxRate / 1000
	}
	if sc.MinRate >= sc.MaxRate {
		return sr, fmt.Errorf("%w: minimum rate %.0f frames/s is not below the maximum %.0f", ErrConfig, sc.MinRate, sc.MaxRate)
	}
	sr.MinRate, sr.MaxRate = sc.MinRate, sc.MaxRate
	bound := sc.Bound()

	search := func(phase string, sc Config) (Throughput, error) {
		sc.OnStep = func(s Step) { t.event(sz.Name, phase, s, gen.Percentile{}) }
		o, err := Search(ctx, sc, func(ctx context.Context, rate float64, d time.Duration) (Measurement, error) {
			m, _, err := t.trial(ctx, sz, phase, rate, d)
			return m, err
		})
		th := Throughput{LossRatio: sc.LossRatio, FPS: o.Rate, Upper: o.Upper, AtMax: o.AtMax, SenderLimited: o.SenderLimited,
			Trials: len(o.Steps), TrialS: o.Time.Seconds(), Bound: bound, Steps: o.Steps, Incomplete: err != nil}
		if n := len(o.Steps); n > 0 {
			th.Bounds = [2]float64{o.Steps[n-1].Lo, o.Steps[n-1].Hi}
		}
		th.L1BPS = o.Rate * (sz.Bytes() + gen.L1Overhead) * 8
		if sr.LineRate > 0 {
			th.LinePct = 100 * o.Rate / sr.LineRate
		}
		return th, err
	}
	if sr.NDR, err = search("ndr", sc); err != nil {
		return sr, err
	}
	if c.PDR > 0 {
		pc := sc
		pc.LossRatio, pc.Known = c.PDR, sr.NDR.Steps
		pdr, err := search("pdr", pc)
		sr.PDR = &pdr
		if err != nil {
			return sr, err
		}
	}
	if sr.NDR.FPS > 0 {
		for _, f := range c.Latency {
			m, r, err := t.trial(ctx, sz, "latency", f*sr.NDR.FPS, c.LatencyTrial)
			if err != nil {
				return sr, err
			}
			sr.Latency = append(sr.Latency, LatencyPoint{Fraction: f, Offered: m.Offered(), Loss: m.Loss(), Latency: r.Latency})
			t.event(sz.Name, "latency", Step{Measurement: m, Pass: m.Loss() <= sc.LossRatio}, r.Latency)
		}
	}
	if c.LossCurve {
		if err := t.lossCurve(ctx, sz, &sr); err != nil {
			return sr, err
		}
	}
	if c.BackToBack > 0 {
		if err := t.backToBack(ctx, sz, &sr); err != nil {
			return sr, err
		}
	}
	return sr, nil
}

// backToBack is RFC 2544 section 26.4: bursts at the sender's full speed,
// the longest that loses nothing found by bisection on its length, Runs
// times over.
func (t *Tester) backToBack(ctx context.Context, sz Size, sr *SizeResult) error {
	maxBurst := uint64(t.cfg.MaxBurst)
	if maxBurst == 0 {
		maxBurst = uint64(2 * sr.topOffered())
	}
	maxBurst = max(maxBurst, 2)
	b := &BackToBack{MaxBurst: maxBurst, AtMax: true}
	var sent, secs float64
	for run := 0; run < t.cfg.BackToBack; run++ {
		lo, hi := uint64(0), maxBurst+1 // lo passed (0: none yet), hi failed
		res := t.cfg.Search.Resolution
		for n := maxBurst; hi-lo > 1 && float64(hi-lo) > res*float64(hi); n = lo + (hi-lo)/2 {
			m, _, err := t.burst(ctx, sz, n)
			if err != nil {
				return err
			}
			sent += float64(m.Sent)
			secs += m.Duration.Seconds()
			pass := m.Loss() == 0 && m.Sent == n
			t.event(sz.Name, "back-to-back", Step{Measurement: m, Pass: pass, Lo: float64(lo), Hi: float64(hi)}, gen.Percentile{})
			if pass {
				lo = n
			} else {
				hi = n
			}
		}
		b.Bursts = append(b.Bursts, lo)
		if lo < maxBurst {
			b.AtMax = false
		}
	}
	var sum float64
	b.Min = b.Bursts[0]
	for _, n := range b.Bursts {
		sum += float64(n)
		b.Min, b.Max = min(b.Min, n), max(b.Max, n)
	}
	b.Mean = sum / float64(len(b.Bursts))
	if secs > 0 {
		b.SentFPS = sent / secs
	}
	sr.BackToBack = b
	return nil
}

// lossCurve is RFC 2544 section 26.3: trials from the highest load the
// searches offered down in steps of a tenth of it, until two in a row lose
// nothing.
func (t *Tester) lossCurve(ctx context.Context, sz Size, sr *SizeResult) error {
	top := sr.topOffered()
	clean := 0
	for i := 0; i < 10 && clean < 2; i++ {
		m, _, err := t.trial(ctx, sz, "loss-curve", top*float64(10-i)/10, t.cfg.Search.Trial)
		if err != nil {
			return err
		}
		sr.LossCurve = append(sr.LossCurve, CurvePoint{Offered: m.Offered(), Loss: m.Loss()})
		t.event(sz.Name, "loss-curve", Step{Measurement: m, Pass: m.Loss() == 0}, gen.Percentile{})
		if m.Loss() == 0 {
			clean++
		} else {
			clean = 0
		}
	}
	return nil
}

// topOffered is the highest load the size's trials offered.
func (sr *SizeResult) topOffered() float64 {
	top := 0.0
	for _, tr := range sr.Trials {
		top = max(top, tr.Offered)
	}
	return top
}

// event files a trial's verdict with its record and reports it.
func (t *Tester) event(size, phase string, s Step, lat gen.Percentile) {
	if t.res != nil && len(t.res.Trials) > 0 {
		tr := &t.res.Trials[len(t.res.Trials)-1]
		tr.Pass, tr.Final = s.Pass, s.Final
	}
	if t.cfg.OnEvent != nil {
		t.cfg.OnEvent(Event{Size: size, Phase: phase, Step: s, Latency: lat})
	}
}

// spec is what a run of size sends, stamped on streams from stream.
func (t *Tester) spec(sz Size, stream uint8) gen.Spec {
	sp := gen.Spec{Src: t.cfg.Src, Dst: t.cfg.Dst, Sizes: sz.Sizes, Stamp: true, Stream: stream, DstMAC: t.dstMAC}
	if t.cfg.Flows > 1 {
		lo := srcPort(t.cfg.Src)
		sp.SrcPorts = gen.Range[uint16]{Lo: lo, Hi: lo + uint16(t.cfg.Flows-1)}
	}
	return sp
}

// srcPort is the first source port: src's, or gen's default, 1024.
func srcPort(src netip.AddrPort) uint16 { return cmp.Or(src.Port(), 1024) }

// streams takes the stamp streams of the next gen run: one per queue.
func (t *Tester) streams() (lo, hi int) {
	// One per sending queue: those asked for, or all the device's, as the
	// first run found them (before it, room for 64).
	n := max(len(t.info.Queues), len(t.cfg.TX.Queues), 1)
	if t.info.Device == "" && len(t.cfg.TX.Queues) == 0 {
		n = 64
	}
	if t.stream+n > 256 {
		t.stream = 0
	}
	lo, hi = t.stream, t.stream+n
	t.stream = hi
	return lo, hi
}

// send runs gen for count frames at rate, stamped on streams lo..hi-1,
// and stops it at deadline if it has not finished; it returns its
// counts.
func (t *Tester) send(ctx context.Context, sz Size, lo int, rate float64, count uint64, deadline time.Duration) (gen.Stats, error) {
	gc := gen.Config{Port: t.cfg.TX, Spec: t.spec(sz, uint8(lo)), Rate: gen.Rate{Value: rate}, Count: count, Batch: t.cfg.Batch}
	g, err := gen.Start(ctx, gc)
	if err != nil {
		return gen.Stats{}, err
	}
	if t.info.Device == "" {
		t.info = g.Info()
		t.dstMAC = t.info.DstMAC
	}
	timer := time.NewTimer(deadline)
	defer timer.Stop()
	select {
	case <-g.Done():
	case <-timer.C:
	case <-ctx.Done():
	}
	err = g.Stop()
	st := g.Stats()
	return st, errors.Join(err, g.Close())
}

// learn sends the learning frames and waits the gap. The first time, it
// checks that they came through.
func (t *Tester) learn(ctx context.Context, sz Size) error {
	c := t.cfg
	if c.Learn == 0 && t.info.Device != "" {
		return nil
	}
	n := max(c.Learn, 1) // one, at least, to resolve the next hop
	lo, hi := t.streams()
	if _, err := t.rx.swap(gen.NewTracker(), lo, hi); err != nil {
		return err
	}
	if _, err := t.send(ctx, sz, lo, 10_000, uint64(n), time.Second+time.Duration(n)*100*time.Microsecond); err != nil {
		return err
	}
	wait := c.Gap
	if !t.heard {
		wait = max(wait, time.Second) // the first: for the device to resolve its next hop
	}
	if err := sleep(ctx, wait); err != nil {
		return err
	}
	tr, err := t.rx.swap(nil, 0, 0)
	if err != nil {
		return err
	}
	if got := tr.Result().Unique; got > 0 {
		t.heard = true
	} else if !t.heard && c.Learn > 0 {
		return fmt.Errorf("%w: none of %d learning frames from %s to %v reached %s within %v: check the device's routes and that %v is %s's address",
			ErrUnreachable, n, c.TX.Device, c.Dst, c.RX.Device, wait, c.Dst.Addr(), c.RX.Device)
	}
	return nil
}

// trial is one trial (RFC 2544 section 23): learning frames and a gap,
// then rate×d stamped frames, counted as they come through; the sender is
// stopped at 110% of d (a sender the device or the host holds back
// offers less than asked, and the trial says so); then a wait for frames
// in flight.
func (t *Tester) trial(ctx context.Context, sz Size, phase string, rate float64, d time.Duration) (Measurement, gen.TrackerResult, error) {
	return t.measure(ctx, sz, phase, rate, uint64(math.Ceil(rate*d.Seconds())), d, d+d/10+100*time.Millisecond)
}

// burst is a back-to-back trial: n frames as fast as the sender goes.
func (t *Tester) burst(ctx context.Context, sz Size, n uint64) (Measurement, gen.TrackerResult, error) {
	return t.measure(ctx, sz, "back-to-back", 0, n, 0, time.Second+time.Duration(n)*10*time.Microsecond)
}

// measure sends count frames at rate (0: as fast as the sender goes),
// stopping at deadline, and counts them. The trial lasts d, or longer if
// the sender took longer. A trial in which the receiver itself lost
// frames says nothing of the device: it is made again, twice at most.
func (t *Tester) measure(ctx context.Context, sz Size, phase string, rate float64, count uint64, d, deadline time.Duration) (Measurement, gen.TrackerResult, error) {
	for attempt := 1; ; attempt++ {
		before := t.rx.drops()
		m, r, err := t.once(ctx, sz, rate, count, d, deadline)
		if err != nil {
			return m, r, err
		}
		lost := t.rx.drops().minus(before)
		if lost.total() == 0 {
			if t.res != nil {
				t.res.Trials = append(t.res.Trials, TrialRecord{Phase: phase, Asked: rate, Offered: m.Offered(), Sent: m.Sent,
					Received: m.Received, Loss: m.Loss(), DurationS: m.Duration.Seconds()})
				t.res.TrialS += m.Duration.Seconds()
			}
			return m, r, nil
		}
		t.receiverRetries++
		if attempt == 3 {
			return m, r, fmt.Errorf("%w in the trial at %.0f frames/s, and in the two made again (the last: %v): give the receiver a core of its own (--rx-cores), more queues, or deeper rings",
				ErrReceiverDrops, rate, lost)
		}
	}
}

// once is one attempt at a trial: learning, then the trial's frames,
// counted as they come through, then a wait for frames in flight.
func (t *Tester) once(ctx context.Context, sz Size, rate float64, count uint64, d, deadline time.Duration) (Measurement, gen.TrackerResult, error) {
	if err := t.learn(ctx, sz); err != nil {
		return Measurement{}, gen.TrackerResult{}, err
	}
	lo, hi := t.streams()
	tracker := gen.NewTracker()
	for id := lo; id < hi; id++ {
		tracker.Expect(uint8(id), 0) // each sender numbers from 0
	}
	if _, err := t.rx.swap(tracker, lo, hi); err != nil {
		return Measurement{}, gen.TrackerResult{}, err
	}
	st, err := t.send(ctx, sz, lo, rate, count, deadline)
	if err != nil {
		t.rx.swap(nil, 0, 0)
		return Measurement{}, gen.TrackerResult{}, err
	}
	t.rx.settle(max(t.cfg.Drain, 50*time.Millisecond))
	tr, err := t.rx.swap(nil, 0, 0)
	if err != nil {
		return Measurement{}, gen.TrackerResult{}, err
	}
	r := tr.Result()
	span := time.Duration(st.Last - st.First)
	// Sent counts what the kernel took (completed): a frame left on the
	// TX ring when the sender stopped was never offered.
	m := Measurement{Asked: rate, Duration: max(d, span, time.Microsecond), Sent: st.Completed, Received: r.Unique}
	if !t.heard && m.Sent > 0 && m.Received == 0 {
		return m, r, fmt.Errorf("%w: none of the trial's %d frames reached %s: check the device's routes and that %v is %s's address",
			ErrUnreachable, m.Sent, t.cfg.RX.Device, t.cfg.Dst.Addr(), t.cfg.RX.Device)
	}
	t.heard = t.heard || m.Received > 0
	return m, r, ctx.Err()
}

func sleep(ctx context.Context, d time.Duration) error {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
