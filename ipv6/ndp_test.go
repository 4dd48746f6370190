package ipv6

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"net/netip"
	"testing"

	"github.com/fastpathnet/fastpath/ether"
	"github.com/fastpathnet/fastpath/ipv4"
)

// Built by scapy 2.5 (python3-scapy):
//
//	IPv6(src='fe80::fa:ff:fe00:1', dst='ff02::1:ff00:2', hlim=255)/ICMPv6ND_NS(tgt='2001:db8::2')/ICMPv6NDOptSrcLLAddr(lladdr='02:fa:00:00:00:01')
//	IPv6(src='2001:db8::2', dst='fe80::fa:ff:fe00:1', hlim=255)/ICMPv6ND_NA(tgt='2001:db8::2', R=0, S=1, O=1)/ICMPv6NDOptDstLLAddr(lladdr='02:fa:00:00:00:02')
//	IPv6(src='::', dst='ff02::1:ff00:2', hlim=255)/ICMPv6ND_NS(tgt='2001:db8::2')
//	IPv6(src='2001:db8::1', dst='2001:db8::2', hlim=64)/ICMPv6EchoRequest(id=0x4242, seq=3, data=b'0123456789'), and its reply
const (
	scapyNS    = "6000000000203afffe8000000000000000fa00fffe000001ff0200000000000000000001ff00000287004a6b0000000020010db8000000000000000000000002010102fa00000001"
	scapyNA    = "6000000000203aff20010db8000000000000000000000002fe8000000000000000fa00fffe0000018800b8b56000000020010db8000000000000000000000002020102fa00000002"
	scapyDAD   = "6000000000183aff00000000000000000000000000000000ff0200000000000000000001ff00000287004ceb0000000020010db8000000000000000000000002"
	scapyEcho  = "6000000000123a4020010db800000000000000000000000120010db80000000000000000000000028000dcee4242000330313233343536373839"
	scapyReply = "6000000000123a4020010db800000000000000000000000220010db80000000000000000000000018100dbee4242000330313233343536373839"
)

var (
	macA   = ether.Addr{0x02, 0xfa, 0, 0, 0, 1}
	macB   = ether.Addr{0x02, 0xfa, 0, 0, 0, 2}
	llA    = netip.MustParseAddr("fe80::fa:ff:fe00:1")
	target = netip.MustParseAddr("2001:db8::2")
)

// TestNDScapy: Solicit and Advertise write scapy's packets byte for
// byte, checksums included; CheckND reads them back.
func TestNDScapy(t *testing.T) {
	out := make([]byte, 128)
	for _, tc := range []struct {
		name  string
		want  string
		build func() (int, error)
		typ   uint8
		flags uint8
		opt   uint8
		mac   ether.Addr
	}{
		{"ns", scapyNS, func() (int, error) { return Solicit(out, llA, target, macA) }, ICMPNeighborSolicitation, 0, OptSourceLinkAddr, macA},
		{"na", scapyNA, func() (int, error) { return Advertise(out, target, llA, target, macB, FlagSolicited|FlagOverride) }, ICMPNeighborAdvertisement, FlagSolicited | FlagOverride, OptTargetLinkAddr, macB},
		{"dad", scapyDAD, func() (int, error) { return Solicit(out, netip.IPv6Unspecified(), target, macA) }, ICMPNeighborSolicitation, 0, 0, ether.Addr{}},
	} {
		clear(out)
		n, err := tc.build()
		want := mustHex(t, tc.want)
		if err != nil || string(out[:n]) != string(want) {
			t.Errorf("%s: %v\n got %x\nwant %x", tc.name, err, out[:n], want)
			continue
		}
		h := Header(want)
		m, err := CheckND(h)
		if err != nil || m.Type() != tc.typ || m.Flags() != tc.flags || m.Target() != target || !ICMP(m).ChecksumValid(h.Src(), h.Dst()) {
			t.Errorf("%s: CheckND: %v, type %d flags %#x target %v", tc.name, err, m.Type(), m.Flags(), m.Target())
			continue
		}
		mac, ok := m.LinkAddr(tc.opt)
		if tc.opt != 0 && (!ok || mac != tc.mac) || tc.opt == 0 && ok {
			t.Errorf("%s: link-layer option %v %v", tc.name, mac, ok)
		}
	}
}

// TestCheckNDDrops: the messages RFC 4861 7.1 says to drop.
func TestCheckNDDrops(t *testing.T) {
	mutate := func(s string, f func(b []byte)) Header {
		b := mustHex(t, s)
		f(b)
		return Header(b)
	}
	for _, tc := range []struct {
		name string
		h    Header
		want error
	}{
		{"hop limit 64", mutate(scapyNS, func(b []byte) { b[7] = 64 }), ErrND},
		{"code 1", mutate(scapyNS, func(b []byte) { b[41] = 1 }), ErrND},
		{"option length 0", mutate(scapyNS, func(b []byte) { b[65] = 0 }), ErrND},
		{"option past the end", mutate(scapyNS, func(b []byte) { b[65] = 2 }), ErrND},
		{"multicast target", mutate(scapyNS, func(b []byte) { b[48] = 0xff }), ErrND},
		{"unspecified source with a link-layer option", mutate(scapyNS, func(b []byte) { clear(b[8:24]) }), ErrND},
		{"short", mutate(scapyDAD, func(b []byte) { b[5] = 20 }), ErrND},
		{"DAD to all nodes", mutate(scapyDAD, func(b []byte) { copy(b[24:40], netip.IPv6LinkLocalAllNodes().AsSlice()) }), ErrND},
		{"solicited advertisement to all nodes", mutate(scapyNA, func(b []byte) { copy(b[24:40], netip.IPv6LinkLocalAllNodes().AsSlice()) }), ErrND},
		{"an echo", Header(mustHex(t, scapyEcho)), ErrICMP},
		{"truncated", Header(mustHex(t, scapyNS)[:60]), ErrTruncated},
	} {
		if _, err := CheckND(tc.h); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

// TestAddresses: solicited-node multicast, its MAC, and the link-local
// address from a MAC, as scapy computes them.
func TestAddresses(t *testing.T) {
	if got := SolicitedNode(target); got != netip.MustParseAddr("ff02::1:ff00:2") {
		t.Errorf("solicited-node %v", got)
	}
	if got := MulticastMAC(netip.MustParseAddr("ff02::1:ff00:2")); got != (ether.Addr{0x33, 0x33, 0xff, 0, 0, 2}) {
		t.Errorf("multicast MAC %v", got)
	}
	if got := LinkLocal(macA); got != llA {
		t.Errorf("link-local %v, want %v", got, llA)
	}
}

// TestEchoReply: the reply to scapy's request is scapy's reply, written
// apart and in place; other messages are refused.
func TestEchoReply(t *testing.T) {
	req, want := mustHex(t, scapyEcho), mustHex(t, scapyReply)
	out := make([]byte, 128)
	n, err := EchoReply(out, Header(req), target, 64)
	if err != nil || string(out[:n]) != string(want) {
		t.Errorf("apart: %v\n got %x\nwant %x", err, out[:n], want)
	}
	in := append([]byte(nil), req...)
	if n, err := EchoReply(in, Header(in), target, 64); err != nil || string(in[:n]) != string(want) {
		t.Errorf("in place: %v\n got %x\nwant %x", err, in[:n], want)
	}
	if _, err := EchoReply(out, Header(mustHex(t, scapyNS)), target, 64); !errors.Is(err, ErrICMP) {
		t.Errorf("an NS: %v, want ErrICMP", err)
	}
	if _, err := EchoReply(out[:50], Header(req), target, 64); !errors.Is(err, ErrTruncated) {
		t.Errorf("short out: %v, want ErrTruncated", err)
	}
}

// TestNDNoAllocs: the ND paths, the echo reply and errors, UDP's
// checksum and the route lookup allocate nothing.
func TestNDNoAllocs(t *testing.T) {
	ns, req := Header(mustHex(t, scapyNS)), Header(mustHex(t, scapyEcho))
	ra, udp := Header(mustHex(t, scapyRA)), Header(mustHex(t, scapyUDP))
	tb := NewTable(4)
	tb.Add(Route{Prefix: netip.MustParsePrefix("2001:db8::/64")})
	tb.Add(Route{Prefix: netip.MustParsePrefix("::/0"), Gateway: llA})
	out := make([]byte, 128)
	n := testing.AllocsPerRun(1000, func() {
		if m, err := CheckRA(ra); err == nil {
			m.SourceLinkAddr()
			m.MTU()
		}
		if UDPChecksumValid(udp.Payload(), udp.Src(), udp.Dst()) {
			SetUDPChecksum(udp.Payload(), udp.Src(), udp.Dst())
		}
		tb.NextHop(target)
		tb.NextHop(dst)
		if m, err := CheckND(ns); err == nil {
			m.LinkAddr(OptSourceLinkAddr)
		}
		Solicit(out, llA, target, macA)
		Advertise(out, target, llA, target, macB, FlagSolicited)
		EchoReply(out, req, target, 64)
		ICMPError(out, req, target, ICMPDestUnreachable, 4, 0, 64)
	})
	if n != 0 {
		t.Errorf("%v allocations per run", n)
	}
}

// TestICMPError: a packet too big about a 1,500-byte UDP packet is
// scapy's, byte for byte (its SHA-256: the quote is 1,232 bytes), apart
// and in place; a small packet is quoted whole; what RFC 4443 2.4 (e)
// forbids is refused.
func TestICMPError(t *testing.T) {
	// scapy: IPv6(src='2001:db8::1', dst='2001:db8:0:1::2', hlim=63)/UDP(sport=1024, dport=9)/(b'x'*1452),
	// and IPv6(src='2001:db8::fe', dst='2001:db8::1', hlim=64)/ICMPv6PacketTooBig(mtu=1400)/raw(orig)[:1232].
	const want = "8761a75c1bf7f145fb196c09b1e4eff3ee210aef2797d61631d34ad79ad804bf"
	router := netip.MustParseAddr("2001:db8::fe")
	orig := make([]byte, 1500)
	h, _ := Encode(orig, Fields{NextHeader: ProtoUDP, HopLimit: 63, Src: src, Dst: dst, PayloadLen: 1460})
	u := h.Payload()
	binary.BigEndian.PutUint16(u[0:2], 1024)
	binary.BigEndian.PutUint16(u[2:4], 9)
	binary.BigEndian.PutUint16(u[4:6], 1460)
	for i := 8; i < len(u); i++ {
		u[i] = 'x'
	}
	binary.BigEndian.PutUint16(u[6:8], ipv4.Checksum(u, PseudoSum(src, dst, ProtoUDP, len(u))))
	out := make([]byte, 2048)
	n, err := ICMPError(out, h, router, ICMPPacketTooBig, 0, 1400, 64)
	if sum := sha256.Sum256(out[:n]); err != nil || n != MinMTU || hex.EncodeToString(sum[:]) != want {
		t.Errorf("packet too big: %v, %d bytes, %x", err, n, out[:56])
	}
	in := append(make([]byte, 0, 2048), orig...)
	if n2, err := ICMPError(in[:cap(in)], Header(in), router, ICMPPacketTooBig, 0, 1400, 64); err != nil || string(in[:n2]) != string(out[:n]) {
		t.Errorf("in place: %v, %d bytes", err, n2)
	}
	small := mustHex(t, scapyEcho)
	n, err = ICMPError(out, Header(small), router, ICMPDestUnreachable, 4, 0, 64)
	e := Header(out[:n])
	if err != nil || n != icmpErrorHeaders+len(small) || string(e.Payload()[8:]) != string(small) || e.Dst() != Header(small).Src() ||
		!ICMP(e.Payload()).ChecksumValid(router, e.Dst()) {
		t.Errorf("port unreachable about an echo request: %v, %d bytes", err, n)
	}
	set := func(s string, f func(b []byte)) Header {
		b := mustHex(t, s)
		f(b)
		return Header(b)
	}
	all := netip.IPv6LinkLocalAllNodes().AsSlice()
	for _, tc := range []struct {
		name      string
		h         Header
		typ, code uint8
		want      error
	}{
		{"about an error", set(scapyEcho, func(b []byte) { b[40] = ICMPDestUnreachable }), ICMPDestUnreachable, 0, ErrSuppressed},
		{"about a redirect", set(scapyEcho, func(b []byte) { b[40] = ICMPRedirect }), ICMPDestUnreachable, 0, ErrSuppressed},
		{"to all nodes", set(scapyEcho, func(b []byte) { copy(b[24:40], all) }), ICMPDestUnreachable, 4, ErrSuppressed},
		{"too big, to all nodes", set(scapyEcho, func(b []byte) { copy(b[24:40], all) }), ICMPPacketTooBig, 0, nil},
		{"unrecognised option, to all nodes", set(scapyEcho, func(b []byte) { copy(b[24:40], all) }), ICMPParamProblem, 2, nil},
		{"from ::", set(scapyEcho, func(b []byte) { clear(b[8:24]) }), ICMPDestUnreachable, 0, ErrSuppressed},
		{"from a multicast address", set(scapyEcho, func(b []byte) { copy(b[8:24], all) }), ICMPTimeExceeded, 0, ErrSuppressed},
		{"an echo reply type", Header(small), ICMPEchoReply, 0, ErrICMP},
	} {
		if _, err := ICMPError(out, tc.h, router, tc.typ, tc.code, 0, 64); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if _, err := ICMPError(out[:80], Header(small), router, ICMPDestUnreachable, 0, 0, 64); !errors.Is(err, ErrTruncated) {
		t.Errorf("out of 80 bytes: %v, want ErrTruncated", err)
	}
}
