// Package rss computes the receive queue a NIC's receive-side scaling
// gives a flow: the Toeplitz hash (Microsoft's RSS algorithm, which most
// NICs implement) over the IPv4 or IPv6 addresses and TCP ports, looked up in the
// device's indirection table. The engine uses it to pick, for a
// connection it opens, a local port whose replies the NIC delivers to the
// engine's own queue.
package rss

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"unsafe"

	"github.com/fastpathnet/fastpath/internal/ethtool"
)

// Toeplitz returns the Toeplitz hash of input under key, which must be at
// least 4 bytes longer than input (NICs use 40- or 52-byte keys).
func Toeplitz(key, input []byte) uint32 {
	_ = key[len(input)+3]
	var h uint32
	v := binary.BigEndian.Uint32(key) // the 32 key bits from the current input bit on
	for i, b := range input {
		next := key[i+4]
		for bit := 7; bit >= 0; bit-- {
			if b>>bit&1 != 0 {
				h ^= v
			}
			v = v<<1 | uint32(next>>bit&1)
		}
	}
	return h
}

// TCP4 is the hash input of an IPv4 TCP (or UDP) segment from src to
// dst, as NICs build it: source address, destination address, source
// port, destination port, in network order.
func TCP4(src, dst netip.AddrPort) [12]byte {
	var in [12]byte
	s, d := src.Addr().As4(), dst.Addr().As4()
	copy(in[0:], s[:])
	copy(in[4:], d[:])
	binary.BigEndian.PutUint16(in[8:], src.Port())
	binary.BigEndian.PutUint16(in[10:], dst.Port())
	return in
}

// TCP6 is the hash input of an IPv6 TCP segment from src to dst: source
// address, destination address (16 bytes each), source port, destination
// port, in network order. Without ports, the first 32 bytes.
func TCP6(src, dst netip.AddrPort) [36]byte {
	var in [36]byte
	s, d := src.Addr().As16(), dst.Addr().As16()
	copy(in[0:], s[:])
	copy(in[16:], d[:])
	binary.BigEndian.PutUint16(in[32:], src.Port())
	binary.BigEndian.PutUint16(in[34:], dst.Port())
	return in
}

// Table is a device's RSS configuration.
type Table struct {
	Key []byte
	// Indir is the indirection table: the queue of hash % len(Indir).
	Indir []uint32
	// Toeplitz: the hash function is plain Toeplitz (no symmetric input
	// transform) and Key is known.
	Toeplitz bool
	// Ports: the device hashes TCP over IPv4 with the ports (the 4-tuple),
	// not only the addresses. Ports6: over IPv6.
	Ports, Ports6 bool
}

// Computable6 reports whether Queue gives the device's answer for TCP
// over IPv6: Toeplitz over the 4-tuple, a key long enough for its 36
// bytes.
func (t *Table) Computable6() bool { return t.Toeplitz && t.Ports6 && len(t.Key) >= 36+4 }

// Computable reports whether Queue gives the device's answer: Toeplitz
// over the TCP 4-tuple.
func (t *Table) Computable() bool { return t.Toeplitz && t.Ports }

// Queues returns the distinct queues of the indirection table, sorted.
func (t *Table) Queues() []int {
	var qs []int
	for _, q := range t.Indir {
		if !slices.Contains(qs, int(q)) {
			qs = append(qs, int(q))
		}
	}
	slices.Sort(qs)
	return qs
}

// Queue returns the queue the device gives a TCP segment from src to
// dst, when the table is Computable (Computable6 for IPv6).
func (t *Table) Queue(src, dst netip.AddrPort) int {
	var h uint32
	if src.Addr().Is4() {
		in := TCP4(src, dst)
		h = Toeplitz(t.Key, in[:])
	} else {
		in := TCP6(src, dst)
		h = Toeplitz(t.Key, in[:])
	}
	return int(t.Indir[h%uint32(len(t.Indir))])
}

// ErrUnknown: the device's RSS configuration cannot be read: it has
// none (veth).
var ErrUnknown = errors.New("RSS not computable")

// ethtool commands and flags (include/uapi/linux/ethtool.h).
const (
	ethtoolGRSSH     = 0x46
	ethtoolGRXFH     = 0x29
	tcpV4Flow        = 0x01
	tcpV6Flow        = 0x05
	hashFuncToeplitz = 1 << 0 // ETH_RSS_HASH_TOP's bit
	rxhIPSrc         = 1 << 4
	rxhIPDst         = 1 << 5
	rxhL4Bytes01     = 1 << 6
	rxhL4Bytes23     = 1 << 7
)

// Read reads dev's RSS key and indirection table (ethtool -x) and the
// fields it hashes for TCP over IPv4 and IPv6 (ethtool -n DEV
// rx-flow-hash tcp4, tcp6), in the calling thread's network namespace.
func Read(dev string) (*Table, error) {
	// struct ethtool_rxfh: cmd, rss_context, indir_size, key_size, hfunc,
	// input_xfrm, rsvd8[2], rsvd32, then indir_size u32s and key_size
	// bytes. A first call with zero sizes returns the sizes.
	var hdr [6]uint32
	hdr[0] = ethtoolGRSSH
	if err := ethtool.Do(dev, unsafe.Pointer(&hdr[0])); err != nil {
		return nil, fmt.Errorf("rss: %s: read the RSS configuration: %w: %w", dev, err, ErrUnknown)
	}
	nIndir, nKey := hdr[2], hdr[3]
	if nIndir == 0 || nIndir > 1<<16 || nKey > 256 {
		return nil, fmt.Errorf("rss: %s: indirection table of %d entries, key of %d bytes: %w", dev, nIndir, nKey, ErrUnknown)
	}
	buf := make([]uint32, 6+int(nIndir)+int(nKey+3)/4)
	buf[0], buf[2], buf[3] = ethtoolGRSSH, nIndir, nKey
	if err := ethtool.Do(dev, unsafe.Pointer(&buf[0])); err != nil {
		return nil, fmt.Errorf("rss: %s: read the RSS configuration: %w: %w", dev, err, ErrUnknown)
	}
	hfunc, xfrm := uint8(buf[4]), uint8(buf[4]>>8)
	t := &Table{Indir: append([]uint32(nil), buf[6:6+nIndir]...), Toeplitz: hfunc&hashFuncToeplitz != 0 && xfrm == 0 && nKey >= 16}
	if nKey > 0 {
		key := unsafe.Slice((*byte)(unsafe.Pointer(&buf[6+nIndir])), nKey)
		t.Key = append([]byte(nil), key...)
	}
	// struct ethtool_rxnfc's head: cmd, flow_type, data (u64).
	const all = rxhIPSrc | rxhIPDst | rxhL4Bytes01 | rxhL4Bytes23
	for _, f := range []struct {
		flow  uint32
		ports *bool
	}{{tcpV4Flow, &t.Ports}, {tcpV6Flow, &t.Ports6}} {
		var fh [4]uint32
		fh[0], fh[1] = ethtoolGRXFH, f.flow
		if err := ethtool.Do(dev, unsafe.Pointer(&fh[0])); err == nil {
			data := uint64(fh[2]) | uint64(fh[3])<<32
			*f.ports = data&all == all
		}
	}
	return t, nil
}
