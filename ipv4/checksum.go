package ipv4

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
)

// The Internet checksum (RFC 1071) is the one's complement of the one's
// complement sum of the data taken as big-endian 16-bit words. Because
// 2^16 ≡ 1 modulo 2^16-1, the sum may be taken over wider words with an
// end-around carry and folded at the end: Sum adds 8 bytes at a time into
// a 64-bit accumulator (2^64-1 is a multiple of 2^16-1, so the 64-bit
// one's complement sum folds to the 16-bit one).
//
// Sum loads the words little-endian, which is what the CPU does without a
// byte swap, and converts once at the end: swapping the bytes of a 16-bit
// word multiplies it by 2^8 modulo 2^16-1 (RFC 1071 2(B), "byte order
// independence"), so the little-endian sum times 2^8 — a 64-bit rotation,
// modulo 2^64-1 — is congruent to the big-endian one.

// Sum returns the one's complement sum of b, as big-endian 16-bit words
// (an odd last byte is padded with a zero byte), added to initial. The
// result is a partial sum, not folded: pass it as the initial value of
// another Sum, or to Fold. Sum is zero only if b and initial are all zero.
func Sum(b []byte, initial uint64) uint64 {
	var s, carries uint64
	for len(b) >= 64 {
		// One chain of add-with-carry per 64 bytes; its last carry goes
		// to a separate counter, so that the next chain does not wait
		// for it.
		var c uint64
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b[0:8]), 0)
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b[8:16]), c)
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b[16:24]), c)
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b[24:32]), c)
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b[32:40]), c)
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b[40:48]), c)
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b[48:56]), c)
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b[56:64]), c)
		carries += c
		b = b[64:]
	}
	for len(b) >= 8 {
		var c uint64
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b), 0)
		carries += c
		b = b[8:]
	}
	// What remains is under 8 bytes; each piece starts at an even offset,
	// so where it lands in the 64-bit word does not matter.
	var t uint64
	if len(b) >= 4 {
		t = uint64(binary.LittleEndian.Uint32(b))
		b = b[4:]
	}
	if len(b) >= 2 {
		t += uint64(binary.LittleEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		t += uint64(b[0]) // the high byte of a big-endian word: low here
	}
	var c uint64
	s, c = bits.Add64(s, t, 0)
	carries += c
	// carries counts 2^64s, each worth 1 modulo 2^64-1; it is far from
	// overflowing (one per 8 bytes at most).
	s, c = bits.Add64(s, carries, 0)
	s += c // cannot carry again: s was at most 2^64-2 after wrapping
	// Back to big-endian: multiply by 2^8 modulo 2^64-1 (a rotation),
	// which is a byte swap modulo 2^16-1; then add initial.
	s, c = bits.Add64(bits.RotateLeft64(s, 8), initial, 0)
	return s + c
}

// Fold folds a partial sum to 16 bits with end-around carries. It does not
// complement: Fold(Sum(data-with-checksum, 0)) == 0xffff means the checksum
// verifies. Fold returns 0 only for a zero sum.
func Fold(sum uint64) uint16 {
	s := (sum & 0xffffffff) + sum>>32 // ≤ 0x1_ffff_fffe
	s = (s & 0xffffffff) + s>>32      // ≤ 0xffff_ffff
	s = (s & 0xffff) + s>>16          // ≤ 0x1_fffe
	s = (s & 0xffff) + s>>16          // ≤ 0xffff
	return uint16(s)
}

// Checksum returns the Internet checksum of b with initial (a partial sum,
// such as PseudoSum's) added: ^Fold(Sum(b, initial)). Computed over data
// whose checksum field is zero, it is the value to store there; computed
// over data with its checksum in place, it is zero when the checksum
// verifies.
func Checksum(b []byte, initial uint64) uint16 {
	return ^Fold(Sum(b, initial))
}

// PseudoSum returns the partial sum of the TCP/UDP pseudo-header
// (RFC 768, RFC 9293 3.1): source and destination addresses, zero,
// protocol, and the TCP/UDP length (the low 16 bits of length). A non-IPv4
// address counts as 0.0.0.0.
func PseudoSum(src, dst netip.Addr, proto uint8, length int) uint64 {
	return uint64(addrBits(src)) + uint64(addrBits(dst)) + uint64(proto) + uint64(uint16(length))
}

// Update16 returns the checksum field check updated for one 16-bit word of
// the covered data changing from old to new, by RFC 1624 eqn 3:
// HC' = ~(~HC + ~m + m'). For a checksum produced by full computation the
// result equals a full recomputation, including when either is 0x0000
// (eqn 3 never produces the 0xffff that eqn 2 can, RFC 1624 section 4),
// with one exception: if the covered data is all zero after the change,
// the full computation gives 0xffff and Update16 gives 0x0000 (which does
// not verify). Only callers whose data can be all zero need care.
// The word must be 16-bit aligned in the covered data; a single byte b at
// an even offset is the word b<<8|next, at an odd offset prev<<8|b.
//
// UDP's "no checksum" value 0 is the caller's business: do not update a
// zero UDP checksum, and send a zero result as 0xffff.
func Update16(check, old, new uint16) uint16 {
	s := uint32(^check) + uint32(^old) + uint32(new) // ≤ 0x2_fffd
	s = (s & 0xffff) + s>>16
	s = (s & 0xffff) + s>>16
	return ^uint16(s)
}

// Update32 is Update16 for an aligned 32-bit word (an IPv4 address, a
// TCP sequence number) changing from old to new.
func Update32(check uint16, old, new uint32) uint16 {
	s := uint64(^check) + uint64(^uint16(old>>16)) + uint64(^uint16(old)) +
		uint64(new>>16) + uint64(new&0xffff) // ≤ 0x4_fffb
	s = (s & 0xffff) + s>>16
	s = (s & 0xffff) + s>>16
	return ^uint16(s)
}

// addrBits returns a's four bytes as a big-endian uint32; IPv4-mapped IPv6
// addresses count as IPv4, anything else as 0.0.0.0.
func addrBits(a netip.Addr) uint32 {
	if !a.Is4() && !a.Is4In6() {
		return 0
	}
	b := a.As4()
	return binary.BigEndian.Uint32(b[:])
}

// bitsAddr is the inverse of addrBits for IPv4.
func bitsAddr(v uint32) netip.Addr {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], v)
	return netip.AddrFrom4(b)
}
