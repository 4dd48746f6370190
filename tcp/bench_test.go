package tcp

import (
	"bytes"
	"fmt"
	"net/netip"
	"testing"
	"time"
)

// Sinks keep the compiler from discarding results (here and in
// TestNoAllocs).
var (
	sinkErr   error
	sinkBool  bool
	sinkInt   int
	sinkSeq   Seq
	sinkBytes []byte
)

// reportPPS reports packets per second: one packet per operation.
func reportPPS(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkts/s")
}

// BenchmarkParse: Check, checksum and Parse of a data segment with
// timestamps, as the receive path does.
func BenchmarkParse(b *testing.B) {
	defer reportPPS(b)
	h := Header(bytes.Clone(dataGolden))
	var s Segment
	b.SetBytes(int64(len(h)))
	b.ReportAllocs()
	ok := 0
	for i := 0; i < b.N; i++ {
		if h.Check() == nil && h.ChecksumValid(goldenSrc, goldenDst) && Parse(h, &s) == nil {
			ok += int(s.Len())
		}
	}
	sinkInt = ok
}

// BenchmarkEncode: the header of an ACK with timestamps and two SACK
// blocks, then the checksum over it and 100 bytes of payload.
func BenchmarkEncode(b *testing.B) {
	defer reportPPS(b)
	o := Options{HasTimestamps: true, TSVal: 1, TSEcr: 2, NumSACK: 2, SACK: [4]SACKBlock{{100, 200}, {300, 400}}}
	f := Fields{SrcPort: 80, DstPort: 40000, Seq: 1, Ack: 2, Flags: FlagACK | FlagPSH, Window: 512}
	buf := make([]byte, MaxHeaderLen+100)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		f.Seq += 100
		o.TSVal++
		n, _ := Encode(buf, f, &o)
		h := Header(buf[:n+100])
		h.SetChecksum(goldenSrc, goldenDst)
	}
	sinkBytes = buf
}

// BenchmarkChecksum1460: SetChecksum and ChecksumValid over a full-sized
// segment (20-byte header, 12 bytes of timestamps, 1460 of data).
func BenchmarkChecksum1460(b *testing.B) {
	h := make(Header, HeaderLen+12+1460)
	for i := range h {
		h[i] = byte(i * 7)
	}
	h[12] = 8 << 4
	for _, tc := range []struct {
		name string
		fn   func()
	}{
		{"SetChecksum", func() { h.SetChecksum(goldenSrc, goldenDst) }},
		{"ChecksumValid", func() { sinkBool = h.ChecksumValid(goldenSrc, goldenDst) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			defer reportPPS(b)
			b.SetBytes(int64(len(h)))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				tc.fn()
			}
		})
	}
}

// BenchmarkCubicOnAck: one ACK of one segment in congestion avoidance,
// 100 µs apart, with a loss every 100000 ACKs.
func BenchmarkCubicOnAck(b *testing.B) {
	defer reportPPS(b)
	const mss = 1460
	c := &Cubic{}
	now := int64(time.Second)
	c.Init(mss, now)
	c.OnCongestion(c.Cwnd(), now)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		now += 100e3
		c.OnAck(mss, 20e6, c.Cwnd(), now)
		if i%100000 == 99999 {
			c.OnCongestion(c.Cwnd(), now)
		}
	}
	sinkInt = c.Cwnd()
}

// BenchmarkISN: an ISN for a new connection from a different port each
// time (one per SYN).
func BenchmarkISN(b *testing.B) {
	defer reportPPS(b)
	g := NewISNGenerator(isnKey)
	local := isnLocal
	addr := isnRemote.Addr()
	b.ReportAllocs()
	var s Seq
	for i := 0; i < b.N; i++ {
		s += g.ISN(local, netip.AddrPortFrom(addr, uint16(i)), int64(i)*1000)
	}
	sinkSeq = s
}

// BenchmarkCookie: a SYN cookie made and checked (one SYN and its ACK).
func BenchmarkCookie(b *testing.B) {
	defer reportPPS(b)
	g := NewISNGenerator(isnKey)
	b.ReportAllocs()
	ok := 0
	for i := 0; i < b.N; i++ {
		remote := netip.AddrPortFrom(isnRemote.Addr(), uint16(i))
		now := int64(i) * 1000
		c := g.Cookie(isnLocal, remote, Seq(i), 1460, now)
		if _, good := g.CheckCookie(isnLocal, remote, Seq(i), c+1, now); good {
			ok++
		}
	}
	sinkInt = ok
}

// BenchmarkTickIdle: Host.Tick over established connections with no
// timer due (the engine calls it every millisecond): the cost of a tick
// per connection held.
func BenchmarkTickIdle(b *testing.B) {
	for _, n := range []int{1000, 4000} {
		b.Run(fmt.Sprintf("conns=%d", n), func(b *testing.B) {
			cfg := DefaultConfig()
			cfg.ISNKey = [16]byte{1}
			cfg.MaxConns = n
			cfg.EphemeralLo, cfg.EphemeralHi = 1024, 65535
			h, err := NewHost(cfg, sinkLink{})
			if err != nil {
				b.Fatal(err)
			}
			now := int64(1e12)
			local := netip.MustParseAddrPort("198.18.0.1:0")
			for i := range n {
				remote := netip.AddrPortFrom(netip.MustParseAddr("198.18.1.1"), uint16(1000+i))
				if _, err := h.Dial(local, remote, nil, now); err != nil {
					b.Fatal(err)
				}
			}
			// The SYNs' timers are a second away: nothing is due.
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				h.Tick(now + int64(i%500)*millisecond)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/conn")
		})
	}
}

// sinkLink takes every segment and sends nothing.
type sinkLink struct{}

func (sinkLink) Send(local, remote netip.AddrPort, f *Fields, o *Options, p1, p2 []byte) bool {
	return true
}
