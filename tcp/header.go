package tcp

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"strings"

	"github.com/fastpathnet/fastpath/ipv4"
	"github.com/fastpathnet/fastpath/ipv6"
)

// Header lengths.
const (
	HeaderLen     = 20 // without options
	MaxHeaderLen  = 60 // with 40 bytes of options
	MaxOptionsLen = MaxHeaderLen - HeaderLen
)

// Flags are a segment's control bits.
type Flags uint8

const (
	FlagFIN Flags = 0x01
	FlagSYN Flags = 0x02
	FlagRST Flags = 0x04
	FlagPSH Flags = 0x08
	FlagACK Flags = 0x10
	FlagURG Flags = 0x20
	FlagECE Flags = 0x40
	FlagCWR Flags = 0x80
)

var flagNames = [8]string{"FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"}

// String lists the flags set, such as "SYN|ACK" ("none" for none).
func (f Flags) String() string {
	var parts []string
	for i, n := range flagNames {
		if f&(1<<i) != 0 {
			parts = append(parts, n)
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, "|")
}

// Errors of Check, ParseOptions, Encode.
var (
	ErrTruncated   = errors.New("tcp: segment truncated")
	ErrBadOffset   = errors.New("tcp: data offset below 5 words")
	ErrBadOption   = errors.New("tcp: malformed option")
	ErrShortBuffer = errors.New("tcp: buffer too short for the header")
)

// Header is a view of a TCP segment (header and payload) inside a frame.
// Call Check on untrusted bytes first; after Check succeeds no accessor
// panics.
type Header []byte

// Check verifies that the header fits: at least 20 bytes, a data offset of
// at least 5 words, within the segment.
func (h Header) Check() error {
	if len(h) < HeaderLen {
		return ErrTruncated
	}
	off := int(h[12]>>4) * 4
	if off < HeaderLen {
		return ErrBadOffset
	}
	if off > len(h) {
		return ErrTruncated
	}
	return nil
}

func (h Header) SrcPort() uint16  { return binary.BigEndian.Uint16(h[0:2]) }
func (h Header) DstPort() uint16  { return binary.BigEndian.Uint16(h[2:4]) }
func (h Header) Seq() Seq         { return Seq(binary.BigEndian.Uint32(h[4:8])) }
func (h Header) Ack() Seq         { return Seq(binary.BigEndian.Uint32(h[8:12])) }
func (h Header) DataOffset() int  { return int(h[12]>>4) * 4 }
func (h Header) Flags() Flags     { return Flags(h[13]) }
func (h Header) Window() uint16   { return binary.BigEndian.Uint16(h[14:16]) }
func (h Header) Checksum() uint16 { return binary.BigEndian.Uint16(h[16:18]) }
func (h Header) Urgent() uint16   { return binary.BigEndian.Uint16(h[18:20]) }

// Options returns the options bytes.
func (h Header) Options() []byte { return h[HeaderLen:h.DataOffset()] }

// Payload returns the data after the header.
func (h Header) Payload() []byte { return h[h.DataOffset():] }

func (h Header) SetSrcPort(p uint16) { binary.BigEndian.PutUint16(h[0:2], p) }
func (h Header) SetDstPort(p uint16) { binary.BigEndian.PutUint16(h[2:4], p) }
func (h Header) SetSeq(s Seq)        { binary.BigEndian.PutUint32(h[4:8], uint32(s)) }
func (h Header) SetAck(s Seq)        { binary.BigEndian.PutUint32(h[8:12], uint32(s)) }
func (h Header) SetFlags(f Flags)    { h[13] = byte(f) }
func (h Header) SetWindow(w uint16)  { binary.BigEndian.PutUint16(h[14:16], w) }

// pseudoSum is the partial sum of the pseudo-header of a segment of n
// bytes from src to dst: IPv4's (RFC 9293 3.1) when src is IPv4, IPv6's
// (RFC 8200 8.1) otherwise. The checksum is the same one's-complement
// sum for both families.
func pseudoSum(src, dst netip.Addr, n int) uint64 {
	if src.Is4() {
		return ipv4.PseudoSum(src, dst, ipv4.ProtoTCP, n)
	}
	return ipv6.PseudoSum(src, dst, ipv6.ProtoTCP, n)
}

// ChecksumValid verifies the checksum over the whole segment with the
// pseudo-header of src and dst (IPv4's or IPv6's, by src's family).
func (h Header) ChecksumValid(src, dst netip.Addr) bool {
	return ipv4.Fold(ipv4.Sum(h, pseudoSum(src, dst, len(h)))) == 0xffff
}

// SetChecksum computes and stores the checksum over the whole segment,
// with the pseudo-header of src and dst (IPv4's or IPv6's, by src's
// family).
func (h Header) SetChecksum(src, dst netip.Addr) {
	h[16], h[17] = 0, 0
	c := ipv4.Checksum(h, pseudoSum(src, dst, len(h)))
	binary.BigEndian.PutUint16(h[16:18], c)
}

// ChecksumOffset is the offset of the checksum in the TCP header.
const ChecksumOffset = 16

// SetPartialChecksum stores the folded sum of the pseudo-header in the
// checksum field: what a device completing the checksum over the segment
// starts from (the kernel's CHECKSUM_PARTIAL; xsk.RequestChecksum). h is
// the whole segment.
func (h Header) SetPartialChecksum(src, dst netip.Addr) {
	binary.BigEndian.PutUint16(h[ChecksumOffset:], ipv4.Fold(pseudoSum(src, dst, len(h))))
}
