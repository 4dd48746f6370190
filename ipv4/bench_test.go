package ipv4

import (
	"math/rand/v2"
	"net/netip"
	"strconv"
	"testing"
)

// Sinks keep the compiler from discarding results (here and in
// TestNoAllocs).
var (
	sinkErr   error
	sinkBool  bool
	sinkInt   int
	sinkU16   uint16
	sinkU64   uint64
	sinkAddr  netip.Addr
	sinkBytes []byte
	sinkRoute Route
)

func BenchmarkChecksum(b *testing.B) {
	for _, n := range []int{20, 64, 1500} {
		buf := make([]byte, n)
		for i := range buf {
			buf[i] = byte(i * 7)
		}
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			b.SetBytes(int64(n))
			b.ReportAllocs()
			var s uint16
			for i := 0; i < b.N; i++ {
				s += Checksum(buf, uint64(i))
			}
			sinkU16 = s
		})
	}
}

// BenchmarkChecksumReference is the textbook byte-pair loop, for scale.
func BenchmarkChecksumReference(b *testing.B) {
	buf := make([]byte, 1500)
	b.SetBytes(1500)
	b.ReportAllocs()
	var s uint16
	for i := 0; i < b.N; i++ {
		s += refFold(buf, uint64(i))
	}
	sinkU16 = s
}

func BenchmarkHeaderCheck(b *testing.B) {
	defer reportPPS(b)
	h := datagram(udpFrame)
	b.ReportAllocs()
	ok := 0
	for i := 0; i < b.N; i++ {
		if h.Check() == nil && h.ChecksumValid() {
			ok++
		}
	}
	sinkInt = ok
}

func BenchmarkUDPChecksumValid(b *testing.B) {
	defer reportPPS(b)
	h := datagram(udpFrame)
	u := UDP(h.Payload())
	src, dst := h.Src(), h.Dst()
	b.ReportAllocs()
	ok := 0
	for i := 0; i < b.N; i++ {
		if u.Check() == nil && u.ChecksumValid(src, dst) {
			ok++
		}
	}
	sinkInt = ok
}

// benchRoutes returns n distinct routes of mixed lengths (mostly /24s,
// then /16-/23, /25-/32, a few short ones and a default), deterministic.
func benchRoutes(n int) []Route {
	rng := rand.New(rand.NewPCG(42, 42))
	lens := []int{24, 24, 24, 24, 16, 20, 22, 23, 25, 26, 28, 29, 30, 32, 32, 8, 12}
	seen := map[netip.Prefix]bool{}
	routes := []Route{{Prefix: netip.MustParsePrefix("0.0.0.0/0"), Gateway: netip.MustParseAddr("192.0.2.1")}}
	seen[routes[0].Prefix] = true
	for len(routes) < n {
		// Addresses in 10/8 so that prefixes nest.
		a := 10<<24 | rng.Uint32()>>8
		p := netip.PrefixFrom(bitsAddr(a), lens[rng.IntN(len(lens))]).Masked()
		if seen[p] {
			continue
		}
		seen[p] = true
		r := Route{Prefix: p}
		if rng.IntN(2) == 0 {
			r.Gateway = bitsAddr(0xc0000200 | rng.Uint32()&0xff)
		}
		routes = append(routes, r)
	}
	return routes
}

// BenchmarkLookup: a table of 1000 routes of mixed lengths (benchRoutes),
// and a host's table (a default route, two on-link prefixes).
func BenchmarkLookup(b *testing.B) {
	defer reportPPS(b)
	rng := rand.New(rand.NewPCG(1, 1))
	for _, tc := range []struct {
		name   string
		routes []Route
	}{
		{"routes-1000", benchRoutes(1000)},
		{"routes-3", []Route{
			{Prefix: netip.MustParsePrefix("0.0.0.0/0"), Gateway: netip.MustParseAddr("10.0.0.1")},
			{Prefix: netip.MustParsePrefix("10.0.0.0/24")},
			{Prefix: netip.MustParsePrefix("10.1.0.0/16")},
		}},
	} {
		tb := NewTable(len(tc.routes))
		for _, r := range tc.routes {
			if err := tb.Add(r); err != nil {
				b.Fatal(err)
			}
		}
		// Destinations: half inside the routes' prefixes, half anywhere
		// in 10/8 (falling back to shorter routes or the default).
		dsts := make([]netip.Addr, 4096)
		for i := range dsts {
			if i%2 == 0 {
				r := tc.routes[rng.IntN(len(tc.routes))].Prefix
				dsts[i] = bitsAddr(addrBits(r.Addr()) | rng.Uint32()&^mask(r.Bits()))
			} else {
				dsts[i] = bitsAddr(10<<24 | rng.Uint32()>>8)
			}
		}
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			found := 0
			for i := 0; i < b.N; i++ {
				if _, ok := tb.Lookup(dsts[i&4095]); ok {
					found++
				}
			}
			sinkInt = found
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lookups/s")
		})
	}
}

func BenchmarkEchoReply(b *testing.B) {
	defer reportPPS(b)
	for _, tc := range []struct {
		name  string
		frame []byte
	}{{"ping-60", echoRequestFrame}, {"ping-1500", nil}} {
		var in Header
		if tc.frame != nil {
			in = datagram(tc.frame)
		} else {
			in = echoRequest(rand.New(rand.NewPCG(2, 2)), 0, 1472, 0)
		}
		out := make([]byte, 2048)
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(int64(len(in)))
			b.ReportAllocs()
			n := 0
			for i := 0; i < b.N; i++ {
				k, _ := EchoReply(out, in, 64)
				n += k
			}
			sinkInt = n
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkts/s")
		})
	}
}

func BenchmarkUnreachable(b *testing.B) {
	defer reportPPS(b)
	orig := datagram(udpClosedFrame)
	out := make([]byte, 2048)
	b.ReportAllocs()
	n := 0
	for i := 0; i < b.N; i++ {
		k, _ := Unreachable(out, orig, peerB, CodePortUnreachable, 64)
		n += k
	}
	sinkInt = n
}

func BenchmarkRateLimiter(b *testing.B) {
	r := NewRateLimiter(1000, 10)
	b.ReportAllocs()
	ok := 0
	for i := 0; i < b.N; i++ {
		if r.Allow(int64(i) * 1000) {
			ok++
		}
	}
	sinkInt = ok
}

// reportPPS reports packets per second: one packet per operation.
func reportPPS(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkts/s")
}
