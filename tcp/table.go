package tcp

// The connection table: 4-tuple to connection, by open addressing. A Go
// map allocates now and then under churn however it was sized (deleted
// slots run out, and it grows); this table is allocated once by NewHost
// and never again.

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
)

// key is a connection's 4-tuple, addresses as 16 bytes: IPv6 as they
// are, IPv4 as IPv4-mapped (::ffff:a.b.c.d, netip's As16). The Host
// refuses IPv4-mapped IPv6 addresses (Input drops them, Dial takes them
// as IPv4: checkAddrs), so the two families never share a key.
type key struct {
	lip, rip     [16]byte
	lport, rport uint16
}

func keyOf(local, remote netip.AddrPort) key {
	return key{lip: local.Addr().As16(), rip: remote.Addr().As16(), lport: local.Port(), rport: remote.Port()}
}

// slot is one entry: c nil is empty. home is where the key hashes to.
type slot struct {
	k    key
	home uint32
	c    *Conn
}

// slotBytes is a slot's size (TestConnFixedBytes checks it).
const slotBytes = 48

// table maps keys to connections with linear probing and backward-shift
// deletion (no tombstones: a lookup's probe ends at the first empty
// slot, however long the table has churned). Its capacity, a power of two
// at least twice the connections it holds, keeps probes short. The hash
// is keyed (wyhash's 128-bit multiply, the key drawn from the ISN key):
// a peer that picks its addresses and ports cannot aim its connections
// at one run of slots.
type table struct {
	slots []slot
	mask  uint32
	s     [6]uint64
}

// tableCap is the table's capacity for n connections.
func tableCap(n int) int {
	c := 16
	for c < 2*n {
		c <<= 1
	}
	return c
}

func newTable(n int, isn *ISNGenerator) table {
	c := tableCap(n)
	t := table{slots: make([]slot, c), mask: uint32(c - 1)}
	for i := range t.s {
		t.s[i] = sip24(isn.k0, isn.k1, 0x7461626c65, uint64(i), 0) // "table"
	}
	return t
}

// hash mixes the key's 36 bytes as wyhash does: each address's two
// words multiplied together (128 bits, folded), each under its own
// secret, then the two products and the ports multiplied. Every input
// bit reaches every output bit through a keyed multiply, for IPv4 (whose
// high words are the constant ::ffff: prefix) as for IPv6.
func (t *table) hash(k key) uint32 {
	l0, l1 := binary.LittleEndian.Uint64(k.lip[0:8]), binary.LittleEndian.Uint64(k.lip[8:16])
	r0, r1 := binary.LittleEndian.Uint64(k.rip[0:8]), binary.LittleEndian.Uint64(k.rip[8:16])
	ports := uint64(k.lport)<<16 | uint64(k.rport)
	hi, lo := bits.Mul64(l0^t.s[0], l1^t.s[1])
	a := hi ^ lo
	hi, lo = bits.Mul64(r0^t.s[2], r1^t.s[3])
	b := hi ^ lo
	hi, lo = bits.Mul64(a^ports^t.s[4], b^t.s[5]^0xe7037ed1a0b428db)
	h := hi ^ lo
	return uint32(h ^ h>>32)
}

// get returns k's connection, or nil.
func (t *table) get(k key) *Conn {
	for i := t.hash(k) & t.mask; ; i = (i + 1) & t.mask {
		s := &t.slots[i]
		if s.c == nil {
			return nil
		}
		if s.k == k {
			return s.c
		}
	}
}

// put adds k, which is not in the table; the table must hold fewer than
// its capacity (the Host holds at most MaxConns).
func (t *table) put(k key, c *Conn) {
	home := t.hash(k) & t.mask
	i := home
	for t.slots[i].c != nil {
		i = (i + 1) & t.mask
	}
	t.slots[i] = slot{k: k, home: home, c: c}
}

// del removes k, if it is there, and moves the entries after it back so
// that every entry stays reachable from its home without a gap.
func (t *table) del(k key) {
	i := t.hash(k) & t.mask
	for t.slots[i].k != k || t.slots[i].c == nil {
		if t.slots[i].c == nil {
			return
		}
		i = (i + 1) & t.mask
	}
	for j := (i + 1) & t.mask; t.slots[j].c != nil; j = (j + 1) & t.mask {
		// The entry at j may fill the hole at i unless its home lies
		// cyclically in (i, j]: then it must stay at or after its home.
		if (j-t.slots[j].home)&t.mask >= (j-i)&t.mask {
			t.slots[i] = t.slots[j]
			i = j
		}
	}
	t.slots[i] = slot{}
}
