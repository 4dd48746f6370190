package steering

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/cilium/ebpf"
)

// reference classifies a frame as steer.c must, in plain Go: the verdict
// for rules with default def, with a socket registered for the queue.
func reference(b []byte, rules []Rule, def Action) uint32 {
	const malformed = xdpPass
	if len(b) < 14 {
		return malformed
	}
	et := binary.BigEndian.Uint16(b[12:])
	off := 14
	for i := 0; i < 2 && (et == 0x8100 || et == 0x88a8); i++ {
		if off+4 > len(b) {
			return malformed
		}
		et = binary.BigEndian.Uint16(b[off+2:])
		off += 4
	}
	var f fields
	switch et {
	case 0x0800:
		if off+20 > len(b) {
			return malformed
		}
		ip := b[off:]
		ihl := int(ip[0] & 0xf)
		if ip[0]>>4 != 4 || ihl < 5 {
			return malformed
		}
		hlen, tot := ihl*4, int(binary.BigEndian.Uint16(ip[2:]))
		if off+hlen > len(b) || tot < hlen || off+tot > len(b) {
			return malformed
		}
		f.proto = ip[9]
		switch {
		case binary.BigEndian.Uint16(ip[6:])&0x3fff != 0:
		case f.proto == 17:
			if off+hlen+8 > len(b) {
				return malformed
			}
			if ulen := int(binary.BigEndian.Uint16(ip[hlen+4:])); ulen < 8 || ulen > tot-hlen {
				return malformed
			}
			f.hasPorts, f.dport = true, binary.BigEndian.Uint16(ip[hlen+2:])
		case f.proto == 6:
			if off+hlen+20 > len(b) {
				return malformed
			}
			if doff := int(ip[hlen+12]>>4) * 4; doff < 20 || doff > tot-hlen {
				return malformed
			}
			f.hasPorts, f.dport = true, binary.BigEndian.Uint16(ip[hlen+2:])
		case f.proto == 1:
			if off+hlen+4 > len(b) || tot < hlen+4 {
				return malformed
			}
		}
		f.src, f.dst = netip.AddrFrom4([4]byte(ip[12:16])), netip.AddrFrom4([4]byte(ip[16:20]))
	case 0x0806:
		if off+28 > len(b) {
			return malformed
		}
		a := b[off:]
		if op := binary.BigEndian.Uint16(a[6:]); binary.BigEndian.Uint16(a[0:]) != 1 || binary.BigEndian.Uint16(a[2:]) != 0x0800 || a[4] != 6 || a[5] != 4 || (op != 1 && op != 2) {
			return malformed
		}
		f.arp = true
		f.src, f.dst = netip.AddrFrom4([4]byte(a[14:18])), netip.AddrFrom4([4]byte(a[24:28]))
	case 0x86dd:
		var ok bool
		if f, ok = reference6(b[off:]); !ok {
			return malformed
		}
	default:
		return xdpPass
	}
	act := def
	if i := firstMatch(rules, f); i >= 0 {
		act = rules[i].Action
	}
	return map[Action]uint32{Pass: xdpPass, Engine: xdpRedirect, Drop: xdpDrop}[act]
}

// reference6 parses an IPv6 packet as steer.c must: the fields rules match,
// or false for a malformed packet.
func reference6(ip []byte) (f fields, ok bool) {
	if len(ip) < 40 || ip[0]>>4 != 6 {
		return f, false
	}
	end, nh := 40+int(binary.BigEndian.Uint16(ip[4:])), ip[6]
	if end > len(ip) || nh == 0 && end == 40 {
		return f, false // past the frame, or a jumbogram
	}
	// Extension headers, as ipv6.Header.Walk follows them, up to a
	// fragment (M or an offset: not an atomic fragment).
	off, frag := 40, false
	for i := 0; ; i++ {
		var n int
		switch nh {
		case 0, 43, 60:
			if nh == 0 && i > 0 || end-off < 8 {
				return f, false
			}
			n = (int(ip[off+1]) + 1) * 8
		case 51:
			if end-off < 8 {
				return f, false
			}
			n = (int(ip[off+1]) + 2) * 4
		case 44:
			if end-off < 8 {
				return f, false
			}
			n = 8
			frag = binary.BigEndian.Uint16(ip[off+2:])&0xfff9 != 0
		}
		if n == 0 {
			break // the upper layer
		}
		if end-off < n || i == 8 {
			return f, false
		}
		nh = ip[off]
		if frag {
			break
		}
		off += n
	}
	f.v6, f.proto = true, nh
	f.src, f.dst = netip.AddrFrom16([16]byte(ip[8:24])), netip.AddrFrom16([16]byte(ip[24:40]))
	l, rem := ip[off:], end-off
	switch {
	case frag:
	case nh == 17:
		if rem < 8 {
			return f, false
		}
		if ulen := int(binary.BigEndian.Uint16(l[4:])); ulen < 8 || ulen > rem {
			return f, false
		}
		f.hasPorts, f.dport = true, binary.BigEndian.Uint16(l[2:])
	case nh == 6:
		if rem < 20 {
			return f, false
		}
		if doff := int(l[12]>>4) * 4; doff < 20 || doff > rem {
			return f, false
		}
		f.hasPorts, f.dport = true, binary.BigEndian.Uint16(l[2:])
	case nh == 58:
		if rem < 4 {
			return f, false
		}
		if t := l[0]; t >= 133 && t <= 137 {
			f.nd, f.ndDst = true, f.dst
			if t == 135 || t == 136 {
				if rem < 24 {
					return f, false
				}
				f.ndDst = netip.AddrFrom16([16]byte(l[8:24]))
			}
		}
	}
	return f, true
}

// fuzzSeeds6 are IPv6 frames for FuzzProgram's corpus: every kind of
// extension header, chains of 0 to 9, hop-by-hop out of place, AH
// lengths, truncations, fragments, each upper layer, ND, bad payload
// lengths, a jumbogram, VLAN tags.
func fuzzSeeds6() []pkt {
	with := func(p pkt, f func(*pkt)) pkt { f(&p); return p }
	kinds := []ext6{{kind: 0}, {kind: 43, hdrLen: 1}, {kind: 44}, {kind: 51, hdrLen: 4}, {kind: 60, hdrLen: 2}}
	var out []pkt
	for n := 0; n <= 9; n++ {
		var chain []ext6
		for i := 0; i < n; i++ {
			chain = append(chain, kinds[[]int{1, 3, 4}[i%3]]) // routing, AH, destination options
		}
		out = append(out, with(udp6(9000), func(p *pkt) { p.ext = chain }))
	}
	for _, e := range kinds {
		out = append(out, with(udp6(9000), func(p *pkt) { p.ext = []ext6{e} }))
		out = append(out, with(udp6(9000), func(p *pkt) { p.ext = []ext6{{kind: 60}, e} }))
	}
	for _, frag := range []uint16{1, 8, 9, 0, 6} { // first, later, later with M, atomic, reserved bits
		out = append(out, with(udp6(9000), func(p *pkt) { p.ext = []ext6{{kind: 44, frag: frag}} }))
	}
	out = append(out,
		with(udp6(9000), func(p *pkt) { p.ext = []ext6{{kind: 51, hdrLen: 255}} }),
		with(udp6(9000), func(p *pkt) { p.ext = []ext6{{kind: 60, hdrLen: 3}}; p.plen = 30 }), // cut inside
		with(udp6(9000), func(p *pkt) { p.ext = []ext6{{kind: 0}}; p.plen = -1 }),             // jumbogram
		with(udp6(9000), func(p *pkt) { p.plen = 200 }),
		with(udp6(9000), func(p *pkt) { p.udpLen = 7 }),
		with(udp6(9000), func(p *pkt) { p.vlans = 2 }),
		with(udp6(9000), func(p *pkt) { p.version = 4 }),
		with(udp6(53), func(p *pkt) { p.src = netip.MustParseAddr("::ffff:10.9.3.4") }),
		tcp6(40000), with(tcp6(40000), func(p *pkt) { p.doff = 15 }),
		icmp6(128, 8), icmp6(133, 0), icmp6(134, 8), icmp6(137, 32), ns(engineIP6), ns(peerIP6),
		with(ns(engineIP6), func(p *pkt) { p.icmpType = 136 }),
		with(ns(engineIP6), func(p *pkt) { p.payload = 15; p.target = netip.Addr{} }),
		pkt{etype: 0x86dd, proto: 59, plen: -1},
		pkt{etype: 0x86dd, proto: 47, src: peerIP6, dst: engineIP6},
	)
	return out
}

// FuzzProgram runs the steering program and the Go reference on the same
// frames: the verdicts must agree, so no malformed frame reaches the engine
// and no well-formed one is misrouted. `make fuzz` runs it with -fuzz.
func FuzzProgram(f *testing.F) {
	for _, p := range []pkt{udp(9000), udp(53), tcp(40000), tcp(7000), {etype: 0x0806, arpTPA: engineIP},
		{etype: 0x0800, proto: 1, src: peerIP, dst: engineIP, payload: 8}, {etype: 0x86dd}} {
		f.Add(p.build())
		p.vlans = 2
		f.Add(p.build())
		p.ihl = 7
		f.Add(p.build())
	}
	for _, p := range fuzzSeeds6() {
		f.Add(p.build())
	}
	f.Add(goldenUDP)
	_, s, _ := attachLab(f, Options{Default: Drop})
	if _, err := s.SetRules(testRules); err != nil {
		f.Fatal(err)
	}
	prog := s.Program()
	f.Fuzz(func(t *testing.T, frame []byte) {
		if len(frame) < 14 || len(frame) > 3000 {
			return // BPF_PROG_TEST_RUN refuses what no driver delivers
		}
		got, err := prog.Run(&ebpf.RunOptions{Data: frame})
		if err != nil {
			t.Fatal(err)
		}
		if want := reference(frame, testRules, Drop); got != want {
			t.Fatalf("frame % x: program says %s, reference %s", frame, verdictNames[got], verdictNames[want])
		}
	})
}

// TestProgramRandomRulesets installs random rulesets (ports 0 and 65535
// included) in the real program and compares its verdicts on random frames
// with the reference's.
func TestProgramRandomRulesets(t *testing.T) {
	_, s, _ := attachLab(t, Options{})
	rng := rand.New(rand.NewPCG(3, 4))
	rounds := 40
	if testing.Short() {
		rounds = 10
	}
	// The rounds and verdicts really exercised: a ruleset the maps refuse
	// is skipped, and the test fails if too few were left.
	var installed, matched6 int
	verdicts := map[uint32]int{}
	for round := 0; round < rounds; round++ {
		rules := make([]Rule, 1+rng.IntN(10))
		for i := range rules {
			rules[i] = randRule(rng)
			if rng.IntN(4) == 0 && !rules[i].DstPort.Any() {
				rules[i].DstPort = []PortRange{Port(0), Port(65535), Ports(0, 3), Ports(65530, 65535), Ports(0, 65535)}[rng.IntN(5)]
			}
		}
		def := Action(rng.IntN(3))
		if err := s.SetDefault(def); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SetRules(rules); err != nil {
			continue // more candidates than a list holds
		}
		installed++
		for k := 0; k < 200; k++ {
			p := pkt{etype: 0x0800, src: randAddr(rng), dst: randAddr(rng), sport: 1, payload: 12}
			switch rng.IntN(6) {
			case 0:
				p = pkt{etype: 0x0806, arpTPA: randAddr(rng)}
			case 1:
				p.proto = 1
			case 2:
				p.proto = 17
				p.frag = 0x2000 // a first fragment
			default:
				p.proto = []uint8{6, 17}[rng.IntN(2)]
				p.dport = []uint16{0, 1, 2, 3, 4, 20, 35, 65530, 65535}[rng.IntN(9)]
			}
			if rng.IntN(2) == 0 {
				p = randPkt6(rng)
			}
			frame := p.build()
			got := run(t, s, frame)
			if want := reference(frame, rules, def); got != want {
				t.Fatalf("round %d: rules %v, default %v\nframe %+v: program says %s, reference %s", round, rules, def, p, verdictNames[got], verdictNames[want])
			}
			verdicts[got]++
			if f, ok := reference6(frame[14:]); ok && p.etype == 0x86dd && firstMatch(rules, f) >= 0 {
				matched6++
			}
		}
	}
	t.Logf("%d of %d rulesets installed; verdicts %v; %d IPv6 frames matched a rule", installed, rounds, verdicts, matched6)
	if installed < rounds*3/4 || min(verdicts[1], verdicts[2], verdicts[4]) < installed*200/20 || matched6 < installed*200/20 {
		t.Errorf("%d of %d rulesets installed, verdicts %v, %d IPv6 frames matched a rule: too few exercised (want 3/4 of the rounds, DROP, PASS and REDIRECT each on 5 %% of the frames, IPv6 frames matched on 5 %%)", installed, rounds, verdicts, matched6)
	}
}

// randPkt6 is a random IPv6 frame for TestProgramRandomRulesets: UDP or
// TCP behind zero to two extension headers, a fragment, ICMPv6, or ND.
func randPkt6(rng *rand.Rand) pkt {
	p := pkt{etype: 0x86dd, src: randAddr6(rng), dst: randAddr6(rng), sport: 1, payload: 12}
	switch rng.IntN(6) {
	case 0:
		p.proto, p.icmpType = 58, []uint8{128, 133, 134, 137}[rng.IntN(4)]
	case 1:
		p = ns(randAddr6(rng))
		p.src = randAddr6(rng)
		if rng.IntN(2) == 0 {
			p.icmpType, p.dst = 136, randAddr6(rng) // an advertisement
		}
	case 2:
		p.proto = []uint8{17, 6, 58}[rng.IntN(3)]
		p.ext = []ext6{{kind: 44, frag: []uint16{1, 8, 9}[rng.IntN(3)]}}
	default:
		p.proto = []uint8{6, 17}[rng.IntN(2)]
		p.dport = []uint16{0, 1, 2, 3, 4, 20, 35, 65530, 65535}[rng.IntN(9)]
		for i := rng.IntN(3); i > 0; i-- {
			p.ext = append(p.ext, ext6{kind: []uint8{0, 43, 51, 60}[rng.IntN(4)], hdrLen: uint8(rng.IntN(3))})
		}
	}
	return p
}
