package xsk_test

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
)

// The tests build and check Ethernet/IPv4/UDP frames themselves, with an
// independent checksum, so that what the kernel accepts or sends is checked
// against code that shares nothing with the datapath under test.

type flow struct {
	srcMAC, dstMAC net.HardwareAddr
	src, dst       netip.Addr
	sport, dport   uint16
}

// frameSize is the length of test frame seq, 60 to 1514 bytes (the Ethernet
// frame without FCS), spread over the whole range.
func frameSize(seq uint64) int { return 60 + int((seq*7919)%1455) }

// fillPayload writes the payload of datagram seq: the sequence number, then
// bytes derived from it.
func fillPayload(p []byte, seq uint64) {
	binary.LittleEndian.PutUint64(p, seq)
	for i := 8; i < len(p); i++ {
		p[i] = byte(seq) + byte(i)
	}
}

// checkPayload returns the sequence number of a payload written by
// fillPayload, or an error if any byte is off.
func checkPayload(p []byte) (uint64, error) {
	if len(p) < 8 {
		return 0, errors.New("payload shorter than 8 bytes")
	}
	seq := binary.LittleEndian.Uint64(p)
	for i := 8; i < len(p); i++ {
		if p[i] != byte(seq)+byte(i) {
			return seq, errors.New("payload byte corrupt")
		}
	}
	return seq, nil
}

func csumAdd(sum uint32, b []byte) uint32 {
	for len(b) >= 2 {
		sum += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	return sum
}

func csumFold(sum uint32) uint16 {
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}

// buildUDP writes a frame of size bytes carrying datagram seq into buf and
// returns its length.
func buildUDP(buf []byte, f *flow, seq uint64, size int) int {
	b := buf[:size]
	copy(b[0:6], f.dstMAC)
	copy(b[6:12], f.srcMAC)
	binary.BigEndian.PutUint16(b[12:], 0x0800)
	ip := b[14:34]
	ip[0], ip[1] = 0x45, 0
	binary.BigEndian.PutUint16(ip[2:], uint16(size-14))
	binary.BigEndian.PutUint16(ip[4:], uint16(seq))
	binary.BigEndian.PutUint16(ip[6:], 0x4000) // DF
	ip[8], ip[9] = 64, 17
	ip[10], ip[11] = 0, 0
	s4, d4 := f.src.As4(), f.dst.As4()
	copy(ip[12:16], s4[:])
	copy(ip[16:20], d4[:])
	binary.BigEndian.PutUint16(ip[10:], csumFold(csumAdd(0, ip)))
	udp := b[34:]
	binary.BigEndian.PutUint16(udp[0:], f.sport)
	binary.BigEndian.PutUint16(udp[2:], f.dport)
	binary.BigEndian.PutUint16(udp[4:], uint16(len(udp)))
	udp[6], udp[7] = 0, 0
	fillPayload(udp[8:], seq)
	sum := csumAdd(0, ip[12:20])
	sum += 17 + uint32(len(udp))
	c := csumFold(csumAdd(sum, udp))
	if c == 0 {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(udp[6:], c)
	return size
}

// parseUDP checks an Ethernet/IPv4/UDP frame from f (MACs, addresses,
// ports, lengths, both checksums) and returns its UDP payload.
func parseUDP(b []byte, f *flow) ([]byte, error) {
	if len(b) < 42 {
		return nil, errors.New("frame shorter than Ethernet+IPv4+UDP")
	}
	if !equalMAC(b[0:6], f.dstMAC) || !equalMAC(b[6:12], f.srcMAC) || binary.BigEndian.Uint16(b[12:]) != 0x0800 {
		return nil, errors.New("wrong Ethernet header")
	}
	ip := b[14:]
	ihl := int(ip[0]&0xf) * 4
	if ip[0]>>4 != 4 || ihl < 20 || len(ip) < ihl+8 {
		return nil, errors.New("bad IPv4 version or IHL")
	}
	tot := int(binary.BigEndian.Uint16(ip[2:]))
	if tot > len(ip) || tot < ihl+8 {
		return nil, errors.New("bad IPv4 total length")
	}
	if csumFold(csumAdd(0, ip[:ihl])) != 0 {
		return nil, errors.New("bad IPv4 header checksum")
	}
	if ip[9] != 17 || netip.AddrFrom4([4]byte(ip[12:16])) != f.src || netip.AddrFrom4([4]byte(ip[16:20])) != f.dst {
		return nil, errors.New("wrong IPv4 protocol or addresses")
	}
	udp := ip[ihl:tot]
	if binary.BigEndian.Uint16(udp[0:]) != f.sport || binary.BigEndian.Uint16(udp[2:]) != f.dport {
		return nil, errors.New("wrong UDP ports")
	}
	if int(binary.BigEndian.Uint16(udp[4:])) != len(udp) {
		return nil, errors.New("UDP length does not match IPv4 length")
	}
	if binary.BigEndian.Uint16(udp[6:]) != 0 {
		sum := csumAdd(0, ip[12:20]) + 17 + uint32(len(udp))
		if csumFold(csumAdd(sum, udp)) != 0 {
			return nil, errors.New("bad UDP checksum")
		}
	}
	return udp[8:], nil
}

func equalMAC(a []byte, b net.HardwareAddr) bool { return string(a) == string(b) }
