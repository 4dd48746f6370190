package ipv6

import (
	"encoding/binary"
	"net/netip"
)

// HeaderLen is the length of the fixed IPv6 header.
const HeaderLen = 40

// Header is a view of an IPv6 packet, starting at its fixed header (RFC
// 8200 section 3). The slice may run past the packet (Ethernet padding):
// PayloadLen, not len, says where it ends.
//
// Call Check on untrusted bytes first; after Check succeeds no accessor
// panics. Never Check a buffer you are writing into.
type Header []byte

// Check reports whether h holds a well-formed fixed header and the whole
// packet it describes: version 6 (ErrVersion), the buffer at least as long
// as the header and its payload length (ErrTruncated). It accepts any next
// header; Walk checks the extension headers.
func (h Header) Check() error {
	if len(h) < HeaderLen {
		return ErrTruncated
	}
	if h[0]>>4 != 6 {
		return ErrVersion
	}
	if HeaderLen+int(binary.BigEndian.Uint16(h[4:6])) > len(h) {
		return ErrTruncated
	}
	return nil
}

// Version is the version field (6 after Check).
func (h Header) Version() uint8 { return h[0] >> 4 }

// TrafficClass is the traffic class (DSCP and ECN).
func (h Header) TrafficClass() uint8 { return h[0]<<4 | h[1]>>4 }

// FlowLabel is the 20-bit flow label.
func (h Header) FlowLabel() uint32 { return binary.BigEndian.Uint32(h[0:4]) & 0xfffff }

// PayloadLen is the length of what follows the fixed header, extension
// headers included.
func (h Header) PayloadLen() int { return int(binary.BigEndian.Uint16(h[4:6])) }

// NextHeader is the type of the header after the fixed one.
func (h Header) NextHeader() uint8 { return h[6] }

// HopLimit is the hop limit.
func (h Header) HopLimit() uint8 { return h[7] }

// Src is the source address.
func (h Header) Src() netip.Addr { return netip.AddrFrom16([16]byte(h[8:24])) }

// Dst is the destination address.
func (h Header) Dst() netip.Addr { return netip.AddrFrom16([16]byte(h[24:40])) }

// Payload is what follows the fixed header, up to the payload length
// (Ethernet padding left out).
func (h Header) Payload() []byte { return h[HeaderLen : HeaderLen+h.PayloadLen()] }

// SetHopLimit writes the hop limit (IPv6 has no header checksum to
// update).
func (h Header) SetHopLimit(n uint8) { h[7] = n }

// SetSrc writes the source address (an IPv6 address; others are not
// written). The upper layer's checksum covers it: update that too.
func (h Header) SetSrc(a netip.Addr) {
	if a.Is6() {
		b := a.As16()
		copy(h[8:24], b[:])
	}
}

// SetDst writes the destination address, as SetSrc does.
func (h Header) SetDst(a netip.Addr) {
	if a.Is6() {
		b := a.As16()
		copy(h[24:40], b[:])
	}
}

// Fields describes a fixed header for Encode.
type Fields struct {
	TrafficClass uint8
	FlowLabel    uint32 // the low 20 bits
	NextHeader   uint8
	HopLimit     uint8 // written as given: 0 is the caller's choice
	Src, Dst     netip.Addr
	// PayloadLen is the length of what follows the fixed header.
	PayloadLen int
}

// Encode writes a fixed header for f at the start of b and returns a view
// of the whole packet, b[:HeaderLen+f.PayloadLen] (it passes Check).
// Encode writes only the header: the payload after it is the caller's.
// Errors: ErrNotIPv6 (Src or Dst not IPv6, or IPv4-mapped), ErrPayloadLen
// (PayloadLen negative or above 65535), ErrTruncated (b shorter than the
// packet).
func Encode(b []byte, f Fields) (Header, error) {
	if !f.Src.Is6() || !f.Dst.Is6() || f.Src.Is4In6() || f.Dst.Is4In6() {
		return nil, ErrNotIPv6
	}
	if f.PayloadLen < 0 || f.PayloadLen > 0xffff {
		return nil, ErrPayloadLen
	}
	n := HeaderLen + f.PayloadLen
	if len(b) < n {
		return nil, ErrTruncated
	}
	h := Header(b[:n])
	binary.BigEndian.PutUint32(h[0:4], 6<<28|uint32(f.TrafficClass)<<20|f.FlowLabel&0xfffff)
	binary.BigEndian.PutUint16(h[4:6], uint16(f.PayloadLen))
	h[6], h[7] = f.NextHeader, f.HopLimit
	src, dst := f.Src.As16(), f.Dst.As16()
	copy(h[8:24], src[:])
	copy(h[24:40], dst[:])
	return h, nil
}

// PseudoSum returns the partial sum of the upper-layer pseudo-header (RFC
// 8200 section 8.1): source and destination addresses, the upper-layer
// packet length (32 bits) and the next header value, for ipv4.Sum,
// ipv4.Checksum or ipv4.Fold to go on from. Src and Dst are the
// packet's, or for a routing header the final destination's. A non-IPv6
// address counts as ::.
func PseudoSum(src, dst netip.Addr, next uint8, length int) uint64 {
	var sum uint64
	for _, a := range [2]netip.Addr{src, dst} {
		if !a.Is6() {
			continue
		}
		b := a.As16()
		for i := 0; i < 16; i += 4 {
			sum += uint64(binary.BigEndian.Uint32(b[i : i+4]))
		}
	}
	return sum + uint64(uint32(length)) + uint64(next)
}
