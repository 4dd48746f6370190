package ipv6

import "encoding/binary"

// MaxExtHeaders bounds the extension headers Walk follows: Linux's
// default bound on options is of the same order, and no legitimate packet
// needs more (RFC 8200 section 4.1 orders at most seven kinds, each once
// but destination options twice).
const MaxExtHeaders = 8

// Upper is where Walk found the upper-layer header, and the fragment
// header it crossed, if any.
type Upper struct {
	// Proto is the upper-layer protocol, or the header Walk stopped at:
	// ProtoNone (nothing follows), ProtoESP (encrypted), or whatever
	// follows a fragment header of a fragment other than the first.
	Proto uint8
	// Offset is where that header starts, from the start of the fixed
	// header; the upper-layer packet runs to HeaderLen+PayloadLen.
	Offset int
	// ExtHeaders is the number of extension headers crossed.
	ExtHeaders int
	// Fragment: a fragment header was crossed. FragOffset is the
	// fragment's offset in bytes (not 0: Proto is not the upper-layer
	// header's start), MoreFragments its M flag and ID its
	// identification. A packet with a fragment header of offset 0 and
	// no M flag is an atomic fragment (RFC 6946): whole.
	Fragment      bool
	FragOffset    int
	MoreFragments bool
	ID            uint32
}

// Walk follows the extension headers of a packet that passed Check, up to
// the upper-layer header: hop-by-hop options (first only), routing,
// fragment, destination options and AH, each within the payload length
// (ErrTruncated), at most MaxExtHeaders of them (ErrChain, which a
// hop-by-hop header after the first also gets). A jumbogram (payload
// length 0 behind a hop-by-hop header) is ErrPayloadLen. Walk does not
// allocate.
func (h Header) Walk() (Upper, error) {
	if h.NextHeader() == ProtoHopByHop && h.PayloadLen() == 0 {
		return Upper{Proto: ProtoHopByHop, Offset: HeaderLen}, ErrPayloadLen
	}
	return h.walk(HeaderLen + h.PayloadLen())
}

// walk is Walk within h[:end] (end at most len(h), at least HeaderLen).
func (h Header) walk(end int) (Upper, error) {
	u := Upper{Proto: h.NextHeader(), Offset: HeaderLen}
	for {
		var n int
		switch u.Proto {
		case ProtoHopByHop, ProtoRouting, ProtoDestOpts:
			if u.Proto == ProtoHopByHop && u.ExtHeaders > 0 {
				return u, ErrChain
			}
			if end-u.Offset < 8 {
				return u, ErrTruncated
			}
			n = (int(h[u.Offset+1]) + 1) * 8
		case ProtoAH:
			if end-u.Offset < 8 {
				return u, ErrTruncated
			}
			n = (int(h[u.Offset+1]) + 2) * 4
		case ProtoFragment:
			if end-u.Offset < 8 {
				return u, ErrTruncated
			}
			n = 8
			off := binary.BigEndian.Uint16(h[u.Offset+2 : u.Offset+4])
			u.Fragment, u.FragOffset, u.MoreFragments = true, int(off>>3)*8, off&1 != 0
			u.ID = binary.BigEndian.Uint32(h[u.Offset+4 : u.Offset+8])
		default:
			return u, nil // the upper layer, ESP or no next header
		}
		if end-u.Offset < n {
			return u, ErrTruncated
		}
		if u.ExtHeaders == MaxExtHeaders {
			return u, ErrChain
		}
		u.ExtHeaders++
		next := h[u.Offset]
		u.Offset += n
		u.Proto = next
		if u.Fragment && u.FragOffset != 0 {
			return u, nil // not the first fragment: no upper-layer header here
		}
	}
}
