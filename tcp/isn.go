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

// tuple packs a 4-tuple into 12 bytes.
func tuple(local, remote netip.AddrPort) (a, b uint64) {
	l, r := local.Addr().As4(), remote.Addr().As4()
	a = uint64(binary.BigEndian.Uint32(l[:]))<<32 | uint64(binary.BigEndian.Uint32(r[:]))
	b = uint64(local.Port())<<16 | uint64(remote.Port())
	return a, b
}

// ISN is RFC 6528's ISN = M + F(localip, localport, remoteip, remoteport,
// secretkey): M a 4-microsecond timer, F SipHash-2-4.
func (g *ISNGenerator) ISN(local, remote netip.AddrPort, now int64) Seq {
	a, b := tuple(local, remote)
	return Seq(uint32(now/4000) + uint32(sip24(g.k0, g.k1, a, b, 0)))
}

// EphemeralPortOffset is RFC 6056 algorithm 3's F(local, remote, key):
// where an ephemeral port search starts for this destination.
func (g *ISNGenerator) EphemeralPortOffset(local, remote netip.Addr, remotePort uint16) uint32 {
	a, b := tuple(netip.AddrPortFrom(local, 0), netip.AddrPortFrom(remote, remotePort))
	return uint32(sip24(g.k0, g.k1, a, b, 1))
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
	a, _ := tuple(netip.AddrPortFrom(local, 0), netip.AddrPortFrom(remote, 0))
	return uint32(sip24(g.k0, g.k1, a, 0, 3))
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
