package gen

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/fastpathnet/fastpath/ether"
)

// The reference below is deliberately naive and shares nothing with the
// ipv4 package: 16-bit big-endian words, a 32-bit accumulator, folded at
// the end (RFC 1071 section 4.1).

// refSum is the one's complement sum of b as big-endian words, added to
// sum and folded to 16 bits.
func refSum(sum uint32, b []byte) uint32 {
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(b[i])<<8 | uint32(b[i+1])
		sum = sum&0xffff + sum>>16
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
		sum = sum&0xffff + sum>>16
	}
	return sum
}

// refIPv4Checksum computes an IPv4 header checksum from scratch, with the
// checksum field taken as zero.
func refIPv4Checksum(h []byte) uint16 {
	var c [20]byte
	copy(c[:], h[:20])
	c[10], c[11] = 0, 0
	return ^uint16(refSum(0, c[:]))
}

// refUDPChecksum computes a UDP checksum from scratch over the
// pseudo-header, the header (checksum as zero) and the payload; a computed
// 0 is sent as 0xffff (RFC 768).
func refUDPChecksum(src, dst []byte, udp []byte) uint16 {
	var pseudo [12]byte
	copy(pseudo[0:4], src)
	copy(pseudo[4:8], dst)
	pseudo[9] = 17
	binary.BigEndian.PutUint16(pseudo[10:12], uint16(len(udp)))
	s := refSum(0, pseudo[:])
	s = refSum(s, udp[:6])
	s = refSum(s, udp[8:])
	c := ^uint16(s)
	if c == 0 {
		c = 0xffff
	}
	return c
}

var (
	testSrcMAC = ether.Addr{0x02, 0x00, 0x00, 0x00, 0x00, 0x01}
	testDstMAC = ether.Addr{0x02, 0x00, 0x00, 0x00, 0x00, 0x02}
	testSrc    = netip.MustParseAddrPort("198.18.0.1:1024")
	testDst    = netip.MustParseAddrPort("198.18.0.2:9")
)

// baseSpec is a spec with the addresses every test needs.
func baseSpec() Spec {
	return Spec{SrcMAC: testSrcMAC, DstMAC: testDstMAC, Src: testSrc, Dst: testDst}
}

// flowKey is what varies between flows.
type flowKey struct {
	src          netip.Addr
	sport, dport uint16
}

// frameWant is what a frame must look like, as the test derives it from
// the Spec, not from the Builder.
type frameWant struct {
	spec                   Spec
	ipLo, ipHi             netip.Addr
	spLo, spHi, dpLo, dpHi uint16
	sizes                  map[int]bool // frame lengths without FCS
	ttl                    uint8
	stamp, udpCsum         bool
	stream                 uint8
	// checkStamps checks the stamp holds stream, seq and now; without
	// it only the bytes after the stamp are checked.
	checkStamps bool
	seq         uint64
	now         int64
}

func wantOf(spec Spec, stream int) frameWant {
	w := frameWant{spec: spec, ttl: spec.TTL, stamp: spec.Stamp, udpCsum: !spec.NoUDPChecksum, stream: uint8(stream)}
	if w.ttl == 0 {
		w.ttl = 64
	}
	w.ipLo, w.ipHi = spec.Src.Addr(), spec.Src.Addr()
	if spec.SrcIPs.Lo.IsValid() {
		w.ipLo, w.ipHi = spec.SrcIPs.Lo, spec.SrcIPs.Hi
	}
	w.spLo, w.spHi = spec.Src.Port(), spec.Src.Port()
	if spec.SrcPorts != (Range[uint16]{}) {
		w.spLo, w.spHi = spec.SrcPorts.Lo, spec.SrcPorts.Hi
	}
	w.dpLo, w.dpHi = spec.Dst.Port(), spec.Dst.Port()
	if spec.DstPorts != (Range[uint16]{}) {
		w.dpLo, w.dpHi = spec.DstPorts.Lo, spec.DstPorts.Hi
	}
	w.sizes = map[int]bool{}
	for _, sw := range spec.Sizes {
		w.sizes[sw.Size-FCSLen] = true
	}
	if len(spec.Sizes) == 0 {
		w.sizes[spec.minSize()-FCSLen] = true
	}
	return w
}

// checkFrame verifies frame[:n] against w from scratch and returns its
// flow.
func checkFrame(w *frameWant, frame []byte, n int) (flowKey, error) {
	var k flowKey
	if !w.sizes[n] {
		return k, fmt.Errorf("length %d, want one of %v", n, w.sizes)
	}
	f := frame[:n]
	if !bytes.Equal(f[0:6], w.spec.DstMAC[:]) || !bytes.Equal(f[6:12], w.spec.SrcMAC[:]) {
		return k, fmt.Errorf("MACs %x %x", f[0:6], f[6:12])
	}
	if w.spec.Dst.Addr().Is6() {
		return checkFrame6(w, f)
	}
	if f[12] != 0x08 || f[13] != 0x00 {
		return k, fmt.Errorf("EtherType %x", f[12:14])
	}
	ip := f[14:34]
	if ip[0] != 0x45 {
		return k, fmt.Errorf("version/IHL %#x", ip[0])
	}
	if tl := int(binary.BigEndian.Uint16(ip[2:4])); tl != n-14 {
		return k, fmt.Errorf("IPv4 total length %d, want %d", tl, n-14)
	}
	if flags := binary.BigEndian.Uint16(ip[6:8]); flags != 0x4000 {
		return k, fmt.Errorf("flags/fragment %#x, want DF only", flags)
	}
	if ip[8] != w.ttl || ip[9] != 17 {
		return k, fmt.Errorf("TTL %d protocol %d", ip[8], ip[9])
	}
	if got, want := binary.BigEndian.Uint16(ip[10:12]), refIPv4Checksum(ip); got != want {
		return k, fmt.Errorf("IPv4 checksum %#04x, want %#04x", got, want)
	}
	k.src = netip.AddrFrom4([4]byte(ip[12:16]))
	if dst := netip.AddrFrom4([4]byte(ip[16:20])); dst != w.spec.Dst.Addr() {
		return k, fmt.Errorf("destination %v", dst)
	}
	if k.src.Less(w.ipLo) || w.ipHi.Less(k.src) {
		return k, fmt.Errorf("source %v outside %v-%v", k.src, w.ipLo, w.ipHi)
	}
	udp := f[34:n]
	k.sport = binary.BigEndian.Uint16(udp[0:2])
	k.dport = binary.BigEndian.Uint16(udp[2:4])
	if k.sport < w.spLo || k.sport > w.spHi || k.dport < w.dpLo || k.dport > w.dpHi {
		return k, fmt.Errorf("ports %d %d outside %d-%d, %d-%d", k.sport, k.dport, w.spLo, w.spHi, w.dpLo, w.dpHi)
	}
	if ul := int(binary.BigEndian.Uint16(udp[4:6])); ul != n-34 {
		return k, fmt.Errorf("UDP length %d, want %d", ul, n-34)
	}
	got := binary.BigEndian.Uint16(udp[6:8])
	switch {
	case !w.udpCsum && got != 0:
		return k, fmt.Errorf("UDP checksum %#04x, want 0 (none)", got)
	case w.udpCsum && got == 0:
		return k, fmt.Errorf("UDP checksum 0 (none), want one")
	case w.udpCsum:
		if want := refUDPChecksum(ip[12:16], ip[16:20], udp); got != want {
			return k, fmt.Errorf("UDP checksum %#04x, want %#04x", got, want)
		}
	}
	return k, checkPayload(w, udp[8:])
}

// checkFrame6 is checkFrame over IPv6.
func checkFrame6(w *frameWant, f []byte) (flowKey, error) {
	var k flowKey
	n := len(f)
	if f[12] != 0x86 || f[13] != 0xdd {
		return k, fmt.Errorf("EtherType %x", f[12:14])
	}
	ip := f[14:54]
	if ip[0] != 0x60 || ip[1] != 0 || ip[2] != 0 || ip[3] != 0 {
		return k, fmt.Errorf("version, class and flow label %x", ip[0:4])
	}
	if pl := int(binary.BigEndian.Uint16(ip[4:6])); pl != n-54 {
		return k, fmt.Errorf("payload length %d, want %d", pl, n-54)
	}
	if ip[6] != 17 || ip[7] != w.ttl {
		return k, fmt.Errorf("next header %d hop limit %d", ip[6], ip[7])
	}
	k.src = netip.AddrFrom16([16]byte(ip[8:24]))
	if dst := netip.AddrFrom16([16]byte(ip[24:40])); dst != w.spec.Dst.Addr() {
		return k, fmt.Errorf("destination %v", dst)
	}
	if k.src.Less(w.ipLo) || w.ipHi.Less(k.src) {
		return k, fmt.Errorf("source %v outside %v-%v", k.src, w.ipLo, w.ipHi)
	}
	udp := f[54:n]
	k.sport = binary.BigEndian.Uint16(udp[0:2])
	k.dport = binary.BigEndian.Uint16(udp[2:4])
	if k.sport < w.spLo || k.sport > w.spHi || k.dport < w.dpLo || k.dport > w.dpHi {
		return k, fmt.Errorf("ports %d %d outside %d-%d, %d-%d", k.sport, k.dport, w.spLo, w.spHi, w.dpLo, w.dpHi)
	}
	if ul := int(binary.BigEndian.Uint16(udp[4:6])); ul != n-54 {
		return k, fmt.Errorf("UDP length %d, want %d", ul, n-54)
	}
	// The pseudo-header of RFC 8200 8.1: addresses, the 32-bit length,
	// three zero bytes and the next header.
	var pseudo [40]byte
	copy(pseudo[0:32], ip[8:40])
	binary.BigEndian.PutUint32(pseudo[32:36], uint32(len(udp)))
	pseudo[39] = 17
	want := ^uint16(refSum(refSum(refSum(0, pseudo[:]), udp[:6]), udp[8:]))
	if want == 0 {
		want = 0xffff
	}
	if got := binary.BigEndian.Uint16(udp[6:8]); got != want {
		return k, fmt.Errorf("UDP checksum %#04x, want %#04x", got, want)
	}
	return k, checkPayload(w, udp[8:])
}

// checkPayload checks the stamp, if any, and the zeros after it.
func checkPayload(w *frameWant, payload []byte) error {
	if w.stamp {
		if w.checkStamps {
			stream, seq, sent, ok := ParseStamp(payload)
			if !ok || stream != w.stream || seq != w.seq || sent != w.now {
				return fmt.Errorf("stamp %v %d %d %d, want %d %d %d", ok, stream, seq, sent, w.stream, w.seq, w.now)
			}
		}
		payload = payload[StampLen:]
	}
	if !allZero(payload) {
		return fmt.Errorf("payload not zero beyond the stamp")
	}
	return nil
}

var zeros [2048]byte

func allZero(b []byte) bool { return bytes.Equal(b, zeros[:len(b)]) }

// pool hands out zeroed 2048-byte frames in rotation, the way a sender
// reuses its frames: each holds whatever the last frame built in it left.
type pool struct {
	bufs [][]byte
	i    int
}

func newPool(n int) *pool {
	p := &pool{}
	for range n {
		p.bufs = append(p.bufs, make([]byte, 2048))
	}
	return p
}

func (p *pool) next() []byte {
	b := p.bufs[p.i]
	p.i = (p.i + 1) % len(p.bufs)
	return b
}

func mustBuilder(t testing.TB, spec Spec, stream int) *Builder {
	t.Helper()
	b, err := NewBuilder(spec, stream)
	if err != nil {
		t.Fatalf("NewBuilder: %v", err)
	}
	return b
}

func imix(t testing.TB, s string) []SizeWeight {
	t.Helper()
	sw, err := ParseIMIX(s)
	if err != nil {
		t.Fatal(err)
	}
	return sw
}

func TestBuilderFrames(t *testing.T) {
	for _, tc := range []struct {
		name   string
		spec   func(*Spec)
		stream int
		flows  uint64 // 0: not checked
	}{
		{name: "64", spec: func(s *Spec) {}, flows: 1},
		{name: "1518", spec: func(s *Spec) { s.Sizes = []SizeWeight{{1518, 1}} }, flows: 1},
		{name: "imix", spec: func(s *Spec) { s.Sizes = imix(t, "64:7,594:4,1518:1") }, flows: 1},
		{name: "odd sizes", spec: func(s *Spec) { s.Sizes = imix(t, "65:3,67:2,1001:1,1517:1") }, flows: 1},
		{name: "jumbo", spec: func(s *Spec) { s.Sizes = []SizeWeight{{2052, 1}}; s.MaxSize = 9018 }, flows: 1},
		{name: "TTL 1", spec: func(s *Spec) { s.TTL = 1 }, flows: 1},
		{name: "src ports", spec: func(s *Spec) { s.SrcPorts = Range[uint16]{1024, 1087} }, flows: 64},
		{name: "dst ports", spec: func(s *Spec) { s.DstPorts = Range[uint16]{5000, 5099} }, flows: 100},
		{name: "both ports", spec: func(s *Spec) {
			s.SrcPorts, s.DstPorts = Range[uint16]{1024, 1063}, Range[uint16]{9, 13}
		}, flows: 200},
		{name: "ports to 65535", spec: func(s *Spec) {
			s.SrcPorts, s.DstPorts = Range[uint16]{65520, 65535}, Range[uint16]{0, 7}
		}, flows: 128},
		{name: "src IPs across an octet", spec: func(s *Spec) {
			s.SrcIPs = Range[netip.Addr]{netip.MustParseAddr("10.0.0.250"), netip.MustParseAddr("10.0.1.5")}
		}, flows: 12},
		{name: "src IPs at the top", spec: func(s *Spec) {
			s.SrcIPs = Range[netip.Addr]{netip.MustParseAddr("255.255.255.200"), netip.MustParseAddr("255.255.255.255")}
			s.SrcPorts = Range[uint16]{65530, 65535}
		}, flows: 56 * 6},
		{name: "IPs and ports", spec: func(s *Spec) {
			s.SrcIPs = Range[netip.Addr]{netip.MustParseAddr("10.1.2.3"), netip.MustParseAddr("10.1.2.12")}
			s.SrcPorts, s.DstPorts = Range[uint16]{2000, 2009}, Range[uint16]{7000, 7004}
		}, flows: 500},
		{name: "flows cap", spec: func(s *Spec) {
			s.SrcPorts, s.DstPorts = Range[uint16]{1000, 1999}, Range[uint16]{1, 10}
			s.Flows = 777
		}, flows: 777},
		{name: "flows above combinations", spec: func(s *Spec) {
			s.SrcPorts = Range[uint16]{1000, 1009}
			s.Flows = 1000
		}, flows: 10},
		{name: "random", spec: func(s *Spec) {
			s.SrcPorts, s.DstPorts = Range[uint16]{2000, 2015}, Range[uint16]{9, 10}
			s.Random, s.Seed = true, 42
		}, flows: 32},
		{name: "random flows cap", spec: func(s *Spec) {
			s.SrcPorts, s.DstPorts = Range[uint16]{1000, 1099}, Range[uint16]{1, 10}
			s.Random, s.Seed, s.Flows = true, 3, 10
		}, flows: 10},
		{name: "random IPs seed 0", spec: func(s *Spec) {
			s.SrcIPs = Range[netip.Addr]{netip.MustParseAddr("172.16.0.0"), netip.MustParseAddr("172.16.255.255")}
			s.Random = true
		}, flows: 65536},
		{name: "stamp", spec: func(s *Spec) { s.Stamp = true }, stream: 3, flows: 1},
		{name: "stamp imix ranges", spec: func(s *Spec) {
			s.Stamp, s.Sizes = true, imix(t, "64:7,594:4,1518:1")
			s.SrcIPs = Range[netip.Addr]{netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.7")}
			s.SrcPorts, s.DstPorts = Range[uint16]{1, 11}, Range[uint16]{60000, 60012}
		}, stream: 255, flows: 7 * 11 * 13},
		{name: "stamp random", spec: func(s *Spec) {
			s.Stamp, s.Random, s.Seed = true, true, 7
			s.DstPorts = Range[uint16]{1, 65535}
		}, stream: 1, flows: 65535},
		{name: "no UDP checksum", spec: func(s *Spec) {
			s.NoUDPChecksum = true
			s.SrcPorts, s.DstPorts = Range[uint16]{1024, 1039}, Range[uint16]{9, 12}
		}, flows: 64},
		{name: "no UDP checksum stamp imix", spec: func(s *Spec) {
			s.NoUDPChecksum, s.Stamp, s.Sizes = true, true, imix(t, "64:7,594:4,1518:1")
			s.SrcIPs = Range[netip.Addr]{netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.9")}
		}, stream: 9, flows: 9},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := baseSpec()
			tc.spec(&spec)
			checkBuilder(t, spec, tc.stream, tc.flows)
		})
	}
}

// checkBuilder builds frames for spec and checks each from scratch, and
// the flows' order (all of them, each once per cycle; random draws
// within range and repeatable).
func checkBuilder(t *testing.T, spec Spec, stream int, wantFlows uint64) {
	const base = int64(1_780_000_000_123_456_789) // 2026, as a wall clock reads
	b := mustBuilder(t, spec, stream)
	if wantFlows != 0 && b.Flows() != wantFlows {
		t.Errorf("Flows() = %d, want %d", b.Flows(), wantFlows)
	}
	w := wantOf(spec, stream)
	w.checkStamps = true
	frames := max(5000, 2*int(b.Flows())+17)
	if spec.Random {
		frames = 5000
	}
	// 13 frames in rotation: coprime with the IMIX period (12),
	// so each frame is reused for every size.
	p := newPool(13)
	order := make([]flowKey, 0, frames)
	for i := range frames {
		wantLen, wantBits := b.NextLen()
		buf := p.next()
		w.seq, w.now = uint64(i), base+int64(i)*997
		n := b.Next(buf, w.now)
		if n != wantLen || wantBits != uint64(n+FCSLen+L1Overhead)*8 {
			t.Fatalf("frame %d: Next = %d, NextLen = %d, %d bits", i, n, wantLen, wantBits)
		}
		k, err := checkFrame(&w, buf, n)
		if err != nil {
			t.Fatalf("frame %d (%d bytes): %v\n%x", i, n, err, buf[:min(n, 64)])
		}
		if !allZero(buf[max(n, HeaderLen6+StampLen):]) {
			t.Fatalf("frame %d: bytes written beyond the frame", i)
		}
		order = append(order, k)
	}
	if b.Sent() != uint64(frames) {
		t.Errorf("Sent() = %d, want %d", b.Sent(), frames)
	}
	distinct := map[flowKey]int{}
	for _, k := range order {
		distinct[k]++
	}
	if spec.Random {
		// Every draw is within range (checked above); a small set of
		// flows is covered, and the same seed gives the same draws.
		if b.Flows() <= 64 {
			if uint64(len(distinct)) != b.Flows() {
				t.Errorf("random: %d distinct flows in %d frames, want %d", len(distinct), frames, b.Flows())
			}
			mean := float64(frames) / float64(b.Flows())
			for k, c := range distinct {
				if math.Abs(float64(c)-mean) > mean/2 {
					t.Errorf("random: flow %v drawn %d times, mean %.0f", k, c, mean)
				}
			}
		} else if len(distinct) < frames*9/10 {
			t.Errorf("random: only %d distinct flows in %d frames out of %d", len(distinct), frames, b.Flows())
		}
		b2 := mustBuilder(t, spec, stream)
		buf := make([]byte, 2048)
		for i := range 100 {
			clear(buf)
			w2 := w
			w2.checkStamps = false
			k, _ := checkFrame(&w2, buf, b2.Next(buf, 0))
			if k != order[i] {
				t.Fatalf("random: a second builder with the same seed differs at frame %d", i)
			}
		}
		return
	}
	// Sequential: one cycle holds each flow once, and the order
	// repeats.
	flows := int(b.Flows())
	if len(distinct) != flows {
		t.Errorf("%d distinct flows, want Flows() = %d", len(distinct), flows)
	}
	cycle := map[flowKey]bool{}
	for _, k := range order[:flows] {
		if cycle[k] {
			t.Fatalf("flow %v twice in the first cycle", k)
		}
		cycle[k] = true
	}
	for i := flows; i < len(order); i++ {
		if order[i] != order[i-flows] {
			t.Fatalf("frame %d: flow %v, but %v one cycle earlier", i, order[i], order[i-flows])
		}
	}
	if order[0] != (flowKey{w.ipLo, w.spLo, w.dpLo}) {
		t.Errorf("first flow %v, want the low end of every range", order[0])
	}
	if spec.Flows == 0 {
		// All combinations of the ranges.
		want := (int(w.spHi-w.spLo) + 1) * (int(w.dpHi-w.dpLo) + 1) *
			int(low32(w.ipHi)-low32(w.ipLo)+1)
		if flows != want {
			t.Errorf("Flows() = %d, want %d combinations", flows, want)
		}
	}
}

// TestBuilderFrames6: IPv6 frames, checked from scratch as IPv4's are:
// the smallest (66 bytes), IMIX, stamps, every range, random flows; the
// source range varies an address's last 32 bits, carries included.
func TestBuilderFrames6(t *testing.T) {
	a := netip.MustParseAddr
	for _, tc := range []struct {
		name   string
		spec   func(*Spec)
		stream int
		flows  uint64
	}{
		{name: "66", spec: func(s *Spec) {}, flows: 1},
		{name: "1518", spec: func(s *Spec) { s.Sizes = []SizeWeight{{1518, 1}} }, flows: 1},
		{name: "imix odd sizes", spec: func(s *Spec) { s.Sizes = imix(t, "66:7,67:3,595:4,1518:1") }, flows: 1},
		{name: "hop limit 1", spec: func(s *Spec) { s.TTL = 1 }, flows: 1},
		{name: "ports", spec: func(s *Spec) {
			s.SrcPorts, s.DstPorts = Range[uint16]{65520, 65535}, Range[uint16]{0, 7}
		}, flows: 128},
		{name: "src IPs across 16 bits", spec: func(s *Spec) {
			s.SrcIPs = Range[netip.Addr]{a("2001:db8::1:fffa"), a("2001:db8::2:5")}
		}, flows: 12},
		{name: "src IPs at the top", spec: func(s *Spec) {
			s.SrcIPs = Range[netip.Addr]{a("2001:db8::ffff:ffc8"), a("2001:db8::ffff:ffff")}
			s.SrcPorts = Range[uint16]{65530, 65535}
		}, flows: 56 * 6},
		{name: "random", spec: func(s *Spec) {
			s.SrcPorts, s.DstPorts = Range[uint16]{2000, 2015}, Range[uint16]{9, 10}
			s.Random, s.Seed = true, 42
		}, flows: 32},
		{name: "stamp imix ranges", spec: func(s *Spec) {
			s.Stamp, s.Sizes = true, imix(t, "82:7,594:4,1518:1")
			s.SrcIPs = Range[netip.Addr]{a("2001:db8::10"), a("2001:db8::16")}
			s.SrcPorts, s.DstPorts = Range[uint16]{1, 11}, Range[uint16]{60000, 60012}
		}, stream: 255, flows: 7 * 11 * 13},
		{name: "stamp smallest", spec: func(s *Spec) { s.Stamp = true }, stream: 2, flows: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := baseSpec6()
			tc.spec(&spec)
			checkBuilder(t, spec, tc.stream, tc.flows)
		})
	}
}

// six makes s IPv6, as baseSpec6.
func six(s *Spec) { b := baseSpec6(); s.Src, s.Dst = b.Src, b.Dst }

// baseSpec6 is baseSpec over IPv6.
func baseSpec6() Spec {
	s := baseSpec()
	s.Src = netip.MustParseAddrPort("[2001:db8::1]:1024")
	s.Dst = netip.MustParseAddrPort("[2001:db8::2]:9")
	return s
}

// TestBuilderUDPChecksumZero walks a source port over all 65536 values:
// the UDP checksum then takes every value, one of which computes to 0 and
// must be sent as 0xffff. A second builder starts at that port, so its
// template holds 0xffff and every update starts from it.
func TestBuilderUDPChecksumZero(t *testing.T) {
	for _, stamp := range []bool{false, true} {
		spec := baseSpec()
		spec.Stamp = stamp
		spec.SrcPorts = Range[uint16]{0, 65535}
		b := mustBuilder(t, spec, 0)
		w := wantOf(spec, 0)
		buf := make([]byte, 2048)
		zeroPort := -1
		for i := range 65536 {
			n := b.Next(buf, 0)
			if _, err := checkFrame(&w, buf, n); err != nil {
				t.Fatalf("stamp %v: frame %d: %v", stamp, i, err)
			}
			if binary.BigEndian.Uint16(buf[40:42]) == 0xffff {
				zeroPort = int(binary.BigEndian.Uint16(buf[34:36]))
			}
		}
		if zeroPort < 0 {
			t.Fatalf("stamp %v: no frame with checksum 0xffff over all source ports", stamp)
		}
		spec.Src = netip.AddrPortFrom(spec.Src.Addr(), uint16(zeroPort))
		spec.SrcPorts = Range[uint16]{}
		spec.DstPorts = Range[uint16]{testDst.Port(), 65535}
		b = mustBuilder(t, spec, 0)
		w = wantOf(spec, 0)
		n := b.Next(buf, 0)
		if _, err := checkFrame(&w, buf, n); err != nil {
			t.Fatalf("stamp %v: base frame: %v", stamp, err)
		}
		if !stamp && binary.BigEndian.Uint16(buf[40:42]) != 0xffff {
			t.Fatalf("base frame's checksum %#04x, want 0xffff", binary.BigEndian.Uint16(buf[40:42]))
		}
		for i := 1; i < int(b.Flows()); i++ {
			n := b.Next(buf, int64(i))
			if _, err := checkFrame(&w, buf, n); err != nil {
				t.Fatalf("stamp %v: from a 0xffff template, frame %d: %v", stamp, i, err)
			}
		}
	}
}

// TestBuilderStampChecksumCarry stamps send times whose bytes complement
// the stamp's first word, so that the stamp's 64-bit partial sum is at or
// near 0xffff_ffff_ffff_ffff: once with an artificial clock, once with a
// 2026 clock and stream 39.
func TestBuilderStampChecksumCarry(t *testing.T) {
	for _, tc := range []struct {
		stream int
		now    func(seq uint64) int64
	}{
		{0, func(seq uint64) int64 { return int64(^(uint64(StampMagic)<<56 | seq)) }},
		{39, func(seq uint64) int64 { return int64(0x18d7<<48 | ^seq&seqMask) }},
	} {
		spec := baseSpec()
		spec.Stamp = true
		spec.DstPorts = Range[uint16]{1, 1000}
		b := mustBuilder(t, spec, tc.stream)
		w := wantOf(spec, tc.stream)
		w.checkStamps = true
		buf := make([]byte, 2048)
		bad := 0
		for i := range 3000 {
			w.seq, w.now = uint64(i), tc.now(uint64(i))
			n := b.Next(buf, w.now)
			if _, err := checkFrame(&w, buf, n); err != nil {
				if bad++; bad <= 3 {
					t.Errorf("stream %d, frame %d, now %#x: %v", tc.stream, i, w.now, err)
				}
			}
		}
		if bad > 0 {
			t.Errorf("stream %d: %d of 3000 frames wrong", tc.stream, bad)
		}
	}
}

func TestIMIXInterleave(t *testing.T) {
	for _, tc := range []struct {
		imix   string
		maxRun int // of any one size, across periods
	}{
		{"64:7,594:4,1518:1", 2},
		{"64:1,1518:1", 1},
		{"64:2,1518:1", 2},
		{"64:1,128:1,256:1,512:1,1024:1,1518:1", 1},
		{"64:10,1518:10", 1},
		{"64:100,1518:1", 100},
		{"64:3,128:3,1500:3", 1},
		{"64:61,570:33,1518:6", 4},
	} {
		spec := baseSpec()
		spec.Sizes = imix(t, tc.imix)
		b := mustBuilder(t, spec, 0)
		total := 0
		want := map[int]int{}
		for _, sw := range spec.Sizes {
			total += sw.Weight
			want[sw.Size-FCSLen] += sw.Weight
		}
		buf := make([]byte, 2048)
		var seq []int
		for range 3 * total {
			seq = append(seq, b.Next(buf, 0))
		}
		got := map[int]int{}
		for _, n := range seq[:total] {
			got[n]++
		}
		for n, c := range want {
			if got[n] != c {
				t.Errorf("%s: %d frames of %d bytes in a period of %d, want %d", tc.imix, got[n], n+FCSLen, total, c)
			}
		}
		for i := total; i < len(seq); i++ {
			if seq[i] != seq[i-total] {
				t.Fatalf("%s: period not repeated at frame %d", tc.imix, i)
			}
		}
		run, longest := 1, 1
		for i := 1; i < len(seq); i++ {
			if seq[i] == seq[i-1] {
				run++
				longest = max(longest, run)
			} else {
				run = 1
			}
		}
		if longest > tc.maxRun {
			t.Errorf("%s: a run of %d frames of one size, want at most %d (%v)", tc.imix, longest, tc.maxRun, seq[:total])
		}
	}
}

// TestIMIXManySizes uses more sizes than a uint8 template index holds.
func TestIMIXManySizes(t *testing.T) {
	spec := baseSpec()
	for s := 64; s < 64+300; s++ {
		spec.Sizes = append(spec.Sizes, SizeWeight{s, 1})
	}
	b := mustBuilder(t, spec, 0)
	buf := make([]byte, 2048)
	got := map[int]int{}
	for range 300 {
		got[b.Next(buf, 0)+FCSLen]++
	}
	for s := 64; s < 64+300; s++ {
		if got[s] != 1 {
			t.Fatalf("size %d sent %d times in one period, want 1", s, got[s])
		}
	}
}

func TestSpecErrors(t *testing.T) {
	v6 := netip.MustParseAddrPort("[2001:db8::1]:9")
	for _, tc := range []struct {
		name string
		spec func(*Spec)
	}{
		{"size 63", func(s *Spec) { s.Sizes = []SizeWeight{{63, 1}} }},
		{"size 0", func(s *Spec) { s.Sizes = []SizeWeight{{0, 1}} }},
		{"size negative", func(s *Spec) { s.Sizes = []SizeWeight{{-64, 1}} }},
		{"size 1519", func(s *Spec) { s.Sizes = []SizeWeight{{1519, 1}} }},
		{"size above MaxSize", func(s *Spec) { s.Sizes = []SizeWeight{{9001, 1}}; s.MaxSize = 9000 }},
		{"one bad size of three", func(s *Spec) { s.Sizes = []SizeWeight{{64, 7}, {1600, 4}, {1518, 1}} }},
		{"weight 0", func(s *Spec) { s.Sizes = []SizeWeight{{64, 0}} }},
		{"weight negative", func(s *Spec) { s.Sizes = []SizeWeight{{64, 1}, {128, -1}} }},
		{"weights above 4096", func(s *Spec) { s.Sizes = []SizeWeight{{64, 4000}, {128, 97}} }},
		{"src ports reversed", func(s *Spec) { s.SrcPorts = Range[uint16]{2000, 1000} }},
		{"dst ports reversed", func(s *Spec) { s.DstPorts = Range[uint16]{10, 9} }},
		{"src IPs reversed", func(s *Spec) {
			s.SrcIPs = Range[netip.Addr]{netip.MustParseAddr("10.0.0.9"), netip.MustParseAddr("10.0.0.1")}
		}},
		{"src IPs IPv6 for IPv4", func(s *Spec) {
			s.SrcIPs = Range[netip.Addr]{netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::9")}
		}},
		{"src IPs high end IPv6", func(s *Spec) {
			s.SrcIPs = Range[netip.Addr]{netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("2001:db8::9")}
		}},
		{"src IPs high end missing", func(s *Spec) { s.SrcIPs = Range[netip.Addr]{Lo: netip.MustParseAddr("10.0.0.1")} }},
		{"src IPv6, dst IPv4", func(s *Spec) { s.Src = v6 }},
		{"dst IPv6, src IPv4", func(s *Spec) { s.Dst = v6 }},
		{"IPv6 frame of 65", func(s *Spec) { six(s); s.Sizes = []SizeWeight{{65, 1}} }},
		{"IPv6 stamp in 81", func(s *Spec) { six(s); s.Stamp, s.Sizes = true, []SizeWeight{{81, 1}} }},
		{"IPv6 without UDP checksum", func(s *Spec) { six(s); s.NoUDPChecksum = true }},
		{"IPv6 src IPs across a /96", func(s *Spec) {
			six(s)
			s.SrcIPs = Range[netip.Addr]{netip.MustParseAddr("2001:db8::ffff:ffff"), netip.MustParseAddr("2001:db8::1:0:0")}
		}},
		{"IPv6 src IPs of IPv4", func(s *Spec) {
			six(s)
			s.SrcIPs = Range[netip.Addr]{netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.9")}
		}},
		{"IPv6 with a zone", func(s *Spec) { six(s); s.Dst = netip.MustParseAddrPort("[fe80::2%eth0]:9") }},
		{"src IPv4-mapped", func(s *Spec) { s.Src = netip.MustParseAddrPort("[::ffff:198.18.0.1]:9") }},
		{"no src", func(s *Spec) { s.Src = netip.AddrPort{} }},
		{"no dst", func(s *Spec) { s.Dst = netip.AddrPort{} }},
		{"flows negative", func(s *Spec) { s.Flows = -1 }},
	} {
		spec := baseSpec()
		tc.spec(&spec)
		b, err := NewBuilder(spec, 0)
		if !errors.Is(err, ErrSpec) {
			t.Errorf("%s: NewBuilder = %v, %v; want an error wrapping ErrSpec", tc.name, b, err)
			continue
		}
		if !strings.HasPrefix(err.Error(), "gen: ") {
			t.Errorf("%s: error %q does not start with the package", tc.name, err)
		}
	}
	// The limits themselves are fine.
	for _, sizes := range [][]SizeWeight{{{64, 1}}, {{1518, 4096}}, {{64, 4095}, {1518, 1}}} {
		spec := baseSpec()
		spec.Sizes = sizes
		if _, err := NewBuilder(spec, 0); err != nil {
			t.Errorf("sizes %v: %v", sizes, err)
		}
	}
}

// TestSpecWeightOverflow gives weights whose sum overflows int.
func TestSpecWeightOverflow(t *testing.T) {
	for _, sizes := range [][]SizeWeight{
		{{64, 1 << 62}, {128, 1 << 62}, {256, 1 << 62}, {512, 1 << 62}},
		{{64, math.MaxInt}, {128, 1}},
	} {
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("weights %v: NewBuilder panicked: %v", sizes, r)
				}
			}()
			spec := baseSpec()
			spec.Sizes = sizes
			if _, err := NewBuilder(spec, 0); !errors.Is(err, ErrSpec) {
				t.Errorf("weights %v: err = %v, want ErrSpec", sizes, err)
			}
		}()
	}
}

// TestBuilderDefaults: an empty Sizes is one 64-byte size, TTL 0 is 64,
// and the spec passed in is not changed.
func TestBuilderDefaults(t *testing.T) {
	spec := baseSpec()
	b := mustBuilder(t, spec, 0)
	if spec.Sizes != nil || spec.TTL != 0 || spec.MaxSize != 0 {
		t.Errorf("NewBuilder changed the caller's spec: %+v", spec)
	}
	if n, bits := b.NextLen(); n != 60 || bits != (64+20)*8 {
		t.Errorf("NextLen = %d, %d; want 60, 672", n, bits)
	}
	if b.Flows() != 1 || b.Sent() != 0 {
		t.Errorf("Flows %d Sent %d", b.Flows(), b.Sent())
	}
	// A one-value port range replaces the address's port.
	spec.SrcPorts, spec.DstPorts = Range[uint16]{5000, 5000}, Range[uint16]{7, 7}
	b = mustBuilder(t, spec, 0)
	buf := make([]byte, 2048)
	b.Next(buf, 0)
	if sp, dp := binary.BigEndian.Uint16(buf[34:36]), binary.BigEndian.Uint16(buf[36:38]); sp != 5000 || dp != 7 {
		t.Errorf("ports %d %d, want 5000 7", sp, dp)
	}
}

// TestBuilderStream: the stamp's stream is Spec.Stream plus the sender's
// index, so that runs sharing a receiver (rfc2544's trials) tell their
// frames apart.
func TestBuilderStream(t *testing.T) {
	spec := baseSpec()
	spec.Stamp, spec.Stream = true, 40
	b := mustBuilder(t, spec, 2)
	frame := make([]byte, 2048)
	n := b.Next(frame, 123)
	id, seq, sent, ok := ParseStamp(frame[HeaderLen:n])
	if !ok || id != 42 || seq != 0 || sent != 123 {
		t.Errorf("stamp: stream %d, seq %d, sent %d, ok %v: want stream 42, seq 0, sent 123", id, seq, sent, ok)
	}
}

// TestBuilderShards: N shards of a spec send, between them, exactly the
// flows one generator sends, each once per cycle, none in two shards:
// shard I the flows at I, I+N, ... of the single generator's order. At
// random, every flow a shard draws is one of its own.
func TestBuilderShards(t *testing.T) {
	a := netip.MustParseAddr
	for _, tc := range []struct {
		name   string
		spec   func(*Spec)
		shards []int
	}{
		{"dst ports", func(s *Spec) { s.DstPorts = Range[uint16]{9, 108} }, []int{2, 3, 7, 100}},
		{"all three", func(s *Spec) {
			s.SrcIPs = Range[netip.Addr]{a("10.0.0.1"), a("10.0.0.5")}
			s.SrcPorts, s.DstPorts = Range[uint16]{1000, 1012}, Range[uint16]{9, 15}
		}, []int{2, 3, 6, 7, 13, 64, 91, 455}},
		{"flows cap", func(s *Spec) {
			s.SrcPorts, s.DstPorts = Range[uint16]{1000, 1999}, Range[uint16]{1, 10}
			s.Flows = 777
		}, []int{2, 5, 10, 777}},
		{"ipv6 addresses", func(s *Spec) {
			six(s)
			s.SrcIPs = Range[netip.Addr]{a("2001:db8::fffe"), a("2001:db8::1:3")}
			s.SrcPorts = Range[uint16]{65534, 65535}
		}, []int{2, 4, 5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := baseSpec()
			tc.spec(&spec)
			one := mustBuilder(t, spec, 0)
			w := wantOf(spec, 0)
			buf := make([]byte, 2048)
			all := make([]flowKey, one.Flows())
			for i := range all {
				clear(buf)
				k, err := checkFrame(&w, buf, one.Next(buf, 0))
				if err != nil {
					t.Fatal(err)
				}
				all[i] = k
			}
			for _, n := range tc.shards {
				seen := map[flowKey]int{}
				for i := 0; i < n; i++ {
					s := spec
					s.Shard, s.Shards = i, n
					b := mustBuilder(t, s, 0)
					want := (len(all) - i + n - 1) / n
					if int(b.Flows()) != want {
						t.Fatalf("%d shards: shard %d has %d flows, want %d", n, i, b.Flows(), want)
					}
					for j := 0; j < 2*want+1; j++ { // a cycle and then some: it starts again
						clear(buf)
						k, err := checkFrame(&w, buf, b.Next(buf, 0))
						if err != nil {
							t.Fatal(err)
						}
						if f := i + (j%want)*n; k != all[f] {
							t.Fatalf("%d shards: shard %d's frame %d is %v, want flow %d, %v", n, i, j, k, f, all[f])
						}
						if j < want {
							seen[k]++
						}
					}
					s.Random, s.Seed = true, uint64(n*100+i)
					r := mustBuilder(t, s, 0)
					for range 200 {
						clear(buf)
						k, _ := checkFrame(&w, buf, r.Next(buf, 0))
						f := slices.Index(all, k)
						if f < 0 || f%n != i {
							t.Fatalf("%d shards, random: shard %d drew %v, flow %d", n, i, k, f)
						}
					}
				}
				if len(seen) != len(all) {
					t.Errorf("%d shards sent %d distinct flows, one generator %d", n, len(seen), len(all))
				}
				for k, c := range seen {
					if c != 1 {
						t.Errorf("%d shards: flow %v sent %d times in a cycle", n, k, c)
					}
				}
			}
			s := spec
			s.Shard, s.Shards = len(all), len(all)+1
			if _, err := NewBuilder(s, 0); !errors.Is(err, ErrSpec) {
				t.Errorf("a shard with no flow: %v", err)
			}
		})
	}
	for _, bad := range [][2]int{{2, 2}, {-1, 2}, {1, 1}, {1, 0}, {0, -1}} {
		s := baseSpec()
		s.DstPorts = Range[uint16]{1, 100}
		s.Shard, s.Shards = bad[0], bad[1]
		if _, err := NewBuilder(s, 0); !errors.Is(err, ErrSpec) {
			t.Errorf("shard %d of %d: %v", bad[0], bad[1], err)
		}
	}
}

// TestSpecShare: shards' and their queues' rates and counts are in
// proportion to their flows: together the fleet's rate and count, every
// flow at the same rate, and every flow sent as many times as one
// generator of one queue sends it, each queue's builder cycling its own
// flows in its order; no flow on two queues. With fewer flows than
// queues, every queue sends all of a shard's flows: the totals hold.
func TestSpecShare(t *testing.T) {
	for _, tc := range []struct {
		ports  uint16 // source ports 1000 to 1000+ports-1: the flows
		shards int
		count  uint64
	}{
		{256, 3, 1_000_000}, {256, 3, 1000}, {10, 3, 7}, {4, 3, 100}, {300, 3, 30_000}, {1, 1, 5}, {7, 7, 6}, {1000, 64, 12_345},
		{5, 1, 23}, {64, 1, 1001},
	} {
		for _, queues := range []int{1, 2, 3, 4} {
			spec := baseSpec()
			spec.SrcPorts = Range[uint16]{1000, 1000 + tc.ports - 1}
			flows := uint64(tc.ports)
			one := make([]uint64, flows) // what one generator sends of each flow
			for k := range tc.count {
				one[k%flows]++
			}
			var rate float64
			var count uint64
			got := make([]uint64, flows)
			owner := make([]int, flows) // the queue (shard*queues+q, +1) sending each flow
			exact := true               // every shard has a flow for each queue
			for i := range tc.shards {
				s := spec
				if tc.shards > 1 {
					s.Shard, s.Shards = i, tc.shards
				}
				r, c := s.Share(Rate{Value: 1e6}, tc.count)
				exact = exact && s.shardFlows() >= uint64(queues)
				for q := range queues {
					qs, qr, qc := s.queue(q, queues, r, c)
					rate += qr.Value
					count += qc
					if qc == 0 {
						continue
					}
					b, err := NewBuilder(qs, 0)
					if err != nil {
						t.Fatalf("%+v, %d queues: shard %d queue %d: %v", tc, queues, i, q, err)
					}
					if exact {
						if perFlow := qr.Value / float64(b.Flows()); math.Abs(perFlow-1e6/float64(flows)) > 1e-6 {
							t.Errorf("%+v, %d queues: shard %d queue %d sends %v per flow, one generator %v", tc, queues, i, q, perFlow, 1e6/float64(flows))
						}
					}
					for range qc {
						_, sp, _ := b.nextFlow()
						got[sp]++
						if id := i*queues + q + 1; owner[sp] != id {
							if owner[sp] != 0 && exact {
								t.Fatalf("%+v, %d queues: flow %d on queues %d and %d", tc, queues, sp, owner[sp]-1, id-1)
							}
							owner[sp] = id
						}
					}
				}
			}
			if count != tc.count || math.Abs(rate-1e6) > 1e-6 {
				t.Errorf("%+v, %d queues: they send %d at %v, the fleet %d at 1e6", tc, queues, count, rate, tc.count)
			}
			if exact && !slices.Equal(got, one) {
				t.Errorf("%+v, %d queues: per flow they send %v, one generator %v", tc, queues, got, one)
			}
		}
	}
}

// TestFleetFlowsSaturate: 2^32 source addresses by every port pair is
// more flows than 64 bits count: saturated, not wrapped to 0 (which made
// Share divide by zero).
func TestFleetFlowsSaturate(t *testing.T) {
	s := baseSpec()
	six(&s)
	s.SrcIPs = Range[netip.Addr]{netip.MustParseAddr("2001:db8::"), netip.MustParseAddr("2001:db8::ffff:ffff")}
	s.SrcPorts, s.DstPorts = Range[uint16]{0, 65535}, Range[uint16]{0, 65535}
	if f := s.fleetFlows(); f != math.MaxUint64 {
		t.Errorf("fleetFlows = %d", f)
	}
	s.Shard, s.Shards = 1, 3
	if r, c := s.Share(Rate{Value: 3e6}, 3000); r.Value != 1e6 || c != 1000 {
		t.Errorf("Share: %v, %d", r, c)
	}
}
