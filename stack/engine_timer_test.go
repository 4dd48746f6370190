package stack

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestWheel fires random timers, some rescheduling themselves, and checks
// each fires once, not before its due time and within one advance of it.
func TestWheel(t *testing.T) {
	const ms = int64(1e6)
	w := newWheel(ms, 64, 64, 0)
	rng := rand.New(rand.NewPCG(1, 1))
	due := map[int]int64{}
	for k := 0; k < 40; k++ {
		d := int64(rng.IntN(500)) * ms / 3
		due[k] = d
		if !w.schedule(k, d) {
			t.Fatalf("slot full for timer %d", k)
		}
	}
	first := due[0]
	var fired []int
	now := int64(0)
	for now < 400*ms {
		now += int64(rng.IntN(5)+1) * ms / 2
		w.advance(now, func(kind int, at int64) {
			if at < due[kind] {
				t.Fatalf("timer %d fired at %d, due %d", kind, at, due[kind])
			}
			if at-due[kind] > 3*ms {
				t.Fatalf("timer %d fired %d ns late", kind, at-due[kind])
			}
			fired = append(fired, kind)
			if kind == 0 && at < 300*ms { // periodic
				due[0] = at + 7*ms
				w.schedule(0, due[0])
			}
		})
	}
	others := slices.DeleteFunc(slices.Clone(fired), func(k int) bool { return k == 0 })
	slices.Sort(others)
	if len(slices.Compact(others)) != len(others) || len(others) != 39 {
		t.Fatalf("one-shot timers fired %d times in all (%v), want each of 39 once", len(others), others)
	}
	// Every 7 ms (plus at most 3 ms lateness) from its first due time to
	// 300 ms.
	if n, want := int64(len(fired)-len(others)), (300*ms-first)/(10*ms); n < want {
		t.Fatalf("the periodic timer fired %d times, want at least %d", n, want)
	}
}

func TestWheelLongPause(t *testing.T) {
	w := newWheel(1e6, 8, 4, 0)
	w.schedule(1, 5e6)
	w.schedule(2, 50e6) // several turns ahead
	var got []int
	w.advance(1e9, func(k int, _ int64) { got = append(got, k) })
	slices.Sort(got)
	if !slices.Equal(got, []int{1, 2}) {
		t.Fatalf("after a long pause fired %v, want [1 2]", got)
	}
}

// TestCounterNames: every counter has its own name (the names array is
// sized by NumCounters, so a missing name would shift none but leave "").
func TestCounterNames(t *testing.T) {
	seen := map[string]bool{}
	for i := Counter(0); i < NumCounters; i++ {
		n := i.String()
		if n == "" || seen[n] {
			t.Errorf("counter %d has name %q (empty or repeated)", i, n)
		}
		seen[n] = true
	}
	if RXFrames.String() != "rx_frames" || DropNoRoute.String() != "drop_no_route" || ARPConflicts.String() != "arp_conflicts" {
		t.Errorf("names out of step with the constants: %s %s %s", RXFrames, DropNoRoute, ARPConflicts)
	}
}
