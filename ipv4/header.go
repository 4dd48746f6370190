package ipv4

import (
	"encoding/binary"
	"net/netip"
)

// HeaderLen is the length of an IPv4 header without options (IHL 5).
const HeaderLen = 20

// MaxHeaderLen is the length of an IPv4 header with the most options
// (IHL 15).
const MaxHeaderLen = 60

// Header is a view of an IPv4 datagram, starting at its header (RFC 791
// 3.1). The slice may run past the datagram (Ethernet padding): TotalLen,
// not len, says where the datagram ends.
//
// Call Check on untrusted bytes first; after Check succeeds no accessor
// panics. Before, they may. Never Check a buffer you are writing into.
type Header []byte

// Check reports whether h holds a well-formed IPv4 header and the whole
// datagram it describes: version 4 (ErrVersion), IHL at least 5
// (ErrHeaderLen), total length at least the header length (ErrTotalLen),
// and the buffer at least as long as both (ErrTruncated). It does not
// verify the checksum (ChecksumValid) and accepts fragments (IsFragment).
func (h Header) Check() error {
	if len(h) < HeaderLen {
		return ErrTruncated
	}
	if h[0]>>4 != 4 {
		return ErrVersion
	}
	ihl := int(h[0]&0x0f) * 4
	if ihl < HeaderLen {
		return ErrHeaderLen
	}
	if len(h) < ihl {
		return ErrTruncated
	}
	total := int(binary.BigEndian.Uint16(h[2:4]))
	if total < ihl {
		return ErrTotalLen
	}
	if total > len(h) {
		return ErrTruncated
	}
	return nil
}

// ChecksumValid reports whether the header checksum verifies. Call it
// after Check.
func (h Header) ChecksumValid() bool {
	return Fold(headerSum(h[:h.IHL()])) == 0xffff
}

// headerSum is Sum for a header: at most 15 32-bit words, which a 64-bit
// accumulator adds without carries (faster than Sum for so few bytes).
func headerSum(h []byte) uint64 {
	var s uint64
	if len(h) >= HeaderLen { // the usual header, unrolled
		s = uint64(binary.BigEndian.Uint32(h[0:4])) + uint64(binary.BigEndian.Uint32(h[4:8])) +
			uint64(binary.BigEndian.Uint32(h[8:12])) + uint64(binary.BigEndian.Uint32(h[12:16])) +
			uint64(binary.BigEndian.Uint32(h[16:20]))
		h = h[HeaderLen:]
	}
	for len(h) >= 4 { // options
		s += uint64(binary.BigEndian.Uint32(h))
		h = h[4:]
	}
	return s
}

// Version returns the version field (4 after Check).
func (h Header) Version() uint8 { return h[0] >> 4 }

// IHL returns the header length in bytes (IHL field × 4), options included.
func (h Header) IHL() int { return int(h[0]&0x0f) * 4 }

// TOS returns the type-of-service byte (DSCP << 2 | ECN).
func (h Header) TOS() uint8 { return h[1] }

// TotalLen returns the datagram's length in bytes, header included.
func (h Header) TotalLen() int { return int(binary.BigEndian.Uint16(h[2:4])) }

// ID returns the identification field.
func (h Header) ID() uint16 { return binary.BigEndian.Uint16(h[4:6]) }

// DontFragment reports the DF flag.
func (h Header) DontFragment() bool { return h[6]&0x40 != 0 }

// MoreFragments reports the MF flag.
func (h Header) MoreFragments() bool { return h[6]&0x20 != 0 }

// FragOffset returns the fragment offset in bytes (field × 8).
func (h Header) FragOffset() int { return int(binary.BigEndian.Uint16(h[6:8])&0x1fff) * 8 }

// IsFragment reports whether the datagram is a fragment: MF set or a
// non-zero offset.
func (h Header) IsFragment() bool { return binary.BigEndian.Uint16(h[6:8])&0x3fff != 0 }

// TTL returns the time-to-live.
func (h Header) TTL() uint8 { return h[8] }

// Protocol returns the protocol number of the payload (ProtoUDP, ...).
func (h Header) Protocol() uint8 { return h[9] }

// Checksum returns the header checksum field.
func (h Header) Checksum() uint16 { return binary.BigEndian.Uint16(h[10:12]) }

// Src returns the source address.
func (h Header) Src() netip.Addr { return netip.AddrFrom4([4]byte(h[12:16])) }

// Dst returns the destination address.
func (h Header) Dst() netip.Addr { return netip.AddrFrom4([4]byte(h[16:20])) }

// Options returns the options bytes, h[20:IHL] (empty without options).
func (h Header) Options() []byte { return h[HeaderLen:h.IHL()] }

// Payload returns the datagram's payload, h[IHL:TotalLen], without any
// link-layer padding that follows it.
func (h Header) Payload() []byte { return h[h.IHL():h.TotalLen()] }

// SetTTL sets the time-to-live and updates the checksum incrementally
// (RFC 1624): TTL shares its 16-bit word with the protocol.
func (h Header) SetTTL(ttl uint8) {
	old := binary.BigEndian.Uint16(h[8:10])
	h[8] = ttl
	binary.BigEndian.PutUint16(h[10:12], Update16(h.Checksum(), old, binary.BigEndian.Uint16(h[8:10])))
}

// SetSrc sets the source address without touching the checksum (swapping
// source and destination leaves it valid; otherwise call SetChecksum or
// update it with Update32). A non-IPv4 address writes 0.0.0.0.
func (h Header) SetSrc(a netip.Addr) { binary.BigEndian.PutUint32(h[12:16], addrBits(a)) }

// SetDst sets the destination address, as SetSrc.
func (h Header) SetDst(a netip.Addr) { binary.BigEndian.PutUint32(h[16:20], addrBits(a)) }

// ComputeChecksum returns the checksum the header should carry: the
// checksum of the header (options included) with the checksum field taken
// as zero. It does not write it.
func (h Header) ComputeChecksum() uint16 {
	return ^Fold(headerSum(h[:h.IHL()]) + uint64(^h.Checksum()))
}

// SetChecksum computes the header checksum and stores it.
func (h Header) SetChecksum() {
	binary.BigEndian.PutUint16(h[10:12], h.ComputeChecksum())
}

// Fields describes a header for Encode: no options, not a fragment.
type Fields struct {
	TOS          uint8
	ID           uint16
	DontFragment bool
	TTL          uint8 // written as given: 0 is the caller's choice
	Protocol     uint8
	Src, Dst     netip.Addr // IPv4 (IPv4-mapped IPv6 is accepted)
	// PayloadLen is the length of what follows the header; TotalLen is
	// HeaderLen+PayloadLen.
	PayloadLen int
}

// Encode writes a 20-byte header for f, checksum included, at the start
// of b and returns a view of the whole datagram, b[:HeaderLen+f.PayloadLen]
// (it passes Check). Encode writes only the header: the payload after it
// is the caller's to write. b must hold the whole datagram, not only the
// header. Errors: ErrNotIPv4 (Src or Dst), ErrTotalLen (PayloadLen
// negative or above 65515), ErrTruncated (b shorter than the datagram).
func Encode(b []byte, f Fields) (Header, error) {
	if (!f.Src.Is4() && !f.Src.Is4In6()) || (!f.Dst.Is4() && !f.Dst.Is4In6()) {
		return nil, ErrNotIPv4
	}
	if f.PayloadLen < 0 || f.PayloadLen > 0xffff-HeaderLen {
		return nil, ErrTotalLen
	}
	total := HeaderLen + f.PayloadLen
	if len(b) < total {
		return nil, ErrTruncated
	}
	h := Header(b[:total])
	var flags uint16
	if f.DontFragment {
		flags = 0x4000
	}
	encode(h, f.TOS, uint16(total), f.ID, flags, f.TTL, f.Protocol, addrBits(f.Src), addrBits(f.Dst))
	return h, nil
}

// encode writes a 20-byte header with its checksum into h (len ≥ 20).
func encode(h []byte, tos uint8, total, id, flags uint16, ttl, proto uint8, src, dst uint32) {
	_ = h[19]
	h[0] = 0x45
	h[1] = tos
	binary.BigEndian.PutUint16(h[2:4], total)
	binary.BigEndian.PutUint16(h[4:6], id)
	binary.BigEndian.PutUint16(h[6:8], flags)
	h[8] = ttl
	h[9] = proto
	binary.BigEndian.PutUint32(h[12:16], src)
	binary.BigEndian.PutUint32(h[16:20], dst)
	// The sum of the fixed header, with the checksum field as zero, from
	// the values in hand rather than a pass over the bytes.
	s := uint64(0x4500|uint16(tos)) + uint64(total) + uint64(id) + uint64(flags) +
		uint64(uint16(ttl)<<8|uint16(proto)) + uint64(src) + uint64(dst)
	binary.BigEndian.PutUint16(h[10:12], ^Fold(s))
}
