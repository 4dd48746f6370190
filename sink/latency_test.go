package sink

import (
	"testing"
	"time"
)

// TestLatencyBuckets: a latency on a bound counts in that bound's bucket
// (Prometheus's le is inclusive), a nanosecond more in the next; past the
// last bound in the overflow bucket; from the future as 0.
func TestLatencyBuckets(t *testing.T) {
	for i := 1; i < NumLatencyBuckets; i++ {
		if LatencyBuckets[i] <= LatencyBuckets[i-1] {
			t.Fatalf("bounds not increasing at %d: %v", i, LatencyBuckets)
		}
	}
	for _, tc := range []struct {
		d      time.Duration
		bucket int
		sum    time.Duration
	}{
		{-5, 0, 0},
		{0, 0, 0},
		{time.Microsecond, 0, time.Microsecond},
		{time.Microsecond + 1, 1, time.Microsecond + 1},
		{2500, 1, 2500},
		{37 * time.Microsecond, 5, 37 * time.Microsecond},
		{time.Second, NumLatencyBuckets - 1, time.Second},
		{time.Second + 1, NumLatencyBuckets, time.Second + 1},
		{time.Hour, NumLatencyBuckets, time.Hour},
	} {
		var l Latency
		l.record(int64(tc.d))
		for i, n := range l.Counts {
			if want := uint64(0); i == tc.bucket {
				if n != 1 {
					t.Errorf("%v: bucket %d counts %d, want 1", tc.d, i, n)
				}
			} else if n != want {
				t.Errorf("%v: bucket %d counts %d, want 0", tc.d, i, n)
			}
		}
		if l.Sum != tc.sum {
			t.Errorf("%v: sum %v, want %v", tc.d, l.Sum, tc.sum)
		}
	}
}
