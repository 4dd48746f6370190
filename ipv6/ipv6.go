// Package ipv6 is IPv6 for fastpath: a header view over received bytes
// and an encoder into transmit frames (RFC 8200), the walk of extension
// headers to the upper-layer header, with a bound, and the pseudo-header
// sum that UDP, TCP and ICMPv6 checksums start from (RFC 8200 8.1).
//
// The package is pure, as ipv4 is: no system calls, no clock, no locks, no
// goroutines; every buffer is the caller's and nothing allocates. The
// Internet checksum itself is ipv4's (Sum, Fold, Checksum): it is the same
// one's-complement sum for both.
//
// Views are typed byte slices. Call Check on untrusted bytes first; after
// Check succeeds no accessor panics. A view is valid only as long as the
// frame under it.
package ipv6

import "errors"

// Next-header values (IANA "Assigned Internet Protocol Numbers").
const (
	ProtoHopByHop = 0
	ProtoTCP      = 6
	ProtoUDP      = 17
	ProtoRouting  = 43
	ProtoFragment = 44
	ProtoESP      = 50
	ProtoAH       = 51
	ProtoICMPv6   = 58
	ProtoNone     = 59
	ProtoDestOpts = 60
)

// Errors. They are stable values: compare with errors.Is (or ==). None is
// created on the hot path.
var (
	// ErrTruncated: the buffer is shorter than the header, the payload
	// length it claims, or an extension header; or an output buffer is
	// too small.
	ErrTruncated = errors.New("ipv6: truncated")
	// ErrVersion: the version field is not 6.
	ErrVersion = errors.New("ipv6: version is not 6")
	// ErrPayloadLen: a payload to encode is longer than 65535 bytes (or
	// negative), or a jumbogram (payload length 0 with a hop-by-hop
	// header) was received: fastpath does not take them.
	ErrPayloadLen = errors.New("ipv6: payload length out of range")
	// ErrNotIPv6: an address given to Encode, or a route given to
	// Table.Add, is not IPv6.
	ErrNotIPv6 = errors.New("ipv6: address is not IPv6")
	// ErrChain: the extension headers are more than MaxExtHeaders, or a
	// hop-by-hop header is not the first.
	ErrChain = errors.New("ipv6: extension header chain too long or out of order")
)
