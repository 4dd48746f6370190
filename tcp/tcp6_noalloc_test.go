//go:build !race

package tcp

import (
	"net/netip"
	"testing"
)

// TestNoAllocs6: the IPv6 rows of TestNoAllocs: the pseudo-header and the
// hashes over 16-byte addresses, and PacketTooBig.
func TestNoAllocs6(t *testing.T) {
	h := Header(append([]byte(nil), golden6...))
	g := NewISNGenerator(isnKey)
	const now = int64(1e9)
	cookie := g.Cookie(host6, peer6, 77, 1440, now)
	tb := newTable(64, g)
	k := keyOf(host6, peer6)
	conn := &Conn{}
	for _, tc := range []struct {
		name string
		fn   func()
	}{
		{"Header.ChecksumValid", func() { sinkBool = h.ChecksumValid(golden6Src, golden6Dst) }},
		{"Header.SetChecksum", func() { h.SetChecksum(golden6Src, golden6Dst) }},
		{"Header.SetPartialChecksum", func() { h.SetPartialChecksum(golden6Src, golden6Dst) }},
		{"ISNGenerator.ISN", func() { sinkSeq = g.ISN(host6, peer6, now) }},
		{"ISNGenerator.EphemeralPortOffset", func() { sinkSeq = Seq(g.EphemeralPortOffset(host6.Addr(), peer6.Addr(), 80)) }},
		{"ISNGenerator.TSOffset", func() { sinkSeq = Seq(g.TSOffset(host6.Addr(), peer6.Addr())) }},
		{"Cookie", func() { sinkSeq = g.Cookie(host6, peer6, 77, 1440, now) }},
		{"CheckCookie", func() { _, sinkBool = g.CheckCookie(host6, peer6, 77, cookie+1, now) }},
		{"keyOf/table.get", func() { sinkBool = tb.get(keyOf(host6, peer6)) != nil }},
		{"table.put/del", func() { tb.put(k, conn); tb.del(k) }},
	} {
		if n := testing.AllocsPerRun(100, tc.fn); n != 0 {
			t.Errorf("%s: %v allocations, want 0", tc.name, n)
		}
	}
}

// TestConnNoAllocs6 is TestConnNoAllocs over IPv6: receiving and sending
// data allocate nothing.
func TestConnNoAllocs6(t *testing.T) {
	withIPv6(t)
	TestConnNoAllocs(t)
}

// TestChurnNoAllocs6 is TestChurnNoAllocs over IPv6: connections
// opened, used and closed between two IPv6 addresses allocate nothing
// after warm-up.
func TestChurnNoAllocs6(t *testing.T) {
	pr := newPair(t, churnConfig())
	pr.addrs[0] = netip.MustParseAddrPort("[2001:db8::1]:80")
	pr.addrs[1] = netip.MustParseAddrPort("[2001:db8::2]:80")
	const cycles = 3000
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
		t.Errorf("%v allocations in %d IPv6 connections' lives, want 0", allocs, cycles)
	}
	for _, h := range pr.p.hosts {
		if h.Counters()[Established] == 0 || h.Counters()[DropChecksum] != 0 {
			t.Fatalf("IPv6 churn: %v", h.Counters().Map())
		}
	}
}

// TestPacketTooBigNoAllocs: a PTB taken (the MSS lowered, the flight
// sent again) and one ignored allocate nothing.
func TestPacketTooBigNoAllocs(t *testing.T) {
	r, _ := establish6(t)
	link := &nullLink{}
	r.h.link = link
	c := r.conn
	mtu := 1500
	if a := testing.AllocsPerRun(100, func() {
		una, _, _ := c.Sequence()
		mtu--
		sinkBool = r.h.PacketTooBig(host6, peer6, una, mtu, r.now)
		sinkBool = r.h.PacketTooBig(host6, peer6, una-1, 1280, r.now)
	}); a != 0 {
		t.Errorf("%v allocations", a)
	}
	if r.h.Counters()[PMTUReductions] < 100 {
		t.Errorf("%d reductions", r.h.Counters()[PMTUReductions])
	}
}
