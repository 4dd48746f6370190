package ipv6

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"net/netip"
	"testing"

	"github.com/fastpathnet/fastpath/ipv4"
)

var (
	src = netip.MustParseAddr("2001:db8::1")
	dst = netip.MustParseAddr("2001:db8:0:1::2")
)

// Packets built by scapy 2.5 (python3-scapy), checksums scapy's own:
//
//	IPv6(src='2001:db8::1', dst='2001:db8:0:1::2', hlim=64, tc=0xb8, fl=0x12345)/UDP(sport=1024, dport=9)/(b'fastpath'*3)
//	IPv6(src='fe80::1', dst='ff02::1', hlim=255)/ICMPv6EchoRequest(id=0x1234, seq=7, data=b'hello')
const (
	scapyUDP    = "6b8123450020114020010db800000000000000000000000120010db80000000100000000000000020400000900206450666173747061746866617374706174686661737470617468"
	scapyICMPv6 = "60000000000d3afffe800000000000000000000000000001ff02000000000000000000000000000180002c251234000768656c6c6f"
)

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestScapy: the views read scapy's packets field by field, Encode writes
// their fixed headers byte for byte, and PseudoSum verifies their UDP and
// ICMPv6 checksums.
func TestScapy(t *testing.T) {
	for _, tc := range []struct {
		name                  string
		pkt                   string
		tclass                uint8
		flow                  uint32
		next, hlim            uint8
		src, dst              string
		payloadLen, checkSite int
	}{
		{"udp", scapyUDP, 0xb8, 0x12345, ProtoUDP, 64, "2001:db8::1", "2001:db8:0:1::2", 32, 6},
		{"icmpv6", scapyICMPv6, 0, 0, ProtoICMPv6, 255, "fe80::1", "ff02::1", 13, 2},
	} {
		b := mustHex(t, tc.pkt)
		h := Header(b)
		if err := h.Check(); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		s, d := netip.MustParseAddr(tc.src), netip.MustParseAddr(tc.dst)
		if h.Version() != 6 || h.TrafficClass() != tc.tclass || h.FlowLabel() != tc.flow || h.NextHeader() != tc.next ||
			h.HopLimit() != tc.hlim || h.Src() != s || h.Dst() != d || h.PayloadLen() != tc.payloadLen || len(h.Payload()) != tc.payloadLen {
			t.Errorf("%s: read %d %#x %#x %d %d %v %v %d", tc.name, h.Version(), h.TrafficClass(), h.FlowLabel(), h.NextHeader(), h.HopLimit(), h.Src(), h.Dst(), h.PayloadLen())
		}
		out := make([]byte, len(b))
		e, err := Encode(out, Fields{TrafficClass: tc.tclass, FlowLabel: tc.flow, NextHeader: tc.next, HopLimit: tc.hlim, Src: s, Dst: d, PayloadLen: tc.payloadLen})
		if err != nil || string(e[:HeaderLen]) != string(b[:HeaderLen]) || len(e) != len(b) {
			t.Errorf("%s: Encode: %v\n got %x\nwant %x", tc.name, err, out[:HeaderLen], b[:HeaderLen])
		}
		// The upper layer's checksum verifies over the pseudo-header.
		if got := ipv4.Checksum(h.Payload(), PseudoSum(s, d, tc.next, tc.payloadLen)); got != 0 {
			t.Errorf("%s: checksum over the pseudo-header: %#04x, want 0", tc.name, got)
		}
		// And computed afresh it is scapy's.
		p := append([]byte(nil), h.Payload()...)
		want := binary.BigEndian.Uint16(p[tc.checkSite:])
		p[tc.checkSite], p[tc.checkSite+1] = 0, 0
		if got := ipv4.Checksum(p, PseudoSum(s, d, tc.next, tc.payloadLen)); got != want {
			t.Errorf("%s: checksum %#04x, scapy's %#04x", tc.name, got, want)
		}
	}
}

// TestPseudoSumLayout: PseudoSum is the sum of RFC 8200 section 8.1's
// pseudo-header laid out in bytes (addresses, a 32-bit length, three
// zero bytes, the next header), for lengths past 16 bits too.
func TestPseudoSumLayout(t *testing.T) {
	for _, n := range []int{0, 1, 8, 1500, 65535, 70000} {
		var ph [40]byte
		s, d := src.As16(), dst.As16()
		copy(ph[0:16], s[:])
		copy(ph[16:32], d[:])
		binary.BigEndian.PutUint32(ph[32:36], uint32(n))
		ph[39] = ProtoTCP
		if got, want := ipv4.Fold(PseudoSum(src, dst, ProtoTCP, n)), ipv4.Fold(ipv4.Sum(ph[:], 0)); got != want {
			t.Errorf("length %d: %#04x, want %#04x", n, got, want)
		}
	}
}

// TestCheck: every truncation of a packet, a wrong version, and padding
// after the payload.
func TestCheck(t *testing.T) {
	b := mustHex(t, scapyUDP)
	for n := 0; n < len(b); n++ {
		if err := Header(b[:n]).Check(); !errors.Is(err, ErrTruncated) {
			t.Errorf("%d of %d bytes: %v, want ErrTruncated", n, len(b), err)
		}
	}
	padded := append(append([]byte(nil), b...), 0, 0, 0, 0)
	if err := Header(padded).Check(); err != nil || len(Header(padded).Payload()) != 32 {
		t.Errorf("padded: %v", err)
	}
	for _, v := range []byte{0x4b, 0x0b, 0xfb} {
		c := append([]byte(nil), b...)
		c[0] = v
		if err := Header(c).Check(); !errors.Is(err, ErrVersion) {
			t.Errorf("first byte %#x: %v, want ErrVersion", v, err)
		}
	}
}

// TestEncodeErrors: addresses that are not IPv6, lengths out of range,
// short buffers.
func TestEncodeErrors(t *testing.T) {
	b := make([]byte, 100)
	v4 := netip.MustParseAddr("198.18.0.1")
	for _, tc := range []struct {
		f    Fields
		b    []byte
		want error
	}{
		{Fields{Src: v4, Dst: dst}, b, ErrNotIPv6},
		{Fields{Src: src, Dst: netip.AddrFrom16(v4.As16())}, b, ErrNotIPv6},
		{Fields{Src: src}, b, ErrNotIPv6},
		{Fields{Src: src, Dst: dst, PayloadLen: -1}, b, ErrPayloadLen},
		{Fields{Src: src, Dst: dst, PayloadLen: 65536}, make([]byte, 70000), ErrPayloadLen},
		{Fields{Src: src, Dst: dst, PayloadLen: 61}, b, ErrTruncated},
	} {
		if _, err := Encode(tc.b, tc.f); !errors.Is(err, tc.want) {
			t.Errorf("%+v: %v, want %v", tc.f, err, tc.want)
		}
	}
	h, err := Encode(b, Fields{Src: src, Dst: dst, PayloadLen: 60, FlowLabel: 0xfffffff})
	if err != nil || len(h) != 100 || h.FlowLabel() != 0xfffff || h.Check() != nil {
		t.Errorf("full buffer: %v, %d bytes, flow %#x", err, len(h), h.FlowLabel())
	}
	h.SetHopLimit(9)
	h.SetSrc(dst)
	h.SetDst(src)
	if h.HopLimit() != 9 || h.Src() != dst || h.Dst() != src {
		t.Errorf("setters: %d %v %v", h.HopLimit(), h.Src(), h.Dst())
	}
}
