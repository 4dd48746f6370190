package ipv6

import (
	"encoding/binary"
	"errors"
	"net/netip"

	"github.com/fastpathnet/fastpath/ether"
)

// raLen is a router advertisement's length before its options (RFC 4861
// 4.2): the ICMPv6 header, reachable time and retransmission timer.
const raLen = ICMPHeaderLen + 8

// ErrRA: a router advertisement RFC 4861 6.1.2 says to drop: not from a
// link-local address, not from the link (hop limit), a code other than 0,
// shorter than 16 bytes, or an option of length 0 or past the end.
var ErrRA = errors.New("ipv6: invalid router advertisement")

// RA is a view of a router advertisement: the ICMPv6 message.
type RA []byte

// CheckRA validates a packet carrying a router advertisement directly
// after its fixed header (RFC 4861 6.1.2, without the checksum: verify it
// with ICMP.ChecksumValid) and returns the message.
func CheckRA(h Header) (RA, error) {
	if err := h.Check(); err != nil {
		return nil, err
	}
	c := ICMP(h.Payload())
	if h.NextHeader() != ProtoICMPv6 || len(c) < ICMPHeaderLen || c.Type() != ICMPRouterAdvertisement {
		return nil, ErrICMP
	}
	if !h.Src().IsLinkLocalUnicast() || h.HopLimit() != NDHopLimit || c.Code() != 0 || len(c) < raLen {
		return nil, ErrRA
	}
	if !optionsValid(c[raLen:]) {
		return nil, ErrRA
	}
	return RA(c), nil
}

// optionsValid reports whether ND options o are each at least 8 bytes and
// within o (RFC 4861 4.6).
func optionsValid(o []byte) bool {
	for len(o) > 0 {
		if len(o) < 2 || o[1] == 0 || int(o[1])*8 > len(o) {
			return false
		}
		o = o[int(o[1])*8:]
	}
	return true
}

// HopLimit is the hop limit the router suggests; 0: unspecified.
func (m RA) HopLimit() uint8 { return m[4] }

// Lifetime is how long, in seconds, the router is a default router; 0:
// it is not one (any more).
func (m RA) Lifetime() uint16 { return binary.BigEndian.Uint16(m[6:8]) }

// ReachableTime is the neighbours' reachable time in milliseconds; 0:
// unspecified.
func (m RA) ReachableTime() uint32 { return binary.BigEndian.Uint32(m[8:12]) }

// RetransTimer is the time between solicitations in milliseconds; 0:
// unspecified.
func (m RA) RetransTimer() uint32 { return binary.BigEndian.Uint32(m[12:16]) }

// SourceLinkAddr returns the router's source link-layer address option,
// when it carries one for Ethernet.
func (m RA) SourceLinkAddr() (ether.Addr, bool) {
	return linkAddr(m[raLen:], OptSourceLinkAddr)
}

// MTU returns the MTU option's value, if there is one (RFC 4861 4.6.4).
func (m RA) MTU() (uint32, bool) {
	for o := m[raLen:]; len(o) >= 8 && o[1] != 0 && int(o[1])*8 <= len(o); o = o[int(o[1])*8:] {
		if o[0] == OptMTU && o[1] == 1 {
			return binary.BigEndian.Uint32(o[4:8]), true
		}
	}
	return 0, false
}

// linkAddr returns the first option of kind in o holding an Ethernet
// address.
func linkAddr(o []byte, kind uint8) (ether.Addr, bool) {
	for ; len(o) >= 8 && o[1] != 0 && int(o[1])*8 <= len(o); o = o[int(o[1])*8:] {
		if o[0] == kind && o[1] == 1 {
			return ether.Addr(o[2:8]), true
		}
	}
	return ether.Addr{}, false
}

// AllNodes is ff02::1, the link's all-nodes multicast address.
var AllNodes = netip.AddrFrom16([16]byte{0xff, 0x02, 15: 1})
