package ipv4

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"os"
	"testing"
)

var (
	peerA = netip.MustParseAddr("192.0.2.1")
	peerB = netip.MustParseAddr("192.0.2.2")
)

// datagram returns the IPv4 datagram inside a golden frame, as a copy.
func datagram(frame []byte) Header {
	return Header(bytes.Clone(frame[ethLen:]))
}

// filled returns n bytes of 0xa5, so that a byte an encoder forgets to
// write shows.
func filled(n int) []byte {
	return bytes.Repeat([]byte{0xa5}, n)
}

// TestGoldenFromPcap checks that the golden vars are the frames tcpdump
// wrote (testdata/*.pcap, classic pcap format), IPv4 ones in order.
func TestGoldenFromPcap(t *testing.T) {
	for _, tc := range []struct {
		file   string
		frames [][]byte
	}{
		{"testdata/golden.pcap", [][]byte{echoRequestFrame, echoReplyFrame, udpFrame, udpClosedFrame, unreachFrame}},
		{"testdata/golden-rr.pcap", [][]byte{echoRRRequestFrame, echoRRReplyFrame}},
		{"testdata/golden-partial.pcap", [][]byte{partialUDPFrame, partialSYNFrame, partialDataFrame}},
	} {
		raw, err := os.ReadFile(tc.file)
		if err != nil {
			t.Fatal(err)
		}
		if binary.LittleEndian.Uint32(raw) != 0xa1b2c3d4 {
			t.Fatalf("%s: not a little-endian microsecond pcap", tc.file)
		}
		var got [][]byte
		for p := raw[24:]; len(p) >= 16; {
			n := int(binary.LittleEndian.Uint32(p[8:12]))
			frame := p[16 : 16+n]
			if binary.BigEndian.Uint16(frame[12:14]) == 0x0800 {
				got = append(got, frame)
			}
			p = p[16+n:]
		}
		if len(got) != len(tc.frames) {
			t.Fatalf("%s: %d IPv4 frames, want %d", tc.file, len(got), len(tc.frames))
		}
		for i := range got {
			if !bytes.Equal(got[i], tc.frames[i]) {
				t.Errorf("%s: frame %d differs from its var", tc.file, i)
			}
		}
	}
}

type headerWant struct {
	ihl, tos, total, id int
	df, mf, frag        bool
	fragOff, ttl, proto int
	checksum            uint16
	src, dst            netip.Addr
	options, payloadLen int
}

func checkHeader(t *testing.T, name string, h Header, w headerWant) {
	t.Helper()
	if err := h.Check(); err != nil {
		t.Fatalf("%s: Check: %v", name, err)
	}
	if !h.ChecksumValid() {
		t.Errorf("%s: checksum does not verify", name)
	}
	if got := h.ComputeChecksum(); got != h.Checksum() {
		t.Errorf("%s: ComputeChecksum %#04x, field %#04x", name, got, h.Checksum())
	}
	type field struct {
		name      string
		got, want any
	}
	for _, f := range []field{
		{"Version", h.Version(), uint8(4)},
		{"IHL", h.IHL(), w.ihl},
		{"TOS", h.TOS(), uint8(w.tos)},
		{"TotalLen", h.TotalLen(), w.total},
		{"ID", h.ID(), uint16(w.id)},
		{"DontFragment", h.DontFragment(), w.df},
		{"MoreFragments", h.MoreFragments(), w.mf},
		{"IsFragment", h.IsFragment(), w.frag},
		{"FragOffset", h.FragOffset(), w.fragOff},
		{"TTL", h.TTL(), uint8(w.ttl)},
		{"Protocol", h.Protocol(), uint8(w.proto)},
		{"Checksum", h.Checksum(), w.checksum},
		{"Src", h.Src(), w.src},
		{"Dst", h.Dst(), w.dst},
		{"len(Options)", len(h.Options()), w.options},
		{"len(Payload)", len(h.Payload()), w.payloadLen},
	} {
		if f.got != f.want {
			t.Errorf("%s: %s = %v, want %v", name, f.name, f.got, f.want)
		}
	}
}

func TestGoldenParse(t *testing.T) {
	for _, tc := range []struct {
		name  string
		frame []byte
		want  headerWant
	}{
		{"echo request", echoRequestFrame, headerWant{ihl: 20, total: 60, id: 60602, df: true, ttl: 64, proto: ProtoICMP, checksum: 0xca02, src: peerA, dst: peerB, payloadLen: 40}},
		{"echo reply", echoReplyFrame, headerWant{ihl: 20, total: 60, id: 51846, ttl: 64, proto: ProtoICMP, checksum: 0x2c37, src: peerB, dst: peerA, payloadLen: 40}},
		{"udp", udpFrame, headerWant{ihl: 20, total: 44, id: 571, df: true, ttl: 64, proto: ProtoUDP, checksum: 0xb482, src: peerA, dst: peerB, payloadLen: 24}},
		{"udp closed", udpClosedFrame, headerWant{ihl: 20, total: 43, id: 572, df: true, ttl: 64, proto: ProtoUDP, checksum: 0xb482, src: peerA, dst: peerB, payloadLen: 23}},
		{"unreachable", unreachFrame, headerWant{ihl: 20, tos: 0xc0, total: 71, id: 51851, ttl: 64, proto: ProtoICMP, checksum: 0x2b67, src: peerB, dst: peerA, payloadLen: 51}},
		{"echo RR request", echoRRRequestFrame, headerWant{ihl: 60, total: 76, id: 38562, df: true, ttl: 64, proto: ProtoICMP, checksum: 0x2bfa, src: peerA, dst: peerB, options: 40, payloadLen: 16}},
		{"echo RR reply", echoRRReplyFrame, headerWant{ihl: 60, total: 76, id: 5873, ttl: 64, proto: ProtoICMP, checksum: 0xb74f, src: peerB, dst: peerA, options: 40, payloadLen: 16}},
	} {
		h := datagram(tc.frame)
		checkHeader(t, tc.name, h, tc.want)
		// Ethernet pads short frames to 60 bytes: the padding is not
		// part of the datagram.
		padded := Header(append(bytes.Clone(h), 0, 0, 0, 0, 0, 0, 0, 0))
		checkHeader(t, tc.name+" padded", padded, tc.want)
		if !bytes.Equal(padded.Payload(), h.Payload()) {
			t.Errorf("%s: padding leaks into the payload", tc.name)
		}
	}
	rr := datagram(echoRRRequestFrame)
	if o := rr.Options(); o[0] != 0x01 || o[1] != 0x07 || o[2] != 39 {
		t.Errorf("RR options start % x, want NOP, RR, length 39", o[:3])
	}

	// UDP inside.
	u := UDP(datagram(udpFrame).Payload())
	if err := u.Check(); err != nil {
		t.Fatal(err)
	}
	if u.SrcPort() != 40000 || u.DstPort() != 7777 || u.Length() != 24 || u.Checksum() != 0xa035 {
		t.Errorf("UDP %d > %d length %d checksum %#04x", u.SrcPort(), u.DstPort(), u.Length(), u.Checksum())
	}
	if string(u.Payload()) != "fastpath golden\n" {
		t.Errorf("UDP payload %q", u.Payload())
	}
	if !u.ChecksumValid(peerA, peerB) {
		t.Error("UDP checksum does not verify")
	}
	if u.ChecksumValid(peerB, netip.MustParseAddr("192.0.2.3")) {
		t.Error("UDP checksum verifies with the wrong pseudo-header")
	}

	// ICMP inside.
	for _, tc := range []struct {
		name              string
		frame             []byte
		typ, code         uint8
		checksum, id, seq uint16
		body              int
	}{
		{"echo request", echoRequestFrame, ICMPEchoRequest, 0, 0x9f43, 12572, 1, 32},
		{"echo reply", echoReplyFrame, ICMPEchoReply, 0, 0xa743, 12572, 1, 32},
		{"unreachable", unreachFrame, ICMPDestUnreachable, CodePortUnreachable, 0x8129, 0, 0, 43},
		{"echo RR request", echoRRRequestFrame, ICMPEchoRequest, 0, 0xba6f, 12671, 1, 8},
	} {
		c := ICMP(datagram(tc.frame).Payload())
		if err := c.Check(); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if c.Type() != tc.typ || c.Code() != tc.code || c.Checksum() != tc.checksum || c.ID() != tc.id || c.Seq() != tc.seq || len(c.Body()) != tc.body {
			t.Errorf("%s: type %d code %d checksum %#04x id %d seq %d body %d", tc.name, c.Type(), c.Code(), c.Checksum(), c.ID(), c.Seq(), len(c.Body()))
		}
		if c.Rest() != uint32(tc.id)<<16|uint32(tc.seq) {
			t.Errorf("%s: Rest %#08x", tc.name, c.Rest())
		}
		if !c.ChecksumValid() {
			t.Errorf("%s: ICMP checksum does not verify", tc.name)
		}
	}
	// The unreachable quotes the whole datagram it is about.
	if q := ICMP(datagram(unreachFrame).Payload()).Body(); !bytes.Equal(q, udpClosedFrame[ethLen:]) {
		t.Error("the kernel's unreachable does not quote the whole datagram")
	}
}

// TestGoldenEncode writes the golden UDP datagram and the echo request's
// header into 0xa5-filled buffers and compares byte for byte.
func TestGoldenEncode(t *testing.T) {
	want := udpFrame[ethLen:]
	b := filled(len(want) + 16)
	h, err := Encode(b, Fields{ID: 571, DontFragment: true, TTL: 64, Protocol: ProtoUDP, Src: peerA, Dst: peerB, PayloadLen: 24})
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != len(want) {
		t.Fatalf("Encode returned %d bytes, want %d", len(h), len(want))
	}
	if !bytes.Equal(b[:HeaderLen], want[:HeaderLen]) {
		t.Errorf("header\n got % x\nwant % x", b[:HeaderLen], want[:HeaderLen])
	}
	if !bytes.Equal(b[HeaderLen:], filled(len(b)-HeaderLen)) {
		t.Error("Encode wrote past the header")
	}
	u, err := EncodeUDP(h[HeaderLen:], 40000, 7777, 16)
	if err != nil {
		t.Fatal(err)
	}
	if len(u) != 24 || !bytes.Equal(b[HeaderLen+8:], filled(len(b)-HeaderLen-8)) {
		t.Fatalf("EncodeUDP returned %d bytes or wrote past its header", len(u))
	}
	if u.Checksum() != 0 {
		t.Errorf("EncodeUDP checksum %#04x, want 0", u.Checksum())
	}
	copy(u.Payload(), "fastpath golden\n")
	u.SetChecksum(h.Src(), h.Dst())
	if !bytes.Equal(b[:len(want)], want) {
		t.Errorf("datagram\n got % x\nwant % x", b[:len(want)], want)
	}
	if !bytes.Equal(b[len(want):], filled(16)) {
		t.Error("wrote past the datagram")
	}

	want = echoRequestFrame[ethLen:]
	b = filled(len(want))
	if _, err := Encode(b, Fields{ID: 0xecba, DontFragment: true, TTL: 64, Protocol: ProtoICMP, Src: peerA, Dst: peerB, PayloadLen: 40}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b[:HeaderLen], want[:HeaderLen]) {
		t.Errorf("echo header\n got % x\nwant % x", b[:HeaderLen], want[:HeaderLen])
	}

	// The kernel's unreachable header: TOS 0xc0, no flags.
	want = unreachFrame[ethLen:]
	b = filled(len(want))
	if _, err := Encode(b, Fields{TOS: 0xc0, ID: 51851, TTL: 64, Protocol: ProtoICMP, Src: peerB, Dst: peerA, PayloadLen: 51}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b[:HeaderLen], want[:HeaderLen]) {
		t.Errorf("unreachable header\n got % x\nwant % x", b[:HeaderLen], want[:HeaderLen])
	}
}

func TestEncodeErrors(t *testing.T) {
	v6 := netip.MustParseAddr("2001:db8::1")
	for _, tc := range []struct {
		name string
		n    int
		f    Fields
		want error
	}{
		{"short", 19, Fields{Src: peerA, Dst: peerB}, ErrTruncated},
		{"payload beyond b", 60, Fields{Src: peerA, Dst: peerB, PayloadLen: 41}, ErrTruncated},
		{"negative payload", 60, Fields{Src: peerA, Dst: peerB, PayloadLen: -1}, ErrTotalLen},
		{"too long", 70000, Fields{Src: peerA, Dst: peerB, PayloadLen: 65516}, ErrTotalLen},
		{"zero src", 60, Fields{Dst: peerB}, ErrNotIPv4},
		{"v6 dst", 60, Fields{Src: peerA, Dst: v6}, ErrNotIPv4},
	} {
		b := filled(tc.n)
		if _, err := Encode(b, tc.f); err != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
		if !bytes.Equal(b, filled(tc.n)) {
			t.Errorf("%s: wrote on error", tc.name)
		}
	}
	// The largest datagram, and an IPv4-mapped address.
	b := filled(65535)
	h, err := Encode(b, Fields{Src: netip.AddrFrom16(peerA.As16()), Dst: peerB, PayloadLen: 65515})
	if err != nil || h.TotalLen() != 65535 || h.Src() != peerA || h.Check() != nil || !h.ChecksumValid() {
		t.Errorf("largest datagram: %v, total %d, src %v", err, h.TotalLen(), h.Src())
	}
}

// TestCheckTruncated: every proper prefix of every golden datagram fails
// Check (without panicking), and so do the UDP and ICMP views of every
// proper prefix of their messages.
func TestCheckTruncated(t *testing.T) {
	for _, frame := range [][]byte{echoRequestFrame, echoReplyFrame, udpFrame, udpClosedFrame, unreachFrame, echoRRRequestFrame, echoRRReplyFrame} {
		d := frame[ethLen:]
		for n := range len(d) {
			if err := Header(d[:n]).Check(); err == nil {
				t.Errorf("Check passed on %d of %d bytes", n, len(d))
			} else if !errors.Is(err, ErrTruncated) {
				t.Errorf("Check on %d of %d bytes: %v, want ErrTruncated", n, len(d), err)
			}
		}
		p := datagram(frame).Payload()
		switch Header(d).Protocol() {
		case ProtoUDP:
			for n := range len(p) {
				if UDP(p[:n]).Check() == nil {
					t.Errorf("UDP Check passed on %d of %d bytes", n, len(p))
				}
			}
		case ProtoICMP:
			for n := range ICMPHeaderLen {
				if ICMP(p[:n]).Check() == nil {
					t.Errorf("ICMP Check passed on %d bytes", n)
				}
			}
		}
	}
}

func TestCheckErrors(t *testing.T) {
	base := datagram(udpFrame)
	for _, tc := range []struct {
		name string
		edit func(h Header) Header
		want error
	}{
		{"ok", func(h Header) Header { return h }, nil},
		{"version 6", func(h Header) Header { h[0] = 0x65; return h }, ErrVersion},
		{"version 0", func(h Header) Header { h[0] = 0x05; return h }, ErrVersion},
		{"IHL 4", func(h Header) Header { h[0] = 0x44; return h }, ErrHeaderLen},
		{"IHL 0", func(h Header) Header { h[0] = 0x40; return h }, ErrHeaderLen},
		{"IHL 15 beyond", func(h Header) Header { h[0] = 0x4f; return h[:40] }, ErrTruncated},
		{"IHL 6, total 44", func(h Header) Header { h[0] = 0x46; return h }, nil},
		{"total 19", func(h Header) Header { binary.BigEndian.PutUint16(h[2:], 19); return h }, ErrTotalLen},
		{"total below IHL", func(h Header) Header { h[0] = 0x46; binary.BigEndian.PutUint16(h[2:], 23); return h }, ErrTotalLen},
		{"total 20", func(h Header) Header { binary.BigEndian.PutUint16(h[2:], 20); return h }, nil},
		{"total beyond", func(h Header) Header { binary.BigEndian.PutUint16(h[2:], 45); return h }, ErrTruncated},
		{"total 65535", func(h Header) Header { binary.BigEndian.PutUint16(h[2:], 0xffff); return h }, ErrTruncated},
		// Check does not judge the checksum, flags or protocol.
		{"bad checksum", func(h Header) Header { h[10] ^= 1; return h }, nil},
		{"fragment", func(h Header) Header { h[6] = 0x20; return h }, nil},
	} {
		h := tc.edit(bytes.Clone(base))
		if err := h.Check(); err != tc.want {
			t.Errorf("%s: Check = %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestFragmentFields(t *testing.T) {
	h := datagram(udpFrame)
	for _, tc := range []struct {
		flags      uint16
		mf, frag   bool
		df         bool
		off        int
		suppressed bool
	}{
		{0x4000, false, false, true, 0, false},
		{0x2000, true, true, false, 0, false},     // first fragment
		{0x2001, true, true, false, 8, true},      // middle
		{0x1fff, false, true, false, 65528, true}, // last, largest offset
		{0x8000, false, false, false, 0, false},   // the reserved bit is not a fragment
	} {
		binary.BigEndian.PutUint16(h[6:8], tc.flags)
		if h.MoreFragments() != tc.mf || h.IsFragment() != tc.frag || h.DontFragment() != tc.df || h.FragOffset() != tc.off {
			t.Errorf("flags %#04x: MF %v fragment %v DF %v offset %d", tc.flags, h.MoreFragments(), h.IsFragment(), h.DontFragment(), h.FragOffset())
		}
		if suppressed(h) != tc.suppressed {
			t.Errorf("flags %#04x: suppressed %v", tc.flags, !tc.suppressed)
		}
	}
}

func TestSetters(t *testing.T) {
	for _, frame := range [][]byte{udpFrame, echoRRRequestFrame, unreachFrame} {
		h := datagram(frame)
		for _, ttl := range []uint8{0, 1, 63, 64, 255} {
			h.SetTTL(ttl)
			if h.TTL() != ttl || h.Checksum() != h.ComputeChecksum() {
				t.Errorf("SetTTL(%d): ttl %d checksum %#04x, want %#04x", ttl, h.TTL(), h.Checksum(), h.ComputeChecksum())
			}
		}
		// Swapping the addresses keeps the checksum.
		src, dst := h.Src(), h.Dst()
		h.SetSrc(dst)
		h.SetDst(src)
		if h.Src() != dst || h.Dst() != src || !h.ChecksumValid() {
			t.Error("swapping addresses broke the checksum")
		}
		h.SetSrc(netip.MustParseAddr("10.1.2.3"))
		if h.ChecksumValid() {
			t.Error("a new source left the checksum valid")
		}
		h.SetChecksum()
		if !h.ChecksumValid() {
			t.Error("SetChecksum did not fix it")
		}
		h.SetDst(netip.MustParseAddr("2001:db8::1"))
		if h.Dst() != netip.IPv4Unspecified() {
			t.Errorf("SetDst(IPv6) wrote %v, want 0.0.0.0", h.Dst())
		}
	}
}
