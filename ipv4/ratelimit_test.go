package ipv4

import (
	"math"
	"testing"
)

const ms = int64(1e6)

// allowed counts how many of n calls at now pass.
func allowed(r *RateLimiter, now int64, n int) int {
	k := 0
	for range n {
		if r.Allow(now) {
			k++
		}
	}
	return k
}

func TestRateLimiterBurstThenRate(t *testing.T) {
	r := NewRateLimiter(10, 3) // a token every 100 ms, 3 at most
	t0 := int64(5_000_000_000)
	if got := allowed(r, t0, 10); got != 3 {
		t.Fatalf("burst: %d allowed, want 3", got)
	}
	steps := []struct {
		at   int64 // ms after t0
		want int
	}{
		{50, 0},   // half a token
		{100, 1},  // one token
		{150, 0},  // half again
		{200, 1},  // the half from before and another half
		{1000, 3}, // 800 ms is 8 tokens, but the bucket holds 3
		{1099, 0},
		{1100, 1},
	}
	for _, s := range steps {
		if got := allowed(r, t0+s.at*ms, 10); got != s.want {
			t.Errorf("at +%d ms: %d allowed, want %d", s.at, got, s.want)
		}
	}
	// A steady stream at 1000/s for 10 s passes 10/s (plus the burst
	// left in the bucket, which is empty here).
	got := 0
	start := t0 + 1100*ms
	for i := int64(1); i <= 10000; i++ {
		if r.Allow(start + i*ms) {
			got++
		}
	}
	if got != 100 {
		t.Errorf("10 s at 1000/s: %d allowed, want 100", got)
	}
}

func TestRateLimiterClock(t *testing.T) {
	r := NewRateLimiter(1, 1)
	if !r.Allow(10e9) || r.Allow(10e9) {
		t.Fatal("first token")
	}
	// A clock that steps back earns nothing, and counts from the new time.
	if r.Allow(5e9) || r.Allow(5e9+999*ms) {
		t.Error("stepping back earned a token")
	}
	if !r.Allow(6e9) {
		t.Error("a second after the step back: no token")
	}
	// Extreme times do not overflow.
	r = NewRateLimiter(1, 5)
	if allowed(r, math.MinInt64, 10) != 5 {
		t.Error("burst at MinInt64")
	}
	if got := allowed(r, math.MaxInt64, 10); got != 5 {
		t.Errorf("after the longest wait: %d, want a full bucket of 5", got)
	}
	// The value constructor behaves the same.
	v := MakeRateLimiter(1, 2)
	if allowed(&v, 0, 5) != 2 || allowed(&v, 1e9, 5) != 1 {
		t.Error("MakeRateLimiter")
	}
}

func TestRateLimiterEdges(t *testing.T) {
	for _, tc := range []struct {
		name  string
		rate  float64
		burst int
		// allowed at 0, then at 1 s, then at 1000 s (10 calls each)
		want [3]int
	}{
		{"burst 0", 100, 0, [3]int{0, 0, 0}},
		{"negative burst", 100, -1, [3]int{0, 0, 0}},
		{"rate 0", 0, 4, [3]int{4, 0, 0}},
		{"negative rate", -1, 4, [3]int{4, 0, 0}},
		{"NaN rate", math.NaN(), 2, [3]int{2, 0, 0}},
		{"unlimited", math.Inf(1), 1, [3]int{10, 10, 10}},
		{"above 1e9", 2e9, 1, [3]int{10, 10, 10}},
		{"1e9", 1e9, 1, [3]int{1, 1, 1}},
		{"slow", 0.01, 2, [3]int{2, 0, 2}},
		{"tiny", 1e-300, 1, [3]int{1, 0, 0}},
		{"huge burst", 1, math.MaxInt, [3]int{10, 10, 10}},
	} {
		r := NewRateLimiter(tc.rate, tc.burst)
		got := [3]int{allowed(r, 0, 10), allowed(r, 1e9, 10), allowed(r, 1000e9, 10)}
		if got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
