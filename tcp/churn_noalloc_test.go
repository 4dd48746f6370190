//go:build !race

package tcp

import "testing"

// TestChurnNoAllocs: after warm-up, thousands of connections opened,
// used and closed (active and passive opens; closes through TIME-WAIT on
// either side, or a RST) allocate nothing: connections and their buffers
// come from the Hosts' pools, the table does not grow.
func TestChurnNoAllocs(t *testing.T) {
	pr := newPair(t, churnConfig())
	const cycles = 3000
	// AllocsPerRun calls the function once to warm up, then once to
	// count: every allocation of the 3000 cycles counts.
	allocs := testing.AllocsPerRun(1, func() {
		for range cycles {
			pr.cycle()
		}
	})
	pr.check(t)
	if pr.cycles != 2*cycles {
		t.Fatalf("%d cycles ran, want %d", pr.cycles, 2*cycles)
	}
	if allocs != 0 {
		t.Errorf("%v allocations in %d connections' lives, want 0", allocs, cycles)
	}
}
