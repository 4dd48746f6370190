package ipv4

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// Frames with partial checksums, captured with tcpdump on the receiving
// end of a veth pair between two network namespaces (192.0.2.1,
// 02:00:00:00:00:01 and 192.0.2.2, 02:00:00:00:00:02; Linux 6.18) while the
// sending end, 192.0.2.2, kept veth's TX checksum offload on (its default):
// the kernel's UDP and TCP sockets in 192.0.2.2 sent them, and tcpdump
// says what the complete checksum would be. testdata/golden-partial.pcap
// holds them; shown with `tcpdump -nn -vv -XX -r`.

// partialUDPFrame:
//
//	14:41:33.917786 IP (tos 0x0, ttl 64, id 21353, offset 0, flags [DF], proto UDP (17), length 45)
//	192.0.2.2.40000 > 192.0.2.1.7777: [bad udp cksum 0x842e -> 0xa0be!] UDP, length 17
//	0x0000:  0200 0000 0001 0200 0000 0002 0800 4500  ..............E.
//	0x0010:  002d 5369 4000 4011 6353 c000 0202 c000  .-Si@.@.cS......
//	0x0020:  0201 9c40 1e61 0019 842e 6661 7374 7061  ...@.a....fastpa
//	0x0030:  7468 2070 6172 7469 616c 0a              th.partial.
var partialUDPFrame = []byte{
	0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x08, 0x00, 0x45, 0x00,
	0x00, 0x2d, 0x53, 0x69, 0x40, 0x00, 0x40, 0x11, 0x63, 0x53, 0xc0, 0x00, 0x02, 0x02, 0xc0, 0x00,
	0x02, 0x01, 0x9c, 0x40, 0x1e, 0x61, 0x00, 0x19, 0x84, 0x2e, 0x66, 0x61, 0x73, 0x74, 0x70, 0x61,
	0x74, 0x68, 0x20, 0x70, 0x61, 0x72, 0x74, 0x69, 0x61, 0x6c, 0x0a,
}

// partialSYNFrame:
//
//	14:41:33.917834 IP (tos 0x0, ttl 64, id 60103, offset 0, flags [DF], proto TCP (6), length 60)
//	192.0.2.2.40001 > 192.0.2.1.7778: Flags [S], cksum 0x8432 (incorrect -> 0x7390), seq 1245815671, win 64240, options [mss 1460,sackOK,TS val 3279808925 ecr 0,nop,wscale 10], length 0
//	0x0000:  0200 0000 0001 0200 0000 0002 0800 4500  ..............E.
//	0x0010:  003c eac7 4000 4006 cbf0 c000 0202 c000  .<..@.@.........
//	0x0020:  0201 9c41 1e62 4a41 a377 0000 0000 a002  ...A.bJA.w......
//	0x0030:  faf0 8432 0000 0204 05b4 0402 080a c37d  ...2...........}
//	0x0040:  e99d 0000 0000 0103 030a                 ..........
var partialSYNFrame = []byte{
	0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x08, 0x00, 0x45, 0x00,
	0x00, 0x3c, 0xea, 0xc7, 0x40, 0x00, 0x40, 0x06, 0xcb, 0xf0, 0xc0, 0x00, 0x02, 0x02, 0xc0, 0x00,
	0x02, 0x01, 0x9c, 0x41, 0x1e, 0x62, 0x4a, 0x41, 0xa3, 0x77, 0x00, 0x00, 0x00, 0x00, 0xa0, 0x02,
	0xfa, 0xf0, 0x84, 0x32, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0xc3, 0x7d,
	0xe9, 0x9d, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x03, 0x0a,
}

// partialDataFrame:
//
//	14:41:34.118117 IP (tos 0x0, ttl 64, id 60105, offset 0, flags [DF], proto TCP (6), length 69)
//	192.0.2.2.40001 > 192.0.2.1.7778: Flags [P.], cksum 0x843b (incorrect -> 0xa4d7), seq 1245815672:1245815689, ack 877760000, win 63, options [nop,nop,TS val 3279809125 ecr 4134542894], length 17
//	0x0000:  0200 0000 0001 0200 0000 0002 0800 4500  ..............E.
//	0x0010:  0045 eac9 4000 4006 cbe5 c000 0202 c000  .E..@.@.........
//	0x0020:  0201 9c41 1e62 4a41 a378 3451 8e00 8018  ...A.bJA.x4Q....
//	0x0030:  003f 843b 0000 0101 080a c37d ea65 f670  .?.;.......}.e.p
//	0x0040:  1e2e 6661 7374 7061 7468 2070 6172 7469  ..fastpath.parti
//	0x0050:  616c 0a                                  al.
var partialDataFrame = []byte{
	0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x08, 0x00, 0x45, 0x00,
	0x00, 0x45, 0xea, 0xc9, 0x40, 0x00, 0x40, 0x06, 0xcb, 0xe5, 0xc0, 0x00, 0x02, 0x02, 0xc0, 0x00,
	0x02, 0x01, 0x9c, 0x41, 0x1e, 0x62, 0x4a, 0x41, 0xa3, 0x78, 0x34, 0x51, 0x8e, 0x00, 0x80, 0x18,
	0x00, 0x3f, 0x84, 0x3b, 0x00, 0x00, 0x01, 0x01, 0x08, 0x0a, 0xc3, 0x7d, 0xea, 0x65, 0xf6, 0x70,
	0x1e, 0x2e, 0x66, 0x61, 0x73, 0x74, 0x70, 0x61, 0x74, 0x68, 0x20, 0x70, 0x61, 0x72, 0x74, 0x69,
	0x61, 0x6c, 0x0a,
}

// l4Valid verifies h's TCP or UDP checksum (a zero UDP field counts).
func l4Valid(h Header) bool {
	if h.Protocol() == ProtoUDP {
		return UDP(h.Payload()).ChecksumValid(h.Src(), h.Dst())
	}
	p := h.Payload()
	return Fold(Sum(p, PseudoSum(h.Src(), h.Dst(), ProtoTCP, len(p)))) == 0xffff
}

// checksumField reads h's TCP or UDP checksum field.
func checksumField(h Header) uint16 {
	if h.Protocol() == ProtoUDP {
		return binary.BigEndian.Uint16(h.Payload()[6:])
	}
	return binary.BigEndian.Uint16(h.Payload()[16:])
}

// TestPartialChecksumGolden: what the kernel sends through a veth with TX
// checksum offload on is recognised, and completing it gives the checksum
// tcpdump computed.
func TestPartialChecksumGolden(t *testing.T) {
	for _, tc := range []struct {
		name     string
		frame    []byte
		complete uint16 // tcpdump's "-> 0x...."
	}{
		{"UDP", partialUDPFrame, 0xa0be},
		{"TCP SYN", partialSYNFrame, 0x7390},
		{"TCP data", partialDataFrame, 0xa4d7},
	} {
		h := datagram(tc.frame)
		if err := h.Check(); err != nil || !h.ChecksumValid() {
			t.Fatalf("%s: IPv4 header: %v", tc.name, err)
		}
		if l4Valid(h) {
			t.Errorf("%s: the partial checksum verifies", tc.name)
		}
		if !PartialChecksum(h) {
			t.Errorf("%s: not recognised as partial", tc.name)
		}
		// With Ethernet padding after the datagram: the lengths decide.
		padded := Header(append(bytes.Clone(h), 0, 0, 0, 0, 0, 0))
		if !PartialChecksum(padded) {
			t.Errorf("%s: padded: not recognised", tc.name)
		}
		CompletePartialChecksum(h)
		if got := checksumField(h); got != tc.complete || !l4Valid(h) {
			t.Errorf("%s: completed to %#04x (verifies: %v), want tcpdump's %#04x", tc.name, got, l4Valid(h), tc.complete)
		}
		if PartialChecksum(h) {
			t.Errorf("%s: still partial once completed", tc.name)
		}
	}
}

// TestPartialChecksumNot: complete checksums, corrupted ones, ICMP and
// truncated segments are not partial, and CompletePartialChecksum leaves
// what it cannot read alone.
func TestPartialChecksumNot(t *testing.T) {
	corrupt := datagram(partialUDPFrame)
	corrupt.Payload()[7] ^= 1 // the field no longer holds the pseudo-header sum
	shortUDP := datagram(partialUDPFrame)
	binary.BigEndian.PutUint16(shortUDP.Payload()[4:], 7) // UDP length below 8
	shortTCP := datagram(partialSYNFrame)
	shortTCP = shortTCP[:HeaderLen+19]
	binary.BigEndian.PutUint16(shortTCP[2:], HeaderLen+19)
	shortTCP.SetChecksum()
	for _, tc := range []struct {
		name string
		h    Header
	}{
		{"complete UDP", datagram(udpFrame)},
		{"ICMP echo", datagram(echoRequestFrame)},
		{"corrupted UDP", corrupt},
		{"UDP length below 8", shortUDP},
		{"TCP shorter than its header", shortTCP},
	} {
		if err := tc.h.Check(); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if PartialChecksum(tc.h) {
			t.Errorf("%s: recognised as partial", tc.name)
		}
	}
	for _, h := range []Header{datagram(echoRequestFrame), shortUDP, shortTCP} {
		before := bytes.Clone(h)
		CompletePartialChecksum(h)
		if !bytes.Equal(before, h) {
			t.Errorf("CompletePartialChecksum changed % x", before)
		}
	}
	// A complete checksum equal to the pseudo-header sum (1 in 65536)
	// verifies, so it is not partial: data chosen so that the complete
	// checksum is exactly that sum.
	h := datagram(partialUDPFrame)
	u := UDP(h.Payload())
	pseudo := Fold(PseudoSum(h.Src(), h.Dst(), ProtoUDP, u.Length()))
	binary.BigEndian.PutUint16(u[6:], 0)
	binary.BigEndian.PutUint16(u[8:], 0)
	// With the first payload word x, the checksum is ^(s + x) for s the
	// rest's sum; pick x so that it equals pseudo.
	s := Fold(Sum(u, PseudoSum(h.Src(), h.Dst(), ProtoUDP, u.Length())))
	x := ^pseudo - s
	if uint32(^pseudo) < uint32(s) {
		x-- // the end-around borrow
	}
	binary.BigEndian.PutUint16(u[8:], x)
	u.SetChecksum(h.Src(), h.Dst())
	if u.Checksum() != pseudo || !u.ChecksumValid(h.Src(), h.Dst()) {
		t.Fatalf("could not build the coincidence: checksum %#04x, pseudo-header sum %#04x", u.Checksum(), pseudo)
	}
	if PartialChecksum(h) {
		t.Error("a complete checksum that equals the pseudo-header sum is taken for partial")
	}
}

// FuzzPartialChecksum: on any packet that passes Check, nothing panics;
// what is reported partial verifies once completed and is then no longer
// partial; nothing else is touched.
func FuzzPartialChecksum(f *testing.F) {
	for _, frame := range [][]byte{partialUDPFrame, partialSYNFrame, partialDataFrame, udpFrame, echoRequestFrame, unreachFrame} {
		f.Add(bytes.Clone(frame[ethLen:]))
		f.Add(append(bytes.Clone(frame[ethLen:]), 0, 0, 0, 0, 0, 0))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		h := Header(data)
		if h.Check() != nil {
			return
		}
		before := bytes.Clone(data)
		if !PartialChecksum(h) {
			if p := h.Protocol(); p != ProtoUDP && p != ProtoTCP {
				CompletePartialChecksum(h)
				if !bytes.Equal(before, data) {
					t.Fatal("CompletePartialChecksum changed a packet that is neither TCP nor UDP")
				}
			}
			return
		}
		if l4Valid(h) {
			t.Fatal("reported partial, yet the checksum verifies")
		}
		CompletePartialChecksum(h)
		if !l4Valid(h) || PartialChecksum(h) {
			t.Fatalf("completed % x to % x: does not verify", before, data)
		}
		if p := h.Protocol(); p == ProtoUDP && UDP(h.Payload()).Checksum() == 0 {
			t.Fatal("completed a UDP checksum to 0 (none)")
		}
		// Only the checksum field changed.
		diff := 0
		for i := range data {
			if data[i] != before[i] {
				diff++
			}
		}
		if diff > 2 {
			t.Fatalf("%d bytes changed", diff)
		}
	})
}
