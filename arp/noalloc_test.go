//go:build !race

package arp

import (
	"net/netip"
	"testing"

	"github.com/fastpathnet/fastpath/ether"
)

// TestNoAllocs has one row per hot-path API. Rows that need the cache in a
// given state set it up inside the measured function, with calls that must
// not allocate either; slices are preallocated as the engine does.
func TestNoAllocs(t *testing.T) {
	var (
		frame   = make([]byte, FrameLen)
		req     = Packet(goldenRequest[ether.HeaderLen:])
		ready   = make([]uint64, 0, 64)
		reqs    = make([]netip.Addr, 0, 64)
		dropped = make([]uint64, 0, 64)
		now     int64
		sinkMAC ether.Addr
		sinkIP  netip.Addr
		sinkU16 uint16
		sinkRes ResolveResult
		sinkIn  InputResult
		sinkSt  State
		sinkCtr Counters
	)
	owns := func(a netip.Addr) bool { return a == ip2 }

	hit := NewCache(DefaultConfig())
	hit.Set(ip3, mac3, 0, nil)

	miss := NewCache(DefaultConfig())

	probe := NewCache(DefaultConfig())
	probe.Set(ip5, mac2, 0, nil)
	confirm := replyTo(t, mac2, ip5)

	full := NewCache(testConfig())
	for h := range uint64(3) {
		full.Resolve(ip4, h, 0)
	}

	known := NewCache(DefaultConfig())
	known.Set(ip1, mac1, 0, nil)

	// One entry, stale forever: each new sender evicts the last.
	evict := NewCache(Config{Capacity: 1, StaleTime: 1 << 62})
	senders := [2]Packet{pkt(t, OpRequest, mac3, ip3, ether.Addr{}, ip2), pkt(t, OpRequest, mac4, ip4, ether.Addr{}, ip2)}
	flip := 0

	timers := NewCache(DefaultConfig())

	nd := NewCache(DefaultConfig())
	nd6 := netip.MustParseAddr("fe80::3")

	for _, tc := range []struct {
		name string
		fn   func()
	}{
		{"Packet.Check", func() { _ = req.Check() }},
		{"Packet.Op", func() { sinkU16 = req.Op() }},
		{"Packet.SenderMAC", func() { sinkMAC = req.SenderMAC() }},
		{"Packet.SenderIP", func() { sinkIP = req.SenderIP() }},
		{"Packet.TargetMAC", func() { sinkMAC = req.TargetMAC() }},
		{"Packet.TargetIP", func() { sinkIP = req.TargetIP() }},
		{"Encode", func() { _, _ = Encode(frame, OpReply, mac2, ip2, mac1, ip1) }},
		{"Encode error", func() { _, _ = Encode(frame, 7, mac2, ip2, mac1, ip1) }},
		{"Request", func() { _, _ = Request(frame, mac1, ip1, ip2) }},
		{"Reply", func() { _, _ = Reply(frame, mac2, ip2, req, mac1) }},
		{"Gratuitous", func() { _, _ = Gratuitous(frame, mac1, ip1) }},
		{"Resolve hit", func() { sinkRes = hit.Resolve(ip3, 1, 1) }},
		{"Resolve miss, then queue, then Set", func() {
			now += 1000 * sec // the last round's entry has expired
			sinkRes = miss.Resolve(ip3, 1, now)
			sinkRes = miss.Resolve(ip3, 2, now)
			ready = miss.Set(ip3, mac3, now, ready[:0])
		}},
		{"Resolve queue full", func() { sinkRes = full.Resolve(ip4, 9, 1) }},
		{"Resolve stale, then Input confirms", func() {
			now += 31 * sec
			sinkRes = probe.Resolve(ip5, 1, now)
			sinkIn = probe.Input(confirm, owns, now, ready[:0])
		}},
		{"Resolve unusable address", func() { sinkRes = hit.Resolve(netip.IPv6Loopback(), 1, 1) }},
		{"Lookup", func() { sinkMAC, sinkSt = hit.Lookup(ip3, 1) }},
		{"Input request for us", func() { sinkIn = known.Input(req, owns, 1, ready[:0]) }},
		{"Input new sender, evicting", func() {
			now += 31 * sec // the last sender's entry goes stale
			evict.Tick(now, reqs[:0], dropped[:0])
			flip ^= 1
			sinkIn = evict.Input(senders[flip], owns, now, ready[:0])
		}},
		{"Tick: retries, then failure", func() {
			timers.Resolve(ip4, 1, now)
			for range DefaultMaxRetries {
				now += sec
				reqs, dropped = timers.Tick(now, reqs[:0], dropped[:0])
			}
		}},
		{"Resolve IPv6 miss, then Advertisement", func() {
			now += 1000 * sec
			sinkRes = nd.Resolve(nd6, 1, now)
			sinkIn = nd.Advertisement(Advert{Target: nd6, MAC: mac3, HasMAC: true, Solicited: true}, now, ready[:0])
		}},
		{"Solicitation, changing the MAC", func() {
			flip ^= 1
			sinkIn = nd.Solicitation(nd6, [2]ether.Addr{mac3, mac4}[flip], now, ready[:0])
		}},
		{"Counters", func() { sinkCtr = hit.Counters() }},
	} {
		if n := testing.AllocsPerRun(1000, tc.fn); n != 0 {
			t.Errorf("%s: %v allocations, want 0", tc.name, n)
		}
	}
	if evict.Counters().Evictions < 1000 {
		t.Error("the eviction row did not evict")
	}
	if c := nd.Counters(); c.Learned < 1000 || c.Changed < 1000 {
		t.Errorf("the NDP rows did not take their paths: %+v", c)
	}
	if timers.Counters().Failed == 0 || miss.Counters().Requests < 1000 || probe.Counters().Requests < 1000 {
		t.Errorf("rows did not take their paths: %+v %+v %+v", timers.Counters(), miss.Counters(), probe.Counters())
	}
	_, _, _, _, _, _, _ = sinkMAC, sinkIP, sinkU16, sinkRes, sinkIn, sinkSt, sinkCtr
}
