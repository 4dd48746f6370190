package ipv6

import (
	"encoding/binary"
	"errors"
	"net/netip"

	"github.com/fastpathnet/fastpath/ipv4"
)

// ICMPv6 message types (RFC 4443, RFC 4861).
const (
	ICMPDestUnreachable       = 1
	ICMPPacketTooBig          = 2
	ICMPTimeExceeded          = 3
	ICMPParamProblem          = 4
	ICMPEchoRequest           = 128
	ICMPEchoReply             = 129
	ICMPRouterSolicitation    = 133
	ICMPRouterAdvertisement   = 134
	ICMPNeighborSolicitation  = 135
	ICMPNeighborAdvertisement = 136
	ICMPRedirect              = 137
)

// ICMPHeaderLen is the header every ICMPv6 message starts with: type,
// code, checksum and four bytes of the type's.
const ICMPHeaderLen = 8

var (
	// ErrICMP: not an ICMPv6 message this call takes (the wrong type, or
	// extension headers before it).
	ErrICMP = errors.New("ipv6: not the ICMPv6 message expected")
)

// ICMP is a view of an ICMPv6 message: from its type to the end of the
// packet.
type ICMP []byte

// Check reports whether c holds at least the common header (ErrTruncated).
func (c ICMP) Check() error {
	if len(c) < ICMPHeaderLen {
		return ErrTruncated
	}
	return nil
}

// Type is the message type.
func (c ICMP) Type() uint8 { return c[0] }

// Code is the message code.
func (c ICMP) Code() uint8 { return c[1] }

// Checksum is the checksum field.
func (c ICMP) Checksum() uint16 { return binary.BigEndian.Uint16(c[2:4]) }

// ChecksumValid reports whether the checksum verifies over the
// pseudo-header of a packet from src to dst (ICMPv6's, unlike ICMPv4's,
// covers it: RFC 4443 2.3).
func (c ICMP) ChecksumValid(src, dst netip.Addr) bool {
	return ipv4.Fold(ipv4.Sum(c, PseudoSum(src, dst, ProtoICMPv6, len(c)))) == 0xffff
}

// ID and Seq are an echo message's identifier and sequence number.
func (c ICMP) ID() uint16  { return binary.BigEndian.Uint16(c[4:6]) }
func (c ICMP) Seq() uint16 { return binary.BigEndian.Uint16(c[6:8]) }

// Body is what follows the common header.
func (c ICMP) Body() []byte { return c[ICMPHeaderLen:] }

// SetChecksum computes and writes the checksum for a packet from src to
// dst.
func (c ICMP) SetChecksum(src, dst netip.Addr) {
	c[2], c[3] = 0, 0
	binary.BigEndian.PutUint16(c[2:4], ipv4.Checksum(c, PseudoSum(src, dst, ProtoICMPv6, len(c))))
}

// EchoReply writes into out the reply to in, an echo request carried
// directly after the fixed header (no extension headers: ErrICMP), from
// src (in's destination, unless that was multicast: the caller picks one
// of its addresses) to in's source, with hop limit hop, the request's
// identifier, sequence and data (RFC 4443 4.2). It returns the reply's
// length. Verify the request's checksum first. out may start at in
// (answer in place).
func EchoReply(out []byte, in Header, src netip.Addr, hop uint8) (int, error) {
	if err := in.Check(); err != nil {
		return 0, err
	}
	c := ICMP(in.Payload())
	if in.NextHeader() != ProtoICMPv6 || c.Check() != nil || c.Type() != ICMPEchoRequest || c.Code() != 0 {
		return 0, ErrICMP
	}
	n := HeaderLen + len(c)
	if len(out) < n {
		return 0, ErrTruncated
	}
	to := in.Src()
	if &out[0] != &in[0] {
		copy(out[HeaderLen:n], c)
	}
	if _, err := Encode(out, Fields{TrafficClass: in.TrafficClass(), NextHeader: ProtoICMPv6, HopLimit: hop, Src: src, Dst: to, PayloadLen: len(c)}); err != nil {
		return 0, err
	}
	r := ICMP(out[HeaderLen:n])
	r[0], r[1] = ICMPEchoReply, 0
	r.SetChecksum(src, to)
	return n, nil
}

// MinMTU is IPv6's minimum link MTU (RFC 8200 section 5): an ICMPv6
// error is never longer.
const MinMTU = 1280

// icmpErrorHeaders is the fixed header and the ICMPv6 header before an
// error's quote.
const icmpErrorHeaders = HeaderLen + ICMPHeaderLen

// ErrSuppressed: RFC 4443 2.4 (e) forbids an ICMPv6 error about this
// packet.
var ErrSuppressed = errors.New("ipv6: no ICMPv6 error may be sent about this packet (RFC 4443 2.4)")

// ICMPError writes into out the ICMPv6 error typ/code (1 to 4, else
// ErrICMP) from src to orig's source about the packet orig, with rest as
// the four type-specific bytes (the MTU of a packet too big, the pointer
// of a parameter problem), hop limit hop, and returns its length. It
// quotes as much of orig as keeps the error within MinMTU and out (at
// least orig's fixed header: else ErrTruncated).
//
// It refuses (ErrSuppressed) what RFC 4443 2.4 (e) says no error may
// answer, as far as the packet shows: an ICMPv6 error or redirect (or an
// ICMPv6 message too short to tell), a packet to a multicast address
// (except for a packet too big, and a parameter problem of code 2), and
// one from the unspecified, loopback or a multicast address. The caller
// checks what only it knows: link-layer multicast or broadcast, and the
// rate limit (ipv4.RateLimiter serves both). out may start at orig
// (answer in place); other overlaps are not supported.
func ICMPError(out []byte, orig Header, src netip.Addr, typ, code uint8, rest uint32, hop uint8) (int, error) {
	if err := orig.Check(); err != nil {
		return 0, err
	}
	if typ < ICMPDestUnreachable || typ > ICMPParamProblem {
		return 0, ErrICMP
	}
	if suppressed(orig, typ, code) {
		return 0, ErrSuppressed
	}
	q := HeaderLen + orig.PayloadLen()
	avail := min(len(out), MinMTU) - icmpErrorHeaders
	if avail < HeaderLen {
		return 0, ErrTruncated
	}
	q = min(q, avail)
	// Read everything from orig before writing: out may be orig.
	to := orig.Src()
	n := icmpErrorHeaders + q
	copy(out[icmpErrorHeaders:n], orig[:q]) // a memmove: safe when out is orig
	if _, err := Encode(out, Fields{NextHeader: ProtoICMPv6, HopLimit: hop, Src: src, Dst: to, PayloadLen: n - HeaderLen}); err != nil {
		return 0, err
	}
	m := ICMP(out[HeaderLen:n])
	m[0], m[1] = typ, code
	binary.BigEndian.PutUint32(m[4:8], rest)
	m.SetChecksum(src, to)
	return n, nil
}

// suppressed reports whether no ICMPv6 error typ/code may be sent about h
// (checked).
func suppressed(h Header, typ, code uint8) bool {
	s := h.Src()
	if s.IsUnspecified() || s.IsLoopback() || s.IsMulticast() {
		return true
	}
	if h.Dst().IsMulticast() && typ != ICMPPacketTooBig && !(typ == ICMPParamProblem && code == 2) {
		return true
	}
	u, err := h.Walk()
	if err != nil || u.Proto != ProtoICMPv6 || u.FragOffset != 0 {
		return false
	}
	end := HeaderLen + h.PayloadLen()
	return u.Offset >= end || h[u.Offset] < 128 || h[u.Offset] == ICMPRedirect
}
