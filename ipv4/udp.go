package ipv4

import (
	"encoding/binary"
	"net/netip"
)

// UDPHeaderLen is the length of a UDP header (RFC 768).
const UDPHeaderLen = 8

// UDP is a view of a UDP datagram (RFC 768): header and payload. Make it
// from the IPv4 payload (Header.Payload), so that its length is what the
// IPv4 total length gives. Call Check first; after Check succeeds no
// accessor panics.
type UDP []byte

// Check reports whether u holds a UDP header (ErrTruncated) whose length
// field is at least 8 and at most len(u) (ErrUDPLen). A length field
// shorter than the IP payload is accepted: the bytes past it are not part
// of the datagram (Payload leaves them out).
func (u UDP) Check() error {
	if len(u) < UDPHeaderLen {
		return ErrTruncated
	}
	if n := int(binary.BigEndian.Uint16(u[4:6])); n < UDPHeaderLen || n > len(u) {
		return ErrUDPLen
	}
	return nil
}

// SrcPort returns the source port.
func (u UDP) SrcPort() uint16 { return binary.BigEndian.Uint16(u[0:2]) }

// DstPort returns the destination port.
func (u UDP) DstPort() uint16 { return binary.BigEndian.Uint16(u[2:4]) }

// Length returns the length field: header and payload, in bytes.
func (u UDP) Length() int { return int(binary.BigEndian.Uint16(u[4:6])) }

// Checksum returns the checksum field; 0 means the sender computed none.
func (u UDP) Checksum() uint16 { return binary.BigEndian.Uint16(u[6:8]) }

// Payload returns the data, u[8:Length].
func (u UDP) Payload() []byte { return u[UDPHeaderLen:u.Length()] }

// ChecksumValid reports whether the checksum verifies over the
// pseudo-header (src, dst from the IPv4 header), the UDP header and the
// payload. A zero checksum field means "no checksum" (RFC 768) and is
// valid. Call it after Check.
func (u UDP) ChecksumValid(src, dst netip.Addr) bool {
	if u.Checksum() == 0 {
		return true
	}
	n := u.Length()
	return Fold(Sum(u[:n], PseudoSum(src, dst, ProtoUDP, n))) == 0xffff
}

// EncodeUDP writes a UDP header at the start of b: ports, length
// 8+payloadLen, checksum 0 (none; SetChecksum computes it once the payload
// is in place). It returns the datagram's view, b[:8+payloadLen]. Errors:
// ErrUDPLen (payloadLen negative or above 65527), ErrTruncated (b shorter
// than the datagram). Over IPv4 the payload can be at most 65507 bytes;
// Encode checks that.
func EncodeUDP(b []byte, srcPort, dstPort uint16, payloadLen int) (UDP, error) {
	if payloadLen < 0 || payloadLen > 0xffff-UDPHeaderLen {
		return nil, ErrUDPLen
	}
	n := UDPHeaderLen + payloadLen
	if len(b) < n {
		return nil, ErrTruncated
	}
	u := UDP(b[:n])
	binary.BigEndian.PutUint16(u[0:2], srcPort)
	binary.BigEndian.PutUint16(u[2:4], dstPort)
	binary.BigEndian.PutUint16(u[4:6], uint16(n))
	binary.BigEndian.PutUint16(u[6:8], 0)
	return u, nil
}

// SetChecksum computes the checksum over the pseudo-header, the header and
// the payload, u[:Length], and stores it; a computed 0 is sent as 0xffff
// (RFC 768), since 0 means "none". If the length field is not within
// [8, len(u)] it covers all of u instead (it never panics on a UDP of at
// least 8 bytes).
func (u UDP) SetChecksum(src, dst netip.Addr) {
	n := u.Length()
	if n < UDPHeaderLen || n > len(u) {
		n = len(u)
	}
	binary.BigEndian.PutUint16(u[6:8], 0)
	c := Checksum(u[:n], PseudoSum(src, dst, ProtoUDP, n))
	if c == 0 {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(u[6:8], c)
}
