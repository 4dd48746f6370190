package rfc2544_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fastpathnet/fastpath/gen"
	"github.com/fastpathnet/fastpath/internal/lab"
	"github.com/fastpathnet/fastpath/port"
	"github.com/fastpathnet/fastpath/rfc2544"
	"github.com/fastpathnet/fastpath/stack"
)

// The method against devices of known behaviour: a router namespace R
// between A (gen) and B (the receiver), forwarding as the kernel does,
// with a policer, random loss, or nothing in its way.

// rate scales the lab's rates: make test-race runs the short variants
// under the race detector, which slows the sender about fivefold.
func rate(r float64) float64 {
	if testing.Short() {
		return r / 5
	}
	return r
}

// benchmark is a Benchmark from A to B's port 9 through the lab: one
// queue, the sender on core 0, the receiver on core 1.
func benchmark(l *lab.Lab, sizes ...int) rfc2544.Benchmark {
	tx := port.DefaultOptions(l.A.Link)
	tx.Netns, tx.Cores = l.A.Name, []int{0}
	tx.XSK.TXSize, tx.XSK.UMEMOptions.FrameCount, tx.XSK.UMEMOptions.FrameSize = 2048, 4096, 4096
	rx := stack.DefaultConfig()
	rx.Device, rx.Shared, rx.Cores = l.B.Link, true, []int{1}
	rx.XSK.RXSize, rx.XSK.UMEMOptions.FillSize = 4096, 4096
	rx.XSK.UMEMOptions.FrameSize, rx.XSK.UMEMOptions.FrameCount = 2048, 16384
	b := rfc2544.Benchmark{TX: tx, RX: rx, RXNetns: l.B.Name, Batch: 64, Dst: netip.AddrPortFrom(l.B.Addr.Addr(), 9), Flows: 1,
		Learn: 16, Gap: 50 * time.Millisecond, Drain: 2 * time.Second}
	for _, s := range sizes {
		b.Sizes = append(b.Sizes, rfc2544.Size{Name: fmt.Sprint(s), Sizes: []gen.SizeWeight{{Size: s, Weight: 1}}})
	}
	b.Search = rfc2544.Config{Resolution: 0.01, Trial: time.Second, FinalTrial: 2 * time.Second, Confirm: 1}
	return b
}

// run runs b, logging every trial (and passing it on to b's OnEvent, if
// set).
func run(t *testing.T, b rfc2544.Benchmark) rfc2544.Result {
	t.Helper()
	also := b.OnEvent
	b.OnEvent = func(e rfc2544.Event) {
		t.Logf("%s %-10s asked %9.0f offered %9.0f sent %8d recv %8d loss %.5f pass %v final %v [%.0f, %.0f] lat %+v",
			e.Size, e.Phase, e.Asked, e.Offered(), e.Sent, e.Received, e.Loss(), e.Pass, e.Final, e.Lo, e.Hi, e.Latency)
		if also != nil {
			also(e)
		}
	}
	tr, err := rfc2544.Start(b)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	res, err := tr.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range res.Sizes {
		t.Logf("size %s: NDR %+v; %d trials in %.1fs of %.1fs", s.Name, s.NDR, len(s.Trials), s.TrialS, s.ElapsedS)
	}
	return res
}

// TestPlainRouter: a router with nothing in its way up to --max-rate:
// the search ends at it and says so.
func TestPlainRouter(t *testing.T) {
	l := lab.NewT(t, lab.Options{Router: true})
	b := benchmark(l, 64)
	// Half of what the sender holds here on an idle host (asked 100k
	// frames/s, it offered 99.8k; its bursts go at 150k and more): one
	// slowed by a busy host still holds it (at 100k, one CI run's
	// offered 88.7k).
	b.Search.MaxRate = rate(50_000)
	res := run(t, b)
	if s := res.Sizes[0]; !s.NDR.AtMax || s.NDR.FPS < b.Search.MaxRate*0.98 {
		t.Errorf("NDR %+v: want at max rate", s.NDR)
	}
}

// police makes R a device of known capacity: it drops what it forwards
// to port 9 above cap frames/s (bucket: burst frames).
func police(t *testing.T, l *lab.Lab, cap, burst int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := l.R.Police(ctx, 9, cap, burst); err != nil {
		lab.RequireKernel(t, err.Error())
	}
}

// randomLoss makes R drop a ratio p of what it forwards, at random.
func randomLoss(t *testing.T, l *lab.Lab, p float64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if out, err := l.R.Command(ctx, "iptables", "-A", "FORWARD", "-m", "statistic", "--mode", "random", "--probability", fmt.Sprint(p), "-j", "DROP").CombinedOutput(); err != nil {
		lab.RequireKernel(t, fmt.Sprintf("iptables in the router: %v: %s (install iptables)", err, out))
	}
}

// TestPolicer: a device that forwards 50,000 frames/s and drops the rest.
// The NDR found is within the resolution below the capacity, or above it
// by at most what the policer's bucket lets through in a final trial
// (burst / final trial); the search's trials stay within its bound plus
// the confirmation.
func TestPolicer(t *testing.T) {
	// A bucket of 20 ms: the sender's jitter on a busy host (CI runs
	// other packages' tests beside this one) does not overflow it.
	cap, burst := rate(50_000), rate(1000)
	l := lab.NewT(t, lab.Options{Router: true})
	police(t, l, int(cap), int(burst))
	b := benchmark(l, 64)
	b.Search.MinRate, b.Search.MaxRate = rate(5_000), rate(100_000)
	b.Latency = []float64{0.5}
	res := run(t, b)
	s := res.Sizes[0]
	lo, hi := cap*(1-b.Search.Resolution), cap+burst/b.Search.FinalTrial.Seconds()
	if s.NDR.FPS < lo || s.NDR.FPS > hi || s.NDR.AtMax || s.NDR.SenderLimited {
		t.Errorf("NDR %.0f frames/s (at max %v, sender-limited %v): want %.0f to %.0f", s.NDR.FPS, s.NDR.AtMax, s.NDR.SenderLimited, lo, hi)
	}
	// A failed confirmation (a short trial passes up to burst/trial
	// more than a long one) adds a step down or two from it.
	final, failed := 0, 0
	for _, st := range s.NDR.Steps {
		if st.Final {
			final++
			if !st.Pass {
				failed++
			}
		}
	}
	if searching := s.NDR.Trials - final; searching > s.NDR.Bound+3*failed {
		t.Errorf("%d searching trials (%d failed confirmations): more than the bound, %d, and 3 per failed confirmation", searching, failed, s.NDR.Bound)
	}
	if len(s.Latency) != 1 || s.Latency[0].Loss != 0 || s.Latency[0].Latency.P50 <= 0 || s.Latency[0].Latency.Max < s.Latency[0].Latency.P99 {
		t.Errorf("latency at half the NDR: %+v: want no loss and a p50 above 0", s.Latency)
	}
	t.Logf("NDR %.0f frames/s (%.2f%% of the capacity) in %d trials (bound %d), %.1f s of trials in %.1f s",
		s.NDR.FPS, 100*s.NDR.FPS/cap, s.NDR.Trials, s.NDR.Bound, s.TrialS, s.ElapsedS)
}

// TestPolicerIPv6 is TestPolicer over IPv6, at its smallest stamped
// frame (82 bytes): gen and the receiver resolve their neighbours by NDP,
// R forwards IPv6, its policer counts both families.
func TestPolicerIPv6(t *testing.T) {
	cap, burst := rate(50_000), rate(1000)
	l := lab.NewT(t, lab.Options{Router: true, IPv6: true})
	police(t, l, int(cap), int(burst))
	b := benchmark(l, 82)
	b.Dst = netip.AddrPortFrom(l.B.Addr6.Addr(), 9)
	b.Search.MinRate, b.Search.MaxRate = rate(5_000), rate(100_000)
	res := run(t, b)
	s := res.Sizes[0]
	lo, hi := cap*(1-b.Search.Resolution), cap+burst/b.Search.FinalTrial.Seconds()
	if s.NDR.FPS < lo || s.NDR.FPS > hi || s.NDR.AtMax || s.NDR.SenderLimited {
		t.Errorf("NDR %.0f frames/s (at max %v, sender-limited %v): want %.0f to %.0f", s.NDR.FPS, s.NDR.AtMax, s.NDR.SenderLimited, lo, hi)
	}
	t.Logf("IPv6: NDR %.0f frames/s (%.2f%% of the capacity) in %d trials", s.NDR.FPS, 100*s.NDR.FPS/cap, s.NDR.Trials)
}

// TestRandomLoss: a device that loses 1% of frames at random and polices
// at 50,000 frames/s: no NDR above the floor; a PDR at 2% near where the
// policer's drops and the random loss add up to 2%.
func TestRandomLoss(t *testing.T) {
	cap, burst := rate(50_000), rate(1000)
	l := lab.NewT(t, lab.Options{Router: true})
	police(t, l, int(cap), int(burst))
	randomLoss(t, l, 0.01)
	b := benchmark(l, 64)
	b.Search.MinRate, b.Search.MaxRate = rate(5_000), rate(100_000)
	b.PDR = 0.02
	res := run(t, b)
	s := res.Sizes[0]
	if s.NDR.FPS != 0 {
		t.Errorf("NDR %.0f frames/s through a device that loses 1%% of everything: want none", s.NDR.FPS)
	}
	// Loss 2%: 1% at random, and what the policer drops of the rest:
	// offered × 0.99 − cap over offered = 0.01 at offered = cap / 0.97.
	want := cap / 0.97
	if s.PDR == nil || s.PDR.FPS < want*0.97 || s.PDR.FPS > want*1.03 {
		t.Errorf("PDR %+v: want near %.0f frames/s", s.PDR, want)
	}
}

// TestUnreachable: a router that forwards nothing: the benchmark stops
// at once with an error that says what to check.
func TestUnreachable(t *testing.T) {
	l := lab.NewT(t, lab.Options{Router: true})
	randomLoss(t, l, 1)
	b := benchmark(l, 64)
	b.Search.MaxRate = rate(100_000)
	tr, err := rfc2544.Start(b)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	start := time.Now()
	_, err = tr.Run(context.Background())
	if !errors.Is(err, rfc2544.ErrUnreachable) || !strings.Contains(err.Error(), "check the device's routes") {
		t.Errorf("through a router that drops everything: %v, want ErrUnreachable", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the error took %v", d)
	}
}

// TestBackToBack: bursts at the sender's full speed into a policer of
// 50,000 frames/s with a 250-frame bucket: the bucket and what refills it
// while the burst lasts pass, nothing more. The longest burst passed is
// the bucket and a little more, never below it, and far below the longest
// tried.
func TestBackToBack(t *testing.T) {
	// The policer's rate well below the sender's speed (100k to 1.1M
	// frames/s here): the bound below then hardly depends on that speed,
	// which varies within a burst and from burst to burst, nor on the
	// router's own (the bucket refills at the policer's clock, while the
	// router forwards; at 50k frames/s a burst of 750 passed at a mean
	// 104k, 1.57 times the bound at that speed, in one CI run).
	cap, burst := rate(20_000), rate(250)
	l := lab.NewT(t, lab.Options{Router: true})
	police(t, l, int(cap), int(burst))
	b := benchmark(l, 64)
	b.Search.MinRate, b.Search.MaxRate = rate(5_000), rate(10_000) // passes: the searches are short
	b.BackToBack, b.MaxBurst = 2, int(rate(4000))
	var mu sync.Mutex
	var passed []rfc2544.Event // the bursts that lost nothing
	b.OnEvent = func(e rfc2544.Event) {
		if e.Phase == "back-to-back" && e.Pass {
			mu.Lock()
			passed = append(passed, e)
			mu.Unlock()
		}
	}
	res := run(t, b)
	bb := res.Sizes[0].BackToBack
	if bb == nil || len(bb.Bursts) != 2 || bb.AtMax {
		t.Fatalf("back-to-back: %+v", bb)
	}
	// A burst of n at s frames/s lasts n/s, in which the bucket refills
	// by cap·n/s: n passes while n <= burst + cap·n/s. The sender's
	// speed varies from burst to burst (110k to 1.1M frames/s here, on a
	// busy host), so each burst that passed is held to the bound at its
	// own speed (its mean: the frames of a burst do not all go at it);
	// the bucket also refills while the first frames cross the router: a
	// little more than the bucket passes (with a 50k policer, up to 1.75
	// times what its mean speed says in CI: 437 at 171k frames/s; with
	// 20k, 286 to 329 at 128k to 155k here, where the bound at 1.5 is
	// 430 to 445), never less, and far less than the 4,000 tried.
	if float64(bb.Min) < burst {
		t.Errorf("back-to-back %v: want at least the policer's bucket, %.0f", bb.Bursts, burst)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, e := range passed {
		if upper := max(1.5*burst, 1.5*burst/(1-cap/max(e.Offered(), 2*cap))); float64(e.Sent) > upper {
			t.Errorf("a burst of %d frames at %.0f frames/s lost nothing: the policer lets at most %.0f through at that speed", e.Sent, e.Offered(), upper)
		}
	}
	t.Logf("back-to-back %+v", bb)
}

// TestTwoQueues: two senders on every queue of A's two, 16 flows, through
// a plain router up to 10,000 frames/s: every queue's frames are counted
// as its trial's (a stamp stream each; before, with the device's queues
// taken as one, the second queue's stream was the next trial's and half
// the frames were lost), and frames of one queue that arrive after the
// other's later ones at a trial's start are counted, not taken as too
// old: no trial loses a frame. (R sends to B on
// one queue: two receiving engines sharing this host's two cores with two
// senders overflow the handover ring between them, and the receiver
// says so.)
func TestTwoQueues(t *testing.T) {
	l := lab.NewT(t, lab.Options{Router: true, Queues: 2})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if out, err := l.R.Command(ctx, "ethtool", "-L", l.R.Links[1].Name, "tx", "1").CombinedOutput(); err != nil {
		t.Fatalf("ethtool -L in R: %v: %s (install ethtool: make deps)", err, out)
	}
	b := benchmark(l, 128)
	// A sender on each core; the receiver's engine polls adaptively
	// beside the second.
	b.TX.Queues, b.TX.Cores = nil, []int{0, 1}
	b.RX.Queues, b.RX.Idle = []int{0}, stack.IdleAdaptive
	b.Flows = 16
	b.Search.MinRate, b.Search.MaxRate = rate(1_000), rate(10_000)
	res := run(t, b)
	s := res.Sizes[0]
	if len(res.Queues) != 2 {
		t.Errorf("sent from queues %v: want both", res.Queues)
	}
	// Paced at 5,000 frames/s each, the senders sleep between frames and
	// lose their schedule here by up to 13% (a sender beside the
	// receiver's engine, the other beside the test): the search may end
	// sender-limited below the maximum, and says so.
	if !s.NDR.AtMax && !s.NDR.SenderLimited {
		t.Errorf("NDR %+v: want the maximum or the sender's limit, nothing lost", s.NDR)
	}
	for _, tr := range s.Trials {
		if tr.Received != tr.Sent {
			t.Errorf("a trial at %.0f frames/s: %d of %d received", tr.Asked, tr.Received, tr.Sent)
		}
	}
}
