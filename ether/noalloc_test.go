//go:build !race

package ether

import "testing"

// TestNoAllocs has one row per hot-path API.
func TestNoAllocs(t *testing.T) {
	var (
		sinkFrame Frame
		sinkAddr  Addr
		sinkType  Type
		sinkBool  bool
		sinkInt   int
		buf       = make([]byte, 128)
		h         = Header(append([]byte(nil), untagged...))
	)
	for _, tc := range []struct {
		name string
		fn   func()
	}{
		{"Split untagged", func() { sinkFrame, _ = Split(untagged) }},
		{"Split two tags", func() { sinkFrame, _ = Split(twoTags) }},
		{"Split truncated", func() { sinkFrame, _ = Split(twoTags[:20]) }},
		{"Header.Check", func() { _ = h.Check() }},
		{"Header.Dst", func() { sinkAddr = h.Dst() }},
		{"Header.Src", func() { sinkAddr = h.Src() }},
		{"Header.Type", func() { sinkType = h.Type() }},
		{"Header.SetDst", func() { h.SetDst(macB) }},
		{"Header.SetSrc", func() { h.SetSrc(macA) }},
		{"Header.SetType", func() { h.SetType(TypeIPv4) }},
		{"Encode", func() { _, _ = Encode(buf, macB, macA, TypeARP) }},
		{"Encode short", func() { _, _ = Encode(buf[:3], macB, macA, TypeARP) }},
		{"Pad", func() { sinkInt = Pad(buf, 42) }},
		{"Addr.IsBroadcast", func() { sinkBool = sinkAddr.IsBroadcast() }},
		{"Addr.IsMulticast", func() { sinkBool = sinkAddr.IsMulticast() }},
		{"Addr.IsZero", func() { sinkBool = sinkAddr.IsZero() }},
		{"Addr.AppendText", func() { buf, _ = macA.AppendText(buf[:0]) }},
		{"ParseAddr", func() { sinkAddr, _ = ParseAddr("02:00:5e:10:00:01") }},
	} {
		if n := testing.AllocsPerRun(1000, tc.fn); n != 0 {
			t.Errorf("%s: %v allocations, want 0", tc.name, n)
		}
	}
	_, _, _, _, _ = sinkFrame, sinkAddr, sinkType, sinkBool, sinkInt
}
