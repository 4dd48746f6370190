package sink

import (
	"testing"
	"time"

	"github.com/fastpathnet/fastpath/gen"
)

// TestLatencyBuckets: the bounds rise 1, 2, 3, 5, 7 a decade from 1 µs
// to 1 s; a latency on a bound counts in that bound's bucket
// (Prometheus's le is inclusive), a nanosecond more in the next; past the
// last bound in the overflow bucket; from the future as 0.
func TestLatencyBuckets(t *testing.T) {
	for i := 1; i < NumLatencyBuckets; i++ {
		if r := float64(LatencyBuckets[i]) / float64(LatencyBuckets[i-1]); r <= 1 || r > 2 {
			t.Fatalf("bounds %v to %v at %d: %v", LatencyBuckets[i-1], LatencyBuckets[i], i, LatencyBuckets)
		}
	}
	if LatencyBuckets[0] != time.Microsecond || LatencyBuckets[5] != 10*time.Microsecond || LatencyBuckets[NumLatencyBuckets-1] != time.Second {
		t.Fatalf("bounds %v", LatencyBuckets)
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
		{2 * time.Microsecond, 1, 2 * time.Microsecond},
		{2500, 2, 2500},
		{37 * time.Microsecond, 8, 37 * time.Microsecond},
		{700 * time.Millisecond, NumLatencyBuckets - 2, 700 * time.Millisecond},
		{time.Second, NumLatencyBuckets - 1, time.Second},
		{time.Second + 1, NumLatencyBuckets, time.Second + 1},
		{time.Hour, NumLatencyBuckets, 100 * time.Second}, // the sum capped: a stray stamp
	} {
		var l Latency
		l.record(int64(tc.d))
		l.flush()
		for i, n := range l.Counts {
			if want := uint64(0); i == tc.bucket {
				if n != 1 {
					t.Errorf("%v: bucket %d counts %d, want 1", tc.d, i, n)
				}
			} else if n != want {
				t.Errorf("%v: bucket %d counts %d, want 0", tc.d, i, n)
			}
		}
		if l.Sum != tc.sum.Seconds() {
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

// TestLatencyOctaves: record's shortcut (fromOctave) finds the bucket a
// walk of every bound finds, for every bound, its neighbours, and
// latencies spread from 0 to over an hour.
func TestLatencyOctaves(t *testing.T) {
	walk := func(d int64) int {
		i := 0
		for i < NumLatencyBuckets && time.Duration(d) > LatencyBuckets[i] {
			i++
		}
		return i
	}
	ds := []int64{0, 1, 999, 1000, 1001, 1999, 2000, 2001, 1 << 62}
	for _, b := range LatencyBuckets {
		ds = append(ds, int64(b)-1, int64(b), int64(b)+1)
	}
	for d := int64(1); d < int64(2*time.Hour); d = d*9/8 + 1 {
		ds = append(ds, d)
	}
	for _, d := range ds {
		var l Latency
		l.record(d)
		if want := walk(d); l.Counts[want] != 1 {
			t.Errorf("%v: not in bucket %d: %v", time.Duration(d), want, l.Counts)
		}
	}
}
