// Package ipv4 is IPv4, ICMPv4 and UDP for fastpath: header views over
// received bytes, encoders into transmit frames, Internet checksums
// (RFC 1071, RFC 1624), echo replies and ICMP errors, a longest-prefix
// route table and a token bucket for ICMP errors.
//
// The package is pure: no system calls, no clock, no locks, no goroutines.
// Time is an argument (nanoseconds from a monotonic clock) and every buffer
// is the caller's. Nothing on the hot path allocates (see TestNoAllocs).
//
// Views are typed byte slices. Call Check on untrusted bytes first; after
// Check succeeds no accessor panics. A view is valid only as long as the
// frame under it: copy what must outlive the poll step.
package ipv4

import "errors"

// Protocol numbers (IANA "Assigned Internet Protocol Numbers").
const (
	ProtoICMP = 1
	ProtoTCP  = 6
	ProtoUDP  = 17
)

// Errors. They are stable values: compare with errors.Is (or ==). None is
// created on the hot path.
var (
	// ErrTruncated: the buffer is shorter than the header or the length
	// a header claims, or an output buffer is too small.
	ErrTruncated = errors.New("ipv4: truncated")
	// ErrVersion: the version field is not 4.
	ErrVersion = errors.New("ipv4: version is not 4")
	// ErrHeaderLen: the IHL field is below 5 (20 bytes).
	ErrHeaderLen = errors.New("ipv4: header length below 20 bytes")
	// ErrTotalLen: the total length is shorter than the header, or a
	// datagram to encode would exceed 65535 bytes.
	ErrTotalLen = errors.New("ipv4: total length out of range")
	// ErrChecksum: a checksum does not verify. Check never returns it
	// (checksums are verified separately, with ChecksumValid); it is
	// here for callers that report a failed ChecksumValid as an error.
	ErrChecksum = errors.New("ipv4: bad checksum")
	// ErrFragment: the datagram is a fragment where a whole one is
	// needed (an echo request must be reassembled before it is answered).
	ErrFragment = errors.New("ipv4: datagram is a fragment")
	// ErrUDPLen: the UDP length field is below 8 or beyond the datagram,
	// or a UDP datagram to encode would exceed 65535 bytes.
	ErrUDPLen = errors.New("ipv4: bad UDP length")
	// ErrProtocol: the datagram does not carry the protocol asked for.
	ErrProtocol = errors.New("ipv4: unexpected protocol")
	// ErrICMPType: the ICMP message is not of the type asked for.
	ErrICMPType = errors.New("ipv4: unexpected ICMP type")
	// ErrSuppressed: RFC 1122 3.2.2 and RFC 1812 4.3.2.7 forbid an ICMP
	// error about this datagram (it is an ICMP error itself, a non-initial
	// fragment, sent to a multicast or broadcast address, or from an
	// address that does not name a single host).
	ErrSuppressed = errors.New("ipv4: no ICMP error may be sent about this datagram (RFC 1122 3.2.2)")
	// ErrNotIPv4: an address or prefix is not IPv4.
	ErrNotIPv4 = errors.New("ipv4: address or prefix is not IPv4")
	// ErrTableFull: the route table holds as many routes as its capacity.
	ErrTableFull = errors.New("ipv4: route table full")
)
