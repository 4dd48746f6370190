package ipv4

import (
	"encoding/binary"
	"net/netip"
)

// ICMPHeaderLen is the length of the ICMP header every message type has
// (RFC 792): type, code, checksum and four type-specific bytes.
const ICMPHeaderLen = 8

// ICMP message types (RFC 792, RFC 950, RFC 1256).
const (
	ICMPEchoReply           = 0
	ICMPDestUnreachable     = 3
	ICMPSourceQuench        = 4
	ICMPRedirect            = 5
	ICMPEchoRequest         = 8
	ICMPRouterAdvertisement = 9
	ICMPRouterSolicitation  = 10
	ICMPTimeExceeded        = 11
	ICMPParameterProblem    = 12
	ICMPTimestamp           = 13
	ICMPTimestampReply      = 14
)

const (
	icmpMaxKnownType       = 18 // address mask reply (RFC 950)
	icmpErrorHeaders       = HeaderLen + ICMPHeaderLen
	icmpErrorQuoteMax      = 576 - icmpErrorHeaders // RFC 1812 4.3.2.3
	icmpErrorTOSPrecedence = 0xc0                   // precedence 6, internetwork control (RFC 1812 4.3.2.5)
	icmpErrorTOSKeep       = 0x1e                   // the RFC 1349 TOS bits kept from the original, as Linux does
)

// Destination unreachable codes (RFC 792, RFC 1122 3.2.2.1, RFC 1812
// 5.2.7.1).
const (
	CodeNetUnreachable      = 0
	CodeHostUnreachable     = 1
	CodeProtocolUnreachable = 2
	CodePortUnreachable     = 3
	CodeFragmentationNeeded = 4 // the next-hop MTU goes in the low 16 bits of rest (RFC 1191)
	CodeSourceRouteFailed   = 5
	CodeNetUnknown          = 6
	CodeHostUnknown         = 7
	CodeNetProhibited       = 9
	CodeHostProhibited      = 10
	CodeAdminProhibited     = 13
	CodeHostPrecedence      = 14
	CodePrecedenceCutoff    = 15
)

// Time exceeded codes (RFC 792).
const (
	CodeTTLExceeded        = 0 // in transit
	CodeReassemblyExceeded = 1 // fragment reassembly
)

// ICMP is a view of an ICMPv4 message: header and body. Make it from the
// IPv4 payload (Header.Payload), so that its length is the message's. Call
// Check first; after Check succeeds no accessor panics.
type ICMP []byte

// Check reports whether c holds the 8-byte ICMP header (ErrTruncated). It
// does not verify the checksum (ChecksumValid) or the type.
func (c ICMP) Check() error {
	if len(c) < ICMPHeaderLen {
		return ErrTruncated
	}
	return nil
}

// Type returns the message type (ICMPEchoRequest, ...).
func (c ICMP) Type() uint8 { return c[0] }

// Code returns the message code.
func (c ICMP) Code() uint8 { return c[1] }

// Checksum returns the checksum field.
func (c ICMP) Checksum() uint16 { return binary.BigEndian.Uint16(c[2:4]) }

// ChecksumValid reports whether the checksum verifies over the whole
// message.
func (c ICMP) ChecksumValid() bool { return Fold(Sum(c, 0)) == 0xffff }

// Rest returns the four type-specific header bytes ("rest of header":
// identifier and sequence for echo, the gateway for redirect, the next-hop
// MTU for fragmentation needed, unused otherwise).
func (c ICMP) Rest() uint32 { return binary.BigEndian.Uint32(c[4:8]) }

// ID returns the identifier of an echo request or reply.
func (c ICMP) ID() uint16 { return binary.BigEndian.Uint16(c[4:6]) }

// Seq returns the sequence number of an echo request or reply.
func (c ICMP) Seq() uint16 { return binary.BigEndian.Uint16(c[6:8]) }

// Body returns what follows the header: the echo data, or the quoted
// datagram of an error message.
func (c ICMP) Body() []byte { return c[ICMPHeaderLen:] }

// IsError reports whether an ICMP type is an error message (destination
// unreachable, source quench, redirect, time exceeded, parameter problem),
// about which no ICMP error may be sent.
func IsError(typ uint8) bool {
	switch typ {
	case ICMPDestUnreachable, ICMPSourceQuench, ICMPRedirect, ICMPTimeExceeded, ICMPParameterProblem:
		return true
	}
	return false
}

// EchoReply writes into out the IPv4 datagram that answers the echo
// request in (RFC 792, RFC 1122 3.2.2.6): addresses swapped, TTL ttl,
// ICMP type 0, the request's identifier, sequence number and data, and the
// request's TOS, ID and DF flag (a reply of the request's size fits the
// path it came by). The request's IP options are not copied (RFC 1122
// makes updating Record Route and Timestamp a SHOULD). The ICMP checksum
// is updated from the request's (RFC 1624), not recomputed: verify the
// request first (ICMP.ChecksumValid), since a bad one stays bad. The
// caller writes the link-layer header and checks that the request was
// addressed to us rather than to a broadcast or multicast address.
//
// It returns the length of the reply, HeaderLen plus the ICMP message's.
// Errors: those of in.Check, ErrFragment, ErrProtocol, ErrTruncated (an
// ICMP message shorter than 8 bytes, or out too small), ErrICMPType. out
// may start at in (answer in place); other overlaps are not supported.
func EchoReply(out []byte, in Header, ttl uint8) (int, error) {
	if err := in.Check(); err != nil {
		return 0, err
	}
	if in.IsFragment() {
		return 0, ErrFragment
	}
	if in.Protocol() != ProtoICMP {
		return 0, ErrProtocol
	}
	c := ICMP(in.Payload())
	if err := c.Check(); err != nil {
		return 0, err
	}
	if c.Type() != ICMPEchoRequest {
		return 0, ErrICMPType
	}
	n := HeaderLen + len(c)
	if len(out) < n {
		return 0, ErrTruncated
	}
	// Read everything from in before writing: out may be in.
	tos, id, flags := in.TOS(), in.ID(), binary.BigEndian.Uint16(in[6:8])&0x4000
	src, dst := binary.BigEndian.Uint32(in[12:16]), binary.BigEndian.Uint32(in[16:20])
	word0, check := binary.BigEndian.Uint16(c[0:2]), c.Checksum()
	r := out[HeaderLen:n]
	copy(r, c) // a memmove: safe when out is in
	r[0] = ICMPEchoReply
	ck := Update16(check, word0, word0&0x00ff)
	if ck == 0 && allZero(r[1:2]) && allZero(r[4:]) {
		// RFC 1624's one exception: over data that is all zero, the
		// full computation gives 0xffff (and 0x0000 would not verify).
		ck = 0xffff
	}
	binary.BigEndian.PutUint16(r[2:4], ck)
	encode(out, tos, uint16(n), id, flags, ttl, ProtoICMP, dst, src)
	return n, nil
}

// Unreachable writes into out an ICMP destination unreachable message
// (type 3, code) from src to orig's source, about the datagram orig. See
// ICMPError.
func Unreachable(out []byte, orig Header, src netip.Addr, code uint8, ttl uint8) (int, error) {
	return ICMPError(out, orig, src, ICMPDestUnreachable, code, 0, ttl)
}

// ICMPError writes into out an IPv4 datagram carrying the ICMP error
// message typ/code (an IsError type, else ErrICMPType) from src to orig's
// source about the datagram orig, with rest as the four type-specific
// header bytes (0 but for fragmentation needed, redirect and parameter
// problem), and returns its length.
//
// The message quotes as much of orig as fits in 576 bytes (RFC 1812
// 4.3.2.3; RFC 792's minimum is the header and 8 bytes of payload, and
// Linux quotes the same way), and no more than out holds: ErrTruncated if
// out cannot hold the minimum. The IP header: TOS precedence 6 with orig's
// TOS bits (RFC 1812 4.3.2.5, as Linux), DF set and ID 0 (an atomic
// datagram: RFC 6864 4.1 lets its ID be any value, and no fragmentation
// is needed below 576 bytes), TTL ttl, no options.
//
// It refuses (ErrSuppressed) what RFC 1122 3.2.2 and RFC 1812 4.3.2.7 say
// no ICMP error may answer, as far as the datagram shows: an ICMP error
// (or an ICMP message too short to tell, or of an unknown type), a
// non-initial fragment, a datagram to a multicast address or
// 255.255.255.255, and one from 0/8, 127/8, 224/4 or 240/4. The caller
// checks what only it knows: link-layer broadcast, subnet-directed
// broadcast, and the rate limit (RateLimiter).
//
// Errors: those of orig.Check, ErrNotIPv4 (src), ErrICMPType,
// ErrSuppressed, ErrTruncated. out may start at orig (answer in place);
// other overlaps are not supported.
func ICMPError(out []byte, orig Header, src netip.Addr, typ, code uint8, rest uint32, ttl uint8) (int, error) {
	if err := orig.Check(); err != nil {
		return 0, err
	}
	if !src.Is4() && !src.Is4In6() {
		return 0, ErrNotIPv4
	}
	if !IsError(typ) {
		return 0, ErrICMPType
	}
	if suppressed(orig) {
		return 0, ErrSuppressed
	}
	q := orig.TotalLen()
	need := min(q, orig.IHL()+8)
	avail := len(out) - icmpErrorHeaders
	if avail < need {
		return 0, ErrTruncated
	}
	q = min(q, icmpErrorQuoteMax, avail)
	// Read everything from orig before writing: out may be orig.
	tos := orig.TOS()&icmpErrorTOSKeep | icmpErrorTOSPrecedence
	to := binary.BigEndian.Uint32(orig[12:16])
	n := icmpErrorHeaders + q
	copy(out[icmpErrorHeaders:n], orig[:q]) // a memmove: safe when out is orig
	m := out[HeaderLen:n]
	m[0], m[1] = typ, code
	binary.BigEndian.PutUint16(m[2:4], 0)
	binary.BigEndian.PutUint32(m[4:8], rest)
	binary.BigEndian.PutUint16(m[2:4], Checksum(m, 0))
	encode(out, tos, uint16(n), 0, 0x4000, ttl, ProtoICMP, addrBits(src), to)
	return n, nil
}

// suppressed reports whether no ICMP error may be sent about h (checked).
func suppressed(h Header) bool {
	if h.FragOffset() != 0 {
		return true
	}
	dst := binary.BigEndian.Uint32(h[16:20])
	if dst>>28 == 0xe || dst == 0xffffffff { // multicast, limited broadcast
		return true
	}
	src := binary.BigEndian.Uint32(h[12:16])
	switch {
	case src>>24 == 0, src>>24 == 127, src>>28 >= 0xe: // 0/8, 127/8, 224/4, 240/4
		return true
	}
	if h.Protocol() == ProtoICMP {
		p := h.Payload()
		return len(p) == 0 || p[0] > icmpMaxKnownType || IsError(p[0])
	}
	return false
}

// allZero reports whether every byte of b is zero.
func allZero(b []byte) bool {
	for len(b) >= 8 {
		if binary.LittleEndian.Uint64(b) != 0 {
			return false
		}
		b = b[8:]
	}
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}
