package ipv4

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
)

// refTable is the brute-force reference: a list, searched in full.
type refTable struct {
	routes []Route
	cap    int
}

func (r *refTable) add(rt Route) error {
	rt.Prefix = rt.Prefix.Masked()
	for i, x := range r.routes {
		if x.Prefix == rt.Prefix && x.Metric == rt.Metric {
			r.routes[i] = rt
			return nil
		}
	}
	if len(r.routes) == r.cap {
		return ErrTableFull
	}
	r.routes = append(r.routes, rt)
	return nil
}

func (r *refTable) remove(p netip.Prefix, oneMetric bool, metric int) bool {
	p = p.Masked()
	n := len(r.routes)
	r.routes = slices.DeleteFunc(r.routes, func(x Route) bool {
		return x.Prefix == p && (!oneMetric || x.Metric == metric)
	})
	return len(r.routes) != n
}

func (r *refTable) lookup(a netip.Addr) (Route, bool) {
	var best Route
	found := false
	for _, x := range r.routes {
		if !x.Prefix.Contains(a) {
			continue
		}
		if !found || x.Prefix.Bits() > best.Prefix.Bits() ||
			(x.Prefix.Bits() == best.Prefix.Bits() && x.Metric < best.Metric) {
			best, found = x, true
		}
	}
	return best, found
}

func (r *refTable) sorted() []Route {
	s := slices.Clone(r.routes)
	slices.SortFunc(s, func(a, b Route) int {
		return cmp.Or(a.Prefix.Addr().Compare(b.Prefix.Addr()), cmp.Compare(a.Prefix.Bits(), b.Prefix.Bits()), cmp.Compare(a.Metric, b.Metric))
	})
	if s == nil {
		s = []Route{}
	}
	return s
}

// checkTrie verifies the table's internal invariants: every node is
// reachable once, keys are masked, children extend their parent by the
// right bit, a node without routes has two children, route lists are
// sorted by metric and hold their node's prefix, and the free lists
// account for every unused node and entry.
func checkTrie(t *testing.T, tb *Table) {
	t.Helper()
	usedNodes, usedEntries := 0, 0
	var walk func(n int32, parent *node, bit int)
	walk = func(n int32, parent *node, bit int) {
		if n < 0 {
			return
		}
		usedNodes++
		nd := &tb.nodes[n]
		if nd.len() > 32 || nd.key&^mask(nd.len()) != 0 || nd.meta&0xc0 != 0 {
			t.Fatalf("node %d: key %08x len %d meta %08x", n, nd.key, nd.len(), nd.meta)
		}
		if nd.len() == 32 && (nd.child[0] >= 0 || nd.child[1] >= 0) {
			t.Fatalf("node %d: a /32 with children", n)
		}
		if parent != nil {
			if nd.len() <= parent.len() || nd.key&mask(parent.len()) != parent.key || bitAt(nd.key, parent.len()) != bit {
				t.Fatalf("node %d (%08x/%d) under %08x/%d as child %d", n, nd.key, nd.len(), parent.key, parent.len(), bit)
			}
		}
		if nd.head() < 0 && (nd.child[0] < 0 || nd.child[1] < 0) {
			t.Fatalf("node %d has no routes and %v children", n, nd.child)
		}
		last := 0
		for e := nd.head(); e >= 0; e = tb.entries[e].next {
			usedEntries++
			r := tb.entries[e].r
			if e != nd.head() && r.Metric <= last {
				t.Fatalf("node %d: metrics out of order", n)
			}
			last = r.Metric
			if addrBits(r.Prefix.Addr()) != nd.key || r.Prefix.Bits() != nd.len() {
				t.Fatalf("node %d (%08x/%d) holds route %v", n, nd.key, nd.len(), r.Prefix)
			}
		}
		walk(nd.child[0], nd, 0)
		walk(nd.child[1], nd, 1)
	}
	walk(tb.root, nil, 0)
	if usedEntries != tb.Len() {
		t.Fatalf("%d entries linked, Len %d", usedEntries, tb.Len())
	}
	if usedNodes > 2*tb.Len() {
		t.Fatalf("%d nodes for %d routes", usedNodes, tb.Len())
	}
	free := 0
	for n := tb.freeNode; n >= 0; n = tb.nodes[n].child[0] {
		free++
	}
	if free+usedNodes != len(tb.nodes) {
		t.Fatalf("nodes: %d free + %d used != %d", free, usedNodes, len(tb.nodes))
	}
	free = 0
	for e := tb.freeEnt; e >= 0; e = tb.entries[e].next {
		free++
	}
	if free+usedEntries != len(tb.entries) {
		t.Fatalf("entries: %d free + %d used != %d", free, usedEntries, len(tb.entries))
	}
}

// randomPrefix draws prefixes that nest and collide often: addresses from
// a few bases, lengths weighted to the usual ones.
func randomPrefix(rng *rand.Rand, bases []uint32) netip.Prefix {
	a := bases[rng.IntN(len(bases))] ^ (rng.Uint32() >> rng.IntN(33))
	lens := []int{0, 8, 12, 16, 20, 22, 24, 24, 24, 25, 28, 30, 31, 32, 32}
	l := lens[rng.IntN(len(lens))]
	if rng.IntN(4) == 0 {
		l = rng.IntN(33)
	}
	// Leave some prefixes unmasked: the table masks them.
	return netip.PrefixFrom(bitsAddr(a), l)
}

func randomAddrNear(rng *rand.Rand, bases []uint32) netip.Addr {
	if rng.IntN(8) == 0 {
		return bitsAddr(rng.Uint32())
	}
	return bitsAddr(bases[rng.IntN(len(bases))] ^ (rng.Uint32() >> rng.IntN(33)))
}

func TestTableAgainstReference(t *testing.T) {
	seeds := uint64(12)
	if testing.Short() {
		seeds = 3
	}
	// What the random operations really exercised: the test fails if too
	// few lookups found a route or too few adds and removes took effect.
	var added, full, removed, hits, lookups int
	for seed := range seeds {
		rng := rand.New(rand.NewPCG(seed, 13))
		capacity := 1 + rng.IntN(300)
		tb := NewTable(capacity)
		ref := &refTable{cap: capacity}
		bases := make([]uint32, 1+rng.IntN(6))
		for i := range bases {
			bases[i] = rng.Uint32()
		}
		gw := func() netip.Addr {
			if rng.IntN(2) == 0 {
				return netip.Addr{}
			}
			return bitsAddr(rng.Uint32())
		}
		for op := range 4000 {
			p := randomPrefix(rng, bases)
			switch k := rng.IntN(10); {
			case k < 6:
				r := Route{Prefix: p, Gateway: gw(), Metric: rng.IntN(4) * 10, Src: gw()}
				got, want := tb.Add(r), ref.add(r)
				if got != want {
					t.Fatalf("seed %d op %d: Add(%v): %v, want %v", seed, op, r, got, want)
				}
				if got == nil {
					added++
				} else {
					full++
				}
			case k < 8:
				if len(ref.routes) > 0 && rng.IntN(2) == 0 {
					p = ref.routes[rng.IntN(len(ref.routes))].Prefix
				}
				got, want := tb.Remove(p), ref.remove(p, false, 0)
				if got != want {
					t.Fatalf("seed %d op %d: Remove(%v): %v, want %v", seed, op, p, got, want)
				}
				if got {
					removed++
				}
			default:
				r := Route{Prefix: p, Metric: rng.IntN(4) * 10}
				if len(ref.routes) > 0 && rng.IntN(2) == 0 {
					r = ref.routes[rng.IntN(len(ref.routes))]
				}
				got, want := tb.RemoveRoute(r), ref.remove(r.Prefix, true, r.Metric)
				if got != want {
					t.Fatalf("seed %d op %d: RemoveRoute(%v): %v, want %v", seed, op, r, got, want)
				}
				if got {
					removed++
				}
			}
			if tb.Len() != len(ref.routes) {
				t.Fatalf("seed %d op %d: Len %d, want %d", seed, op, tb.Len(), len(ref.routes))
			}
			n := 4
			if op%100 == 0 {
				n = 200
				checkTrie(t, tb)
				if got, want := tb.Routes(), ref.sorted(); !slices.Equal(got, want) {
					t.Fatalf("seed %d op %d: Routes\n got %v\nwant %v", seed, op, got, want)
				}
			}
			for range n {
				a := randomAddrNear(rng, bases)
				got, gok := tb.Lookup(a)
				want, wok := ref.lookup(a)
				if got != want || gok != wok {
					t.Fatalf("seed %d op %d: Lookup(%v) = %v %v, want %v %v", seed, op, a, got, gok, want, wok)
				}
				lookups++
				if gok {
					hits++
				}
			}
		}
	}
	t.Logf("%d adds, %d refused (full), %d removes, %d of %d lookups found a route", added, full, removed, hits, lookups)
	ops := int(seeds) * 4000
	if added < ops/5 || full == 0 || removed < ops/20 || hits < lookups/4 {
		t.Errorf("%d adds, %d refused, %d removes, %d of %d lookups found a route: too few exercised (want 1/5 of the ops added, a refusal, 1/20 removed, 1/4 of the lookups found)",
			added, full, removed, hits, lookups)
	}
}

func TestTableCapacity(t *testing.T) {
	tb := NewTable(3)
	p := func(s string) netip.Prefix { return netip.MustParsePrefix(s) }
	for _, s := range []string{"10.0.0.0/8", "10.1.0.0/16", "10.1.2.0/24"} {
		if err := tb.Add(Route{Prefix: p(s)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := tb.Add(Route{Prefix: p("10.2.0.0/16")}); err != ErrTableFull {
		t.Errorf("fourth route: %v, want ErrTableFull", err)
	}
	if err := tb.Add(Route{Prefix: p("10.1.0.0/16"), Metric: 1}); err != ErrTableFull {
		t.Errorf("a second metric: %v, want ErrTableFull", err)
	}
	// Replacing needs no room.
	gw := netip.MustParseAddr("10.0.0.1")
	if err := tb.Add(Route{Prefix: p("10.1.0.0/16"), Gateway: gw}); err != nil {
		t.Errorf("replace while full: %v", err)
	}
	if r, _ := tb.Lookup(netip.MustParseAddr("10.1.9.9")); r.Gateway != gw {
		t.Errorf("replaced route not in effect: %v", r)
	}
	if !tb.Remove(p("10.1.2.0/24")) || tb.Remove(p("10.1.2.0/24")) {
		t.Error("Remove")
	}
	if err := tb.Add(Route{Prefix: p("10.2.0.0/16")}); err != nil {
		t.Errorf("after Remove: %v", err)
	}
	if tb.Len() != 3 || tb.Cap() != 3 {
		t.Errorf("Len %d Cap %d", tb.Len(), tb.Cap())
	}
	checkTrie(t, tb)

	for _, c := range []int{0, -5} {
		tb := NewTable(c)
		if err := tb.Add(Route{Prefix: p("0.0.0.0/0")}); err != ErrTableFull {
			t.Errorf("NewTable(%d).Add: %v", c, err)
		}
		if _, ok := tb.Lookup(netip.MustParseAddr("1.2.3.4")); ok {
			t.Errorf("NewTable(%d).Lookup found a route", c)
		}
	}

	// Fill to capacity with the worst node use (disjoint /32s), empty, refill.
	tb = NewTable(256)
	for round := range 3 {
		for i := range 256 {
			if err := tb.Add(Route{Prefix: netip.PrefixFrom(bitsAddr(uint32(i)<<24|uint32(round)), 32)}); err != nil {
				t.Fatalf("round %d route %d: %v", round, i, err)
			}
		}
		checkTrie(t, tb)
		for i := range 256 {
			if !tb.Remove(netip.PrefixFrom(bitsAddr(uint32(i)<<24|uint32(round)), 32)) {
				t.Fatalf("round %d: Remove %d", round, i)
			}
		}
		if tb.Len() != 0 || tb.root != -1 {
			t.Fatalf("round %d: not empty", round)
		}
		checkTrie(t, tb)
	}
}

// TestTableReset: a full table, reset, is empty and takes a full table's
// worth of routes again, and lookups see only the new ones.
func TestTableReset(t *testing.T) {
	tb := NewTable(256)
	for round := range 3 {
		for i := range 256 {
			if err := tb.Add(Route{Prefix: netip.PrefixFrom(bitsAddr(uint32(i)<<24|uint32(round)), 32), Metric: round}); err != nil {
				t.Fatalf("round %d route %d: %v", round, i, err)
			}
		}
		checkTrie(t, tb)
		if r, ok := tb.Lookup(bitsAddr(7<<24 | uint32(round))); !ok || r.Metric != round {
			t.Fatalf("round %d: lookup %v %v", round, r, ok)
		}
		tb.Reset()
		if tb.Len() != 0 || tb.root != -1 || len(tb.Routes()) != 0 {
			t.Fatalf("round %d: not empty after Reset", round)
		}
		if _, ok := tb.Lookup(bitsAddr(7<<24 | uint32(round))); ok {
			t.Fatalf("round %d: a route found after Reset", round)
		}
		checkTrie(t, tb)
	}
}

func TestTableMetrics(t *testing.T) {
	tb := NewTable(16)
	p16 := netip.MustParsePrefix("172.16.0.0/16")
	gw := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}) }
	for _, m := range []int{10, 5, 20} {
		if err := tb.Add(Route{Prefix: p16, Gateway: gw(m), Metric: m}); err != nil {
			t.Fatal(err)
		}
	}
	dst := netip.MustParseAddr("172.16.3.4")
	want := func(m int) {
		t.Helper()
		r, ok := tb.Lookup(dst)
		if !ok || r.Metric != m || r.Gateway != gw(m) {
			t.Errorf("Lookup = %v %v, want metric %d", r, ok, m)
		}
	}
	want(5)
	// A longer prefix wins whatever its metric.
	if err := tb.Add(Route{Prefix: netip.MustParsePrefix("172.16.3.0/24"), Gateway: gw(99), Metric: 99}); err != nil {
		t.Fatal(err)
	}
	want(99)
	tb.Remove(netip.MustParsePrefix("172.16.3.0/24"))
	want(5)
	// Replace metric 5's gateway; remove it; then 10.
	tb.Add(Route{Prefix: p16, Gateway: gw(5), Metric: 5})
	if !tb.RemoveRoute(Route{Prefix: p16, Metric: 5}) || tb.RemoveRoute(Route{Prefix: p16, Metric: 5}) {
		t.Error("RemoveRoute metric 5")
	}
	want(10)
	if !tb.RemoveRoute(Route{Prefix: p16, Metric: 10}) {
		t.Error("RemoveRoute metric 10")
	}
	want(20)
	if tb.RemoveRoute(Route{Prefix: p16, Metric: 7}) {
		t.Error("RemoveRoute of a metric that is not there")
	}
	tb.Add(Route{Prefix: p16, Gateway: gw(1), Metric: 1})
	if !tb.Remove(p16) || tb.Len() != 0 {
		t.Errorf("Remove of every metric: Len %d", tb.Len())
	}
	if _, ok := tb.Lookup(dst); ok {
		t.Error("found a removed route")
	}
	// Negative metrics sort first.
	tb.Add(Route{Prefix: p16, Metric: 0})
	tb.Add(Route{Prefix: p16, Metric: -3})
	if r, _ := tb.Lookup(dst); r.Metric != -3 {
		t.Errorf("metric %d, want -3", r.Metric)
	}
	checkTrie(t, tb)
}

func TestTableDefaultAndHost(t *testing.T) {
	tb := NewTable(8)
	gw := netip.MustParseAddr("192.0.2.1")
	me := netip.MustParseAddr("192.0.2.10")
	host := netip.MustParseAddr("198.51.100.77")
	hostGw := netip.MustParseAddr("192.0.2.254")
	if _, _, ok := tb.NextHop(host); ok {
		t.Error("empty table has a next hop")
	}
	mustAdd := func(r Route) {
		t.Helper()
		if err := tb.Add(r); err != nil {
			t.Fatal(err)
		}
	}
	mustAdd(Route{Prefix: netip.MustParsePrefix("0.0.0.0/0"), Gateway: gw, Src: me})
	mustAdd(Route{Prefix: netip.MustParsePrefix("192.0.2.0/24"), Src: me})
	mustAdd(Route{Prefix: netip.PrefixFrom(host, 32), Gateway: hostGw})
	for _, tc := range []struct {
		dst, hop netip.Addr
		bits     int
	}{
		{netip.MustParseAddr("8.8.8.8"), gw, 0},
		{netip.MustParseAddr("255.255.255.255"), gw, 0},
		{netip.MustParseAddr("0.0.0.0"), gw, 0},
		{netip.MustParseAddr("192.0.2.200"), netip.MustParseAddr("192.0.2.200"), 24},
		{host, hostGw, 32},
		{netip.MustParseAddr("198.51.100.76"), gw, 0},
		{netip.MustParseAddr("198.51.100.78"), gw, 0},
	} {
		hop, r, ok := tb.NextHop(tc.dst)
		if !ok || hop != tc.hop || r.Prefix.Bits() != tc.bits {
			t.Errorf("NextHop(%v) = %v %v %v, want %v via /%d", tc.dst, hop, r, ok, tc.hop, tc.bits)
		}
	}
	if r, _ := tb.Lookup(netip.MustParseAddr("192.0.2.3")); r.Src != me {
		t.Errorf("Src %v", r.Src)
	}
	// A host route to 0.0.0.0 and 255.255.255.255 (the trie's edges).
	mustAdd(Route{Prefix: netip.MustParsePrefix("0.0.0.0/32"), Metric: 1})
	mustAdd(Route{Prefix: netip.MustParsePrefix("255.255.255.255/32"), Metric: 2})
	for _, tc := range []struct {
		a    string
		bits int
	}{{"0.0.0.0", 32}, {"0.0.0.1", 0}, {"255.255.255.255", 32}, {"255.255.255.254", 0}} {
		if r, _ := tb.Lookup(netip.MustParseAddr(tc.a)); r.Prefix.Bits() != tc.bits {
			t.Errorf("Lookup(%s) = %v, want /%d", tc.a, r.Prefix, tc.bits)
		}
	}
	// Remove the default: what is not covered has no route.
	tb.Remove(netip.MustParsePrefix("0.0.0.0/0"))
	if _, ok := tb.Lookup(netip.MustParseAddr("8.8.8.8")); ok {
		t.Error("route after removing the default")
	}
	checkTrie(t, tb)
}

func TestTableRejects(t *testing.T) {
	tb := NewTable(8)
	v4 := netip.MustParsePrefix("10.0.0.0/8")
	for _, r := range []Route{
		{},
		{Prefix: netip.MustParsePrefix("2001:db8::/32")},
		{Prefix: netip.MustParsePrefix("::ffff:10.0.0.0/104")},
		{Prefix: netip.PrefixFrom(netip.MustParseAddr("10.0.0.0"), 33)},
		{Prefix: v4, Gateway: netip.MustParseAddr("fe80::1")},
		{Prefix: v4, Src: netip.MustParseAddr("::1")},
	} {
		if err := tb.Add(r); err != ErrNotIPv4 {
			t.Errorf("Add(%v) = %v, want ErrNotIPv4", r, err)
		}
	}
	if tb.Len() != 0 {
		t.Fatal("a rejected route went in")
	}
	// Stored masked; Remove masks too.
	if err := tb.Add(Route{Prefix: netip.MustParsePrefix("10.1.2.3/8")}); err != nil {
		t.Fatal(err)
	}
	if rs := tb.Routes(); len(rs) != 1 || rs[0].Prefix != v4 {
		t.Errorf("Routes = %v", rs)
	}
	for _, a := range []netip.Addr{{}, netip.MustParseAddr("::ffff:10.0.0.1"), netip.MustParseAddr("2001:db8::1")} {
		if _, ok := tb.Lookup(a); ok {
			t.Errorf("Lookup(%v) found a route", a)
		}
	}
	if tb.Remove(netip.MustParsePrefix("2001:db8::/32")) || tb.Remove(netip.Prefix{}) {
		t.Error("Remove of a non-IPv4 prefix")
	}
	// Routes is a copy.
	rs := tb.Routes()
	rs[0].Metric = 42
	if r, _ := tb.Lookup(netip.MustParseAddr("10.9.9.9")); r.Metric != 0 {
		t.Error("Routes shares memory with the table")
	}
	if !tb.Remove(netip.MustParsePrefix("10.200.0.0/8")) || tb.Len() != 0 {
		t.Error("Remove of an unmasked prefix")
	}
}

func ExampleTable() {
	t := NewTable(16)
	t.Add(Route{Prefix: netip.MustParsePrefix("0.0.0.0/0"), Gateway: netip.MustParseAddr("192.0.2.1")})
	t.Add(Route{Prefix: netip.MustParsePrefix("192.0.2.0/24")})
	for _, dst := range []string{"192.0.2.77", "203.0.113.5"} {
		hop, r, _ := t.NextHop(netip.MustParseAddr(dst))
		fmt.Println(dst, "via", hop, "route", r.Prefix)
	}
	// Output:
	// 192.0.2.77 via 192.0.2.77 route 192.0.2.0/24
	// 203.0.113.5 via 192.0.2.1 route 0.0.0.0/0
}
