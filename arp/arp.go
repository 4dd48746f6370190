// Package arp implements the Address Resolution Protocol (RFC 826) for
// Ethernet and IPv4: a view of the packet, builders for the frames an
// engine sends (request, reply, gratuitous announcement), and a
// fixed-capacity neighbour cache with timers, bounded retries and a bounded
// queue of frames per neighbour awaiting resolution.
//
// The cache serves IPv6's neighbour discovery too (RFC 4861): its entries
// have the same states, timers and queueing for both families, one table
// holding both (Linux keeps an arp_tbl and an nd_tbl of one kind). ARP
// packets come in through Input; NDP's messages, which package ipv6 reads
// and builds, through Solicitation and Advertisement.
//
// Everything here is pure: time is an argument (monotonic nanoseconds),
// buffers are the caller's, nothing reads a clock, locks, or makes a system
// call, and after NewCache nothing on the hot path allocates.
package arp

import (
	"encoding/binary"
	"errors"
	"net/netip"

	"github.com/fastpathnet/fastpath/ether"
)

const (
	// Len is the length of an Ethernet/IPv4 ARP packet.
	Len = 28
	// FrameLen is the length of the frames Request, Reply and Gratuitous
	// build: the Ethernet header and the packet, padded to ether.MinFrame.
	FrameLen = ether.MinFrame
)

// Operations (RFC 826 ar$op).
const (
	OpRequest = 1
	OpReply   = 2
)

// Field values this package speaks (RFC 826 ar$hrd, ar$pro, ar$hln, ar$pln).
const (
	htypeEthernet = 1
	ptypeIPv4     = uint16(ether.TypeIPv4)
	hlenEthernet  = 6
	plenIPv4      = 4
)

var (
	// ErrTruncated reports a packet shorter than Len.
	ErrTruncated = errors.New("arp: truncated")
	// ErrNotEthernetIPv4 reports a packet for another hardware or
	// protocol type, or an address that is not IPv4 given to a builder.
	ErrNotEthernetIPv4 = errors.New("arp: not Ethernet/IPv4")
	// ErrOp reports an operation other than request or reply.
	ErrOp = errors.New("arp: operation neither request nor reply")
	// ErrShortBuffer reports a buffer too short for what a builder writes.
	ErrShortBuffer = errors.New("arp: buffer too short")
)

// Packet is a view of an ARP packet: the bytes after the Ethernet header
// (Frame.L3). It may be longer than Len (padding). Call Check on untrusted
// bytes first; after it succeeds no accessor panics.
type Packet []byte

// Check returns ErrTruncated if p is shorter than Len, ErrNotEthernetIPv4
// unless the hardware type is Ethernet (1) with 6-byte addresses and the
// protocol type IPv4 (0x0800) with 4-byte addresses, and ErrOp unless the
// operation is a request or a reply.
func (p Packet) Check() error {
	if len(p) < Len {
		return ErrTruncated
	}
	if binary.BigEndian.Uint16(p[0:2]) != htypeEthernet || binary.BigEndian.Uint16(p[2:4]) != ptypeIPv4 ||
		p[4] != hlenEthernet || p[5] != plenIPv4 {
		return ErrNotEthernetIPv4
	}
	if op := p.Op(); op != OpRequest && op != OpReply {
		return ErrOp
	}
	return nil
}

// Op returns the operation (ar$op).
func (p Packet) Op() uint16 { return binary.BigEndian.Uint16(p[6:8]) }

// SenderMAC returns the sender hardware address (ar$sha).
func (p Packet) SenderMAC() ether.Addr { return ether.Addr(p[8:14]) }

// SenderIP returns the sender protocol address (ar$spa).
func (p Packet) SenderIP() netip.Addr { return netip.AddrFrom4([4]byte(p[14:18])) }

// TargetMAC returns the target hardware address (ar$tha).
func (p Packet) TargetMAC() ether.Addr { return ether.Addr(p[18:24]) }

// TargetIP returns the target protocol address (ar$tpa).
func (p Packet) TargetIP() netip.Addr { return netip.AddrFrom4([4]byte(p[24:28])) }

// Encode writes an Ethernet/IPv4 ARP packet into b's first Len bytes and
// returns it. op must be OpRequest or OpReply (else ErrOp), spa and tpa
// IPv4 addresses (else ErrNotEthernetIPv4; 0.0.0.0 is fine, as in an RFC
// 5227 probe), b at least Len long (else ErrShortBuffer). On error it
// writes nothing.
func Encode(b []byte, op uint16, sha ether.Addr, spa netip.Addr, tha ether.Addr, tpa netip.Addr) (Packet, error) {
	if err := checkFields(op, spa, tpa); err != nil {
		return nil, err
	}
	if len(b) < Len {
		return nil, ErrShortBuffer
	}
	return encode(b, op, sha, spa, tha, tpa), nil
}

func checkFields(op uint16, spa, tpa netip.Addr) error {
	if op != OpRequest && op != OpReply {
		return ErrOp
	}
	if !spa.Is4() || !tpa.Is4() {
		return ErrNotEthernetIPv4
	}
	return nil
}

// encode writes the packet; the caller has checked the fields and length.
func encode(b []byte, op uint16, sha ether.Addr, spa netip.Addr, tha ether.Addr, tpa netip.Addr) Packet {
	p := Packet(b[:Len:Len])
	binary.BigEndian.PutUint16(p[0:2], htypeEthernet)
	binary.BigEndian.PutUint16(p[2:4], ptypeIPv4)
	p[4], p[5] = hlenEthernet, plenIPv4
	binary.BigEndian.PutUint16(p[6:8], op)
	copy(p[8:14], sha[:])
	s, t := spa.As4(), tpa.As4()
	copy(p[14:18], s[:])
	copy(p[18:24], tha[:])
	copy(p[24:28], t[:])
	return p
}

// frame writes an Ethernet header and an ARP packet into b, pads it to
// FrameLen, and returns FrameLen. On error it writes nothing.
func frame(b []byte, dst, src ether.Addr, op uint16, sha ether.Addr, spa netip.Addr, tha ether.Addr, tpa netip.Addr) (int, error) {
	if err := checkFields(op, spa, tpa); err != nil {
		return 0, err
	}
	if len(b) < FrameLen {
		return 0, ErrShortBuffer
	}
	ether.Encode(b, dst, src, ether.TypeARP)
	encode(b[ether.HeaderLen:], op, sha, spa, tha, tpa)
	return ether.Pad(b, ether.HeaderLen+Len), nil
}

// Request writes into b a broadcast who-has frame for target from srcMAC,
// srcIP, padded to FrameLen, and returns its length. The target hardware
// address is zero, as Linux sends it. b must hold FrameLen bytes.
func Request(b []byte, srcMAC ether.Addr, srcIP, target netip.Addr) (int, error) {
	return frame(b, ether.Broadcast, srcMAC, OpRequest, srcMAC, srcIP, ether.Addr{}, target)
}

// Reply writes into b the answer to req from srcMAC, srcIP (normally
// req.TargetIP(), an address the caller owns), padded to FrameLen, and
// returns its length. The frame goes unicast to reqSrcMAC, the Ethernet
// source of the request's frame; the packet's target is the request's
// sender (RFC 826: swap the fields). To a probe (RFC 5227, sender IP
// 0.0.0.0) the target IP is 0.0.0.0, as Linux answers it. Reply returns
// req.Check's error if req is malformed, ErrOp if it is not a request.
func Reply(b []byte, srcMAC ether.Addr, srcIP netip.Addr, req Packet, reqSrcMAC ether.Addr) (int, error) {
	if err := req.Check(); err != nil {
		return 0, err
	}
	if req.Op() != OpRequest {
		return 0, ErrOp
	}
	return frame(b, reqSrcMAC, srcMAC, OpReply, srcMAC, srcIP, req.SenderMAC(), req.SenderIP())
}

// Gratuitous writes into b an ARP announcement (RFC 5227 2.3): a broadcast
// request with sender and target IP both ip and a zero target hardware
// address, as Linux sends on link up; padded to FrameLen.
func Gratuitous(b []byte, mac ether.Addr, ip netip.Addr) (int, error) {
	return frame(b, ether.Broadcast, mac, OpRequest, mac, ip, ether.Addr{}, ip)
}
