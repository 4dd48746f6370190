package ipv6

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"
)

// quoted builds a packet from src to dst with the extension headers ext
// (each whole, its next-header byte set here) and a TCP header whose
// sequence number is 0x11223344, then payload bytes; it returns the
// first n bytes, as an ICMPv6 error quotes them.
func quoted(t testing.TB, ext [][]byte, payload, n int) []byte {
	t.Helper()
	tcp := make([]byte, 20+payload)
	tcp[0], tcp[1], tcp[2], tcp[3] = 0xee, 0x48, 0, 80
	tcp[4], tcp[5], tcp[6], tcp[7] = 0x11, 0x22, 0x33, 0x44
	tcp[12] = 5 << 4
	var rest []byte
	next := uint8(ProtoTCP)
	for i := len(ext) - 1; i >= 0; i-- {
		e := bytes.Clone(ext[i])
		e[0] = next
		next = e[len(e)-1] // the kind, stashed by the caller in the last byte
		e[len(e)-1] = 0
		rest = append(e, rest...)
	}
	rest = append(rest, tcp...)
	b := make([]byte, HeaderLen+len(rest))
	if _, err := Encode(b, Fields{NextHeader: next, HopLimit: 64, Src: netip.MustParseAddr("2001:db8::10"),
		Dst: netip.MustParseAddr("2001:db8:2::1"), PayloadLen: len(rest)}); err != nil {
		t.Fatal(err)
	}
	copy(b[HeaderLen:], rest)
	return b[:min(n, len(b))]
}

// ext8 is an 8-byte extension header of kind k (routing, destination
// options, fragment with offset off).
func ext8(k uint8, off uint16) []byte {
	e := make([]byte, 8)
	if k == ProtoFragment {
		e[2], e[3] = byte(off>>8), byte(off)
	}
	e[7] = k
	return e
}

func TestParseQuote(t *testing.T) {
	for _, tc := range []struct {
		name      string
		ext       [][]byte
		payload   int
		n         int
		err       error
		proto     uint8
		upperLen  int
		seqQuoted bool
	}{
		{"whole", nil, 100, 1000, nil, ProtoTCP, 120, true},
		{"cut short", nil, 1400, 1232, nil, ProtoTCP, 1192, true},
		{"just the ports and sequence", nil, 1400, 48, nil, ProtoTCP, 8, true},
		{"fixed header only", nil, 1400, 40, nil, ProtoTCP, 0, false},
		{"dest opts, routing", [][]byte{ext8(ProtoDestOpts, 0), ext8(ProtoRouting, 0)}, 1400, 1232, nil, ProtoTCP, 1176, true},
		{"atomic fragment", [][]byte{ext8(ProtoFragment, 0)}, 100, 1232, nil, ProtoTCP, 120, true},
		{"later fragment", [][]byte{ext8(ProtoFragment, 8<<3)}, 100, 1232, nil, ProtoTCP, 0, false},
		{"extension header cut", [][]byte{ext8(ProtoDestOpts, 0)}, 100, 44, ErrTruncated, 0, 0, false},
		{"under the fixed header", nil, 100, 39, ErrTruncated, 0, 0, false},
	} {
		b := quoted(t, tc.ext, tc.payload, tc.n)
		q, err := ParseQuote(b)
		if !errors.Is(err, tc.err) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.err)
			continue
		}
		if err != nil {
			continue
		}
		if q.Src != netip.MustParseAddr("2001:db8::10") || q.Dst != netip.MustParseAddr("2001:db8:2::1") || q.Proto != tc.proto || len(q.Upper) != tc.upperLen {
			t.Errorf("%s: %v -> %v proto %d, %d upper bytes; want proto %d, %d bytes", tc.name, q.Src, q.Dst, q.Proto, len(q.Upper), tc.proto, tc.upperLen)
		}
		if tc.seqQuoted && !bytes.Equal(q.Upper[4:8], []byte{0x11, 0x22, 0x33, 0x44}) {
			t.Errorf("%s: sequence number bytes % x", tc.name, q.Upper[4:8])
		}
	}
	b := quoted(t, nil, 10, 100)
	b[0] = 0x45
	if _, err := ParseQuote(b); !errors.Is(err, ErrVersion) {
		t.Errorf("version 4: %v", err)
	}
}

// FuzzParseQuote: whatever the bytes, ParseQuote does not panic, and what
// it returns lies within them.
func FuzzParseQuote(f *testing.F) {
	f.Add(quoted(f, nil, 1400, 1232))
	f.Add(quoted(f, [][]byte{ext8(ProtoDestOpts, 0), ext8(ProtoFragment, 0)}, 100, 200))
	f.Add(quoted(f, [][]byte{ext8(ProtoHopByHop, 0)}, 0, 60))
	f.Add([]byte{0x60})
	f.Fuzz(func(t *testing.T, b []byte) {
		q, err := ParseQuote(b)
		if err != nil {
			return
		}
		if len(q.Upper) > len(b)-HeaderLen {
			t.Fatalf("%d upper bytes of %d", len(q.Upper), len(b))
		}
		if !bytes.Contains(b[HeaderLen:], q.Upper) {
			t.Fatal("Upper is not a view of the quote")
		}
	})
}
