package ipv4

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"testing"
)

func TestUDPCheck(t *testing.T) {
	base := UDP(datagram(udpFrame).Payload())
	for _, tc := range []struct {
		name    string
		edit    func(u UDP) UDP
		want    error
		payload int
	}{
		{"ok", func(u UDP) UDP { return u }, nil, 16},
		{"length 8", func(u UDP) UDP { binary.BigEndian.PutUint16(u[4:], 8); return u }, nil, 0},
		{"length 7", func(u UDP) UDP { binary.BigEndian.PutUint16(u[4:], 7); return u }, ErrUDPLen, 0},
		{"length 0", func(u UDP) UDP { binary.BigEndian.PutUint16(u[4:], 0); return u }, ErrUDPLen, 0},
		{"length beyond", func(u UDP) UDP { binary.BigEndian.PutUint16(u[4:], 25); return u }, ErrUDPLen, 0},
		{"IP payload longer", func(u UDP) UDP { return append(u, 1, 2, 3) }, nil, 16},
		{"header only", func(u UDP) UDP { return u[:8] }, ErrUDPLen, 0},
		{"7 bytes", func(u UDP) UDP { return u[:7] }, ErrTruncated, 0},
	} {
		u := tc.edit(bytes.Clone(base))
		if err := u.Check(); err != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
			continue
		}
		if tc.want == nil && len(u.Payload()) != tc.payload {
			t.Errorf("%s: payload %d bytes, want %d", tc.name, len(u.Payload()), tc.payload)
		}
	}
	// Bytes past the length field are not covered by the checksum.
	u := UDP(append(bytes.Clone(base), 0xde, 0xad))
	if !u.ChecksumValid(peerA, peerB) {
		t.Error("trailing bytes broke the checksum")
	}
}

func TestUDPChecksum(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	b := make([]byte, 2000)
	for n := 0; n <= 1472; n++ {
		src, dst := randAddr(rng), randAddr(rng)
		u, err := EncodeUDP(b, uint16(rng.Uint32()), uint16(rng.Uint32()), n)
		if err != nil {
			t.Fatal(err)
		}
		for i := range u.Payload() {
			u.Payload()[i] = byte(rng.Uint32())
		}
		if !u.ChecksumValid(src, dst) {
			t.Fatal("a zero checksum (none) must be valid")
		}
		u.SetChecksum(src, dst)
		if u.Checksum() == 0 || !u.ChecksumValid(src, dst) {
			t.Fatalf("n=%d: checksum %#04x does not verify", n, u.Checksum())
		}
		// The reference: pseudo-header bytes and the datagram, textbook sum.
		ph := append(append(src.AsSlice(), dst.AsSlice()...), 0, ProtoUDP, byte(len(u)>>8), byte(len(u)))
		c := u.Checksum()
		binary.BigEndian.PutUint16(u[6:], 0)
		want := ^refFold(append(ph, u...), 0)
		if want == 0 {
			want = 0xffff
		}
		if c != want {
			t.Fatalf("n=%d: checksum %#04x, want %#04x", n, c, want)
		}
		binary.BigEndian.PutUint16(u[6:], c)
		if n > 0 {
			u.Payload()[rng.IntN(n)] ^= 1 << rng.IntN(8)
			if u.ChecksumValid(src, dst) {
				t.Fatalf("n=%d: a flipped bit still verifies", n)
			}
		}
	}
}

// TestUDPChecksumZero: a datagram whose checksum computes to 0 carries
// 0xffff (RFC 768), and that verifies.
func TestUDPChecksumZero(t *testing.T) {
	b := filled(8 + 4)
	u, _ := EncodeUDP(b, 1000, 2000, 4)
	binary.BigEndian.PutUint32(u[8:], 0)
	// Make the sum 0xffff by choosing the first payload word.
	s := Fold(Sum(u, PseudoSum(peerA, peerB, ProtoUDP, len(u))))
	binary.BigEndian.PutUint16(u[8:], ^s)
	u.SetChecksum(peerA, peerB)
	if u.Checksum() != 0xffff {
		t.Fatalf("checksum %#04x, want 0xffff", u.Checksum())
	}
	if !u.ChecksumValid(peerA, peerB) {
		t.Error("0xffff does not verify")
	}
}

func TestEncodeUDPErrors(t *testing.T) {
	for _, tc := range []struct {
		n, payload int
		want       error
	}{
		{7, 0, ErrTruncated},
		{8, 1, ErrTruncated},
		{8, -1, ErrUDPLen},
		{70000, 65528, ErrUDPLen},
		{8, 0, nil},
		{65535, 65527, nil},
	} {
		b := filled(tc.n)
		u, err := EncodeUDP(b, 1, 2, tc.payload)
		if err != tc.want {
			t.Errorf("EncodeUDP(%d bytes, %d): %v, want %v", tc.n, tc.payload, err, tc.want)
		}
		if err != nil {
			if !bytes.Equal(b, filled(tc.n)) {
				t.Error("wrote on error")
			}
			continue
		}
		if u.Check() != nil || u.Length() != 8+tc.payload || len(u) != 8+tc.payload {
			t.Errorf("EncodeUDP(%d): length %d, view %d", tc.payload, u.Length(), len(u))
		}
	}
	// SetChecksum on a view whose length field lies does not panic.
	u := UDP(filled(12))
	binary.BigEndian.PutUint16(u[4:], 0xffff)
	u.SetChecksum(peerA, peerB)
	binary.BigEndian.PutUint16(u[4:], 3)
	u.SetChecksum(peerA, peerB)
}
