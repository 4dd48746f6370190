package main

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
)

// TestBuildUDP checks the txonly frame: every byte written, lengths and
// both checksums right, for even and odd payloads.
func TestBuildUDP(t *testing.T) {
	src := endpoint{net.HardwareAddr{2, 0, 0, 0, 0, 1}, netip.MustParseAddr("10.98.0.1"), 9}
	dst := endpoint{net.HardwareAddr{2, 0, 0, 0, 0, 2}, netip.MustParseAddr("10.98.0.2"), 9}
	for _, n := range []int{42, 60, 61, 1514} {
		f := bytes.Repeat([]byte{0xa5}, n)
		buildUDP(f, src, dst)
		if got := binary.BigEndian.Uint16(f[16:18]); int(got) != n-14 {
			t.Errorf("len %d: IPv4 total length %d", n, got)
		}
		if got := binary.BigEndian.Uint16(f[38:40]); int(got) != n-34 {
			t.Errorf("len %d: UDP length %d", n, got)
		}
		if c := fold(sum(f[14:34], 0)); c != 0xffff {
			t.Errorf("len %d: IPv4 header checksum does not verify (%#04x)", n, c)
		}
		if c := fold(sum(f[34:], sum(f[26:34], 17+uint32(n-34)))); c != 0xffff {
			t.Errorf("len %d: UDP checksum does not verify (%#04x)", n, c)
		}
		if n > 42 && f[n-1] == 0xa5 && byte(n-43) != 0xa5 {
			t.Errorf("len %d: last payload byte not written", n)
		}
	}
}

// The IPv4 header of RFC 1071's usual worked example (Wikipedia's
// 4500 0073 ... b861): the checksum must come out as 0xb861.
func TestChecksumKnown(t *testing.T) {
	h := []byte{0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7}
	if c := ^fold(sum(h, 0)); c != 0xb861 {
		t.Fatalf("checksum %#04x, want 0xb861", c)
	}
}
