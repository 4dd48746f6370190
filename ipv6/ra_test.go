package ipv6

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/fastpathnet/fastpath/ether"
)

// Built by scapy 2.5:
//
//	IPv6(src='fe80::1', dst='ff02::1', hlim=255)/ICMPv6ND_RA(chlim=64, routerlifetime=1800, reachabletime=30000, retranstimer=1000)/ICMPv6NDOptSrcLLAddr(lladdr='02:fa:00:00:00:09')/ICMPv6NDOptMTU(mtu=1500)/ICMPv6NDOptPrefixInfo(prefix='2001:db8::', prefixlen=64)
const scapyRA = "6000000000403afffe800000000000000000000000000001ff02000000000000000000000000000186003b784008070800007530000003e8010102fa0000000905010000000005dc030440c0ffffffffffffffff0000000020010db8000000000000000000000000"

func TestRA(t *testing.T) {
	b := mustHex(t, scapyRA)
	h := Header(b)
	m, err := CheckRA(h)
	if err != nil {
		t.Fatal(err)
	}
	if !ICMP(m).ChecksumValid(h.Src(), h.Dst()) || h.Dst() != AllNodes {
		t.Error("checksum, or not to all nodes")
	}
	mac, ok := m.SourceLinkAddr()
	mtu, mok := m.MTU()
	if m.HopLimit() != 64 || m.Lifetime() != 1800 || m.ReachableTime() != 30000 || m.RetransTimer() != 1000 ||
		!ok || mac != (ether.Addr{0x02, 0xfa, 0, 0, 0, 9}) || !mok || mtu != 1500 {
		t.Errorf("hop %d lifetime %d reachable %d retrans %d mac %v %v mtu %d %v",
			m.HopLimit(), m.Lifetime(), m.ReachableTime(), m.RetransTimer(), mac, ok, mtu, mok)
	}
	// RFC 4861 6.1.2's drops.
	for _, tc := range []struct {
		name string
		mod  func(b []byte)
		want error
	}{
		{"global source", func(b []byte) { b[8] = 0x20 }, ErrRA},
		{"hop limit 64", func(b []byte) { b[7] = 64 }, ErrRA},
		{"code 1", func(b []byte) { b[41] = 1 }, ErrRA},
		{"option of length 0", func(b []byte) { b[40+16+1] = 0 }, ErrRA},
		{"option past the end", func(b []byte) { b[40+16+8+8+1] = 9 }, ErrRA},
		{"short", func(b []byte) { b[5] = 12 }, ErrRA},
		{"a solicitation", func(b []byte) { b[40] = ICMPNeighborSolicitation }, ErrICMP},
		{"truncated", func(b []byte) { b[5] = 0xff }, ErrTruncated},
	} {
		c := mustHex(t, scapyRA)
		tc.mod(c)
		if _, err := CheckRA(Header(c)); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	for n := range len(b) {
		if _, err := CheckRA(Header(b[:n])); err == nil {
			t.Errorf("%d of %d bytes: no error", n, len(b))
		}
	}
}

// TestUDPChecksum: scapy's datagram verifies, SetUDPChecksum writes its
// checksum again, and a zero checksum, valid over IPv4, is not here.
func TestUDPChecksum(t *testing.T) {
	b := mustHex(t, scapyUDP)
	h := Header(b)
	u := h.Payload()
	if !UDPChecksumValid(u, h.Src(), h.Dst()) {
		t.Fatal("scapy's checksum does not verify")
	}
	want := [2]byte(u[6:8])
	u[6], u[7] = 0, 0
	if UDPChecksumValid(u, h.Src(), h.Dst()) {
		t.Error("a zero checksum is valid")
	}
	SetUDPChecksum(u, h.Src(), h.Dst())
	if [2]byte(u[6:8]) != want {
		t.Errorf("SetUDPChecksum %x, scapy %x", u[6:8], want)
	}
	if UDPChecksumValid(u, h.Src(), netip.MustParseAddr("2001:db8::4")) {
		t.Error("valid for another destination")
	}
}
