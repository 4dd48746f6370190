//go:build !race

package tcp

import (
	"net/netip"
	"testing"
	"time"
)

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

// TestTimeWaitReuseChurnNoAllocs: a client that closes first and takes
// its ports back from TIME-WAIT (Config.TimeWaitReuse) allocates nothing
// either, after warm-up: the old connection's Conn and the buffers it
// gave back at TIME-WAIT serve the next.
func TestTimeWaitReuseChurnNoAllocs(t *testing.T) {
	pr := reusePair(t)
	const cycles = 3000
	allocs := testing.AllocsPerRun(1, func() {
		for range cycles {
			pr.reuseCycle()
		}
	})
	pr.checkReuse(t)
	if allocs != 0 {
		t.Errorf("%v allocations in %d connections' lives, want 0", allocs, cycles)
	}
}

// TestTableChurnNoAllocs: a nearly full connection table taking one
// connection out and another in, over and over, allocates nothing (a Go
// map does: its deleted slots run out and it grows).
func TestTableChurnNoAllocs(t *testing.T) {
	cfg := churnConfig()
	cfg.MaxConns, cfg.Prealloc, cfg.PoolConns = 4096, 4096, 4096
	cfg.EphemeralLo, cfg.EphemeralHi = 1024, 65535
	h, err := NewHost(cfg, sinkLink{})
	if err != nil {
		t.Fatal(err)
	}
	local := netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, 0, 1}), 0)
	now := int64(time.Hour)
	// The connections in the order they were opened: the oldest goes.
	var (
		ring [4000]*Conn
		i    int
	)
	dial := func() {
		remote := netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 19, byte(i >> 8), byte(i)}), uint16(1000+i>>16))
		c, err := h.Dial(local, remote, nil, now)
		if err != nil {
			t.Fatal(err)
		}
		ring[i%len(ring)] = c
		i++
	}
	for range len(ring) {
		dial()
	}
	const replacements = 1500000
	allocs := testing.AllocsPerRun(1, func() {
		for range replacements {
			ring[i%len(ring)].Abort()
			dial()
			if i%64 == 0 {
				now += millisecond
				h.Tick(now)
			}
		}
	})
	if n := len(h.Conns()); n != 4000 {
		t.Fatalf("%d connections in the table, want 4000", n)
	}
	// AllocsPerRun runs the function twice: once to warm up.
	if c := h.Counters(); c[Closed] != 2*replacements || c[ActiveOpens] != uint64(2*replacements+len(ring)) {
		t.Fatalf("%d closed, %d opened; want %d, %d", c[Closed], c[ActiveOpens], 2*replacements, 2*replacements+len(ring))
	}
	if allocs != 0 {
		t.Errorf("%v allocations in %d replacements, want 0", allocs, replacements)
	}
}
