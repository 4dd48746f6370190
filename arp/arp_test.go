package arp

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"

	"github.com/fastpathnet/fastpath/ether"
)

var (
	mac1 = ether.Addr{0x02, 0, 0, 0, 0, 0x01}
	mac2 = ether.Addr{0x02, 0, 0, 0, 0, 0x02}
	ip1  = netip.MustParseAddr("10.0.0.1")
	ip2  = netip.MustParseAddr("10.0.0.2")
)

// fill returns n bytes of 0xa5, so that a byte a builder forgot to write
// shows.
func fill(n int) []byte { return bytes.Repeat([]byte{0xa5}, n) }

// packet returns the ARP packet of a golden frame, after Split.
func packet(t testing.TB, frame []byte) Packet {
	t.Helper()
	f, err := ether.Split(frame)
	if err != nil || f.Type != ether.TypeARP {
		t.Fatalf("Split: %+v, %v", f, err)
	}
	p := Packet(frame[f.L3:])
	if err := p.Check(); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestGoldenFields(t *testing.T) {
	for _, tc := range []struct {
		name     string
		frame    []byte
		op       uint16
		sha, tha ether.Addr
		spa, tpa netip.Addr
	}{
		{"request", goldenRequest, OpRequest, mac1, ether.Addr{}, ip1, ip2},
		{"reply", goldenReply, OpReply, mac2, mac1, ip2, ip1},
		{"gratuitous", goldenGratuitous, OpRequest, mac1, ether.Addr{}, ip1, ip1},
	} {
		p := packet(t, tc.frame)
		if p.Op() != tc.op || p.SenderMAC() != tc.sha || p.SenderIP() != tc.spa || p.TargetMAC() != tc.tha || p.TargetIP() != tc.tpa {
			t.Errorf("%s: op %d %v %v -> %v %v", tc.name, p.Op(), p.SenderMAC(), p.SenderIP(), p.TargetMAC(), p.TargetIP())
		}
	}
}

// TestCheckTruncated: every cut of a valid packet is ErrTruncated, and
// padding after it is accepted.
func TestCheckTruncated(t *testing.T) {
	p := packet(t, goldenRequest)
	for n := 0; n < Len; n++ {
		if err := p[:n].Check(); !errors.Is(err, ErrTruncated) {
			t.Errorf("Check on %d bytes: %v, want ErrTruncated", n, err)
		}
	}
	padded := append(append(Packet{}, p...), make([]byte, 18)...)
	if err := padded.Check(); err != nil {
		t.Errorf("Check on a padded packet: %v", err)
	}
}

func TestCheckFields(t *testing.T) {
	for _, tc := range []struct {
		name string
		off  int
		val  []byte
		want error
	}{
		{"htype 6 (IEEE 802)", 0, []byte{0, 6}, ErrNotEthernetIPv4},
		{"htype 0x0101", 0, []byte{1, 1}, ErrNotEthernetIPv4},
		{"ptype IPv6", 2, []byte{0x86, 0xdd}, ErrNotEthernetIPv4},
		{"ptype 0x0801", 2, []byte{0x08, 0x01}, ErrNotEthernetIPv4},
		{"hlen 8", 4, []byte{8}, ErrNotEthernetIPv4},
		{"plen 16", 5, []byte{16}, ErrNotEthernetIPv4},
		{"op 0", 6, []byte{0, 0}, ErrOp},
		{"op 3 (RARP request)", 6, []byte{0, 3}, ErrOp},
		{"op 0x0101", 6, []byte{1, 1}, ErrOp},
		{"op 2", 6, []byte{0, 2}, nil},
		// Addresses are not checked: Input decides what to learn.
		{"sender MAC broadcast", 8, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, nil},
	} {
		p := append(Packet{}, packet(t, goldenRequest)...)
		copy(p[tc.off:], tc.val)
		if err := p.Check(); !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
			t.Errorf("%s: Check = %v, want %v", tc.name, err, tc.want)
		}
	}
	// A wrong type is reported before a wrong operation.
	p := append(Packet{}, packet(t, goldenRequest)...)
	p[5], p[7] = 16, 9
	if err := p.Check(); !errors.Is(err, ErrNotEthernetIPv4) {
		t.Errorf("wrong plen and op: %v", err)
	}
}

// checkFrame compares a built frame with a golden one: the golden 42 bytes,
// then zero padding to 60, then the 0xa5 fill untouched.
func checkFrame(t *testing.T, name string, b []byte, n int, err error, golden []byte) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if n != FrameLen {
		t.Errorf("%s: length %d, want %d", name, n, FrameLen)
	}
	want := append(append(append([]byte{}, golden...), make([]byte, FrameLen-len(golden))...), fill(len(b)-FrameLen)...)
	if !bytes.Equal(b, want) {
		t.Errorf("%s: wrote\n% x\nwant\n% x", name, b, want)
	}
}

func TestRequest(t *testing.T) {
	b := fill(FrameLen + 4)
	n, err := Request(b, mac1, ip1, ip2)
	checkFrame(t, "Request", b, n, err, goldenRequest)
}

func TestReply(t *testing.T) {
	b := fill(FrameLen + 4)
	req := packet(t, goldenRequest)
	n, err := Reply(b, mac2, ip2, req, ether.Header(goldenRequest).Src())
	checkFrame(t, "Reply", b, n, err, goldenReply)

	// The request's padding does not matter.
	b = fill(FrameLen + 4)
	padded := append(append([]byte{}, goldenRequest...), make([]byte, 18)...)
	n, err = Reply(b, mac2, ip2, packet(t, padded), mac1)
	checkFrame(t, "Reply to a padded request", b, n, err, goldenReply)

	// To a probe (RFC 5227: sender IP 0.0.0.0) the target IP is 0.0.0.0.
	probe := fill(Len)
	if _, err := Encode(probe, OpRequest, mac1, netip.IPv4Unspecified(), ether.Addr{}, ip2); err != nil {
		t.Fatal(err)
	}
	b = fill(FrameLen)
	if _, err := Reply(b, mac2, ip2, probe, mac1); err != nil {
		t.Fatal(err)
	}
	if got := Packet(b[ether.HeaderLen:]).TargetIP(); got != netip.IPv4Unspecified() {
		t.Errorf("reply to a probe targets %v", got)
	}

	// Errors leave the buffer alone.
	for _, tc := range []struct {
		name string
		req  Packet
		buf  int
		want error
	}{
		{"reply to a reply", packet(t, goldenReply), FrameLen, ErrOp},
		{"truncated request", packet(t, goldenRequest)[:Len-1], FrameLen, ErrTruncated},
		{"short buffer", packet(t, goldenRequest), FrameLen - 1, ErrShortBuffer},
	} {
		b := fill(tc.buf)
		if _, err := Reply(b, mac2, ip2, tc.req, mac1); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
		if !bytes.Equal(b, fill(tc.buf)) {
			t.Errorf("%s: wrote into the buffer", tc.name)
		}
	}
}

func TestGratuitous(t *testing.T) {
	b := fill(FrameLen + 4)
	n, err := Gratuitous(b, mac1, ip1)
	checkFrame(t, "Gratuitous", b, n, err, goldenGratuitous)
}

func TestEncode(t *testing.T) {
	b := fill(Len + 3)
	p, err := Encode(b, OpReply, mac2, ip2, mac1, ip1)
	if err != nil {
		t.Fatal(err)
	}
	want := append(append([]byte{}, goldenReply[ether.HeaderLen:]...), 0xa5, 0xa5, 0xa5)
	if !bytes.Equal(b, want) {
		t.Errorf("Encode wrote\n% x\nwant\n% x", b, want)
	}
	if len(p) != Len || cap(p) != Len || &p[0] != &b[0] {
		t.Errorf("Encode returned len %d cap %d, want a %d-byte view of b", len(p), cap(p), Len)
	}
	v6 := netip.MustParseAddr("2001:db8::1")
	mapped := netip.MustParseAddr("::ffff:10.0.0.1")
	for _, tc := range []struct {
		name     string
		buf      int
		op       uint16
		spa, tpa netip.Addr
		want     error
	}{
		{"short buffer", Len - 1, OpRequest, ip1, ip2, ErrShortBuffer},
		{"op 0", Len, 0, ip1, ip2, ErrOp},
		{"op 3", Len, 3, ip1, ip2, ErrOp},
		{"IPv6 sender", Len, OpRequest, v6, ip2, ErrNotEthernetIPv4},
		{"IPv4-mapped target", Len, OpRequest, ip1, mapped, ErrNotEthernetIPv4},
		{"zero Addr", Len, OpRequest, netip.Addr{}, ip2, ErrNotEthernetIPv4},
	} {
		b := fill(tc.buf)
		if _, err := Encode(b, tc.op, mac1, tc.spa, mac2, tc.tpa); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
		if !bytes.Equal(b, fill(tc.buf)) {
			t.Errorf("%s: wrote into the buffer", tc.name)
		}
	}
	for _, build := range []func([]byte) (int, error){
		func(b []byte) (int, error) { return Request(b, mac1, ip1, ip2) },
		func(b []byte) (int, error) { return Gratuitous(b, mac1, ip1) },
	} {
		b := fill(FrameLen - 1)
		if _, err := build(b); !errors.Is(err, ErrShortBuffer) || !bytes.Equal(b, fill(FrameLen-1)) {
			t.Errorf("into %d bytes: %v", len(b), err)
		}
	}
	if _, err := Request(fill(FrameLen), mac1, ip1, v6); !errors.Is(err, ErrNotEthernetIPv4) {
		t.Errorf("Request for an IPv6 target: %v", err)
	}
	// Encode then the accessors is the identity.
	p, _ = Encode(fill(Len), OpRequest, mac1, ip1, mac2, ip2)
	if p.Check() != nil || p.Op() != OpRequest || p.SenderMAC() != mac1 || p.SenderIP() != ip1 || p.TargetMAC() != mac2 || p.TargetIP() != ip2 {
		t.Errorf("accessors after Encode: % x", p)
	}
}
