package ipv4

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"net/netip"
	"testing"
)

// echoRequest builds a random, valid echo request datagram: options of
// optLen bytes (a multiple of 4), data of dataLen bytes, and pad bytes of
// link-layer padding after it.
func echoRequest(rng *rand.Rand, optLen, dataLen, pad int) Header {
	ihl := HeaderLen + optLen
	b := make([]byte, ihl+ICMPHeaderLen+dataLen+pad)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	h, err := Encode(b, Fields{
		TOS: byte(rng.Uint32()), ID: uint16(rng.Uint32()), DontFragment: rng.IntN(2) == 0,
		TTL: byte(rng.Uint32()), Protocol: ProtoICMP, Src: randAddr(rng), Dst: randAddr(rng),
		PayloadLen: optLen + ICMPHeaderLen + dataLen,
	})
	if err != nil {
		panic(err)
	}
	h[0] = 0x40 | byte(ihl/4)
	h.SetChecksum()
	h = Header(b) // keep the padding in the view
	c := ICMP(h.Payload())
	c[0] = ICMPEchoRequest
	if rng.IntN(4) == 0 {
		c[1] = byte(rng.Uint32()) // codes other than 0 are echoed back
	} else {
		c[1] = 0
	}
	binary.BigEndian.PutUint16(c[2:], 0)
	binary.BigEndian.PutUint16(c[2:], Checksum(c, 0))
	return h
}

// fullICMPChecksum is the checksum an ICMP message should carry, computed
// from scratch.
func fullICMPChecksum(c []byte) uint16 {
	return ^refFold(append(append([]byte(nil), c[:2]...), c[4:]...), 0)
}

// checkEchoReply verifies a reply against its request, field by field,
// with full checksum recomputations.
func checkEchoReply(t *testing.T, req Header, rep []byte, ttl uint8) {
	t.Helper()
	h := Header(rep)
	if err := h.Check(); err != nil {
		t.Fatalf("reply Check: %v", err)
	}
	rc := ICMP(req.Payload())
	if h.IHL() != HeaderLen || h.TotalLen() != len(rep) || len(rep) != HeaderLen+len(rc) {
		t.Fatalf("reply IHL %d total %d len %d, request ICMP %d", h.IHL(), h.TotalLen(), len(rep), len(rc))
	}
	if !h.ChecksumValid() || h.Checksum() != ^refFold(append(append([]byte(nil), rep[:10]...), rep[12:20]...), 0) {
		t.Errorf("reply header checksum %#04x does not match a full computation", h.Checksum())
	}
	if h.Src() != req.Dst() || h.Dst() != req.Src() || h.TTL() != ttl || h.Protocol() != ProtoICMP ||
		h.TOS() != req.TOS() || h.ID() != req.ID() || h.DontFragment() != req.DontFragment() || h.IsFragment() {
		t.Errorf("reply header % x for request % x", rep[:20], req[:20])
	}
	c := ICMP(h.Payload())
	if c.Type() != ICMPEchoReply || c.Code() != rc.Code() || c.ID() != rc.ID() || c.Seq() != rc.Seq() || !bytes.Equal(c.Body(), rc.Body()) {
		t.Errorf("reply ICMP % x for request % x", c[:8], rc[:8])
	}
	if !c.ChecksumValid() || c.Checksum() != fullICMPChecksum(c) {
		t.Errorf("reply ICMP checksum %#04x, full computation %#04x", c.Checksum(), fullICMPChecksum(c))
	}
}

// TestEchoReplyGolden answers the captured ping and compares with the
// Linux kernel's answer. Two fields differ by design and are patched into
// the kernel's reply before the comparison: the ID (Linux takes one from
// its per-destination counter; we reuse the request's) and DF (Linux's
// ICMP socket never sets it; we copy the request's); the header checksum
// is recomputed for them.
func TestEchoReplyGolden(t *testing.T) {
	in := datagram(echoRequestFrame)
	want := datagram(echoReplyFrame)
	binary.BigEndian.PutUint16(want[4:6], in.ID())
	binary.BigEndian.PutUint16(want[6:8], 0x4000)
	want.SetChecksum()

	out := filled(len(want) + 32)
	n, err := EchoReply(out, in, 64)
	if err != nil {
		t.Fatal(err)
	}
	if n != len(want) || !bytes.Equal(out[:n], want) {
		t.Errorf("reply\n got % x\nwant % x", out[:n], want)
	}
	if !bytes.Equal(out[n:], filled(32)) {
		t.Error("EchoReply wrote past the reply")
	}
	// The ICMP message is the kernel's, byte for byte (the checksum
	// updated incrementally equals the kernel's full computation).
	if !bytes.Equal(out[HeaderLen:n], echoReplyFrame[ethLen+HeaderLen:]) {
		t.Error("ICMP message differs from the kernel's")
	}
	checkEchoReply(t, in, out[:n], 64)

	// With options: we do not copy them (the kernel updates Record
	// Route); the ICMP message is still the kernel's.
	in = datagram(echoRRRequestFrame)
	out = filled(100)
	n, err = EchoReply(out, in, 64)
	if err != nil {
		t.Fatal(err)
	}
	kernel := datagram(echoRRReplyFrame)
	if !bytes.Equal(out[HeaderLen:n], kernel.Payload()) {
		t.Errorf("ICMP message\n got % x\nwant % x", out[HeaderLen:n], kernel.Payload())
	}
	checkEchoReply(t, in, out[:n], 64)
}

func TestEchoReplyRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for i := range 20000 {
		req := echoRequest(rng, 4*rng.IntN(11), rng.IntN(1500), rng.IntN(3)*rng.IntN(30))
		ttl := byte(rng.Uint32())
		out := filled(HeaderLen + len(req.Payload()) + 8)
		n, err := EchoReply(out, req, ttl)
		if err != nil {
			t.Fatalf("%d: %v", i, err)
		}
		checkEchoReply(t, req, out[:n], ttl)
		if !bytes.Equal(out[n:], filled(8)) {
			t.Fatal("wrote past the reply")
		}
		// In place gives the same bytes.
		inPlace := bytes.Clone(req)
		m, err := EchoReply(inPlace, Header(inPlace), ttl)
		if err != nil || m != n || !bytes.Equal(inPlace[:m], out[:n]) {
			t.Fatalf("%d: in place: %v, %d bytes, differ: %v", i, err, m, !bytes.Equal(inPlace[:m], out[:n]))
		}
		// Exactly enough room, and one byte less.
		if _, err := EchoReply(out[:n], req, ttl); err != nil {
			t.Fatalf("exact room: %v", err)
		}
		short := filled(n - 1)
		if _, err := EchoReply(short, req, ttl); err != ErrTruncated || !bytes.Equal(short, filled(n-1)) {
			t.Fatalf("one byte short: %v, or wrote", err)
		}
	}
}

func TestEchoReplyErrors(t *testing.T) {
	base := datagram(echoRequestFrame)
	for _, tc := range []struct {
		name string
		edit func(h Header) Header
		want error
	}{
		{"truncated", func(h Header) Header { return h[:30] }, ErrTruncated},
		{"version", func(h Header) Header { h[0] = 0x65; return h }, ErrVersion},
		{"first fragment", func(h Header) Header { h[6] = 0x20; return h }, ErrFragment},
		{"later fragment", func(h Header) Header { h[7] = 0x10; return h }, ErrFragment},
		{"UDP", func(h Header) Header { h[9] = ProtoUDP; return h }, ErrProtocol},
		{"echo reply", func(h Header) Header { h[20] = ICMPEchoReply; return h }, ErrICMPType},
		{"ICMP of 7 bytes", func(h Header) Header { binary.BigEndian.PutUint16(h[2:], 27); return h }, ErrTruncated},
		{"ICMP of 8 bytes", func(h Header) Header { binary.BigEndian.PutUint16(h[2:], 28); return h }, nil},
	} {
		out := filled(100)
		_, err := EchoReply(out, tc.edit(bytes.Clone(base)), 64)
		if !errors.Is(err, tc.want) || (err == nil) != (tc.want == nil) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
		if err != nil && !bytes.Equal(out, filled(100)) {
			t.Errorf("%s: wrote on error", tc.name)
		}
	}
}

// checkICMPError verifies an ICMP error message against the datagram it is
// about, with full checksum recomputations.
func checkICMPError(t *testing.T, orig Header, out []byte, n int, src netip.Addr, typ, code uint8, rest uint32, ttl uint8) {
	t.Helper()
	q := min(orig.TotalLen(), 576-28, len(out)-28)
	if n != 28+q {
		t.Fatalf("%d bytes, want %d", n, 28+q)
	}
	h := Header(out[:n])
	if err := h.Check(); err != nil {
		t.Fatal(err)
	}
	if h.IHL() != HeaderLen || h.TotalLen() != n || n > 576 || !h.ChecksumValid() || h.Checksum() != h.ComputeChecksum() {
		t.Errorf("header % x", out[:20])
	}
	if h.Src() != src || h.Dst() != orig.Src() || h.TTL() != ttl || h.Protocol() != ProtoICMP ||
		h.TOS() != orig.TOS()&0x1e|0xc0 || h.ID() != 0 || !h.DontFragment() || h.IsFragment() {
		t.Errorf("header % x for original % x", out[:20], orig[:20])
	}
	c := ICMP(h.Payload())
	if c.Type() != typ || c.Code() != code || c.Rest() != rest {
		t.Errorf("ICMP % x", c[:8])
	}
	if !c.ChecksumValid() || c.Checksum() != fullICMPChecksum(c) {
		t.Errorf("ICMP checksum %#04x, full computation %#04x", c.Checksum(), fullICMPChecksum(c))
	}
	if !bytes.Equal(c.Body(), orig[:q]) {
		t.Errorf("quote differs from the original's first %d bytes", q)
	}
}

// TestUnreachableGolden answers the captured datagram to a closed port
// and compares with the Linux kernel's port unreachable. By design the ID
// (0: an atomic datagram) and DF (set) differ; they are patched into the
// kernel's message before the comparison.
func TestUnreachableGolden(t *testing.T) {
	orig := datagram(udpClosedFrame)
	want := datagram(unreachFrame)
	binary.BigEndian.PutUint16(want[4:6], 0)
	binary.BigEndian.PutUint16(want[6:8], 0x4000)
	want.SetChecksum()

	out := filled(1500)
	n, err := Unreachable(out, orig, peerB, CodePortUnreachable, 64)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out[:n], want) {
		t.Errorf("unreachable\n got % x\nwant % x", out[:n], want)
	}
	if !bytes.Equal(out[n:], filled(1500-n)) {
		t.Error("wrote past the message")
	}
	if !bytes.Equal(out[HeaderLen:n], unreachFrame[ethLen+HeaderLen:]) {
		t.Error("ICMP message differs from the kernel's")
	}
	checkICMPError(t, orig, out, n, peerB, ICMPDestUnreachable, CodePortUnreachable, 0, 64)

	// In place, with Ethernet padding after the original.
	buf := append(bytes.Clone(orig), make([]byte, 17)...)
	buf = append(buf, filled(100)...)
	n2, err := Unreachable(buf, Header(buf), peerB, CodePortUnreachable, 64)
	if err != nil || n2 != n || !bytes.Equal(buf[:n2], out[:n]) {
		t.Errorf("in place: %v, %d bytes", err, n2)
	}
}

func TestICMPErrorQuote(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	src := netip.MustParseAddr("198.51.100.7")
	for i := range 5000 {
		optLen := 4 * rng.IntN(11)
		payload := rng.IntN(2000)
		if i%3 == 0 {
			payload = rng.IntN(16)
		}
		b := make([]byte, HeaderLen+optLen+payload)
		for j := range b {
			b[j] = byte(rng.Uint32())
		}
		orig, err := Encode(b, Fields{TOS: byte(rng.Uint32()), ID: uint16(rng.Uint32()), TTL: 1, Protocol: ProtoUDP,
			Src: netip.AddrFrom4([4]byte{10, byte(rng.Uint32()), byte(rng.Uint32()), 1}), Dst: src, PayloadLen: optLen + payload})
		if err != nil {
			t.Fatal(err)
		}
		orig[0] = 0x40 | byte((HeaderLen+optLen)/4)
		orig.SetChecksum()
		// Room for: everything, exactly the minimum quote, a random amount.
		minimum := 28 + min(orig.TotalLen(), orig.IHL()+8)
		for _, room := range []int{2048, minimum, minimum + rng.IntN(600)} {
			out := filled(room + 8)
			typ, code, rest := uint8(ICMPDestUnreachable), uint8(rng.IntN(16)), uint32(0)
			if i%4 == 1 {
				typ, code = ICMPTimeExceeded, CodeTTLExceeded
			} else if i%4 == 2 {
				code, rest = CodeFragmentationNeeded, uint32(rng.IntN(65536))
			}
			n, err := ICMPError(out[:room], orig, src, typ, code, rest, 255)
			if err != nil {
				t.Fatalf("room %d: %v", room, err)
			}
			checkICMPError(t, orig, out[:room], n, src, typ, code, rest, 255)
			if !bytes.Equal(out[n:room], filled(room-n)) || !bytes.Equal(out[room:], filled(8)) {
				t.Fatal("wrote past the message")
			}
		}
		short := filled(minimum - 1)
		if _, err := Unreachable(short, orig, src, CodeHostUnreachable, 64); err != ErrTruncated || !bytes.Equal(short, filled(minimum-1)) {
			t.Fatalf("no room for the minimum quote: %v", err)
		}
	}
}

func TestICMPErrorSuppressed(t *testing.T) {
	udp := datagram(udpClosedFrame)
	icmp := func(typ uint8) Header {
		h := datagram(echoRequestFrame)
		h[20] = typ
		return h
	}
	setSrc := func(h Header, a string) Header { h.SetSrc(netip.MustParseAddr(a)); return h }
	setDst := func(h Header, a string) Header { h.SetDst(netip.MustParseAddr(a)); return h }
	for _, tc := range []struct {
		name string
		orig Header
		want error
	}{
		{"udp", bytes.Clone(udp), nil},
		{"echo request", icmp(ICMPEchoRequest), nil},
		{"echo reply", icmp(ICMPEchoReply), nil},
		{"timestamp", icmp(ICMPTimestamp), nil},
		{"unreachable", icmp(ICMPDestUnreachable), ErrSuppressed},
		{"source quench", icmp(ICMPSourceQuench), ErrSuppressed},
		{"redirect", icmp(ICMPRedirect), ErrSuppressed},
		{"time exceeded", icmp(ICMPTimeExceeded), ErrSuppressed},
		{"parameter problem", icmp(ICMPParameterProblem), ErrSuppressed},
		{"unknown ICMP type", icmp(200), ErrSuppressed},
		{"empty ICMP", func() Header {
			h := datagram(echoRequestFrame)
			binary.BigEndian.PutUint16(h[2:], 20)
			return h
		}(), ErrSuppressed},
		{"first fragment", func() Header { h := datagram(udpClosedFrame); h[6] = 0x20; return h }(), nil},
		{"later fragment", func() Header { h := datagram(udpClosedFrame); h[7] = 1; return h }(), ErrSuppressed},
		{"to multicast", setDst(datagram(udpClosedFrame), "224.0.0.251"), ErrSuppressed},
		{"to broadcast", setDst(datagram(udpClosedFrame), "255.255.255.255"), ErrSuppressed},
		{"from 0.0.0.0", setSrc(datagram(udpClosedFrame), "0.0.0.0"), ErrSuppressed},
		{"from 0/8", setSrc(datagram(udpClosedFrame), "0.1.2.3"), ErrSuppressed},
		{"from loopback", setSrc(datagram(udpClosedFrame), "127.0.0.1"), ErrSuppressed},
		{"from multicast", setSrc(datagram(udpClosedFrame), "239.1.1.1"), ErrSuppressed},
		{"from class E", setSrc(datagram(udpClosedFrame), "240.0.0.1"), ErrSuppressed},
		{"from broadcast", setSrc(datagram(udpClosedFrame), "255.255.255.255"), ErrSuppressed},
		{"from 1.0.0.0", setSrc(datagram(udpClosedFrame), "1.0.0.0"), nil},
		{"from 223.255.255.255", setSrc(datagram(udpClosedFrame), "223.255.255.255"), nil},
		{"truncated", datagram(udpClosedFrame)[:30], ErrTruncated},
	} {
		out := filled(600)
		n, err := Unreachable(out, tc.orig, peerB, CodePortUnreachable, 64)
		if err != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
		if err != nil && !bytes.Equal(out, filled(600)) {
			t.Errorf("%s: wrote on error", tc.name)
		}
		if err == nil {
			checkICMPError(t, tc.orig, out, n, peerB, ICMPDestUnreachable, CodePortUnreachable, 0, 64)
		}
	}
	// Argument errors.
	if _, err := Unreachable(filled(600), udp, netip.MustParseAddr("::1"), 3, 64); err != ErrNotIPv4 {
		t.Errorf("IPv6 source: %v", err)
	}
	if _, err := ICMPError(filled(600), udp, peerB, ICMPEchoReply, 0, 0, 64); err != ErrICMPType {
		t.Errorf("echo reply as an error: %v", err)
	}
}

// TestEchoReplyAllZero: a request with identifier, sequence and data all
// zero gets a reply of all zeros but its checksum, where RFC 1624's
// update gives 0x0000 and only 0xffff verifies.
func TestEchoReplyAllZero(t *testing.T) {
	if got := Update16(0xf7ff, 0x0800, 0x0000); got != 0x0000 {
		t.Fatalf("Update16 = %#04x: the exception is gone; revisit EchoReply", got)
	}
	b := make([]byte, HeaderLen+ICMPHeaderLen)
	h, _ := Encode(b, Fields{TTL: 64, Protocol: ProtoICMP, Src: peerA, Dst: peerB, PayloadLen: ICMPHeaderLen})
	copy(h.Payload(), []byte{ICMPEchoRequest, 0, 0xf7, 0xff, 0, 0, 0, 0})
	out := filled(len(b))
	n, err := EchoReply(out, h, 64)
	if err != nil {
		t.Fatal(err)
	}
	checkEchoReply(t, h, out[:n], 64)
	if c := ICMP(out[HeaderLen:n]); c.Checksum() != 0xffff {
		t.Errorf("checksum %#04x, want 0xffff", c.Checksum())
	}
	// Data that sums to 0xffff: 0x0000 is right again.
	b = make([]byte, HeaderLen+ICMPHeaderLen+2)
	h, _ = Encode(b, Fields{TTL: 64, Protocol: ProtoICMP, Src: peerA, Dst: peerB, PayloadLen: ICMPHeaderLen + 2})
	copy(h.Payload(), []byte{ICMPEchoRequest, 0, 0xf7, 0xff, 0, 0, 0, 0, 0xff, 0xff})
	out = filled(len(b))
	n, err = EchoReply(out, h, 64)
	if err != nil {
		t.Fatal(err)
	}
	checkEchoReply(t, h, out[:n], 64)
	if c := ICMP(out[HeaderLen:n]); c.Checksum() != 0x0000 {
		t.Errorf("checksum %#04x, want 0x0000", c.Checksum())
	}
}
