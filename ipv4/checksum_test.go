package ipv4

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"
)

// refFold is the textbook RFC 1071 loop: 16-bit big-endian words (an odd
// last byte padded with zero) added into a wide sum, carries folded back
// in at the end. initial is folded the same way first.
func refFold(b []byte, initial uint64) uint16 {
	s := initial
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	for i := 0; i < len(b); i += 2 {
		w := uint64(b[i]) << 8
		if i+1 < len(b) {
			w |= uint64(b[i+1])
		}
		s += w
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}

func TestSumAgainstReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 2000+8)
	initials := []uint64{0, 1, 0xffff, 0x10000, 0xffffffff, 1 << 63, ^uint64(0), ^uint64(0) - 1}
	for n := 0; n <= 2000; n++ {
		for _, fill := range []string{"random", "ones", "zeros"} {
			for i := range buf {
				switch fill {
				case "random":
					buf[i] = byte(rng.Uint32())
				case "ones":
					buf[i] = 0xff
				default:
					buf[i] = 0
				}
			}
			// Any start offset: the loads must not care about alignment.
			off := rng.IntN(8)
			b := buf[off : off+n]
			inits := append(initials, rng.Uint64(), rng.Uint64()>>rng.IntN(64))
			for _, init := range inits {
				want := refFold(b, init)
				if got := Fold(Sum(b, init)); got != want {
					t.Fatalf("%s n=%d off=%d initial=%#x: Fold(Sum) = %#04x, want %#04x", fill, n, off, init, got, want)
				}
				if got := Checksum(b, init); got != ^want {
					t.Fatalf("%s n=%d initial=%#x: Checksum = %#04x, want %#04x", fill, n, init, got, ^want)
				}
			}
			// Sums chain: any split at an even offset.
			k := rng.IntN(n/2+1) * 2
			if got, want := Fold(Sum(b[k:], Sum(b[:k], 0))), refFold(b, 0); got != want {
				t.Fatalf("n=%d split %d: %#04x, want %#04x", n, k, got, want)
			}
		}
	}
}

func TestFold(t *testing.T) {
	for _, tc := range []struct {
		in   uint64
		want uint16
	}{
		{0, 0},
		{0xffff, 0xffff},
		{0x10000, 1},
		{0x1fffe, 0xffff},
		{0xffffffff, 0xffff},
		{^uint64(0), 0xffff},
		{0x0001_0002_0003_0004, 10},
	} {
		if got := Fold(tc.in); got != tc.want {
			t.Errorf("Fold(%#x) = %#04x, want %#04x", tc.in, got, tc.want)
		}
	}
}

func TestPseudoSum(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 1000 {
		var ph [12]byte
		binary.BigEndian.PutUint64(ph[:8], rng.Uint64())
		ph[8] = 0
		ph[9] = byte(rng.Uint32())
		length := rng.IntN(65536)
		binary.BigEndian.PutUint16(ph[10:], uint16(length))
		src, dst := netip.AddrFrom4([4]byte(ph[0:4])), netip.AddrFrom4([4]byte(ph[4:8]))
		if got, want := Fold(PseudoSum(src, dst, ph[9], length)), refFold(ph[:], 0); got != want {
			t.Fatalf("PseudoSum(%v, %v, %d, %d) folds to %#04x, want %#04x", src, dst, ph[9], length, got, want)
		}
	}
	// Non-IPv4 addresses count as zero, never panic.
	if got := PseudoSum(netip.Addr{}, netip.MustParseAddr("::1"), 17, 8); got != 17+8 {
		t.Errorf("PseudoSum(zero, ::1) = %d", got)
	}
}

// TestUpdateRFC1624 is the example of RFC 1624 section 4: the sum of the
// other header words is 0xcd7a and a word changes from 0x5555 to 0x3285;
// the full computation gives 0x0000, which eqn 3 matches and eqn 2 (0xffff)
// does not.
func TestUpdateRFC1624(t *testing.T) {
	hc := ^Fold(0xcd7a + 0x5555)
	if hc != 0xdd2f {
		t.Fatalf("HC = %#04x", hc)
	}
	if got := Update16(hc, 0x5555, 0x3285); got != 0x0000 {
		t.Errorf("Update16 = %#04x, want 0x0000", got)
	}
	if got, want := Update16(hc, 0x5555, 0x3285), ^Fold(0xcd7a+0x3285); got != want {
		t.Errorf("Update16 = %#04x, full = %#04x", got, want)
	}
}

// randomHeader returns a random 20..60-byte header (any bytes: the
// checksum arithmetic does not care what they mean) with its checksum set.
func randomHeader(rng *rand.Rand) Header {
	h := make(Header, HeaderLen+4*rng.IntN(11))
	for i := range h {
		h[i] = byte(rng.Uint32())
	}
	setFull(h)
	return h
}

// full is the checksum over all of h (a random header whose first byte
// need not say how long it is), checksum field taken as zero.
func full(h []byte) uint16 { return ^Fold(Sum(h[12:], Sum(h[:10], 0))) }

func setFull(h []byte) { binary.BigEndian.PutUint16(h[10:], full(h)) }

// forceChecksum changes the 16-bit word at off (not the checksum) so that
// the header's computed checksum is want, sets it, and returns the header.
func forceChecksum(h Header, off int, want uint16) Header {
	binary.BigEndian.PutUint16(h[off:], 0)
	// sum(others) + w must be ^want in one's complement.
	s := ^full(h)
	// One's complement subtraction: w = ^want - s.
	d := uint32(^want) + uint32(^s)
	d = d&0xffff + d>>16
	w := uint16(d)
	binary.BigEndian.PutUint16(h[off:], w)
	setFull(h)
	return h
}

// TestUpdateAgainstRecompute changes one 16- or 32-bit word of random
// headers and compares the incremental update with a full recomputation,
// including headers whose checksum is 0x0000 before or after the change
// (0xffff never comes out of a full computation over a non-zero header,
// and must not come out of Update16 either).
func TestUpdateAgainstRecompute(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	words := []int{0, 2, 4, 6, 8, 12, 14, 16, 18} // 16-bit words, checksum excluded
	for i := range 200000 {
		h := randomHeader(rng)
		off := words[rng.IntN(len(words))]
		switch i % 4 {
		case 1: // checksum 0x0000 before the change
			other := words[(rng.IntN(len(words)-1)+1+indexOf(words, off))%len(words)]
			h = forceChecksum(h, other, 0x0000)
			if h.Checksum() != 0 {
				t.Fatalf("could not force checksum 0: %#04x", h.Checksum())
			}
		case 2: // a new value that makes the checksum 0x0000
			g := forceChecksum(append(Header(nil), h...), off, 0x0000)
			if g.Checksum() != 0 {
				t.Fatalf("could not force checksum 0")
			}
			old := binary.BigEndian.Uint16(h[off:])
			nw := binary.BigEndian.Uint16(g[off:])
			if got := Update16(h.Checksum(), old, nw); got != 0x0000 {
				t.Fatalf("Update16 to a zero checksum = %#04x", got)
			}
		}
		old := binary.BigEndian.Uint16(h[off:])
		nw := uint16(rng.Uint32())
		if i%16 == 3 {
			nw = old
		}
		check := h.Checksum()
		binary.BigEndian.PutUint16(h[off:], nw)
		if got, want := Update16(check, old, nw), full(h); got != want {
			t.Fatalf("Update16(%#04x, %#04x, %#04x) = %#04x, recomputed %#04x", check, old, nw, got, want)
		}
		// 32-bit words at 4-byte offsets.
		setFull(h)
		off32 := []int{0, 4, 12, 16}[rng.IntN(4)]
		old32 := binary.BigEndian.Uint32(h[off32:])
		new32 := rng.Uint32()
		check = h.Checksum()
		binary.BigEndian.PutUint32(h[off32:], new32)
		if got, want := Update32(check, old32, new32), full(h); got != want {
			t.Fatalf("Update32(%#04x, %#08x, %#08x) = %#04x, recomputed %#04x", check, old32, new32, got, want)
		}
	}
}

func indexOf(s []int, v int) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

func randAddr(rng *rand.Rand) netip.Addr {
	var a [4]byte
	binary.BigEndian.PutUint32(a[:], rng.Uint32())
	return netip.AddrFrom4(a)
}
