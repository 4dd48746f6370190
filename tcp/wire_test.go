package tcp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/fastpathnet/fastpath/ipv4"
)

// Golden segments, made with scapy 2.x (python3-scapy). Each is the TCP
// segment (header and payload) of a datagram from goldenSrc to goldenDst;
// the checksum covers the IPv4 pseudo-header of those addresses.
var (
	goldenSrc = netip.MustParseAddr("192.0.2.1")
	goldenDst = netip.MustParseAddr("192.0.2.2")
)

// synGolden is a SYN with the options in Linux's order (and in
// EncodeOptions'): MSS 1460, SACK-permitted, timestamps, NOP, window
// scale 7:
//
//	raw(IP(src="192.0.2.1",dst="192.0.2.2")/TCP(sport=40000,dport=80,seq=0x9a3b1c2d,ack=0,flags="S",window=64240,
//	    options=[("MSS",1460),("SAckOK",b""),("Timestamp",(0x11223344,0)),("NOP",None),("WScale",7)]))[20:]
var synGolden = []byte{
	0x9c, 0x40, 0x00, 0x50, 0x9a, 0x3b, 0x1c, 0x2d, 0x00, 0x00, 0x00, 0x00, 0xa0, 0x02, 0xfa, 0xf0,
	0x31, 0xac, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0x11, 0x22, 0x33, 0x44,
	0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x03, 0x07,
}

var (
	synFields  = Fields{SrcPort: 40000, DstPort: 80, Seq: 0x9a3b1c2d, Flags: FlagSYN, Window: 64240}
	synOptions = Options{MSS: 1460, SACKPermitted: true, HasTimestamps: true, TSVal: 0x11223344, HasWScale: true, WScale: 7}
)

// dataGolden is a data segment (PSH|ACK) with timestamps after two NOPs:
//
//	raw(IP(src="192.0.2.1",dst="192.0.2.2")/TCP(sport=40000,dport=80,seq=0x9a3b1c2e,ack=0x01020304,flags="PA",window=502,
//	    options=[("NOP",None),("NOP",None),("Timestamp",(0x11223400,0x55667788))])/Raw(b"fastpath golden\n"))[20:]
var dataGolden = []byte{
	0x9c, 0x40, 0x00, 0x50, 0x9a, 0x3b, 0x1c, 0x2e, 0x01, 0x02, 0x03, 0x04, 0x80, 0x18, 0x01, 0xf6,
	0x66, 0xb7, 0x00, 0x00, 0x01, 0x01, 0x08, 0x0a, 0x11, 0x22, 0x34, 0x00, 0x55, 0x66, 0x77, 0x88,
	0x66, 0x61, 0x73, 0x74, 0x70, 0x61, 0x74, 0x68, 0x20, 0x67, 0x6f, 0x6c, 0x64, 0x65, 0x6e, 0x0a,
}

var (
	dataFields  = Fields{SrcPort: 40000, DstPort: 80, Seq: 0x9a3b1c2e, Ack: 0x01020304, Flags: FlagPSH | FlagACK, Window: 502}
	dataOptions = Options{HasTimestamps: true, TSVal: 0x11223400, TSEcr: 0x55667788}
	dataPayload = []byte("fastpath golden\n")
)

// filled returns n bytes of 0xa5, so that a byte an encoder should have
// written and did not shows.
func filled(n int) []byte { return bytes.Repeat([]byte{0xa5}, n) }

func TestSeqCompare(t *testing.T) {
	for _, tc := range []struct {
		a, b Seq
		less bool // a before b
	}{
		{0, 1, true},
		{1, 0, false},
		{5, 5, false},
		{0xffffffff, 0, true}, // across the wrap
		{0, 0xffffffff, false},
		{0xfffffff0, 0x10, true},
		{0x10, 0xfffffff0, false},
		{0, 0x7fffffff, true}, // the farthest "after"
		{0x7fffffff, 0, false},
		{0x80000000, 0xffffffff, true},
		{0x7fffffff, 0x80000000, true},
		{0xffffffff, 0x7ffffffe, true},
		{0x7ffffffe, 0xffffffff, false},
	} {
		a, b := tc.a, tc.b
		eq := a == b
		if got := a.LessThan(b); got != tc.less {
			t.Errorf("%#x.LessThan(%#x) = %v", a, b, got)
		}
		if got := a.LessEq(b); got != (tc.less || eq) {
			t.Errorf("%#x.LessEq(%#x) = %v", a, b, got)
		}
		if got := a.GreaterThan(b); got != (!tc.less && !eq) {
			t.Errorf("%#x.GreaterThan(%#x) = %v", a, b, got)
		}
		if got := a.GreaterEq(b); got != !tc.less {
			t.Errorf("%#x.GreaterEq(%#x) = %v", a, b, got)
		}
	}

	// Exactly half the space apart, each is "before" the other: serial
	// number arithmetic leaves that distance undefined (RFC 1982 3.2),
	// and the comparisons stay consistent with the signed distance.
	a, b := Seq(0), Seq(0x80000000)
	if a.Sub(b) != -1<<31 || b.Sub(a) != -1<<31 || !a.LessThan(b) || !b.LessThan(a) {
		t.Errorf("half-space distance: Sub %d, %d", a.Sub(b), b.Sub(a))
	}

	if got := Seq(0xfffffffe).Add(5); got != 3 {
		t.Errorf("Add across the wrap = %#x, want 3", got)
	}
	if got := Seq(3).Sub(0xfffffffe); got != 5 {
		t.Errorf("Sub across the wrap = %d, want 5", got)
	}
	if got := Seq(0xfffffffe).Sub(3); got != -5 {
		t.Errorf("Sub across the wrap = %d, want -5", got)
	}
	for _, tc := range []struct {
		s, lo, hi Seq
		in        bool
	}{
		{0xfffffff0, 0xfffffff0, 0x10, true},
		{0xffffffff, 0xfffffff0, 0x10, true},
		{0, 0xfffffff0, 0x10, true},
		{0xf, 0xfffffff0, 0x10, true},
		{0x10, 0xfffffff0, 0x10, false}, // hi is excluded
		{0xffffffef, 0xfffffff0, 0x10, false},
		{7, 7, 7, false}, // empty
	} {
		if got := tc.s.InRange(tc.lo, tc.hi); got != tc.in {
			t.Errorf("%#x.InRange(%#x, %#x) = %v", tc.s, tc.lo, tc.hi, got)
		}
	}
}

// TestSeqProperty: for any s and any distance d in [1, 2^31), s+d is after
// s, wherever s is, and the distances come back.
func TestSeqProperty(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 200000; i++ {
		a := Seq(rng.Uint32())
		if i%4 == 0 {
			a = Seq(0xffffffff - rng.Uint32N(1<<16)) // near the wrap
		}
		d := 1 + rng.Uint32N(1<<31-1)
		b := a.Add(d)
		switch {
		case !a.LessThan(b), !a.LessEq(b), a.GreaterThan(b), a.GreaterEq(b),
			b.LessThan(a), b.LessEq(a), !b.GreaterThan(a), !b.GreaterEq(a):
			t.Fatalf("a %#x, b = a+%d = %#x: comparisons wrong", a, d, b)
		case b.Sub(a) != int32(d), a.Sub(b) != -int32(d):
			t.Fatalf("a %#x, b = a+%d: Sub %d, %d", a, d, b.Sub(a), a.Sub(b))
		case !a.InRange(a, b), b.InRange(a, b), !a.Add(d/2).InRange(a, b), a.Add(d+1).InRange(a, b) && d+1 < 1<<31:
			t.Fatalf("a %#x, b = a+%d: InRange wrong", a, d)
		case !a.LessEq(a) || !a.GreaterEq(a) || a.LessThan(a) || a.GreaterThan(a):
			t.Fatalf("%#x compared with itself", a)
		}
	}
}

func TestHeaderCheck(t *testing.T) {
	hdr := func(n int, off byte) []byte {
		b := make([]byte, n)
		if n > 12 {
			b[12] = off << 4
		}
		return b
	}
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"nil", nil, ErrTruncated},
		{"1 byte", hdr(1, 5), ErrTruncated},
		{"19 bytes", hdr(19, 5), ErrTruncated},
		{"20 bytes, offset 5", hdr(20, 5), nil},
		{"offset 0", hdr(20, 0), ErrBadOffset},
		{"offset 4", hdr(40, 4), ErrBadOffset},
		{"offset 6 in 20 bytes", hdr(20, 6), ErrTruncated},
		{"offset 6 in 24 bytes", hdr(24, 6), nil},
		{"offset 15 in 59 bytes", hdr(59, 15), ErrTruncated},
		{"offset 15 in 60 bytes", hdr(60, 15), nil},
		{"offset 5 with payload", hdr(1500, 5), nil},
		{"golden SYN", synGolden, nil},
		{"golden data", dataGolden, nil},
	} {
		if err := Header(tc.b).Check(); !errors.Is(err, tc.want) || (err == nil) != (tc.want == nil) {
			t.Errorf("%s: Check = %v, want %v", tc.name, err, tc.want)
		}
	}
	// Every truncation of the golden segments: short of the data offset
	// is ErrTruncated, from it on (the payload cut) fine.
	for _, g := range [][]byte{synGolden, dataGolden} {
		off := int(g[12]>>4) * 4
		for n := 0; n <= len(g); n++ {
			err := Header(g[:n]).Check()
			if n < off && !errors.Is(err, ErrTruncated) || n >= off && err != nil {
				t.Errorf("golden (offset %d) cut to %d bytes: Check = %v", off, n, err)
			}
		}
	}
}

func TestGoldenParse(t *testing.T) {
	for _, tc := range []struct {
		name    string
		b       []byte
		f       Fields
		o       Options
		payload []byte
		segLen  uint32
	}{
		{"SYN", synGolden, synFields, synOptions, nil, 1},
		{"data", dataGolden, dataFields, dataOptions, dataPayload, uint32(len(dataPayload))},
	} {
		h := Header(bytes.Clone(tc.b))
		if err := h.Check(); err != nil {
			t.Fatalf("%s: Check: %v", tc.name, err)
		}
		f := Fields{SrcPort: h.SrcPort(), DstPort: h.DstPort(), Seq: h.Seq(), Ack: h.Ack(), Flags: h.Flags(), Window: h.Window(), Urgent: h.Urgent()}
		if f != tc.f {
			t.Errorf("%s: fields %+v, want %+v", tc.name, f, tc.f)
		}
		if want := HeaderLen + OptionsLen(&tc.o); h.DataOffset() != want || len(h.Options()) != want-HeaderLen {
			t.Errorf("%s: data offset %d, options %d bytes; want %d", tc.name, h.DataOffset(), len(h.Options()), want)
		}
		if !bytes.Equal(h.Payload(), tc.payload) {
			t.Errorf("%s: payload %q, want %q", tc.name, h.Payload(), tc.payload)
		}
		if want := binary.BigEndian.Uint16(tc.b[16:]); h.Checksum() != want {
			t.Errorf("%s: Checksum %#04x, want %#04x", tc.name, h.Checksum(), want)
		}
		if !h.ChecksumValid(goldenSrc, goldenDst) {
			t.Errorf("%s: checksum does not verify", tc.name)
		}
		// Reversed addresses sum the same; another address does not.
		if !h.ChecksumValid(goldenDst, goldenSrc) {
			t.Errorf("%s: checksum with the addresses swapped does not verify", tc.name)
		}
		if h.ChecksumValid(goldenSrc, netip.MustParseAddr("192.0.2.3")) {
			t.Errorf("%s: checksum verifies for another destination", tc.name)
		}

		// Parse into a Segment that holds leftovers: all replaced.
		s := Segment{Seq: 1, Ack: 2, Flags: FlagRST, Window: 3, Payload: []byte("stale"),
			Opts: Options{MSS: 9, NumSACK: 2, SACK: [4]SACKBlock{{1, 2}, {3, 4}}}}
		if err := Parse(h, &s); err != nil {
			t.Fatalf("%s: Parse: %v", tc.name, err)
		}
		want := Segment{Seq: tc.f.Seq, Ack: tc.f.Ack, Flags: tc.f.Flags, Window: tc.f.Window, Opts: tc.o, Payload: tc.payload}
		if !segmentsEqual(s, want) {
			t.Errorf("%s: Parse = %+v, want %+v", tc.name, s, want)
		}
		if len(s.Payload) > 0 && &s.Payload[0] != &h[h.DataOffset()] {
			t.Errorf("%s: Parse copied the payload; want a view", tc.name)
		}
		if s.Len() != tc.segLen {
			t.Errorf("%s: SEG.LEN %d, want %d", tc.name, s.Len(), tc.segLen)
		}
	}
}

// segmentsEqual compares what Parse fills in, the payload by content.
func segmentsEqual(s, t Segment) bool {
	return s.Seq == t.Seq && s.Ack == t.Ack && s.Flags == t.Flags && s.Window == t.Window &&
		s.Opts == t.Opts && bytes.Equal(s.Payload, t.Payload)
}

func TestGoldenEncode(t *testing.T) {
	for _, tc := range []struct {
		name    string
		want    []byte
		f       Fields
		o       Options
		payload []byte
	}{
		{"SYN", synGolden, synFields, synOptions, nil},
		{"data", dataGolden, dataFields, dataOptions, dataPayload},
	} {
		buf := filled(len(tc.want) + 8)
		n, err := Encode(buf, tc.f, &tc.o)
		if err != nil {
			t.Fatalf("%s: Encode: %v", tc.name, err)
		}
		if n != len(tc.want)-len(tc.payload) {
			t.Fatalf("%s: Encode wrote a %d-byte header, want %d", tc.name, n, len(tc.want)-len(tc.payload))
		}
		// The checksum field is zeroed, not left as it was.
		if buf[16] != 0 || buf[17] != 0 {
			t.Errorf("%s: checksum field % x after Encode, want zero", tc.name, buf[16:18])
		}
		copy(buf[n:], tc.payload)
		seg := Header(buf[:len(tc.want)])
		seg.SetChecksum(goldenSrc, goldenDst)
		if !bytes.Equal(seg, tc.want) {
			t.Errorf("%s: encoded\n% x\nwant\n% x", tc.name, []byte(seg), tc.want)
		}
		if !bytes.Equal(buf[len(tc.want):], filled(8)) {
			t.Errorf("%s: Encode wrote past the header", tc.name)
		}

		// Too short by one byte: an error, and nothing written.
		short := filled(n + 8)
		if _, err := Encode(short[:n-1], tc.f, &tc.o); !errors.Is(err, ErrShortBuffer) {
			t.Errorf("%s: Encode into %d bytes: %v, want ErrShortBuffer", tc.name, n-1, err)
		}
		if !bytes.Equal(short, filled(n+8)) {
			t.Errorf("%s: Encode wrote on error", tc.name)
		}

		// SetChecksum over the golden bytes (old checksum in place)
		// gives the same checksum.
		c := Header(bytes.Clone(tc.want))
		c.SetChecksum(goldenSrc, goldenDst)
		if !bytes.Equal(c, tc.want) {
			t.Errorf("%s: SetChecksum over a checksummed segment gave %#04x, want %#04x", tc.name, c.Checksum(), Header(tc.want).Checksum())
		}
	}

	// No options: a 20-byte header, every byte written.
	buf := filled(28)
	f := Fields{SrcPort: 1, DstPort: 2, Seq: 3, Ack: 4, Flags: FlagACK | FlagURG, Window: 5, Urgent: 6}
	n, err := Encode(buf, f, nil)
	want := []byte{0, 1, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0x50, 0x30, 0, 5, 0, 0, 0, 6}
	if err != nil || n != HeaderLen || !bytes.Equal(buf[:n], want) || !bytes.Equal(buf[n:], filled(8)) {
		t.Errorf("Encode without options: %d, %v\n% x\nwant\n% x", n, err, buf, want)
	}
	if _, err := Encode(make([]byte, HeaderLen-1), f, nil); !errors.Is(err, ErrShortBuffer) {
		t.Errorf("Encode into 19 bytes: %v", err)
	}

	// The setters write what the accessors read.
	h := Header(filled(HeaderLen))
	h.SetSrcPort(0xa1b2)
	h.SetDstPort(0xc3d4)
	h.SetSeq(0xdeadbeef)
	h.SetAck(0x01020304)
	h.SetFlags(FlagSYN | FlagECE | FlagCWR)
	h.SetWindow(0xfffe)
	if h.SrcPort() != 0xa1b2 || h.DstPort() != 0xc3d4 || h.Seq() != 0xdeadbeef || h.Ack() != 0x01020304 ||
		h.Flags() != FlagSYN|FlagECE|FlagCWR || h.Window() != 0xfffe {
		t.Errorf("setters: % x", []byte(h))
	}
}

// TestChecksumFlip: changing any single byte of a golden segment, or a
// single bit, breaks its checksum.
func TestChecksumFlip(t *testing.T) {
	for _, g := range [][]byte{synGolden, dataGolden} {
		h := Header(bytes.Clone(g))
		for i := range h {
			for _, x := range []byte{0xff, 0x01, 0x80, 0x5a} {
				h[i] ^= x
				if h.ChecksumValid(goldenSrc, goldenDst) {
					t.Errorf("byte %d ^ %#02x: checksum still verifies", i, x)
				}
				h[i] ^= x
			}
		}
		if !h.ChecksumValid(goldenSrc, goldenDst) {
			t.Fatal("restored segment does not verify")
		}
		// One byte more or less (the length is in the pseudo-header).
		if Header(g[:len(g)-1]).ChecksumValid(goldenSrc, goldenDst) || Header(append(bytes.Clone(g), 0)).ChecksumValid(goldenSrc, goldenDst) {
			t.Error("checksum verifies with a different length")
		}
	}
	// SetChecksum gives segments of odd length a checksum that verifies.
	rng := rand.New(rand.NewPCG(3, 4))
	for n := HeaderLen; n < 200; n++ {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		h := Header(b)
		h.SetChecksum(goldenSrc, goldenDst)
		if !h.ChecksumValid(goldenSrc, goldenDst) {
			t.Fatalf("%d bytes: SetChecksum's checksum does not verify", n)
		}
	}
}

func TestFlagsString(t *testing.T) {
	for _, tc := range []struct {
		f    Flags
		want string
	}{
		{0, "none"},
		{FlagSYN, "SYN"},
		{FlagSYN | FlagACK, "SYN|ACK"},
		{FlagFIN | FlagPSH | FlagACK, "FIN|PSH|ACK"},
		{FlagRST, "RST"},
		{0xff, "FIN|SYN|RST|PSH|ACK|URG|ECE|CWR"},
	} {
		if got := tc.f.String(); got != tc.want {
			t.Errorf("Flags(%#02x).String() = %q, want %q", uint8(tc.f), got, tc.want)
		}
	}
}

func TestParseOptionsMalformed(t *testing.T) {
	sack := func(n int, extra int) []byte {
		b := []byte{optSACK, byte(2 + 8*n + extra)}
		return append(b, make([]byte, 8*n+extra)...)
	}
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"length 0", []byte{30, 0, 0, 0}},
		{"length 1", []byte{30, 1, 0, 0}},
		{"MSS length 0", []byte{optMSS, 0, 5, 0xb4}},
		{"kind without length", []byte{optMSS}},
		{"kind without length after NOPs", []byte{optNOP, optNOP, optNOP, optWScale}},
		{"past the end", []byte{optMSS, 4, 5}},
		{"unknown past the end", []byte{30, 8, 0, 0, 0, 0}},
		{"TS past the end", []byte{optNOP, optNOP, optTimestamps, 10, 1, 2, 3, 4, 5, 6, 7}},
		{"MSS length 3", []byte{optMSS, 3, 5, optNOP}},
		{"MSS length 5", []byte{optMSS, 5, 5, 0xb4, 0}},
		{"WS length 2", []byte{optWScale, 2, optNOP, optNOP}},
		{"WS length 4", []byte{optWScale, 4, 7, 0}},
		{"SACK-permitted length 3", []byte{optSACKPermitted, 3, 0, optNOP}},
		{"SACK length 2 (no block)", sack(0, 0)},
		{"SACK length 9", sack(0, 7)},
		{"SACK length 11", sack(1, 1)},
		{"SACK 3 blocks + 1 byte", sack(3, 1)},
		{"SACK 4 blocks + 1 byte", sack(4, 1)},
		{"SACK 5 blocks", sack(5, 0)},
		{"TS length 9", []byte{optTimestamps, 9, 1, 2, 3, 4, 5, 6, 7}},
		{"TS length 11", []byte{optTimestamps, 11, 1, 2, 3, 4, 5, 6, 7, 8, 9}},
		{"good MSS, then bad WS", []byte{optMSS, 4, 5, 0xb4, optWScale, 4, 7, 0}},
	} {
		var o Options
		if err := ParseOptions(tc.b, &o); !errors.Is(err, ErrBadOption) {
			t.Errorf("%s (% x): ParseOptions = %v, want ErrBadOption", tc.name, tc.b, err)
		}
	}
}

func TestParseOptionsAccepts(t *testing.T) {
	for _, tc := range []struct {
		name string
		b    []byte
		want Options
	}{
		{"empty", nil, Options{}},
		{"NOPs", []byte{1, 1, 1, 1}, Options{}},
		{"EOL", []byte{0, 0, 0, 0}, Options{}},
		// Whatever follows EOL is padding, even if it would not parse.
		{"garbage after EOL", []byte{optMSS, 4, 5, 0xb4, optEOL, optMSS, 1, 2}, Options{MSS: 1460}},
		{"unknown kind skipped", []byte{30, 6, 1, 2, 3, 4, optMSS, 4, 2, 0x18}, Options{MSS: 536}},
		{"unknown kind length 2", []byte{99, 2, optSACKPermitted, 2}, Options{SACKPermitted: true}},
		{"WS 14", []byte{optNOP, optWScale, 3, 14}, Options{HasWScale: true, WScale: 14}},
		{"WS 15 clamped", []byte{optNOP, optWScale, 3, 15}, Options{HasWScale: true, WScale: 14}},
		{"WS 255 clamped", []byte{optNOP, optWScale, 3, 255}, Options{HasWScale: true, WScale: 14}},
		{"SACK length 10 (one block)", []byte{optNOP, optNOP, optSACK, 10, 0, 0, 0, 1, 0, 0, 0, 2},
			Options{NumSACK: 1, SACK: [4]SACKBlock{{1, 2}}}},
		{"SACK 4 blocks", append([]byte{optSACK, 34}, seqBytes(1, 2, 3, 4, 5, 6, 0xfffffff0, 0x10)...),
			Options{NumSACK: 4, SACK: [4]SACKBlock{{1, 2}, {3, 4}, {5, 6}, {0xfffffff0, 0x10}}}},
		{"TS", []byte{optTimestamps, 10, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1, optNOP, optNOP},
			Options{HasTimestamps: true, TSVal: 0xffffffff, TSEcr: 1}},
		{"Linux SYN", synGolden[HeaderLen:], synOptions},
		{"Linux data", dataGolden[HeaderLen:32], dataOptions},
	} {
		var o Options
		o.MSS, o.NumSACK, o.SACK[3] = 7, 3, SACKBlock{8, 9} // leftovers: cleared
		if err := ParseOptions(tc.b, &o); err != nil || o != tc.want {
			t.Errorf("%s (% x): ParseOptions = %+v, %v; want %+v", tc.name, tc.b, o, err, tc.want)
		}
	}
}

func seqBytes(s ...uint32) []byte {
	var b []byte
	for _, v := range s {
		b = binary.BigEndian.AppendUint32(b, v)
	}
	return b
}

// sackRoom is the number of SACK blocks the encoders should write for o:
// as many as it has, up to 4, as fit in 40 bytes of options beside the
// others (two NOPs, kind and length take 4 bytes, each block 8). Worked
// out from the byte counts, independently of sackFit.
func sackRoom(o *Options) int {
	other := 0
	if o.MSS != 0 {
		other += 4
	}
	if o.HasTimestamps {
		other += 12
	} else if o.SACKPermitted {
		other += 4
	}
	if o.HasWScale {
		other += 4
	}
	k := min(max(o.NumSACK, 0), 4)
	for k > 0 && other+4+8*k > MaxOptionsLen {
		k--
	}
	return k
}

// encoded is what o parses back as after EncodeOptions: window scale
// clamped, the SACK blocks that fit.
func encoded(o Options) Options {
	o.WScale = min(o.WScale, 14)
	if !o.HasWScale {
		o.WScale = 0
	}
	if !o.HasTimestamps {
		o.TSVal, o.TSEcr = 0, 0
	}
	k := sackRoom(&o)
	for i := k; i < len(o.SACK); i++ {
		o.SACK[i] = SACKBlock{}
	}
	o.NumSACK = k
	return o
}

// optionCombos returns Options with every combination of a few values of
// each field.
func optionCombos() []Options {
	var all []Options
	blocks := [4]SACKBlock{{100, 200}, {0xfffffff0, 0x20}, {300, 301}, {0x7fffffff, 0x80000001}}
	for _, mss := range []uint16{0, 536, 1460, 65535} {
		for _, ws := range []int{-1, 0, 7, 14, 15, 255} {
			for _, sp := range []bool{false, true} {
				for _, ts := range [][2]uint32{{}, {1, 0}, {0xffffffff, 0x12345678}} {
					for k := 0; k <= 4; k++ {
						o := Options{MSS: mss, SACKPermitted: sp, NumSACK: k}
						if ws >= 0 {
							o.HasWScale, o.WScale = true, uint8(ws)
						}
						if ts != [2]uint32{} {
							o.HasTimestamps, o.TSVal, o.TSEcr = true, ts[0], ts[1]
						}
						copy(o.SACK[:k], blocks[:k])
						all = append(all, o)
					}
				}
			}
		}
	}
	return all
}

func TestOptionsRoundTrip(t *testing.T) {
	if OptionsLen(nil) != 0 {
		t.Errorf("OptionsLen(nil) = %d", OptionsLen(nil))
	}
	for _, o := range optionCombos() {
		n := OptionsLen(&o)
		if n%4 != 0 || n > MaxOptionsLen {
			t.Errorf("%+v: OptionsLen %d, want a multiple of 4, at most 40", o, n)
		}
		buf := filled(MaxOptionsLen + 16)
		if w := EncodeOptions(buf, &o); w != n {
			t.Errorf("%+v: EncodeOptions wrote %d bytes, OptionsLen says %d", o, w, n)
		}
		if !bytes.Equal(buf[n:], filled(len(buf)-n)) {
			t.Errorf("%+v: EncodeOptions wrote past %d bytes: % x", o, n, buf)
			continue
		}
		var p Options
		if err := ParseOptions(buf[:n], &p); err != nil {
			t.Errorf("%+v: encoded as % x, which does not parse: %v", o, buf[:n], err)
			continue
		}
		if want := encoded(o); p != want {
			t.Errorf("%+v: parsed back as\n%+v, want\n%+v", o, p, want)
		}

		// In a whole header too.
		seg := filled(MaxHeaderLen + 8)
		hn, err := Encode(seg, Fields{Flags: FlagACK}, &o)
		h := Header(seg[:hn])
		if err != nil || hn != HeaderLen+n || h.Check() != nil || h.DataOffset() != hn || !bytes.Equal(h.Options(), buf[:n]) {
			t.Errorf("%+v: Encode = %d, %v; data offset %d", o, hn, err, h.DataOffset())
		}
	}

	// The two SACK cases RFC 2018 3 spells out: 4 blocks alone fill 36
	// bytes, 3 beside timestamps fill 40.
	four := Options{NumSACK: 4, SACK: [4]SACKBlock{{1, 2}, {3, 4}, {5, 6}, {7, 8}}}
	if n := OptionsLen(&four); n != 36 {
		t.Errorf("4 SACK blocks: OptionsLen %d, want 36", n)
	}
	var p Options
	b := make([]byte, 40)
	if err := ParseOptions(b[:EncodeOptions(b, &four)], &p); err != nil || p != four {
		t.Errorf("4 SACK blocks: parsed back as %+v, %v", p, err)
	}
	withTS := four
	withTS.HasTimestamps, withTS.TSVal, withTS.TSEcr = true, 10, 20
	if n := OptionsLen(&withTS); n != 40 {
		t.Errorf("4 SACK blocks with timestamps: OptionsLen %d, want 40", n)
	}
	if err := ParseOptions(b[:EncodeOptions(b, &withTS)], &p); err != nil || p.NumSACK != 3 || p.SACK != [4]SACKBlock{{1, 2}, {3, 4}, {5, 6}} || p.TSVal != 10 || p.TSEcr != 20 {
		t.Errorf("4 SACK blocks with timestamps: parsed back as %+v, %v; want the first 3", p, err)
	}
}

func TestSegmentLen(t *testing.T) {
	for _, tc := range []struct {
		flags   Flags
		payload int
		want    uint32
	}{
		{0, 0, 0},
		{FlagACK, 0, 0},
		{FlagSYN, 0, 1},
		{FlagSYN | FlagACK, 0, 1},
		{FlagFIN | FlagACK, 0, 1},
		{FlagSYN | FlagFIN, 0, 2},
		{FlagPSH | FlagACK, 1460, 1460},
		{FlagFIN | FlagPSH | FlagACK, 100, 101},
		{FlagSYN | FlagFIN, 10, 12},
		{FlagRST, 0, 0},
		{FlagRST | FlagACK, 5, 5},
	} {
		s := Segment{Flags: tc.flags, Payload: make([]byte, tc.payload)}
		if got := s.Len(); got != tc.want {
			t.Errorf("%v with %d bytes: Len %d, want %d", tc.flags, tc.payload, got, tc.want)
		}
	}
}

func TestParseBadOptions(t *testing.T) {
	b := make([]byte, 64)
	n, err := Encode(b, Fields{Flags: FlagACK}, &Options{MSS: 1460})
	if err != nil {
		t.Fatal(err)
	}
	b[HeaderLen+1] = 3 // MSS length 3
	var s Segment
	if err := Parse(Header(b[:n]), &s); !errors.Is(err, ErrBadOption) {
		t.Errorf("Parse with a bad option: %v, want ErrBadOption", err)
	}
}

// TestPartialChecksum: a device completing SetPartialChecksum's field the
// CHECKSUM_PARTIAL way (the complement of the sum from the header's start
// to the end, stored at ChecksumOffset) arrives at SetChecksum's value,
// for every length parity and random contents.
func TestPartialChecksum(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for n := HeaderLen; n < HeaderLen+64; n++ {
		seg := make([]byte, n)
		for i := range seg {
			seg[i] = byte(r.Uint32())
		}
		h := Header(seg)
		h.SetChecksum(goldenSrc, goldenDst)
		want := binary.BigEndian.Uint16(seg[ChecksumOffset:])
		h.SetPartialChecksum(goldenSrc, goldenDst)
		binary.BigEndian.PutUint16(seg[ChecksumOffset:], ^ipv4.Fold(ipv4.Sum(seg, 0)))
		if got := binary.BigEndian.Uint16(seg[ChecksumOffset:]); got != want || !h.ChecksumValid(goldenSrc, goldenDst) {
			t.Fatalf("length %d: completed partial checksum %#04x, SetChecksum %#04x", n, got, want)
		}
	}
}
