package tcp

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
)

// ISNGenerator makes initial sequence numbers (RFC 6528), SYN cookies,
// ephemeral port offsets (RFC 6056) and timestamp clock offsets (RFC
// 7323), all keyed by one secret.
type ISNGenerator struct{ k0, k1 uint64 }

// NewISNGenerator returns a generator keyed by key (draw it from
// crypto/rand).
func NewISNGenerator(key [16]byte) *ISNGenerator {
	return &ISNGenerator{binary.LittleEndian.Uint64(key[0:8]), binary.LittleEndian.Uint64(key[8:16])}
}

// tuple is the message the keyed hashes take for a 4-tuple: the two
// addresses as 16 bytes each (IPv4 as IPv4-mapped, which the Host never
// takes as IPv6: see key), the ports, and room for what a hash adds
// (words 4 and 5).
func tuple(local, remote netip.AddrPort) [6]uint64 {
	l, r := local.Addr().As16(), remote.Addr().As16()
	return [6]uint64{
		binary.BigEndian.Uint64(l[0:8]), binary.BigEndian.Uint64(l[8:16]),
		binary.BigEndian.Uint64(r[0:8]), binary.BigEndian.Uint64(r[8:16]),
		uint64(local.Port())<<16 | uint64(remote.Port()),
	}
}

// ISN is RFC 6528's ISN = M + F(localip, localport, remoteip, remoteport,
// secretkey): M a 4-microsecond timer, F SipHash-2-4.
func (g *ISNGenerator) ISN(local, remote netip.AddrPort, now int64) Seq {
	m := tuple(local, remote)
	return Seq(uint32(now/4000) + uint32(sip48(g.k0, g.k1, &m)))
}

// EphemeralPortOffset is RFC 6056 algorithm 3's F(local, remote, key):
// where an ephemeral port search starts for this destination.
func (g *ISNGenerator) EphemeralPortOffset(local, remote netip.Addr, remotePort uint16) uint32 {
	m := tuple(netip.AddrPortFrom(local, 0), netip.AddrPortFrom(remote, remotePort))
	m[5] = 1
	return uint32(sip48(g.k0, g.k1, &m))
}

// TSOffset is the timestamp clock's offset for the connections from local
// to remote (RFC 7323 5.4 and 7: not the clock itself, which would tell
// the host's uptime): a keyed hash of the two addresses, without the
// ports, as Linux's secure_tcp_ts_off. Every connection between the two
// addresses reads one clock, so the TSval of a new incarnation of a
// 4-tuple is above the last one's, and a peer holding the last one in
// TIME-WAIT takes its SYN (RFC 6191); a pair's offset tells nothing of
// another's.
func (g *ISNGenerator) TSOffset(local, remote netip.Addr) uint32 {
	m := tuple(netip.AddrPortFrom(local, 0), netip.AddrPortFrom(remote, 0))
	m[5] = 3
	return uint32(sip48(g.k0, g.k1, &m))
}

// sip48 is SipHash-2-4 over the six 8-byte words of m (a 48-byte
// message, each word little-endian), keyed by k0, k1. m is a pointer so
// that the call copies nothing.
func sip48(k0, k1 uint64, m *[6]uint64) uint64 {
	v0 := k0 ^ 0x736f6d6570736575
	v1 := k1 ^ 0x646f72616e646f6d
	v2 := k0 ^ 0x6c7967656e657261
	v3 := k1 ^ 0x7465646279746573
	for _, w := range [...]uint64{m[0], m[1], m[2], m[3], m[4], m[5], 48 << 56} {
		v3 ^= w
		v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
		v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
		v0 ^= w
	}
	v2 ^= 0xff
	for i := 0; i < 4; i++ {
		v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	}
	return v0 ^ v1 ^ v2 ^ v3
}

// sip24 is SipHash-2-4 over the three 8-byte words a, b, c (a 24-byte
// message), keyed by k0, k1.
func sip24(k0, k1, a, b, c uint64) uint64 {
	v0 := k0 ^ 0x736f6d6570736575
	v1 := k1 ^ 0x646f72616e646f6d
	v2 := k0 ^ 0x6c7967656e657261
	v3 := k1 ^ 0x7465646279746573
	for _, m := range [...]uint64{a, b, c, 24 << 56} {
		v3 ^= m
		v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
		v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
		v0 ^= m
	}
	v2 ^= 0xff
	for i := 0; i < 4; i++ {
		v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	}
	return v0 ^ v1 ^ v2 ^ v3
}

// sipHash is SipHash-2-4 of an arbitrary message, for the reference
// vectors in the tests.
func sipHash(k0, k1 uint64, msg []byte) uint64 {
	v0 := k0 ^ 0x736f6d6570736575
	v1 := k1 ^ 0x646f72616e646f6d
	v2 := k0 ^ 0x6c7967656e657261
	v3 := k1 ^ 0x7465646279746573
	n := len(msg)
	for len(msg) >= 8 {
		m := binary.LittleEndian.Uint64(msg)
		v3 ^= m
		v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
		v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
		v0 ^= m
		msg = msg[8:]
	}
	var last [8]byte
	copy(last[:], msg)
	last[7] = byte(n)
	m := binary.LittleEndian.Uint64(last[:])
	v3 ^= m
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0 ^= m
	v2 ^= 0xff
	for i := 0; i < 4; i++ {
		v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	}
	return v0 ^ v1 ^ v2 ^ v3
}

func sipRound(v0, v1, v2, v3 uint64) (uint64, uint64, uint64, uint64) {
	v0 += v1
	v1 = bits.RotateLeft64(v1, 13)
	v1 ^= v0
	v0 = bits.RotateLeft64(v0, 32)
	v2 += v3
	v3 = bits.RotateLeft64(v3, 16)
	v3 ^= v2
	v0 += v3
	v3 = bits.RotateLeft64(v3, 21)
	v3 ^= v0
	v2 += v1
	v1 = bits.RotateLeft64(v1, 17)
	v1 ^= v2
	v2 = bits.RotateLeft64(v2, 32)
	return v0, v1, v2, v3
}
