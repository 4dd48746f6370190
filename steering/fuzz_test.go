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
		return xdpPass
	default:
		return xdpPass
	}
	act := def
	if i := firstMatch(rules, f); i >= 0 {
		act = rules[i].Action
	}
	return map[Action]uint32{Pass: xdpPass, Engine: xdpRedirect, Drop: xdpDrop}[act]
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
	var installed int
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
			frame := p.build()
			got := run(t, s, frame)
			if want := reference(frame, rules, def); got != want {
				t.Fatalf("round %d: rules %v, default %v\nframe %+v: program says %s, reference %s", round, rules, def, p, verdictNames[got], verdictNames[want])
			}
			verdicts[got]++
		}
	}
	t.Logf("%d of %d rulesets installed; verdicts %v", installed, rounds, verdicts)
	if installed < rounds*3/4 || min(verdicts[1], verdicts[2], verdicts[4]) < installed*200/20 {
		t.Errorf("%d of %d rulesets installed, verdicts %v: too few exercised (want 3/4 of the rounds, DROP, PASS and REDIRECT each on 5 %% of the frames)", installed, rounds, verdicts)
	}
}
