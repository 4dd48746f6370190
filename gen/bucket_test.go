package gen

import (
	"cmp"
	"math"
	"slices"
	"testing"
)

const (
	bits64   = (64 + L1Overhead) * 8   // 672
	bits1518 = (1518 + L1Overhead) * 8 // 12304
)

// pace polls b as a sender does, every step ns from start until end: a
// Refill, then up to batch frames of bits each while Take allows. It
// returns the frames taken in each whole second after start.
func pace(b *Bucket, start, end, step int64, batch int, bits uint64) []int {
	perSec := make([]int, (end-start)/1e9)
	for now := start; now < end; now += step {
		b.Refill(now)
		for range batch {
			if !b.Take(bits) {
				break
			}
			if s := (now - start) / 1e9; s < int64(len(perSec)) {
				perSec[s]++
			}
		}
	}
	return perSec
}

func TestBucketRate(t *testing.T) {
	const start = int64(5e9) // any clock origin
	for _, tc := range []struct {
		name  string
		rate  Rate
		batch int
		step  int64
		bits  uint64
		want  float64 // frames per second
		secs  int64   // simulated; 0: 10
	}{
		{"1000pps polls 7us", Rate{1000, false}, 64, 7e3, bits64, 1000, 0},
		{"1000pps batch 1", Rate{1000, false}, 1, 7e3, bits64, 1000, 0},
		{"1.5Mpps polls 20us", Rate{1.5e6, false}, 64, 20e3, bits64, 1.5e6, 0},
		{"1.5Mpps polls 1ms", Rate{1.5e6, false}, 2048, 1e6, bits64, 1.5e6, 0},
		{"800Mbps 1518", Rate{800e6, true}, 64, 10e3, bits1518, 800e6 / bits1518, 0},
		{"10Gbps 64", Rate{10e9, true}, 64, 3e3, bits64, 10e9 / bits64, 2},
		{"7pps polls 1ms", Rate{7, false}, 64, 1e6, bits64, 7, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := NewBucket(tc.rate, tc.batch, tc.bits, start)
			if b.Unlimited() {
				t.Fatal("Unlimited")
			}
			secs := cmp.Or(tc.secs, 10)
			perSec := pace(b, start, start+secs*1e9, tc.step, tc.batch, tc.bits)
			total := 0
			for s, n := range perSec {
				total += n
				// Each second within 1% (and one frame, for the slow rates).
				if math.Abs(float64(n)-tc.want) > max(tc.want/100, 1) {
					t.Errorf("second %d: %d frames, want %.1f ±1%%", s, n, tc.want)
				}
				if tc.rate.Bits {
					if got := float64(n) * float64(tc.bits); math.Abs(got-tc.rate.Value) > tc.rate.Value/100 {
						t.Errorf("second %d: %.4g bit/s on the wire, want %.4g", s, got, tc.rate.Value)
					}
				}
			}
			// Over all the seconds, no drift.
			if want := float64(secs) * tc.want; math.Abs(float64(total)-want) > max(want/1000, 2) {
				t.Errorf("%d frames in %d s, want %.0f", total, secs, want)
			}
		})
	}
}

// TestBucketBurst stalls for seconds: the next poll gets at most the
// burst, one batch, however long the stall.
func TestBucketBurst(t *testing.T) {
	for _, tc := range []struct {
		rate  Rate
		batch int
		bits  uint64
	}{
		{Rate{1000, false}, 64, bits64},
		{Rate{1.5e6, false}, 64, bits64},
		{Rate{1.5e6, false}, 1, bits64},
		{Rate{800e6, true}, 64, bits1518},
		{Rate{10e9, true}, 32, bits64},
	} {
		b := NewBucket(tc.rate, tc.batch, tc.bits, 0)
		// A fresh bucket is empty: no burst at the start either.
		if b.Take(tc.bits) {
			t.Errorf("%+v: a fresh bucket gave a frame at once", tc.rate)
		}
		now := int64(0)
		for _, stall := range []int64{1e9, 10e9, 3600e9, 1} {
			now += stall
			b.Refill(now)
			n := 0
			for b.Take(tc.bits) {
				if n++; n > 1e6 {
					break
				}
			}
			// The burst: a batch and one frame, or BurstTime's worth.
			cost := 1.0
			if tc.rate.Bits {
				cost = float64(tc.bits)
			}
			want := int(max(float64(tc.batch+1)*cost, tc.rate.Value/1e9*BurstTime) / cost)
			if stall == 1 {
				want = 0 // 1 ns after draining it: nothing yet
			}
			if n != want {
				t.Errorf("%+v batch %d: %d frames after a %d ns stall, want %d", tc.rate, tc.batch, n, stall, want)
			}
		}
		// A clock going back changes nothing.
		b.Refill(now - 1e9)
		if b.Take(tc.bits) {
			t.Errorf("%+v: a frame after the clock went back", tc.rate)
		}
		b.Refill(now + 1e9)
		if !b.Take(tc.bits) {
			t.Errorf("%+v: no frame a second after the clock went back", tc.rate)
		}
	}
}

// TestBucketWait checks that Wait's answer is enough and not much more:
// after Wait ns Take succeeds, and half of it is too early.
func TestBucketWait(t *testing.T) {
	for _, tc := range []struct {
		rate  Rate
		batch int
		bits  []uint64 // frames taken in turn
	}{
		{Rate{1000, false}, 64, []uint64{bits64}},
		{Rate{1.5e6, false}, 64, []uint64{bits64}},
		{Rate{3, false}, 1, []uint64{bits64}},
		{Rate{800e6, true}, 64, []uint64{bits1518}},
		{Rate{10e9, true}, 64, []uint64{bits64, bits64, (594 + 20) * 8, bits1518}},
		{Rate{1e6, true}, 16, []uint64{bits1518, bits64}},
	} {
		b := NewBucket(tc.rate, tc.batch, slices.Max(tc.bits), 0)
		now := int64(0)
		for i := range 10000 {
			bits := tc.bits[i%len(tc.bits)]
			w := b.Wait(bits)
			if w < 0 {
				t.Fatalf("%+v: Wait = %d", tc.rate, w)
			}
			if w == 0 {
				if !b.Take(bits) {
					t.Fatalf("%+v frame %d: Wait 0 but Take fails", tc.rate, i)
				}
				continue
			}
			if b.Take(bits) {
				t.Fatalf("%+v frame %d: Wait %d but Take succeeds", tc.rate, i, w)
			}
			if w > 2 {
				half := *b
				half.Refill(now + w/2)
				if half.Take(bits) {
					t.Fatalf("%+v frame %d: Wait %d, but Take succeeds after half of it", tc.rate, i, w)
				}
			}
			now += w
			b.Refill(now)
			if !b.Take(bits) {
				t.Fatalf("%+v frame %d: Take fails after Wait %d ns", tc.rate, i, w)
			}
		}
		// The frames went at the rate: 10000 frames' worth of time.
		cost := 0.0
		for i := range 10000 {
			if tc.rate.Bits {
				cost += float64(tc.bits[i%len(tc.bits)])
			} else {
				cost++
			}
		}
		if want := cost / tc.rate.Value * 1e9; math.Abs(float64(now)-want) > want/100 {
			t.Errorf("%+v: 10000 frames took %d ns, want %.0f", tc.rate, now, want)
		}
	}
}

func TestBucketUnlimited(t *testing.T) {
	b := NewBucket(Rate{}, 64, bits64, 0)
	if !b.Unlimited() {
		t.Fatal("rate 0 is not Unlimited")
	}
	for i := range 1000 {
		if !b.Take(bits1518) || b.Wait(bits1518) != 0 {
			t.Fatalf("frame %d held back", i)
		}
	}
	if b := NewBucket(Rate{0, true}, 64, bits64, 0); !b.Unlimited() {
		t.Fatal("0 bit/s is not Unlimited")
	}
}

// TestBucketLargerFrame paces a bit rate whose burst was sized for the
// first (small) frame of an IMIX, with a small batch: the large frame
// costs more than the burst.
func TestBucketLargerFrame(t *testing.T) {
	b := NewBucket(Rate{1e9, true}, 4, bits64, 0)
	now := int64(0)
	for i := range 100 {
		w := b.Wait(bits1518)
		now += max(w, 1)
		b.Refill(now)
		if b.Take(bits1518) {
			return
		}
		if i == 99 {
			t.Fatalf("a 1518-byte frame was not taken in %d ns at 1 Gbit/s (Wait said %d)", now, w)
		}
	}
}

// TestBucketSmallBurst paces with a burst of one frame (batch 1), polled
// less often than a frame is due, or just not in step with it.
func TestBucketSmallBurst(t *testing.T) {
	for _, tc := range []struct {
		rate float64
		step int64
	}{{1e6, 700}, {300, 100e3}, {1e3, 7e3}} {
		b := NewBucket(Rate{tc.rate, false}, 1, bits64, 0)
		perSec := pace(b, 0, 2e9, tc.step, 1, bits64)
		for s, n := range perSec {
			if math.Abs(float64(n)-tc.rate) > tc.rate/100 {
				t.Errorf("%.0f pps polled every %d ns, batch 1: second %d has %d frames", tc.rate, tc.step, s, n)
			}
		}
	}
}

// TestBucketTinyRate: Wait for a very slow rate stays positive.
func TestBucketTinyRate(t *testing.T) {
	r, err := ParseRate("1e-10")
	if err != nil {
		t.Fatal(err)
	}
	b := NewBucket(r, 1, bits64, 0)
	if w := b.Wait(bits64); w <= 0 {
		t.Fatalf("Wait = %d at %v, want a positive wait", w, r)
	}
}

// TestBucketBehind: the schedule a stall drops past the burst is counted
// behind, to the nanosecond's worth of tokens; a skipped span (paused) and
// a rate change are not, and Reset keeps what was counted.
func TestBucketBehind(t *testing.T) {
	for _, rate := range []Rate{{1e5, false}, {1e9, true}} {
		b := NewBucket(rate, 64, bits64, 0)
		burstNs := b.burst / b.perNs
		now := int64(0)
		// Draining at each ms: never behind.
		for range 100 {
			now += 1e6
			b.Refill(now)
			for b.Take(bits64) {
			}
		}
		if got := b.Behind(); got != 0 {
			t.Fatalf("%+v: %d ns behind while keeping up", rate, got)
		}
		// A 50 ms stall: 50 ms less the burst, give or take the part of
		// a frame left in the bucket.
		now += 50e6
		b.Refill(now)
		want, frameNs := 50e6-burstNs, 1/b.perNs
		if rate.Bits {
			frameNs = bits64 / b.perNs
		}
		if got := float64(b.Behind()); got < want-1 || got > want+frameNs+1 {
			t.Fatalf("%+v: %v ns behind after a 50 ms stall, want %v", rate, got, want)
		}
		for b.Take(bits64) {
		}
		before := b.Behind()
		// Paused for a second, then resumed: not behind.
		now += 1e9
		b.Skip(now)
		b.Refill(now + 1)
		if b.Behind() != before {
			t.Errorf("%+v: a pause counted %d ns behind", rate, b.Behind()-before)
		}
		b.Reset(rate, 64, bits64, now)
		if b.Behind() != before {
			t.Errorf("%+v: Reset lost the time behind", rate)
		}
	}
}
