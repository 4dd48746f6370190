package ipv6

import (
	"encoding/hex"
	"errors"
	"testing"
)

// ext is an extension header of kind next-header-to-follow, n bytes.
type ext struct {
	kind uint8 // this header's type (the previous one's next header)
	n    int   // its length in bytes
	frag uint16
	id   uint32
}

// packet builds a packet: the fixed header, exts in order, then upper
// with 8 bytes of payload.
func packet(upper uint8, exts ...ext) []byte {
	b := make([]byte, HeaderLen, 200)
	first := upper
	if len(exts) > 0 {
		first = exts[0].kind
	}
	for i, e := range exts {
		next := upper
		if i+1 < len(exts) {
			next = exts[i+1].kind
		}
		h := make([]byte, e.n)
		h[0] = next
		switch e.kind {
		case ProtoFragment:
			h[2], h[3] = byte(e.frag>>8), byte(e.frag)
			h[4], h[5], h[6], h[7] = byte(e.id>>24), byte(e.id>>16), byte(e.id>>8), byte(e.id)
		case ProtoAH:
			h[1] = byte(e.n/4 - 2)
		default:
			h[1] = byte(e.n/8 - 1)
		}
		b = append(b, h...)
	}
	b = append(b, make([]byte, 8)...)
	h, _ := Encode(b, Fields{NextHeader: first, HopLimit: 64, Src: src, Dst: dst, PayloadLen: len(b) - HeaderLen})
	return h
}

func TestWalk(t *testing.T) {
	hbh, dst8, rt24, ah16 := ext{kind: ProtoHopByHop, n: 8}, ext{kind: ProtoDestOpts, n: 8}, ext{kind: ProtoRouting, n: 24}, ext{kind: ProtoAH, n: 16}
	frag := func(off uint16, more bool) ext {
		v := off << 3
		if more {
			v |= 1
		}
		return ext{kind: ProtoFragment, n: 8, frag: v, id: 0xdeadbeef}
	}
	many := make([]ext, MaxExtHeaders+1)
	for i := range many {
		many[i] = dst8
	}
	for _, tc := range []struct {
		name string
		pkt  []byte
		want Upper
		err  error
	}{
		{"none", packet(ProtoUDP), Upper{Proto: ProtoUDP, Offset: 40}, nil},
		{"hop-by-hop", packet(ProtoTCP, hbh), Upper{Proto: ProtoTCP, Offset: 48, ExtHeaders: 1}, nil},
		{"the usual order", packet(ProtoUDP, hbh, dst8, rt24, ah16, dst8), Upper{Proto: ProtoUDP, Offset: 104, ExtHeaders: 5}, nil},
		{"first fragment", packet(ProtoUDP, frag(0, true)), Upper{Proto: ProtoUDP, Offset: 48, ExtHeaders: 1, Fragment: true, MoreFragments: true, ID: 0xdeadbeef}, nil},
		{"atomic fragment", packet(ProtoICMPv6, frag(0, false)), Upper{Proto: ProtoICMPv6, Offset: 48, ExtHeaders: 1, Fragment: true, ID: 0xdeadbeef}, nil},
		{"later fragment", packet(ProtoUDP, frag(185, false), dst8), Upper{Proto: ProtoDestOpts, Offset: 48, ExtHeaders: 1, Fragment: true, FragOffset: 1480, ID: 0xdeadbeef}, nil},
		{"no next header", packet(ProtoNone, dst8), Upper{Proto: ProtoNone, Offset: 48, ExtHeaders: 1}, nil},
		{"esp", packet(ProtoESP, hbh), Upper{Proto: ProtoESP, Offset: 48, ExtHeaders: 1}, nil},
		{"the most", packet(ProtoUDP, many[:MaxExtHeaders]...), Upper{Proto: ProtoUDP, Offset: 40 + 8*MaxExtHeaders, ExtHeaders: MaxExtHeaders}, nil},
		{"one too many", packet(ProtoUDP, many...), Upper{}, ErrChain},
		{"hop-by-hop second", packet(ProtoUDP, dst8, hbh), Upper{}, ErrChain},
	} {
		u, err := Header(tc.pkt).Walk()
		if !errors.Is(err, tc.err) || tc.err == nil && u != tc.want {
			t.Errorf("%s: %+v, %v\nwant %+v, %v", tc.name, u, err, tc.want, tc.err)
		}
	}
}

// TestWalkTruncated: a chain cut anywhere inside an extension header, by
// the payload length, is ErrTruncated; a jumbogram is refused.
func TestWalkTruncated(t *testing.T) {
	full := packet(ProtoUDP, ext{kind: ProtoHopByHop, n: 16}, ext{kind: ProtoRouting, n: 24}, ext{kind: ProtoFragment, n: 8})
	// From one byte of payload: none behind a hop-by-hop header is a
	// jumbogram's payload length (below).
	for cut := HeaderLen + 1; cut < HeaderLen+48; cut++ {
		p := append([]byte(nil), full[:cut]...)
		p[4], p[5] = byte((cut-HeaderLen)>>8), byte(cut-HeaderLen)
		if _, err := Header(p).Walk(); !errors.Is(err, ErrTruncated) {
			t.Errorf("payload cut to %d bytes: %v, want ErrTruncated", cut-HeaderLen, err)
		}
	}
	jumbo := packet(ProtoUDP, ext{kind: ProtoHopByHop, n: 8})
	jumbo[4], jumbo[5] = 0, 0
	if _, err := Header(jumbo).Walk(); !errors.Is(err, ErrPayloadLen) {
		t.Errorf("jumbogram: %v, want ErrPayloadLen", err)
	}
}

// FuzzHeader: Check, Walk, CheckND, EchoReply and ICMPError never panic on any
// bytes, and what they accept stays inside the packet.
func FuzzHeader(f *testing.F) {
	f.Add(packet(ProtoUDP))
	f.Add(packet(ProtoUDP, ext{kind: ProtoHopByHop, n: 8}, ext{kind: ProtoFragment, n: 8, frag: 1}))
	f.Add(packet(ProtoTCP, ext{kind: ProtoAH, n: 16}, ext{kind: ProtoRouting, n: 24}))
	for _, s := range []string{scapyNS, scapyNA, scapyDAD, scapyEcho, scapyRA} {
		b, _ := hex.DecodeString(s)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h := Header(b)
		if h.Check() != nil {
			return
		}
		end := HeaderLen + h.PayloadLen()
		if end > len(b) || len(h.Payload()) != h.PayloadLen() {
			t.Fatalf("payload %d past %d bytes", end, len(b))
		}
		u, err := h.Walk()
		if err == nil && (u.Offset < HeaderLen || u.Offset > end || u.ExtHeaders > MaxExtHeaders) {
			t.Fatalf("walk %+v outside the packet (end %d)", u, end)
		}
		if m, err := CheckND(h); err == nil {
			m.LinkAddr(OptSourceLinkAddr)
			m.LinkAddr(OptTargetLinkAddr)
		}
		if m, err := CheckRA(h); err == nil {
			m.SourceLinkAddr()
			m.MTU()
		}
		out := make([]byte, len(b))
		if n, err := EchoReply(out, h, src, 64); err == nil && n != end {
			t.Fatalf("echo reply of %d bytes to a %d-byte request", n, end)
		}
		out = make([]byte, 2048)
		if n, err := ICMPError(out, h, src, ICMPDestUnreachable, 4, 0, 64); err == nil && (n > MinMTU || n < icmpErrorHeaders+HeaderLen) {
			t.Fatalf("an error of %d bytes", n)
		}
	})
}

// TestNoAllocs: the views, Walk, Encode and PseudoSum allocate nothing.
func TestNoAllocs(t *testing.T) {
	p := packet(ProtoUDP, ext{kind: ProtoHopByHop, n: 8}, ext{kind: ProtoFragment, n: 8})
	out := make([]byte, 128)
	var sink uint64
	n := testing.AllocsPerRun(1000, func() {
		h := Header(p)
		if h.Check() == nil {
			u, _ := h.Walk()
			sink += uint64(u.Offset) + PseudoSum(h.Src(), h.Dst(), u.Proto, len(p)-u.Offset)
		}
		e, _ := Encode(out, Fields{Src: src, Dst: dst, NextHeader: ProtoUDP, PayloadLen: 8})
		e.SetSrc(dst)
	})
	if n != 0 {
		t.Errorf("%v allocations per run", n)
	}
	_ = sink
}
