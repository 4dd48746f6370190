package sink

import (
	"testing"
	"time"

	"github.com/fastpathnet/fastpath/gen"
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

// BenchmarkStamped is the sink's work per stamped packet: the tracker's
// sequence and HDR histogram, then the Prometheus buckets (the latency
// spread over 5 µs to 80 µs, a wire's). Its "tracker" twin leaves the
// buckets out, so the two give their cost.
func BenchmarkStamped(b *testing.B) {
	for _, buckets := range []bool{false, true} {
		name := "tracker"
		if buckets {
			name = "tracker+buckets"
		}
		b.Run(name, func(b *testing.B) {
			tr := gen.NewTracker()
			var l Latency
			for i := range b.N {
				d := int64(5000 + (i*7919)%75000)
				tr.Record(uint8(i&3), uint64(i>>2), 1e12, 1e12+d)
				if buckets {
					l.record(d)
				}
			}
			if buckets && l.Counts[0]+l.Counts[NumLatencyBuckets] != 0 {
				b.Fatal("latencies out of their range")
			}
		})
	}
}
