//go:build !race

package ipv4

import (
	"bytes"
	"net/netip"
	"testing"
)

// TestNoAllocs has one row per hot-path entry point: none may allocate.
func TestNoAllocs(t *testing.T) {
	h := datagram(udpFrame)
	u := UDP(bytes.Clone(h.Payload()))
	echo := datagram(echoRequestFrame)
	closed := datagram(udpClosedFrame)
	c := ICMP(echo.Payload())
	partial, completed := datagram(partialDataFrame), datagram(partialDataFrame)
	// An ICMP error: no error may be sent about it.
	icmpErr := make(Header, 600)
	n, err := Unreachable(icmpErr, closed, peerB, CodePortUnreachable, 64)
	if err != nil {
		t.Fatal(err)
	}
	icmpErr = icmpErr[:n]
	out := make([]byte, 2048)
	buf1500 := make([]byte, 1500)
	tb := NewTable(1024)
	for _, r := range benchRoutes(1000) {
		if err := tb.Add(r); err != nil {
			t.Fatal(err)
		}
	}
	dst := netip.MustParseAddr("10.20.30.40")
	extra := Route{Prefix: netip.MustParsePrefix("203.0.113.0/24"), Metric: 7}
	small := NewTable(16)
	rl := NewRateLimiter(100, 10)
	now := int64(0)

	for _, tc := range []struct {
		name string
		fn   func()
	}{
		{"Header.Check", func() { sinkErr = h.Check() }},
		{"Header.ChecksumValid", func() { sinkBool = h.ChecksumValid() }},
		{"Header accessors", func() {
			sinkInt = h.IHL() + h.TotalLen() + h.FragOffset() + int(h.TOS()+h.TTL()+h.Protocol()+h.Version()) + int(h.ID()+h.Checksum())
			sinkBool = h.DontFragment() || h.MoreFragments() || h.IsFragment()
		}},
		{"Header.Src/Dst", func() { sinkAddr = h.Src(); sinkAddr = h.Dst() }},
		{"Header.Options/Payload", func() { sinkBytes = h.Options(); sinkBytes = h.Payload() }},
		{"Header.SetTTL", func() { h.SetTTL(63) }},
		{"Header.SetSrc/SetDst", func() { h.SetSrc(peerA); h.SetDst(peerB) }},
		{"Header.SetChecksum", func() { h.SetChecksum() }},
		{"Encode", func() {
			_, sinkErr = Encode(out, Fields{TTL: 64, Protocol: ProtoUDP, Src: peerA, Dst: peerB, PayloadLen: 100})
		}},
		{"Sum", func() { sinkU64 = Sum(buf1500, 0) }},
		{"Checksum", func() { sinkU16 = Checksum(buf1500, 0) }},
		{"PseudoSum", func() { sinkU64 = PseudoSum(peerA, peerB, ProtoUDP, 100) }},
		{"PartialChecksum", func() { sinkBool = PartialChecksum(partial) }},
		{"CompletePartialChecksum", func() { copy(completed, partial); CompletePartialChecksum(completed) }},
		{"Update16", func() { sinkU16 = Update16(0x1234, 0x4011, 0x3f11) }},
		{"Update32", func() { sinkU16 = Update32(0x1234, 0xc0000201, 0x0a000001) }},
		{"UDP.Check", func() { sinkErr = u.Check() }},
		{"UDP accessors", func() { sinkInt = int(u.SrcPort()+u.DstPort()+u.Checksum()) + u.Length(); sinkBytes = u.Payload() }},
		{"UDP.ChecksumValid", func() { sinkBool = u.ChecksumValid(peerA, peerB) }},
		{"EncodeUDP", func() { _, sinkErr = EncodeUDP(out, 1, 2, 100) }},
		{"UDP.SetChecksum", func() { u.SetChecksum(peerA, peerB) }},
		{"ICMP.Check", func() { sinkErr = c.Check() }},
		{"ICMP accessors", func() {
			sinkInt = int(c.Type()+c.Code()) + int(c.Checksum()+c.ID()+c.Seq()) + int(c.Rest())
			sinkBytes = c.Body()
		}},
		{"ICMP.ChecksumValid", func() { sinkBool = c.ChecksumValid() }},
		{"EchoReply", func() { sinkInt, sinkErr = EchoReply(out, echo, 64) }},
		{"Unreachable", func() { sinkInt, sinkErr = Unreachable(out, closed, peerB, CodePortUnreachable, 64) }},
		{"Unreachable suppressed", func() { sinkInt, sinkErr = Unreachable(out, icmpErr, peerB, CodePortUnreachable, 64) }},
		{"ICMPError", func() { sinkInt, sinkErr = ICMPError(out, closed, peerB, ICMPTimeExceeded, CodeTTLExceeded, 0, 64) }},
		{"Table.Lookup", func() { sinkRoute, sinkBool = tb.Lookup(dst) }},
		{"Table.NextHop", func() { sinkAddr, sinkRoute, sinkBool = tb.NextHop(dst) }},
		{"Table.Add/Remove", func() { sinkErr = tb.Add(extra); sinkBool = tb.Remove(extra.Prefix) }},
		{"Table.Reset", func() { small.Reset(); sinkErr = small.Add(extra) }},
		{"RateLimiter.Allow", func() { now += 1e6; sinkBool = rl.Allow(now) }},
	} {
		if n := testing.AllocsPerRun(100, tc.fn); n != 0 {
			t.Errorf("%s: %v allocations, want 0", tc.name, n)
		}
	}
}
