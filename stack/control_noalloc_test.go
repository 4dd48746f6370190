//go:build !race

package stack

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/fastpathnet/fastpath/ether"
	"github.com/fastpathnet/fastpath/internal/lab"
	"github.com/fastpathnet/fastpath/ipv4"
)

// TestApplyControlNoAllocs: on the engine, a snapshot of the kernel's
// tables (40 routes, 40 neighbours) replaces the imported routes, and an
// imported route's add and delete (which puts back the static route it
// replaced) allocate nothing. The snapshot keeps the engine's static
// routes.
func TestApplyControlNoAllocs(t *testing.T) {
	l := lab.NewT(t, lab.Options{})
	cfg := DefaultConfig()
	cfg.Device, cfg.Addrs, cfg.Gateway = l.A.Link, []netip.Prefix{engineAddr}, netip.MustParseAddr("198.18.0.1")
	var s *Stack
	if err := l.A.Do(func() (err error) { s, err = New(cfg); return err }); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	e := s.engines[0]
	e.now = monotonic()
	snap := &snapshot{}
	for i := range 40 {
		snap.routes = append(snap.routes, ipv4.Route{Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i), 0, 0}), 16),
			Gateway: netip.MustParseAddr("198.18.0.2")})
		snap.neighbours = append(snap.neighbours, neighbour{ip: netip.AddrFrom4([4]byte{198, 18, 0, byte(100 + i)}), mac: ether.Addr{2, 0, 0, 0, 0, byte(i)}})
	}
	stale := ipv4.Route{Prefix: netip.MustParsePrefix("203.0.113.0/24")}
	// A kernel route over the static on-link one (same prefix and metric).
	over := ipv4.Route{Prefix: engineAddr.Masked(), Gateway: netip.MustParseAddr("198.18.0.3")}
	for _, tc := range []struct {
		name string
		m    control
	}{
		{"snapshot", control{snapshot: snap}},
		{"route add", control{add: true, route: over}},
		{"route delete", control{route: over}},
	} {
		if a := testing.AllocsPerRun(100, func() { e.applyOne(&tc.m) }); a != 0 {
			t.Errorf("%s: %v allocations", tc.name, a)
		}
	}

	e.routes.Add(stale)
	e.applyOne(&control{snapshot: snap})
	got := e.routes.Routes()
	want := append(slices.Clone(e.static), snap.routes...)
	if len(got) != len(want) || slices.Contains(got, stale) {
		t.Errorf("after a snapshot: %d routes %v, want %d: the static and the snapshot's", len(got), got, len(want))
	}
	for _, r := range want {
		if !slices.Contains(got, r) {
			t.Errorf("after a snapshot: %v missing", r)
		}
	}
	e.applyOne(&control{add: true, route: over})
	if r, _ := e.routes.Lookup(engineAddr.Addr()); r != over {
		t.Errorf("kernel route over the static one: lookup %v, want %v", r, over)
	}
	e.applyOne(&control{route: over})
	if r, _ := e.routes.Lookup(engineAddr.Addr()); r != e.static[0] {
		t.Errorf("kernel route over the static one deleted: lookup %v, want the static %v back", r, e.static[0])
	}
	if n := e.counters[Resyncs]; n < 2 {
		t.Errorf("%d resyncs counted", n)
	}
}
