package ether

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
)

var (
	macA = Addr{0x02, 0, 0, 0, 0, 0x01}
	macB = Addr{0x02, 0, 0, 0, 0, 0x02}
)

// fill returns n bytes of 0xa5, so that a byte an encoder forgot to write
// shows.
func fill(n int) []byte { return bytes.Repeat([]byte{0xa5}, n) }

var goldens = []struct {
	name  string
	frame []byte
	want  Frame // Header left nil: checked separately
}{
	{"untagged", untagged, Frame{Type: TypeIPv4, L3: 14}},
	{"one tag", oneTag, Frame{Type: TypeIPv4, L3: 18, VLANs: [2]uint16{100, 0}, NumVLANs: 1}},
	{"two tags", twoTags, Frame{Type: TypeIPv4, L3: 22, VLANs: [2]uint16{200, 300}, NumVLANs: 2}},
}

func TestSplitGolden(t *testing.T) {
	for _, g := range goldens {
		f, err := Split(g.frame)
		if err != nil {
			t.Fatalf("%s: %v", g.name, err)
		}
		if len(f.Header) != HeaderLen || &f.Header[0] != &g.frame[0] {
			t.Errorf("%s: Header is not the frame's first %d bytes", g.name, HeaderLen)
		}
		if f.Header.Dst() != macB || f.Header.Src() != macA {
			t.Errorf("%s: %v > %v, want %v > %v", g.name, f.Header.Src(), f.Header.Dst(), macA, macB)
		}
		if !sameFrame(f, g.want) {
			t.Errorf("%s: Split = %+v, want %+v", g.name, f, g.want)
		}
		// The IPv4 header starts at L3 in every variant: version 4, IHL 5.
		if g.frame[g.want.L3] != 0x45 {
			t.Errorf("%s: byte at L3 is %#x, want 0x45", g.name, g.frame[g.want.L3])
		}
		// The same bytes under every variant's L3.
		if !bytes.Equal(g.frame[g.want.L3:], untagged[HeaderLen:]) {
			t.Errorf("%s: payload differs from the untagged frame's", g.name)
		}
	}
}

func TestHeaderAccessors(t *testing.T) {
	h := Header(untagged)
	if err := h.Check(); err != nil {
		t.Fatal(err)
	}
	if h.Dst() != macB || h.Src() != macA || h.Type() != TypeIPv4 {
		t.Errorf("got %v %v %v", h.Dst(), h.Src(), h.Type())
	}
	if got := Header(oneTag).Type(); got != TypeVLAN {
		t.Errorf("tagged Header.Type = %v, want the TPID 802.1Q", got)
	}
	b := fill(HeaderLen + 2)
	h = Header(b)
	h.SetDst(Broadcast)
	h.SetSrc(macA)
	h.SetType(TypeARP)
	want := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x06, 0xa5, 0xa5}
	if !bytes.Equal(b, want) {
		t.Errorf("setters wrote\n% x\nwant\n% x", b, want)
	}
}

// TestSplitTruncated cuts every golden frame at every length: Split must
// fail exactly when a header or tag is cut, and succeed with the same
// answer otherwise (Split does not look past L3).
func TestSplitTruncated(t *testing.T) {
	for _, g := range goldens {
		for n := 0; n <= len(g.frame); n++ {
			f, err := Split(g.frame[:n])
			if n < g.want.L3 {
				if !errors.Is(err, ErrTruncated) {
					t.Errorf("%s[:%d]: err = %v, want ErrTruncated", g.name, n, err)
				}
				if f.Header != nil || !sameFrame(f, Frame{}) {
					t.Errorf("%s[:%d]: failed Split returned %+v, want the zero Frame", g.name, n, f)
				}
				continue
			}
			if err != nil {
				t.Errorf("%s[:%d]: %v", g.name, n, err)
				continue
			}
			if !sameFrame(f, g.want) {
				t.Errorf("%s[:%d]: %+v, want %+v", g.name, n, f, g.want)
			}
		}
	}
	if err := Header(untagged[:HeaderLen-1]).Check(); !errors.Is(err, ErrTruncated) {
		t.Errorf("Check on 13 bytes: %v", err)
	}
	if err := Header(untagged[:HeaderLen]).Check(); err != nil {
		t.Errorf("Check on 14 bytes: %v", err)
	}
}

func TestSplitTags(t *testing.T) {
	frame := func(types ...uint16) []byte {
		b := append([]byte{}, untagged[:12]...)
		for i, ty := range types {
			b = append(b, byte(ty>>8), byte(ty))
			if i < len(types)-1 {
				// TCI: PCP 7, DEI 1, VID 0xabc + i; Split keeps the VID.
				b = append(b, 0xf0|0x0a, 0xbc+byte(i))
			}
		}
		return append(b, 0x45)
	}
	for _, tc := range []struct {
		name  string
		frame []byte
		want  Frame
	}{
		{"802.3 length", frame(0x05dc), Frame{Type: 0x05dc, L3: 14}},
		{"IPv6", frame(0x86dd), Frame{Type: TypeIPv6, L3: 14}},
		{"Q then Q", frame(0x8100, 0x8100, 0x0806), Frame{Type: TypeARP, L3: 22, VLANs: [2]uint16{0xabc, 0xabd}, NumVLANs: 2}},
		{"Q then ad", frame(0x8100, 0x88a8, 0x0800), Frame{Type: TypeIPv4, L3: 22, VLANs: [2]uint16{0xabc, 0xabd}, NumVLANs: 2}},
		{"ad only", frame(0x88a8, 0x0800), Frame{Type: TypeIPv4, L3: 18, VLANs: [2]uint16{0xabc, 0}, NumVLANs: 1}},
		// A third tag is left unread: the caller sees its TPID.
		{"three tags", frame(0x88a8, 0x8100, 0x8100, 0x0800), Frame{Type: TypeVLAN, L3: 22, VLANs: [2]uint16{0xabc, 0xabd}, NumVLANs: 2}},
		// A tag whose inner type is cut off.
		{"tag without type", frame(0x8100, 0x0800)[:17], Frame{}},
	} {
		f, err := Split(tc.frame)
		if tc.want.L3 == 0 {
			if !errors.Is(err, ErrTruncated) {
				t.Errorf("%s: err = %v, want ErrTruncated", tc.name, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if !sameFrame(f, tc.want) {
			t.Errorf("%s: %+v, want %+v", tc.name, f, tc.want)
		}
	}
}

// TestEncode writes each golden frame's header into 0xa5 fill: the 14
// bytes must match the capture and nothing after them may change.
func TestEncode(t *testing.T) {
	b := fill(HeaderLen + 8)
	h, err := Encode(b, macB, macA, TypeIPv4)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b[:HeaderLen], untagged[:HeaderLen]) {
		t.Errorf("Encode wrote\n% x\nwant\n% x", b[:HeaderLen], untagged[:HeaderLen])
	}
	if !bytes.Equal(b[HeaderLen:], fill(8)) {
		t.Errorf("Encode wrote past the header: % x", b[HeaderLen:])
	}
	if len(h) != HeaderLen || cap(h) != HeaderLen || &h[0] != &b[0] {
		t.Errorf("Encode returned len %d cap %d, want a %d-byte view of b", len(h), cap(h), HeaderLen)
	}
	if _, err := Encode(fill(HeaderLen-1), macB, macA, TypeIPv4); !errors.Is(err, ErrShortBuffer) {
		t.Errorf("Encode into 13 bytes: %v, want ErrShortBuffer", err)
	}
	// Encode then Split is the identity on the fields.
	f, err := Split(b)
	if err != nil || f.Type != TypeIPv4 || f.L3 != HeaderLen || f.Header.Dst() != macB || f.Header.Src() != macA {
		t.Errorf("Split(Encode(...)) = %+v, %v", f, err)
	}
}

func TestPad(t *testing.T) {
	for _, tc := range []struct {
		name      string
		size, n   int
		want      int
		zeroStart int // b[zeroStart:want] must be zero, the rest 0xa5
	}{
		{"ARP frame", 64, 42, 60, 42},
		{"empty", 64, 0, 60, 0},
		{"exactly minimum", 64, 60, 60, 60},
		{"longer", 128, 100, 100, 100},
		{"buffer of minimum size", 60, 59, 60, 59},
		{"short buffer", 50, 42, 50, 42},
		{"n past a short buffer", 50, 55, 55, 55},
		{"negative n", 64, -1, 60, 0},
	} {
		b := fill(tc.size)
		got := Pad(b, tc.n)
		if got != tc.want {
			t.Errorf("%s: Pad = %d, want %d", tc.name, got, tc.want)
		}
		for i, x := range b {
			wantByte := byte(0xa5)
			if i >= tc.zeroStart && i < tc.want {
				wantByte = 0
			}
			if x != wantByte {
				t.Errorf("%s: b[%d] = %#x, want %#x", tc.name, i, x, wantByte)
				break
			}
		}
	}
}

func TestAddr(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Addr
	}{
		{"02:00:5e:10:00:01", Addr{0x02, 0x00, 0x5e, 0x10, 0x00, 0x01}},
		{"02:00:5E:10:00:0A", Addr{0x02, 0x00, 0x5e, 0x10, 0x00, 0x0a}},
		{"02-00-5e-10-00-01", Addr{0x02, 0x00, 0x5e, 0x10, 0x00, 0x01}},
		{"0200.5e10.0001", Addr{0x02, 0x00, 0x5e, 0x10, 0x00, 0x01}},
		{"ff:ff:ff:ff:ff:ff", Broadcast},
		{"00:00:00:00:00:00", Addr{}},
	} {
		got, err := ParseAddr(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseAddr(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			continue
		}
		// String, then ParseAddr again, is the identity.
		back, err := ParseAddr(got.String())
		if err != nil || back != got {
			t.Errorf("ParseAddr(%q.String()) = %v, %v", got, back, err)
		}
	}
	if s := (Addr{0x02, 0x00, 0x5e, 0x10, 0xab, 0xcd}).String(); s != "02:00:5e:10:ab:cd" {
		t.Errorf("String = %q", s)
	}
	for _, in := range []string{
		"", "02:00:5e:10:00", "02:00:5e:10:00:01:02", "02:00:5e:10:00:0g", "02:00-5e:10:00:01",
		"02-00:5e-10-00-01", "0200.5e10.000g", "0200:5e10.0001", "02005e100001", " 02:00:5e:10:00:01",
		"02:00:5e:10:00:1", "2:00:5e:10:00:01",
	} {
		if a, err := ParseAddr(in); !errors.Is(err, ErrInvalidAddr) {
			t.Errorf("ParseAddr(%q) = %v, %v; want ErrInvalidAddr", in, a, err)
		}
	}
}

func TestAddrPredicates(t *testing.T) {
	for _, tc := range []struct {
		a                  Addr
		bcast, mcast, zero bool
	}{
		{Broadcast, true, true, false},
		{Addr{0x01, 0x00, 0x5e, 0, 0, 1}, false, true, false}, // IPv4 multicast
		{Addr{0x33, 0x33, 0, 0, 0, 1}, false, true, false},    // IPv6 multicast
		{macA, false, false, false},
		{Addr{}, false, false, true},
	} {
		if tc.a.IsBroadcast() != tc.bcast || tc.a.IsMulticast() != tc.mcast || tc.a.IsZero() != tc.zero {
			t.Errorf("%v: broadcast %v multicast %v zero %v", tc.a, tc.a.IsBroadcast(), tc.a.IsMulticast(), tc.a.IsZero())
		}
	}
}

func TestAddrJSON(t *testing.T) {
	in := struct{ MAC Addr }{macA}
	j, err := json.Marshal(in)
	if err != nil || string(j) != `{"MAC":"02:00:00:00:00:01"}` {
		t.Fatalf("Marshal = %s, %v", j, err)
	}
	var out struct{ MAC Addr }
	if err := json.Unmarshal(j, &out); err != nil || out != in {
		t.Errorf("Unmarshal = %+v, %v", out, err)
	}
	if err := json.Unmarshal([]byte(`{"MAC":"nope"}`), &out); !errors.Is(err, ErrInvalidAddr) {
		t.Errorf("Unmarshal of a bad address: %v", err)
	}
}

func TestTypeString(t *testing.T) {
	for ty, want := range map[Type]string{TypeIPv4: "IPv4", TypeARP: "ARP", TypeIPv6: "IPv6", TypeVLAN: "802.1Q", TypeQinQ: "802.1ad", 0x88cc: "0x88cc"} {
		if got := ty.String(); got != want {
			t.Errorf("%#04x: %q, want %q", uint16(ty), got, want)
		}
	}
}

// sameFrame compares two Frames but for their Header slices.
func sameFrame(a, b Frame) bool {
	return a.Type == b.Type && a.L3 == b.L3 && a.VLANs == b.VLANs && a.NumVLANs == b.NumVLANs
}
