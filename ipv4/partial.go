package ipv4

import "encoding/binary"

// Partial checksums. A sender that leaves the TCP or UDP checksum to its
// device (the kernel's CHECKSUM_PARTIAL) puts in the checksum field the
// folded sum of the pseudo-header, not complemented; the device sums from
// the start of the TCP or UDP header to the end, that field included, and
// stores the complement. A veth has nothing that completes it: when the
// sending end's TX checksum offload is on (veth's default), an XDP program
// on the receiving end, and an AF_XDP socket behind it, get the field as
// the sender left it. Captured on Linux 6.18 (golden-partial.pcap): a UDP
// datagram from 192.0.2.2 to 192.0.2.1 with 17 bytes of data carries
// 0x842e, which is c000+0202 + c000+0201 + 0011 (UDP) + 0019 (its length)
// folded: udp4_hwcsum's uh->check = ~csum_tcpudp_magic(...), the
// complement of a complement. TCP (tcp_v4_send_check) leaves the same.
// ICMP is always computed in software.

// l4Checksum returns the TCP or UDP part of h (the bytes the checksum
// covers) and the offset of its checksum field; ok is false for other
// protocols and for segments too short to hold their header.
func l4Checksum(h Header) (l4 []byte, off int, ok bool) {
	switch h.Protocol() {
	case ProtoUDP:
		u := UDP(h.Payload())
		if u.Check() != nil {
			return nil, 0, false
		}
		return u[:u.Length()], 6, true
	case ProtoTCP:
		t := h.Payload()
		if len(t) < 20 {
			return nil, 0, false
		}
		return t, 16, true
	}
	return nil, 0, false
}

// PartialChecksum reports whether h, an IPv4 packet that passed Check,
// carries a TCP or UDP checksum that a sender left for its device to
// complete: the field holds the folded pseudo-header sum, and the checksum
// does not verify (a complete checksum equals that sum once in 65536
// segments). It costs a comparison unless the field matches, then a pass
// over the segment. Other protocols, and segments too short for their
// header, give false.
func PartialChecksum(h Header) bool {
	l4, off, ok := l4Checksum(h)
	if !ok {
		return false
	}
	pseudo := PseudoSum(h.Src(), h.Dst(), h.Protocol(), len(l4))
	if binary.BigEndian.Uint16(l4[off:]) != Fold(pseudo) {
		return false
	}
	return Fold(Sum(l4, pseudo)) != 0xffff
}

// CompletePartialChecksum does what the sender's device would have done to
// a checksum that PartialChecksum reported: it sums the segment with the
// field as it is (which stands for the pseudo-header) and stores the
// complement, 0 as 0xffff (RFC 768). The checksum then verifies. On a
// packet PartialChecksum did not report it is wrong; on other protocols
// and on segments too short for their header it does nothing.
func CompletePartialChecksum(h Header) {
	l4, off, ok := l4Checksum(h)
	if !ok {
		return
	}
	c := ^Fold(Sum(l4, 0))
	if c == 0 {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(l4[off:], c)
}
