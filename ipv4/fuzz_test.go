package ipv4

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
)

// Seed corpora: the f.Add calls below, and files under
// testdata/fuzz/<FuzzName>/ (the golden packets and some hand-made edge
// cases, in the `go test fuzz v1` format).

// refCheck is Check's rules restated plainly, for differential fuzzing.
func refCheck(b []byte) bool {
	if len(b) < 20 || b[0]>>4 != 4 {
		return false
	}
	ihl := int(b[0]&15) * 4
	total := int(b[2])<<8 | int(b[3])
	return ihl >= 20 && ihl <= len(b) && total >= ihl && total <= len(b)
}

func FuzzHeader(f *testing.F) {
	for _, frame := range [][]byte{echoRequestFrame, echoReplyFrame, udpFrame, udpClosedFrame, unreachFrame, echoRRRequestFrame, echoRRReplyFrame} {
		f.Add(bytes.Clone(frame[ethLen:]))
		f.Add(append(bytes.Clone(frame[ethLen:]), 0, 0, 0, 0, 0, 0)) // Ethernet padding
	}
	f.Add([]byte{0x45, 0, 0, 20})
	f.Fuzz(func(t *testing.T, data []byte) {
		h := Header(data)
		err := h.Check()
		if (err == nil) != refCheck(data) {
			t.Fatalf("Check = %v, reference says %v", err, refCheck(data))
		}
		if err != nil {
			return
		}
		// No accessor panics, and the bounds agree.
		_ = h.Version() + h.TOS() + h.TTL() + h.Protocol()
		_, _, _, _ = h.ID(), h.Checksum(), h.Src(), h.Dst()
		_, _, _, _ = h.DontFragment(), h.MoreFragments(), h.IsFragment(), h.FragOffset()
		if h.IHL() < HeaderLen || h.IHL() > MaxHeaderLen || len(h.Options()) != h.IHL()-HeaderLen {
			t.Fatalf("IHL %d, options %d", h.IHL(), len(h.Options()))
		}
		p := h.Payload()
		if len(p) != h.TotalLen()-h.IHL() || (len(p) > 0 && &p[0] != &data[h.IHL()]) {
			t.Fatalf("payload %d bytes for total %d IHL %d", len(p), h.TotalLen(), h.IHL())
		}
		valid := h.ChecksumValid()
		if want := refFold(data[:h.IHL()], 0) == 0xffff; valid != want {
			t.Fatalf("ChecksumValid %v, reference %v", valid, want)
		}
		// SetTTL on a copy keeps a valid checksum valid.
		c := Header(bytes.Clone(data))
		c.SetTTL(data[8] ^ 0x5a)
		if valid && !c.ChecksumValid() {
			t.Fatal("SetTTL broke a valid checksum")
		}

		icmpOK := h.Protocol() == ProtoICMP && !h.IsFragment() && len(p) >= ICMPHeaderLen && p[0] == ICMPEchoRequest
		need := HeaderLen + len(p)
		for _, size := range []int{0, need - 1, need, need + 1, 2048} {
			if size < 0 {
				continue
			}
			buf := filled(size + 8)
			out := buf[:size:size] // no room to write past, even by reslicing
			n, err := EchoReply(out, h, 7)
			if (err == nil) != (icmpOK && size >= need) {
				t.Fatalf("EchoReply into %d bytes: %v (echo request: %v, needs %d)", size, err, icmpOK, need)
			}
			if !bytes.Equal(buf[size:], filled(8)) {
				t.Fatal("EchoReply wrote past out")
			}
			if err != nil {
				if !bytes.Equal(buf, filled(size+8)) {
					t.Fatal("EchoReply wrote on error")
				}
				continue
			}
			r := Header(out[:n])
			if n != need || r.Check() != nil || !r.ChecksumValid() || r.TTL() != 7 || r.Src() != h.Dst() || r.Dst() != h.Src() {
				t.Fatalf("reply % x", out[:n])
			}
			rc := ICMP(r.Payload())
			if rc.ChecksumValid() != ICMP(p).ChecksumValid() || rc.Type() != ICMPEchoReply || !bytes.Equal(rc[1:2], p[1:2]) || !bytes.Equal(rc[4:], p[4:]) {
				t.Fatalf("reply ICMP % x for request % x", rc, p)
			}
		}

		for _, size := range []int{0, 28 + h.IHL() + 7, 28 + h.IHL() + 8, 600} {
			buf := filled(size + 8)
			out := buf[:size:size]
			n, err := Unreachable(out, h, netip.MustParseAddr("192.0.2.2"), CodePortUnreachable, 64)
			if !bytes.Equal(buf[size:], filled(8)) {
				t.Fatal("Unreachable wrote past out")
			}
			if err != nil {
				if !bytes.Equal(buf, filled(size+8)) {
					t.Fatal("Unreachable wrote on error")
				}
				continue
			}
			if suppressed(h) {
				t.Fatal("answered a datagram that must not be")
			}
			q := min(h.TotalLen(), 548, size-28)
			r := Header(out[:n])
			if n != 28+q || n > 576 || r.Check() != nil || !r.ChecksumValid() || r.Dst() != h.Src() {
				t.Fatalf("unreachable % x", out[:n])
			}
			rc := ICMP(r.Payload())
			if !rc.ChecksumValid() || rc.Type() != ICMPDestUnreachable || !bytes.Equal(rc.Body(), data[:q]) {
				t.Fatalf("unreachable ICMP % x", rc)
			}
		}
	})
}

func FuzzUDP(f *testing.F) {
	for _, frame := range [][]byte{udpFrame, udpClosedFrame} {
		h := Header(frame[ethLen:])
		f.Add(bytes.Clone(h.Payload()), addrBits(h.Src()), addrBits(h.Dst()))
	}
	f.Add([]byte{0, 53, 0, 53, 0, 8, 0, 0}, uint32(0x0a000001), uint32(0x0a000002))
	f.Add([]byte{0, 53, 0, 53, 0, 7, 0, 0}, uint32(0), uint32(0))
	f.Fuzz(func(t *testing.T, data []byte, src, dst uint32) {
		u := UDP(data)
		err := u.Check()
		ok := len(data) >= 8 && int(binary.BigEndian.Uint16(data[4:])) >= 8 && int(binary.BigEndian.Uint16(data[4:])) <= len(data)
		if (err == nil) != ok {
			t.Fatalf("Check = %v, reference says %v", err, ok)
		}
		s, d := bitsAddr(src), bitsAddr(dst)
		if len(data) >= 8 {
			// SetChecksum never panics on 8 bytes or more, checked or not.
			c := UDP(bytes.Clone(data))
			c.SetChecksum(s, d)
			if ok && (c.Checksum() == 0 || !c.ChecksumValid(s, d)) {
				t.Fatalf("SetChecksum gave %#04x, which does not verify", c.Checksum())
			}
		}
		if err != nil {
			return
		}
		_, _ = u.SrcPort(), u.DstPort()
		if p := u.Payload(); len(p) != u.Length()-8 || (len(p) > 0 && &p[0] != &data[8]) {
			t.Fatalf("payload %d bytes for length %d", len(p), u.Length())
		}
		want := u.Checksum() == 0
		if !want {
			ph := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, src), dst)
			ph = append(ph, 0, ProtoUDP, data[4], data[5])
			want = refFold(append(ph, data[:u.Length()]...), 0) == 0xffff
		}
		if got := u.ChecksumValid(s, d); got != want {
			t.Fatalf("ChecksumValid %v, reference %v", got, want)
		}
	})
}

func FuzzICMP(f *testing.F) {
	for _, frame := range [][]byte{echoRequestFrame, echoReplyFrame, unreachFrame, echoRRRequestFrame} {
		f.Add(bytes.Clone(Header(frame[ethLen:]).Payload()))
	}
	f.Add([]byte{8, 0, 0xf7, 0xff, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		c := ICMP(data)
		err := c.Check()
		if (err == nil) != (len(data) >= ICMPHeaderLen) {
			t.Fatalf("Check = %v for %d bytes", err, len(data))
		}
		if err != nil {
			return
		}
		_, _, _, _, _, _ = c.Type(), c.Code(), c.Checksum(), c.ID(), c.Seq(), c.Rest()
		if b := c.Body(); len(b) != len(data)-8 {
			t.Fatalf("body %d bytes", len(b))
		}
		valid := c.ChecksumValid()
		if want := refFold(data, 0) == 0xffff; valid != want {
			t.Fatalf("ChecksumValid %v, reference %v", valid, want)
		}
		// Carried in a datagram, an echo request gets a reply.
		if len(data) > 0xffff-HeaderLen {
			return
		}
		b := make([]byte, HeaderLen+len(data))
		h, err := Encode(b, Fields{TTL: 9, Protocol: ProtoICMP, Src: netip.MustParseAddr("192.0.2.1"), Dst: netip.MustParseAddr("192.0.2.2"), PayloadLen: len(data)})
		if err != nil {
			t.Fatal(err)
		}
		copy(h.Payload(), data)
		out := make([]byte, len(b))
		n, err := EchoReply(out, h, 64)
		if (err == nil) != (c.Type() == ICMPEchoRequest) {
			t.Fatalf("EchoReply for type %d: %v", c.Type(), err)
		}
		if err != nil {
			return
		}
		rc := ICMP(Header(out[:n]).Payload())
		if rc.ChecksumValid() != valid || rc.Type() != ICMPEchoReply || !bytes.Equal(rc[4:], data[4:]) {
			t.Fatalf("reply % x for % x", rc, data)
		}
		if valid && rc.Checksum() != fullICMPChecksum(rc) {
			t.Fatalf("reply checksum %#04x, full computation %#04x", rc.Checksum(), fullICMPChecksum(rc))
		}
	})
}
