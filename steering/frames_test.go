package steering

import (
	"encoding/binary"
	"net/netip"
)

// goldenUDP is a 60-byte frame from 198.18.0.2:1024 to 198.18.0.1:9000 with
// a 4-byte payload, as tcpdump -XX shows it:
//
//	0x0000:  02fa 0000 0001 02fa 0000 0002 0800 4500  ..............E.
//	0x0010:  0020 0001 4000 4011 aea4 c612 0002 c612  ....@.@.........
//	0x0020:  0001 0400 2328 000c 72b0 6661 7374 0000  ....#(....fast..
//	0x0030:  0000 0000 0000 0000 0000 0000            ............
var goldenUDP = []byte{
	0x02, 0xfa, 0x00, 0x00, 0x00, 0x01, 0x02, 0xfa, 0x00, 0x00, 0x00, 0x02, 0x08, 0x00, 0x45, 0x00,
	0x00, 0x20, 0x00, 0x01, 0x40, 0x00, 0x40, 0x11, 0xae, 0xa4, 0xc6, 0x12, 0x00, 0x02, 0xc6, 0x12,
	0x00, 0x01, 0x04, 0x00, 0x23, 0x28, 0x00, 0x0c, 0x72, 0xb0, 0x66, 0x61, 0x73, 0x74, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
}

// pkt describes a test frame; build writes it. The program under test only
// reads headers, so checksums are left zero; goldenUDP has valid ones.
type pkt struct {
	vlans    int // 0, 1 or 2 tags
	etype    uint16
	version  uint8 // IPv4 version field; 0 means 4
	ihl      uint8 // 0 means 5
	totLen   int   // 0: computed
	frag     uint16
	proto    uint8
	src, dst netip.Addr
	sport    uint16
	dport    uint16
	arpTPA   netip.Addr
	arpOp    uint16 // 0 means 1, a request
	payload  int
	udpLen   int   // 0: computed
	doff     uint8 // TCP data offset in words; 0 means 5

	// IPv6 (etype 0x86dd): src and dst are IPv6 addresses, proto the
	// upper layer's next header, version 0 means 6.
	ext      []ext6     // extension headers, in order
	plen     int        // payload length field; 0: computed, -1: 0
	icmpType uint8      // ICMPv6 type, with proto 58
	target   netip.Addr // an NS's or NA's target, at ICMPv6 offset 8
}

// ext6 is an IPv6 extension header for pkt.build: kind 0 (hop-by-hop), 43
// (routing), 44 (fragment), 51 (AH) or 60 (destination options), with
// hdrLen in its length field (in 8-byte units less one; AH: 4-byte units
// less two) and, for a fragment, frag as its offset-and-flags word
// (offset<<3 | M).
type ext6 struct {
	kind   uint8
	hdrLen uint8
	frag   uint16
}

func (e ext6) len() int {
	switch e.kind {
	case 44:
		return 8
	case 51:
		return (int(e.hdrLen) + 2) * 4
	}
	return (int(e.hdrLen) + 1) * 8
}

var (
	engineIP = netip.MustParseAddr("198.18.0.1")
	peerIP   = netip.MustParseAddr("198.18.0.2")
)

var (
	engineIP6 = netip.MustParseAddr("2001:db8::1")
	peerIP6   = netip.MustParseAddr("2001:db8::2")
)

func udp6(dport uint16) pkt {
	return pkt{etype: 0x86dd, proto: 17, src: peerIP6, dst: engineIP6, sport: 1024, dport: dport, payload: 4}
}

func tcp6(dport uint16) pkt {
	p := udp6(dport)
	p.proto = 6
	p.payload = 12
	return p
}

// icmp6 is an ICMPv6 message of type typ, 8 bytes and payload more.
func icmp6(typ uint8, payload int) pkt {
	return pkt{etype: 0x86dd, proto: 58, src: peerIP6, dst: engineIP6, icmpType: typ, payload: payload}
}

// ns is a neighbour solicitation for target from peerIP6 to the target's
// solicited-node multicast address, as RFC 4861 sends it.
func ns(target netip.Addr) pkt {
	p := icmp6(135, 16)
	t := target.As16()
	p.dst = netip.AddrFrom16([16]byte{0xff, 0x02, 11: 1, 12: 0xff, 13: t[13], 14: t[14], 15: t[15]})
	p.target = target
	return p
}

func udp(dport uint16) pkt {
	return pkt{etype: 0x0800, proto: 17, src: peerIP, dst: engineIP, sport: 1024, dport: dport, payload: 4}
}

func tcp(dport uint16) pkt {
	p := udp(dport)
	p.proto = 6
	p.payload = 12 // a 20-byte TCP header needs 12 more bytes after the UDP-sized 8
	return p
}

func (p pkt) build() []byte {
	b := []byte{0x02, 0xfa, 0, 0, 0, 1, 0x02, 0xfa, 0, 0, 0, 2}
	for i := 0; i < p.vlans; i++ {
		tpid := uint16(0x8100)
		if i == 0 && p.vlans == 2 {
			tpid = 0x88a8
		}
		b = binary.BigEndian.AppendUint16(b, tpid)
		b = binary.BigEndian.AppendUint16(b, uint16(100+i))
	}
	b = binary.BigEndian.AppendUint16(b, p.etype)
	switch p.etype {
	case 0x0806:
		b = binary.BigEndian.AppendUint16(b, 1)
		b = binary.BigEndian.AppendUint16(b, 0x0800)
		op := p.arpOp
		if op == 0 {
			op = 1
		}
		b = append(b, 6, 4)
		b = binary.BigEndian.AppendUint16(b, op)
		b = append(b, 0x02, 0xfa, 0, 0, 0, 2)
		s := peerIP.As4()
		b = append(b, s[:]...)
		b = append(b, 0, 0, 0, 0, 0, 0)
		t := p.arpTPA.As4()
		b = append(b, t[:]...)
	case 0x0800:
		ihl := p.ihl
		if ihl == 0 {
			ihl = 5
		}
		ver := p.version
		if ver == 0 {
			ver = 4
		}
		hlen := int(ihl) * 4
		l4 := 8 + p.payload
		tot := p.totLen
		if tot == 0 {
			tot = hlen + l4
		}
		ip := make([]byte, max(hlen, 20))
		ip[0] = ver<<4 | ihl
		binary.BigEndian.PutUint16(ip[2:], uint16(tot))
		binary.BigEndian.PutUint16(ip[6:], p.frag)
		ip[8], ip[9] = 64, p.proto
		s, d := p.src.As4(), p.dst.As4()
		copy(ip[12:], s[:])
		copy(ip[16:], d[:])
		for i := 20; i < hlen; i++ {
			ip[i] = 1 // NOP options
		}
		b = append(b, ip...)
		l := make([]byte, l4)
		binary.BigEndian.PutUint16(l[0:], p.sport)
		binary.BigEndian.PutUint16(l[2:], p.dport)
		switch p.proto {
		case 17:
			ulen := p.udpLen
			if ulen == 0 {
				ulen = l4
			}
			binary.BigEndian.PutUint16(l[4:], uint16(ulen))
		case 6:
			if len(l) > 12 {
				doff := p.doff
				if doff == 0 {
					doff = 5
				}
				l[12] = doff << 4
			}
		}
		b = append(b, l...)
	case 0x86dd:
		b = append(b, p.ipv6()...)
	default:
		b = append(b, make([]byte, 46)...)
	}
	for len(b) < 60 {
		b = append(b, 0)
	}
	return b
}

// ipv6 writes the IPv6 packet: the fixed header, the extension headers
// (each naming the next), and the upper layer of 8 bytes and payload more.
func (p pkt) ipv6() []byte {
	ver := p.version
	if ver == 0 {
		ver = 6
	}
	ip := make([]byte, 40)
	ip[0] = ver << 4
	ip[7] = 64
	s, d := p.src.As16(), p.dst.As16()
	copy(ip[8:], s[:])
	copy(ip[24:], d[:])
	next := 6 // where the next header's number goes
	for _, e := range p.ext {
		ip[next] = e.kind
		h := make([]byte, e.len())
		h[1] = e.hdrLen
		if e.kind == 44 {
			h[1] = 0
			binary.BigEndian.PutUint16(h[2:], e.frag)
		}
		next = len(ip)
		ip = append(ip, h...)
	}
	ip[next] = p.proto
	l := make([]byte, 8+p.payload)
	switch p.proto {
	case 17:
		binary.BigEndian.PutUint16(l[0:], p.sport)
		binary.BigEndian.PutUint16(l[2:], p.dport)
		ulen := p.udpLen
		if ulen == 0 {
			ulen = len(l)
		}
		binary.BigEndian.PutUint16(l[4:], uint16(ulen))
	case 6:
		binary.BigEndian.PutUint16(l[0:], p.sport)
		binary.BigEndian.PutUint16(l[2:], p.dport)
		if len(l) > 12 {
			doff := p.doff
			if doff == 0 {
				doff = 5
			}
			l[12] = doff << 4
		}
	case 58:
		l[0] = p.icmpType
		if p.target.IsValid() && len(l) >= 24 {
			t := p.target.As16()
			copy(l[8:], t[:])
		}
	}
	ip = append(ip, l...)
	plen := len(ip) - 40
	switch {
	case p.plen > 0:
		plen = p.plen
	case p.plen < 0:
		plen = 0
	}
	binary.BigEndian.PutUint16(ip[4:], uint16(plen))
	return ip
}
