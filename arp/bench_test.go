package arp

import (
	"net/netip"
	"testing"

	"github.com/fastpathnet/fastpath/ether"
)

// neighbours returns n addresses in 10.1.0.0/16 and a cache that has them
// all Reachable.
func neighbours(n int) (*Cache, []netip.Addr) {
	c := NewCache(DefaultConfig())
	ips := make([]netip.Addr, n)
	for i := range ips {
		ips[i] = netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)})
		c.Set(ips[i], ether.Addr{0x02, 0, 0, 1, byte(i >> 8), byte(i)}, 0, nil)
	}
	return c, ips
}

func pps(b *testing.B) { b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkts/s") }

// BenchmarkResolveHit: 1000 Reachable neighbours, a different one each
// call (each call moves its entry in the LRU list).
func BenchmarkResolveHit(b *testing.B) {
	defer reportPPS(b)
	c, ips := neighbours(1000)
	b.ReportAllocs()
	var r ResolveResult
	for i := 0; i < b.N; i++ {
		r = c.Resolve(ips[i%len(ips)], uint64(i), 1)
	}
	if !r.OK {
		b.Fatal(r)
	}
	pps(b)
}

// BenchmarkResolveHitSame: the same next hop every call (a gateway).
func BenchmarkResolveHitSame(b *testing.B) {
	defer reportPPS(b)
	c, ips := neighbours(1000)
	b.ReportAllocs()
	var r ResolveResult
	for i := 0; i < b.N; i++ {
		r = c.Resolve(ips[7], uint64(i), 1)
	}
	if !r.OK {
		b.Fatal(r)
	}
	pps(b)
}

// BenchmarkInputReply: a request for our address from a known neighbour,
// among 1000: Input decides to reply and refreshes the sender, then Reply
// builds the answer.
func BenchmarkInputReply(b *testing.B) {
	defer reportPPS(b)
	c, ips := neighbours(1000)
	us := netip.MustParseAddr("10.1.255.254")
	owns := func(a netip.Addr) bool { return a == us }
	req := make([]byte, FrameLen)
	if _, err := Request(req, ether.Addr{0x02, 0, 0, 1, 0, 42}, ips[42], us); err != nil {
		b.Fatal(err)
	}
	p := Packet(req[ether.HeaderLen:])
	ready := make([]uint64, 0, DefaultQueueLen)
	out := make([]byte, FrameLen)
	mine := ether.Addr{0x02, 0, 0, 0, 0xff, 0xfe}
	b.ReportAllocs()
	b.SetBytes(FrameLen)
	var res InputResult
	for i := 0; i < b.N; i++ {
		res = c.Input(p, owns, 1, ready[:0])
		if res.Reply {
			_, _ = Reply(out, mine, us, p, ether.Header(req).Src())
		}
	}
	if !res.Reply || !res.Learned {
		b.Fatal(res)
	}
	pps(b)
}

// BenchmarkTick: one pass over 1000 entries with nothing due.
func BenchmarkTick(b *testing.B) {
	c, _ := neighbours(1000)
	reqs := make([]netip.Addr, 0, 16)
	dropped := make([]uint64, 0, 16)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		reqs, dropped = c.Tick(1, reqs[:0], dropped[:0])
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1000, "ns/entry")
}

// reportPPS reports packets per second: one packet per operation.
func reportPPS(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkts/s")
}
