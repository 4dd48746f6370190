package tcp

import (
	"math"
	"strings"
	"testing"
	"time"
)

const ms = int64(time.Millisecond)

func TestRTTEstimator(t *testing.T) {
	r := NewRTT(DefaultMinRTO, DefaultMaxRTO, DefaultInitialRTO)
	if r.HasSample() || r.RTO() != int64(time.Second) {
		t.Fatalf("before a sample: RTO %v, want the initial 1 s", time.Duration(r.RTO()))
	}
	check := func(step string, srtt, rttvar, rto int64) {
		t.Helper()
		if r.SRTT() != srtt || r.RTTVar() != rttvar || r.RTO() != rto {
			t.Errorf("%s: SRTT %v RTTVAR %v RTO %v, want %v %v %v", step,
				time.Duration(r.SRTT()), time.Duration(r.RTTVar()), time.Duration(r.RTO()),
				time.Duration(srtt), time.Duration(rttvar), time.Duration(rto))
		}
	}
	// RFC 6298 2.2: SRTT <- R, RTTVAR <- R/2, RTO <- SRTT + max(G, 4*RTTVAR).
	r.Sample(100 * ms)
	check("first sample 100 ms", 100*ms, 50*ms, 300*ms)
	// 2.3: RTTVAR <- 3/4*50 + 1/4*|100-200| = 62.5; SRTT <- 7/8*100 + 1/8*200 = 112.5.
	r.Sample(200 * ms)
	check("then 200 ms", 112500*1000, 62500*1000, 362500*1000)
	// RTTVAR <- 3/4*62.5 + 1/4*|112.5-100| = 50; SRTT <- 7/8*112.5 + 1/8*100 = 110.9375.
	r.Sample(100 * ms)
	check("then 100 ms", 110937500, 50*ms, 310937500)
	if r.MinRTT() != 100*ms || !r.HasSample() {
		t.Errorf("MinRTT %v", time.Duration(r.MinRTT()))
	}
	r.Sample(80 * ms)
	if r.MinRTT() != 80*ms {
		t.Errorf("MinRTT %v after an 80 ms sample", time.Duration(r.MinRTT()))
	}

	// The floor: a steady 1 ms path still waits 200 ms.
	r = NewRTT(DefaultMinRTO, DefaultMaxRTO, DefaultInitialRTO)
	for i := 0; i < 100; i++ {
		r.Sample(ms)
	}
	if r.RTO() != DefaultMinRTO {
		t.Errorf("steady 1 ms: RTO %v, want the 200 ms floor", time.Duration(r.RTO()))
	}
	// With no floor, a steady path's RTTVAR decays and G is the margin.
	r = NewRTT(0, DefaultMaxRTO, DefaultInitialRTO)
	r.Sample(10 * ms)
	if r.RTO() != 30*ms {
		t.Errorf("no floor, first 10 ms sample: RTO %v, want 30 ms", time.Duration(r.RTO()))
	}
	for i := 0; i < 200; i++ {
		r.Sample(10 * ms)
	}
	if r.RTO() != 10*ms+clockGranularity {
		t.Errorf("no floor, steady 10 ms: RTO %v, want SRTT + G = 11 ms", time.Duration(r.RTO()))
	}
	// The ceiling.
	r = NewRTT(DefaultMinRTO, DefaultMaxRTO, DefaultInitialRTO)
	r.Sample(100 * int64(time.Second))
	if r.RTO() != DefaultMaxRTO {
		t.Errorf("100 s sample: RTO %v, want the 120 s ceiling", time.Duration(r.RTO()))
	}
	// A zero or negative sample counts as the smallest.
	r = NewRTT(0, DefaultMaxRTO, DefaultInitialRTO)
	r.Sample(0)
	r.Sample(-5)
	if r.SRTT() != 1 || r.MinRTT() != 1 {
		t.Errorf("samples 0 and -5: SRTT %d MinRTT %d, want 1", r.SRTT(), r.MinRTT())
	}
}

func TestRTTBackoff(t *testing.T) {
	r := NewRTT(DefaultMinRTO, DefaultMaxRTO, DefaultInitialRTO)
	// Before any sample, from the initial RTO (RFC 6298 5.5).
	r.Backoff()
	if r.RTO() != 2*int64(time.Second) {
		t.Errorf("initial RTO backed off once: %v", time.Duration(r.RTO()))
	}
	r.ResetBackoff()
	r.Sample(100 * ms) // RTO 300 ms
	for k := 1; k <= 40; k++ {
		r.Backoff()
		want := min(300*ms<<min(k, 20), DefaultMaxRTO)
		if r.RTO() != want {
			t.Fatalf("after %d backoffs: RTO %v, want %v", k, time.Duration(r.RTO()), time.Duration(want))
		}
	}
	// 300 ms * 2^9 is past 120 s: the ceiling from the ninth on.
	if r.RTO() != DefaultMaxRTO {
		t.Errorf("backed off 40 times: %v", time.Duration(r.RTO()))
	}
	r.ResetBackoff()
	if r.RTO() != 300*ms {
		t.Errorf("after ResetBackoff: RTO %v, want 300 ms", time.Duration(r.RTO()))
	}
	// A sample during backoff keeps the backoff until ResetBackoff.
	r.Backoff()
	r.Sample(100 * ms)
	if got := r.RTO(); got != 2*(r.SRTT()+4*r.RTTVar()) {
		t.Errorf("sample while backed off: RTO %v", time.Duration(got))
	}
}

func TestInitialWindow(t *testing.T) {
	// RFC 6928: min(10*MSS, max(2*MSS, 14600)).
	for _, tc := range []struct{ mss, want int }{
		{536, 5360}, {1000, 10000}, {1460, 14600}, {4000, 14600}, {8960, 17920}, {65000, 130000},
	} {
		if got := initialWindow(tc.mss); got != tc.want {
			t.Errorf("initialWindow(%d) = %d, want %d", tc.mss, got, tc.want)
		}
	}
}

// ackRounds drives cc with an ACK clock of a fixed RTT: each round the
// window's worth of segments is out, and their ACKs, one per MSS, arrive
// spread evenly over the next RTT. After each round it calls f with the
// time, and stops when f returns false or after max rounds. It returns the
// time at the end.
func ackRounds(cc CongestionControl, mss int, rtt, now int64, rounds int, f func(now int64) bool) int64 {
	for i := 0; i < rounds; i++ {
		w := max(cc.Cwnd()/mss, 1)
		for k := 0; k < w; k++ {
			now += rtt / int64(w)
			cc.OnAck(mss, rtt, cc.Cwnd(), now)
		}
		if f != nil && !f(now) {
			break
		}
	}
	return now
}

func TestNewReno(t *testing.T) {
	const mss = 1460
	r := &NewReno{}
	r.Init(mss, 0)
	if r.Name() != "newreno" || r.Cwnd() != 10*mss || r.Ssthresh() < 1<<20 {
		t.Fatalf("Init: %s cwnd %d ssthresh %d", r.Name(), r.Cwnd(), r.Ssthresh())
	}
	// Slow start: one MSS per MSS acknowledged, at most two per ACK
	// (RFC 3465, L = 2).
	r.OnAck(mss, 0, 0, 0)
	if r.Cwnd() != 11*mss {
		t.Errorf("slow start, 1 MSS acked: cwnd %d", r.Cwnd())
	}
	r.OnAck(100, 0, 0, 0)
	if r.Cwnd() != 11*mss+100 {
		t.Errorf("slow start, 100 bytes acked: cwnd %d", r.Cwnd())
	}
	r.OnAck(5*mss, 0, 0, 0)
	if r.Cwnd() != 13*mss+100 {
		t.Errorf("slow start, 5 MSS in one ACK: cwnd %d, want +2 MSS", r.Cwnd())
	}
	// A round of per-segment ACKs doubles the window.
	r.Init(mss, 0)
	ackRounds(r, mss, 10*ms, 0, 1, nil)
	if r.Cwnd() != 20*mss {
		t.Errorf("slow start, one round from 10: cwnd %d MSS, want 20", r.Cwnd()/mss)
	}

	// Loss: ssthresh and cwnd to half the flight (RFC 5681 eq. 4).
	r.OnCongestion(40*mss, 0)
	if r.Cwnd() != 20*mss || r.Ssthresh() != 20*mss {
		t.Fatalf("OnCongestion with 40 MSS out: cwnd %d ssthresh %d, want 20 MSS", r.Cwnd(), r.Ssthresh())
	}
	// Congestion avoidance: one MSS per round of ACKs.
	ackRounds(r, mss, 10*ms, 0, 10, nil)
	if r.Cwnd() != 30*mss {
		t.Errorf("congestion avoidance, 10 rounds from 20 MSS: cwnd %.2f MSS, want 30", float64(r.Cwnd())/mss)
	}
	// Recovery ends at ssthresh.
	r.OnCongestion(30*mss, 0)
	r.OnRecoveryExit(0)
	if r.Cwnd() != 15*mss {
		t.Errorf("OnRecoveryExit: cwnd %d", r.Cwnd())
	}
	// A small flight: ssthresh no lower than 2 MSS.
	r.OnCongestion(mss, 0)
	if r.Ssthresh() != 2*mss {
		t.Errorf("OnCongestion with 1 MSS out: ssthresh %d, want 2 MSS", r.Ssthresh())
	}
	// RTO: the loss window of one MSS, then slow start up to ssthresh.
	r.OnRTO(16*mss, 0)
	if r.Cwnd() != mss || r.Ssthresh() != 8*mss {
		t.Errorf("OnRTO with 16 MSS out: cwnd %d ssthresh %d, want 1 and 8 MSS", r.Cwnd(), r.Ssthresh())
	}
	r.OnAck(mss, 0, 0, 0)
	if r.Cwnd() != 2*mss {
		t.Errorf("slow start after RTO: cwnd %d", r.Cwnd())
	}
	r.SetMSS(1000)
	r.OnAck(1000, 0, 0, 0)
	if r.Cwnd() != 2*mss+1000 {
		t.Errorf("after SetMSS(1000): cwnd %d", r.Cwnd())
	}
}

func TestCubicSlowStartAndDecrease(t *testing.T) {
	const mss = 1460
	c := &Cubic{}
	c.Init(mss, 1e9)
	if c.Name() != "cubic" || c.Cwnd() != 10*mss || c.Ssthresh() < 1<<30-mss {
		t.Fatalf("Init: %s cwnd %d ssthresh %d", c.Name(), c.Cwnd(), c.Ssthresh())
	}
	c.OnAck(mss, 0, 0, 1e9)
	c.OnAck(5*mss, 0, 0, 1e9)
	if c.Cwnd() != 13*mss {
		t.Errorf("slow start, 1 then 5 MSS acked: cwnd %d, want 13 MSS", c.Cwnd())
	}
	c.Init(mss, 1e9)
	now := ackRounds(c, mss, 10*ms, 1e9, 3, nil)
	if c.Cwnd() != 80*mss {
		t.Errorf("slow start, three rounds from 10: cwnd %d MSS, want 80", c.Cwnd()/mss)
	}
	// A few bytes more, so that the window is not a whole number.
	c.OnAck(333, 10*ms, 0, now)
	before := c.Cwnd()
	c.OnCongestion(before, now)
	if want := 0.7 * float64(before); math.Abs(float64(c.Cwnd())-want) > 1 || math.Abs(float64(c.Ssthresh())-want) > 1 {
		t.Errorf("OnCongestion at %d: cwnd %d ssthresh %d, want 0.7 of it, %.0f", before, c.Cwnd(), c.Ssthresh(), want)
	}
	c.OnRecoveryExit(now)
	if math.Abs(float64(c.Cwnd())-0.7*float64(before)) > 1 {
		t.Errorf("OnRecoveryExit: cwnd %d", c.Cwnd())
	}
	// RTO: one segment, ssthresh 0.7 of the window.
	before = c.Cwnd()
	c.OnRTO(before, now)
	if c.Cwnd() != mss || math.Abs(float64(c.Ssthresh())-0.7*float64(before)) > 1 {
		t.Errorf("OnRTO at %d: cwnd %d ssthresh %d", before, c.Cwnd(), c.Ssthresh())
	}
	// Never below two segments.
	c.OnCongestion(0, now)
	if c.Ssthresh() != 2*mss {
		t.Errorf("OnCongestion at 1 segment: ssthresh %d, want 2 MSS", c.Ssthresh())
	}
	// SetMSS keeps the window in bytes.
	c.Init(mss, 1e9)
	c.SetMSS(1000)
	if c.Cwnd() != 10*mss {
		t.Errorf("SetMSS(1000) at 14600 bytes: cwnd %d", c.Cwnd())
	}
}

// cubicAt grows c by slow start to wmax segments and signals a loss there.
func cubicAt(t *testing.T, mss int, wmax float64, now int64) *Cubic {
	c := &Cubic{}
	c.Init(mss, now)
	for c.Cwnd() < int(wmax*float64(mss)) {
		c.OnAck(mss, 100*ms, c.Cwnd(), now)
	}
	c.OnCongestion(c.Cwnd(), now)
	if c.wMax != wmax {
		t.Fatalf("loss at %v segments: W_max %v", wmax, c.wMax)
	}
	return c
}

// TestCubicRecovery: after a loss at W_max the window comes back to W_max
// about K = cbrt(W_max*(1-beta)/C) seconds later (RFC 9438 eq. 2), concave
// on the way (growth slowing as it nears W_max), convex past it.
func TestCubicRecovery(t *testing.T) {
	const (
		mss  = 1460
		wmax = 200.0
		rtt  = 100 * ms
	)
	start := int64(time.Second)
	c := cubicAt(t, mss, wmax, start)
	k := math.Cbrt(wmax * (1 - cubicBeta) / cubicC) // 5.31 s
	type point struct{ t, w float64 }
	var trace []point
	reached := -1.0
	ackRounds(c, mss, rtt, start, 1000, func(now int64) bool {
		ts := float64(now-start) / 1e9
		w := float64(c.Cwnd()) / mss
		trace = append(trace, point{ts, w})
		if reached < 0 && w >= wmax {
			reached = ts
		}
		return ts < k+4
	})
	if reached < 0 || math.Abs(reached-k) > 0.2*k {
		t.Fatalf("back to W_max = %v after %.2f s, want K = %.2f s within 20%%", wmax, reached, k)
	}
	t.Logf("back to W_max = %v segments after %.2f s; K = %.2f s", wmax, reached, k)
	// The window at time ts (the last round ending by then).
	at := func(ts float64) float64 {
		w := 0.0
		for _, p := range trace {
			if p.t > ts {
				break
			}
			w = p.w
		}
		return w
	}
	// Concave: each second's growth smaller than the last, below W_max.
	prev := math.Inf(1)
	for ts := 0.0; ts+1 <= k-0.5; ts++ {
		g := at(ts+1) - at(ts)
		if g <= 0 || g >= prev || at(ts+1) > wmax {
			t.Errorf("concave region: %.1f..%.1f s grew %.2f segments to %.1f, after %.2f", ts, ts+1, g, at(ts+1), prev)
		}
		prev = g
	}
	// Convex: each second's growth larger than the last, above W_max.
	prev = 0
	for ts := k + 0.5; ts+1 <= k+4; ts++ {
		g := at(ts+1) - at(ts)
		if g <= prev || at(ts) < wmax {
			t.Errorf("convex region: %.1f..%.1f s grew %.2f segments from %.1f, after %.2f", ts, ts+1, g, at(ts), prev)
		}
		prev = g
	}
	// And it follows W_cubic: within a few segments of eq. 1 one RTT on.
	for _, p := range trace {
		if p.t < 1 || p.t > k+3 {
			continue
		}
		want := cubicC*math.Pow(p.t+0.1-k, 3) + wmax
		if math.Abs(p.w-want) > 0.05*wmax {
			t.Errorf("at %.2f s: cwnd %.1f segments, W_cubic(t+RTT) %.1f", p.t, p.w, want)
		}
	}
}

// TestCubicFastConvergence: a loss below the previous W_max (the flow is
// giving way to a newcomer) sets W_max lower still, to cwnd*(1+beta)/2
// (RFC 9438 4.7), and the window plateaus there, not at the old W_max.
func TestCubicFastConvergence(t *testing.T) {
	const (
		mss = 1460
		rtt = 100 * ms
	)
	start := int64(time.Second)
	c := cubicAt(t, mss, 200, start)
	now := ackRounds(c, mss, rtt, start, 5, nil)
	w := c.cwnd
	if w >= 200 {
		t.Fatalf("cwnd %v after 5 rounds: not below W_max", w)
	}
	c.OnCongestion(c.Cwnd(), now)
	if want := w * (1 + cubicBeta) / 2; math.Abs(c.wMax-want) > 1e-9 {
		t.Fatalf("loss at %.1f below W_max 200: W_max %.2f, want %.2f", w, c.wMax, want)
	}
	// Back at the new W_max about K later, well short of the old one.
	wmax := c.wMax
	k := math.Cbrt((wmax - c.cwnd) / cubicC)
	reached := -1.0
	ackRounds(c, mss, rtt, now, 1000, func(end int64) bool {
		ts := float64(end-now) / 1e9
		if c.cwnd >= wmax {
			reached = ts
			return false
		}
		return ts < 3*k
	})
	if reached < 0 || math.Abs(reached-k) > 0.2*k {
		t.Errorf("back to the new W_max %.1f after %.2f s, want K = %.2f s within 20%%", wmax, reached, k)
	}
	t.Logf("loss at %.1f segments: W_max 200 -> %.1f, reached after %.2f s; K = %.2f s", w, wmax, reached, k)

	// A loss at or above W_max: W_max is the window, no lower.
	c = cubicAt(t, mss, 100, start)
	now = ackRounds(c, mss, rtt, start, 100, func(int64) bool { return c.cwnd < 110 })
	w = c.cwnd
	c.OnCongestion(c.Cwnd(), now)
	if c.wMax != w {
		t.Errorf("loss at %.1f above W_max 100: W_max %.2f, want the window", w, c.wMax)
	}
}

// TestCubicRenoFriendly: where RTT and window are small, the cubic curve
// grows slower than Reno would, and the Reno-friendly estimate W_est (RFC
// 9438 4.3) sets the window: alpha = 3(1-beta)/(1+beta) segments per RTT
// up to the window of the loss (cwnd_prior), one segment per RTT after.
func TestCubicRenoFriendly(t *testing.T) {
	const (
		mss = 1460
		rtt = ms
	)
	start := int64(time.Second)
	c := cubicAt(t, mss, 10, start) // cwnd 7, cwnd_prior 10
	w0 := c.cwnd
	var atPrior int64 // when W_est reached cwnd_prior
	rounds := 0
	now := ackRounds(c, mss, rtt, start, 100, func(now int64) bool {
		rounds++
		if atPrior == 0 && c.wEst >= c.cwndPrior {
			atPrior = now
			perRTT := (c.cwnd - w0) / float64(rounds)
			if math.Abs(perRTT-cubicAlpha) > 0.2*cubicAlpha {
				t.Errorf("up to cwnd_prior: growth %.3f segments per RTT, want alpha = %.3f within 20%%", perRTT, cubicAlpha)
			}
			t.Logf("RTT 1 ms, W_max 10: %.3f segments per RTT up to cwnd_prior (alpha %.3f), %d RTTs", perRTT, cubicAlpha, rounds)
			w0, rounds = c.cwnd, 0
		}
		return true
	})
	if atPrior == 0 {
		t.Fatalf("W_est %.2f never reached cwnd_prior %.2f", c.wEst, c.cwndPrior)
	}
	if perRTT := (c.cwnd - w0) / float64(rounds); math.Abs(perRTT-1) > 0.2 {
		t.Errorf("past cwnd_prior: growth %.3f segments per RTT over %d RTTs, want Reno's 1", perRTT, rounds)
	}
	tsec := float64(now-c.epoch) / 1e9
	if c.cwnd != c.wEst || c.wCubic(tsec) >= c.wEst {
		t.Errorf("cwnd %.2f, W_est %.2f, W_cubic %.2f: want cwnd = W_est above W_cubic", c.cwnd, c.wEst, c.wCubic(tsec))
	}
	// The same loss on a long path: the cubic curve is in charge.
	c = cubicAt(t, mss, 200, start)
	now = ackRounds(c, mss, 100*ms, start, 20, nil)
	tsec = float64(now-c.epoch) / 1e9
	if c.cwnd <= c.wEst || c.wCubic(tsec) < c.wEst {
		t.Errorf("long path: cwnd %.2f, W_est %.2f, W_cubic %.2f: want cwnd above W_est", c.cwnd, c.wEst, c.wCubic(tsec))
	}
}

// TestCubicAfterRTO: the first congestion avoidance after a timeout runs
// with K = 0 and W_max the window it starts at (RFC 9438 4.8): convex from
// the start, not concave towards the window of before the timeout.
func TestCubicAfterRTO(t *testing.T) {
	const (
		mss = 1460
		rtt = 100 * ms
	)
	start := int64(time.Second)
	c := cubicAt(t, mss, 200, start)
	c.OnRecoveryExit(start)
	c.OnRTO(140*mss, start)
	if c.Cwnd() != mss || math.Abs(float64(c.Ssthresh())-98*mss) > 1 {
		t.Fatalf("OnRTO with 140 MSS out: cwnd %d ssthresh %.2f MSS, want 1 and 98", c.Cwnd(), float64(c.Ssthresh())/mss)
	}
	var caStart int64
	var w0 float64
	ackRounds(c, mss, rtt, start, 200, func(now int64) bool {
		if !c.inEpoch {
			return true // slow start
		}
		if caStart == 0 {
			caStart, w0 = c.epoch, c.wMax
			if c.k != 0 || w0 < 98 || w0 > 100 {
				t.Fatalf("first epoch after RTO: K %.2f W_max %.2f, want K 0 and W_max the window at the epoch, 98..100", c.k, w0)
			}
		}
		ts := float64(now-caStart) / 1e9
		if ts < 1 {
			return true
		}
		// The larger of the convex curve from w0 one RTT on and Reno's line.
		cubic := cubicC*math.Pow(ts+0.1, 3) + w0
		want := max(cubic, c.wEst)
		if math.Abs(c.cwnd-want) > 0.05*want {
			t.Errorf("%.1f s into congestion avoidance: cwnd %.1f, want %.1f (W_cubic %.1f, W_est %.1f)", ts, c.cwnd, want, cubic, c.wEst)
		}
		return ts < 6
	})
	if caStart == 0 {
		t.Fatal("never left slow start")
	}
	// 6 s on the old W_max of 200 would hold at about 200; convex from
	// about 98 it is near 98+0.4*6.1^3 = 189 and climbing.
	t.Logf("after RTO: congestion avoidance from %.1f segments, %.1f segments 6 s later", w0, c.cwnd)
}

// TestRepeatedRTO: the same data timing out again keeps ssthresh (RFC
// 5681 3.1); an ACK of new data in between makes the next timeout a new
// event.
func TestRepeatedRTO(t *testing.T) {
	const mss = 1460
	for _, name := range []string{"newreno", "cubic"} {
		cc, _ := NewCongestionControl(name)
		cc.Init(mss, 0)
		ackRounds(cc, mss, 10*ms, 0, 3, nil) // 80 MSS
		cc.OnRTO(80*mss, 0)
		first := cc.Ssthresh()
		if first < 2*mss || cc.Cwnd() != mss {
			t.Fatalf("%s: first RTO: ssthresh %d cwnd %d", name, first, cc.Cwnd())
		}
		// Backed off, one segment out: still the first event.
		cc.OnRTO(mss, 0)
		cc.OnRTO(mss, 0)
		if cc.Ssthresh() != first || cc.Cwnd() != mss {
			t.Errorf("%s: RTO again: ssthresh %d cwnd %d, want %d and 1 MSS", name, cc.Ssthresh(), cc.Cwnd(), first)
		}
		cc.OnAck(mss, 0, 0, 0)
		cc.OnRTO(2*mss, 0)
		if cc.Ssthresh() != 2*mss {
			t.Errorf("%s: RTO after an ACK with 2 MSS out: ssthresh %d, want 2 MSS", name, cc.Ssthresh())
		}
	}
}

// TestCubicFlightSize: ssthresh is beta times the flight, not the window
// (RFC 9438 4.6), while W_max is the window.
func TestCubicFlightSize(t *testing.T) {
	const mss = 1460
	c := &Cubic{}
	c.Init(mss, 0)
	ackRounds(c, mss, 10*ms, 0, 3, nil) // 80 MSS
	c.OnCongestion(40*mss, 0)           // application-limited: half of it out
	if c.Ssthresh() != 28*mss || c.Cwnd() != 28*mss || c.wMax != 80 || c.cwndPrior != 80 {
		t.Errorf("loss with 40 of 80 MSS out: ssthresh %d cwnd %d W_max %v cwnd_prior %v, want 28, 28, 80, 80 MSS",
			c.Ssthresh()/mss, c.Cwnd()/mss, c.wMax, c.cwndPrior)
	}
}

// TestCubicSetMSS: a new MSS keeps every window in bytes.
func TestCubicSetMSS(t *testing.T) {
	c := cubicAt(t, 1460, 100, 0)
	ackRounds(c, 1460, 10*ms, 0, 5, nil)
	cwnd, ssthresh, wmax := c.Cwnd(), c.Ssthresh(), c.wMax*1460
	c.SetMSS(730)
	if abs(c.Cwnd()-cwnd) > 1 || abs(c.Ssthresh()-ssthresh) > 1 || math.Abs(c.wMax*730-wmax) > 1 || c.inEpoch {
		t.Errorf("SetMSS(730): cwnd %d ssthresh %d W_max %.0f bytes (epoch %v), want %d %d %.0f and a new epoch",
			c.Cwnd(), c.Ssthresh(), c.wMax*730, c.inEpoch, cwnd, ssthresh, wmax)
	}
}

func abs(x int) int { return max(x, -x) }

func TestNewCongestionControl(t *testing.T) {
	for _, tc := range []struct{ name, want string }{
		{"", "cubic"}, {"cubic", "cubic"}, {"newreno", "newreno"}, {"reno", "newreno"},
		{DefaultCongestionControl, "cubic"},
	} {
		cc, err := NewCongestionControl(tc.name)
		if err != nil || cc.Name() != tc.want {
			t.Errorf("NewCongestionControl(%q) = %v, %v; want %s", tc.name, cc, err, tc.want)
		}
	}
	cc, err := NewCongestionControl("bbr")
	if err == nil || cc != nil {
		t.Fatalf("NewCongestionControl(bbr) = %v, %v; want an error", cc, err)
	}
	for _, s := range []string{"bbr", "cubic", "newreno"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not name %s", err, s)
		}
	}
}
