package ipv6

import (
	"encoding/binary"
	"net/netip"
)

// Quote is what an ICMPv6 error says of the packet that caused it (RFC
// 4443 2.4 (c): as much of it as fits in the minimum MTU): its addresses,
// and where its upper-layer header starts among the bytes quoted.
type Quote struct {
	Src, Dst netip.Addr
	// Proto and Upper: the upper-layer protocol and what was quoted of
	// it, from its header on (perhaps only its first bytes). Proto is
	// ProtoNone, ProtoESP or a fragment's next header when Walk would
	// stop there.
	Proto uint8
	Upper []byte
}

// ParseQuote reads the packet an ICMPv6 error message quotes, body being
// the message after its 8-byte header (ICMP.Body). The quote is usually
// cut short, its payload length larger than what follows: the extension
// headers are walked as Walk walks them, but within the bytes quoted
// (ErrTruncated when one is cut, or fewer than the fixed header's 40
// bytes were quoted; ErrVersion; ErrChain). A quoted fragment other than
// the first has no upper-layer header (Proto is its next header, Upper
// empty). ParseQuote does not allocate; Upper is a view of body.
func ParseQuote(body []byte) (Quote, error) {
	if len(body) < HeaderLen {
		return Quote{}, ErrTruncated
	}
	h := Header(body)
	if h.Version() != 6 {
		return Quote{}, ErrVersion
	}
	end := min(len(body), HeaderLen+int(binary.BigEndian.Uint16(h[4:6])))
	u, err := h.walk(end)
	if err != nil {
		return Quote{}, err
	}
	q := Quote{Src: h.Src(), Dst: h.Dst(), Proto: u.Proto}
	if !u.Fragment || u.FragOffset == 0 {
		q.Upper = body[u.Offset:end]
	}
	return q, nil
}

// MTU is a Packet Too Big message's MTU field (RFC 4443 3.2): the MTU of
// the next-hop link. Check the message first.
func (c ICMP) MTU() uint32 { return binary.BigEndian.Uint32(c[4:8]) }
