//go:build !race

package stack

import (
	"testing"

	"github.com/fastpathnet/fastpath/ether"
	"github.com/fastpathnet/fastpath/internal/lab"
	"github.com/fastpathnet/fastpath/ipv4"
	"github.com/fastpathnet/fastpath/ipv6"
)

// TestNoAllocs6 is TestNoAllocs for IPv6: neighbour solicitation and
// advertisement, echo, UDP echo in place and built fresh (routed through
// the neighbour cache), behind extension headers, to an unbound port, a
// bad checksum, a router advertisement. None may allocate.
func TestNoAllocs6(t *testing.T) {
	l := lab.NewT(t, lab.Options{IPv6: true})
	peer, me := l.B.Addr6.Addr(), engineAddr6.Addr()
	_, e := noAllocStack(t, l, engineAddr6, peer, bindUDPEchoes)
	peerMAC := ether.Addr(l.B.MAC)

	frames := map[string][]byte{}
	mk := func(next uint8, payload []byte, ext ...uint8) []byte {
		n := 8 * len(ext)
		b := make([]byte, ether.HeaderLen+ipv6.HeaderLen+n+len(payload))
		ether.Encode(b, e.mac, peerMAC, ether.TypeIPv6)
		first := next
		if len(ext) > 0 {
			first = ext[0]
		}
		ipv6.Encode(b[ether.HeaderLen:], ipv6.Fields{NextHeader: first, HopLimit: 64, Src: peer, Dst: me, PayloadLen: n + len(payload)})
		for i := range ext {
			x := b[ether.HeaderLen+ipv6.HeaderLen+8*i:]
			x[0] = next
			if i+1 < len(ext) {
				x[0] = ext[i+1]
			}
		}
		copy(b[ether.HeaderLen+ipv6.HeaderLen+n:], payload)
		return b
	}
	icmp := make([]byte, 64)
	icmp[0] = ipv6.ICMPEchoRequest
	ipv6.ICMP(icmp).SetChecksum(peer, me)
	frames["ICMPv6 echo"] = mk(ipv6.ProtoICMPv6, icmp)
	udp := func(port uint16, ext ...uint8) []byte {
		f := mk(ipv6.ProtoUDP, make([]byte, 8+100), ext...)
		u, _ := ipv4.EncodeUDP(f[ether.HeaderLen+ipv6.HeaderLen+8*len(ext):], 1024, port, 100)
		ipv6.SetUDPChecksum(u, peer, me)
		return f
	}
	frames["UDP echo in place"] = udp(7)
	frames["UDP echo behind two extension headers"] = udp(7, ipv6.ProtoDestOpts, ipv6.ProtoRouting)
	frames["UDP reply built"] = udp(9)
	frames["UDP to an unbound port"] = udp(8)
	bad := udp(7)
	bad[len(bad)-1] ^= 0xff
	frames["UDP bad checksum"] = bad
	b := make([]byte, 256)
	ether.Encode(b, ipv6.MulticastMAC(ipv6.SolicitedNode(me)), peerMAC, ether.TypeIPv6)
	n, _ := ipv6.Solicit(b[ether.HeaderLen:], peer, me, peerMAC)
	frames["neighbour solicitation"] = append([]byte(nil), b[:ether.HeaderLen+n]...)
	ether.Encode(b, e.mac, peerMAC, ether.TypeIPv6)
	n, _ = ipv6.Advertise(b[ether.HeaderLen:], peer, me, peer, peerMAC, ipv6.FlagSolicited|ipv6.FlagOverride)
	frames["neighbour advertisement"] = append([]byte(nil), b[:ether.HeaderLen+n]...)
	router := ipv6.LinkLocal(peerMAC)
	ra := make([]byte, ether.HeaderLen+ipv6.HeaderLen+24)
	ether.Encode(ra, ipv6.MulticastMAC(ipv6.AllNodes), peerMAC, ether.TypeIPv6)
	h, _ := ipv6.Encode(ra[ether.HeaderLen:], ipv6.Fields{NextHeader: ipv6.ProtoICMPv6, HopLimit: 255, Src: router, Dst: ipv6.AllNodes, PayloadLen: 24})
	m := h.Payload()
	m[0], m[7], m[16], m[17] = ipv6.ICMPRouterAdvertisement, 60, ipv6.OptSourceLinkAddr, 1
	copy(m[18:], peerMAC[:])
	ipv6.ICMP(m).SetChecksum(router, ipv6.AllNodes)
	frames["router advertisement"] = ra

	for name, f := range frames {
		before := e.counters
		if a := testing.AllocsPerRun(100, func() { injectFrame(t, e, f) }); a != 0 {
			t.Errorf("%s: %v allocations per frame", name, a)
		}
		if e.counters[RXFrames] == before[RXFrames] || e.counters.Drops()-before.Drops() > 0 && name != "UDP bad checksum" && name != "UDP to an unbound port" {
			t.Errorf("%s: %v", name, nonZero(e.counters))
		}
	}
	c := e.counters
	if c[ICMPv6EchoOut] == 0 || c[UDPOut] < 300 || c[NDAdvertsOut] == 0 || c[NDAdvertsIn] == 0 || c[RouterAdverts] == 0 ||
		c[DropUDPChecksum] == 0 || c[ICMPv6UnreachOut] == 0 {
		t.Errorf("the frames did not take the paths meant: %v", nonZero(c))
	}
}
