package ether

import (
	"encoding/binary"
	"testing"
)

// FuzzSplit: Split never panics; when it succeeds its answer agrees with a
// plain reading of the bytes and no accessor panics; when it fails, a tag
// or the header really is cut.
func FuzzSplit(f *testing.F) {
	for _, g := range goldens {
		f.Add(g.frame)
	}
	f.Add(untagged[:13])
	f.Add(oneTag[:17])
	f.Add(twoTags[:21])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := Split(b)
		if err != nil {
			if fr.Header != nil || !sameFrame(fr, Frame{}) {
				t.Fatalf("failed Split returned %+v", fr)
			}
			if complete(b) {
				t.Fatalf("Split failed on a complete frame: %v: % x", err, b)
			}
			return
		}
		if !complete(b) {
			t.Fatalf("Split accepted a cut frame: % x", b)
		}
		if fr.L3 > len(b) || fr.L3 < HeaderLen || fr.L3 != HeaderLen+TagLen*fr.NumVLANs {
			t.Fatalf("L3 %d with %d tags in %d bytes", fr.L3, fr.NumVLANs, len(b))
		}
		if fr.NumVLANs < 0 || fr.NumVLANs > MaxVLANs {
			t.Fatalf("NumVLANs %d", fr.NumVLANs)
		}
		if err := fr.Header.Check(); err != nil {
			t.Fatal(err)
		}
		_, _, _ = fr.Header.Dst(), fr.Header.Src(), fr.Header.Type()
		if got := Type(binary.BigEndian.Uint16(b[fr.L3-2:])); got != fr.Type {
			t.Fatalf("Type %v, bytes before L3 say %v", fr.Type, got)
		}
		for i := range fr.NumVLANs {
			tpid := Type(binary.BigEndian.Uint16(b[HeaderLen-2+TagLen*i:]))
			if tpid != TypeVLAN && tpid != TypeQinQ {
				t.Fatalf("tag %d has TPID %v", i, tpid)
			}
			if fr.VLANs[i] != binary.BigEndian.Uint16(b[HeaderLen+TagLen*i:])&0xfff || fr.VLANs[i] > 0xfff {
				t.Fatalf("VLAN %d = %d", i, fr.VLANs[i])
			}
		}
		if fr.NumVLANs < MaxVLANs && (fr.Type == TypeVLAN || fr.Type == TypeQinQ) {
			t.Fatalf("stopped at a tag after %d tags", fr.NumVLANs)
		}
		// Rewriting the header through the view round-trips.
		c := append([]byte(nil), b...)
		h, err := Encode(c, fr.Header.Dst(), fr.Header.Src(), fr.Header.Type())
		if err != nil || string(h) != string(b[:HeaderLen]) {
			t.Fatalf("Encode(view fields) = % x, %v", h, err)
		}
	})
}

// complete is the reference for Split's error: whether b holds the
// Ethernet header and every tag Split reads, whole.
func complete(b []byte) bool {
	need := HeaderLen
	if len(b) < need {
		return false
	}
	for range MaxVLANs {
		if ty := binary.BigEndian.Uint16(b[need-2:]); ty != 0x8100 && ty != 0x88a8 {
			break
		}
		need += TagLen
		if len(b) < need {
			return false
		}
	}
	return true
}
