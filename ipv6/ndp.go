package ipv6

import (
	"encoding/binary"
	"errors"
	"net/netip"

	"github.com/fastpathnet/fastpath/ether"
)

// Neighbour Discovery (RFC 4861): the neighbour solicitation and
// advertisement messages, their link-layer address options, and the
// addresses they go to.

// NDP option types (RFC 4861 4.6).
const (
	OptSourceLinkAddr = 1
	OptTargetLinkAddr = 2
	OptPrefixInfo     = 3
	OptMTU            = 5
)

// Neighbour advertisement flags (RFC 4861 4.4).
const (
	FlagRouter    = 0x80
	FlagSolicited = 0x40
	FlagOverride  = 0x20
)

// NDHopLimit is the hop limit every ND message is sent with, and that a
// received one must carry: it proves the sender is on the link (RFC 4861
// 7.1.1).
const NDHopLimit = 255

// ndLen is an NS's or NA's length before its options: the ICMPv6 header
// and the target address.
const ndLen = ICMPHeaderLen + 16

// ErrND: a neighbour solicitation or advertisement RFC 4861 7.1 says to
// drop: not from the link (hop limit), a code other than 0, shorter than
// 24 bytes, an option of length 0 or past the end, a multicast target; a
// solicitation from the unspecified address with a source link-layer
// option or to another than the target's solicited-node address; a
// solicited advertisement to a multicast address.
var ErrND = errors.New("ipv6: invalid neighbour discovery message")

// ND is a view of a neighbour solicitation or advertisement: the ICMPv6
// message.
type ND []byte

// CheckND validates a packet carrying an NS or NA directly after its
// fixed header (RFC 4861 7.1.1, 7.1.2, without the checksum: verify it
// with ICMP.ChecksumValid) and returns the message.
func CheckND(h Header) (ND, error) {
	if err := h.Check(); err != nil {
		return nil, err
	}
	c := ICMP(h.Payload())
	if h.NextHeader() != ProtoICMPv6 || len(c) < ICMPHeaderLen || c.Type() != ICMPNeighborSolicitation && c.Type() != ICMPNeighborAdvertisement {
		return nil, ErrICMP
	}
	if h.HopLimit() != NDHopLimit || c.Code() != 0 || len(c) < ndLen {
		return nil, ErrND
	}
	m := ND(c)
	if m.Target().IsMulticast() {
		return nil, ErrND
	}
	if !optionsValid(m[ndLen:]) {
		return nil, ErrND
	}
	if c.Type() == ICMPNeighborSolicitation && h.Src().IsUnspecified() {
		// DAD's probe: to the target's solicited-node address, and
		// with no link-layer address to learn (7.1.1).
		if _, ok := m.LinkAddr(OptSourceLinkAddr); ok || h.Dst() != SolicitedNode(m.Target()) {
			return nil, ErrND
		}
	}
	if c.Type() == ICMPNeighborAdvertisement && h.Dst().IsMulticast() && m.Flags()&FlagSolicited != 0 {
		return nil, ErrND // a solicited answer goes to who asked (7.1.2)
	}
	return m, nil
}

// Type is ICMPNeighborSolicitation or ICMPNeighborAdvertisement.
func (m ND) Type() uint8 { return m[0] }

// Flags are an advertisement's R, S and O bits (FlagRouter, ...).
func (m ND) Flags() uint8 { return m[4] & 0xe0 }

// Target is the address solicited or advertised.
func (m ND) Target() netip.Addr { return netip.AddrFrom16([16]byte(m[8:24])) }

// LinkAddr returns the first option of kind (OptSourceLinkAddr or
// OptTargetLinkAddr) holding an Ethernet address. Call it after CheckND.
func (m ND) LinkAddr(kind uint8) (ether.Addr, bool) { return linkAddr(m[ndLen:], kind) }

// SolicitedNode is the solicited-node multicast address of a (RFC 4291
// 2.7.1): ff02::1:ff and its last 24 bits.
func SolicitedNode(a netip.Addr) netip.Addr {
	b := a.As16()
	return netip.AddrFrom16([16]byte{0xff, 0x02, 10: 0, 11: 1, 12: 0xff, 13: b[13], 14: b[14], 15: b[15]})
}

// MulticastMAC is the Ethernet address IPv6 multicast a goes to (RFC 2464
// section 7): 33:33 and its last 32 bits.
func MulticastMAC(a netip.Addr) ether.Addr {
	b := a.As16()
	return ether.Addr{0x33, 0x33, b[12], b[13], b[14], b[15]}
}

// LinkLocal is the link-local address whose interface identifier is the
// modified EUI-64 of mac (RFC 4291 appendix A): fe80::, the MAC with ff:fe
// in its middle and the universal/local bit inverted.
func LinkLocal(mac ether.Addr) netip.Addr {
	return netip.AddrFrom16([16]byte{0xfe, 0x80, 8: mac[0] ^ 0x02, 9: mac[1], 10: mac[2], 11: 0xff, 12: 0xfe, 13: mac[3], 14: mac[4], 15: mac[5]})
}

// Solicit writes into out a neighbour solicitation for target from src
// (the unspecified address for duplicate address detection: then without
// a source link-layer option, RFC 4862 5.4.2) with mac as the sender's
// link-layer address, to target's solicited-node address. It returns the
// packet's length; the Ethernet destination is MulticastMAC of its
// destination.
func Solicit(out []byte, src, target netip.Addr, mac ether.Addr) (int, error) {
	n := ndLen
	if !src.IsUnspecified() {
		n += 8
	}
	dst := SolicitedNode(target)
	h, err := Encode(out, Fields{NextHeader: ProtoICMPv6, HopLimit: NDHopLimit, Src: src, Dst: dst, PayloadLen: n})
	if err != nil {
		return 0, err
	}
	writeND(h.Payload(), ICMPNeighborSolicitation, 0, target, OptSourceLinkAddr, mac)
	ICMP(h.Payload()).SetChecksum(src, dst)
	return len(h), nil
}

// Advertise writes into out a neighbour advertisement of target at mac
// (a target link-layer option) from src to dst with flags (FlagSolicited
// when it answers a solicitation, FlagOverride for our own addresses). An
// answer to a solicitation from the unspecified address goes to all nodes,
// ff02::1, without FlagSolicited (RFC 4861 7.2.4): the caller passes that
// dst and flags. It returns the packet's length.
func Advertise(out []byte, src, dst, target netip.Addr, mac ether.Addr, flags uint8) (int, error) {
	h, err := Encode(out, Fields{NextHeader: ProtoICMPv6, HopLimit: NDHopLimit, Src: src, Dst: dst, PayloadLen: ndLen + 8})
	if err != nil {
		return 0, err
	}
	writeND(h.Payload(), ICMPNeighborAdvertisement, flags, target, OptTargetLinkAddr, mac)
	ICMP(h.Payload()).SetChecksum(src, dst)
	return len(h), nil
}

// writeND writes an NS or NA into p (ndLen bytes, and 8 more for the
// link-layer option when p has them).
func writeND(p []byte, typ, flags uint8, target netip.Addr, opt uint8, mac ether.Addr) {
	p[0], p[1] = typ, 0
	binary.BigEndian.PutUint32(p[4:8], uint32(flags)<<24)
	t := target.As16()
	copy(p[8:24], t[:])
	if len(p) >= ndLen+8 {
		p[24], p[25] = opt, 1
		copy(p[26:32], mac[:])
	}
}
