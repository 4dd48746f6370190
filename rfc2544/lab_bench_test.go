package rfc2544_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/fastpathnet/fastpath/internal/lab"
	"github.com/fastpathnet/fastpath/rfc2544"
)

// BenchmarkPolicerNDR is the method's accuracy and overhead: each
// iteration searches the NDR of a router policing at 100,000 frames/s
// (64-byte frames, a 250-frame bucket), resolution 0.5%, 1 s trials, one
// 5 s confirmation. It reports the NDR found as a percentage of the
// capacity (mean, and the spread: max − min over the iterations), the
// trials per search, and the time spent outside trials (learning, gaps,
// drains, set-up). make bench-rfc2544 runs five.
func BenchmarkPolicerNDR(b *testing.B) {
	const capacity, burst = 100_000, 250
	l := lab.NewT(b, lab.Options{Router: true})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	if err := l.R.Police(ctx, 9, capacity, burst); err != nil {
		lab.RequireKernel(b, err.Error())
	}
	cancel()
	bm := benchmark(l, 64)
	bm.Search = rfc2544.Config{MinRate: 10_000, MaxRate: 200_000, Resolution: 0.005, Trial: time.Second, FinalTrial: 5 * time.Second, Confirm: 1}
	tr, err := rfc2544.Start(bm)
	if err != nil {
		b.Fatal(err)
	}
	defer tr.Close()
	var pcts []float64
	var trials, outside float64
	for b.Loop() {
		res, err := tr.Run(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		s := res.Sizes[0]
		pct := 100 * s.NDR.FPS / capacity
		pcts = append(pcts, pct)
		trials += float64(len(s.Trials))
		outside += s.ElapsedS - s.TrialS
		b.Logf("NDR %.0f frames/s = %.3f%% of the capacity, %d trials (bound %d + confirmation), %.1f s of trials, %.1f s outside them",
			s.NDR.FPS, pct, len(s.Trials), s.NDR.Bound, s.TrialS, s.ElapsedS-s.TrialS)
	}
	lo, hi, sum := math.Inf(1), math.Inf(-1), 0.0
	for _, p := range pcts {
		lo, hi, sum = min(lo, p), max(hi, p), sum+p
	}
	n := float64(len(pcts))
	b.ReportMetric(sum/n, "ndr-%-of-capacity")
	b.ReportMetric(hi-lo, "spread-%")
	b.ReportMetric(trials/n, "trials/search")
	b.ReportMetric(outside/n, "s-outside-trials/search")
}
