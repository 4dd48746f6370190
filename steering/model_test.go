package steering

import (
	"errors"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/fastpathnet/fastpath/bpf"
)

// fields is what the program matches a packet on.
type fields struct {
	arp      bool
	proto    uint8
	src, dst netip.Addr
	hasPorts bool
	dport    uint16
}

// firstMatch is the rules' meaning: the index of the first rule that
// matches, or -1.
func firstMatch(rules []Rule, f fields) int {
	for i, r := range rules {
		if (r.Proto == ProtoARP) != f.arp {
			continue
		}
		if !f.arp && r.Proto != ProtoAny && uint8(r.Proto) != f.proto {
			continue
		}
		if r.Dst.IsValid() && !r.Dst.Contains(f.dst) || r.Src.IsValid() && !r.Src.Contains(f.src) {
			continue
		}
		if !r.DstPort.Any() && (!f.hasPorts || f.dport < r.DstPort.Lo || f.dport > r.DstPort.Hi) {
			continue
		}
		return i
	}
	return -1
}

// simulate walks a compiled ruleset as steer.c does: prefixes only, since
// the lists already encode the ports.
func simulate(rs *bpf.Ruleset, f fields) int {
	var l uint8
	switch {
	case f.arp:
		l = rs.ArpList
	case f.hasPorts:
		l = rs.PortList[b2i(f.proto == 6)][f.dport]
	default:
		l = rs.ProtoList[f.proto]
	}
	src, dst := be32(f.src.As4()), be32(f.dst.As4())
	lst := rs.Lists[l]
	for _, id := range lst.Ids[:lst.Len] {
		r := rs.Rules[id]
		if dst&r.DstMask != r.Dst || src&r.SrcMask != r.Src {
			continue
		}
		return int(id)
	}
	return -1
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func randAddr(rng *rand.Rand) netip.Addr {
	// A small address space, so that prefixes often match.
	return netip.AddrFrom4([4]byte{198, 18, byte(rng.IntN(3)), byte(rng.IntN(8))})
}

func randRule(rng *rand.Rand) Rule {
	var r Rule
	switch rng.IntN(6) {
	case 0:
		r.Proto = ProtoAny
	case 1:
		r.Proto = ProtoARP
	case 2:
		r.Proto = ProtoICMP
	case 3:
		r.Proto = ProtoTCP
	default:
		r.Proto = ProtoUDP
	}
	if rng.IntN(2) == 0 {
		r.Dst = netip.PrefixFrom(randAddr(rng), 24+rng.IntN(9)).Masked()
	}
	if rng.IntN(3) == 0 {
		r.Src = netip.PrefixFrom(randAddr(rng), 30+rng.IntN(3)).Masked()
	}
	if r.Proto == ProtoAny || r.Proto == ProtoTCP || r.Proto == ProtoUDP {
		if rng.IntN(2) == 0 {
			lo := uint16(rng.IntN(40))
			r.DstPort = Ports(lo, lo+uint16(rng.IntN(10)))
		}
	}
	r.Action = Action(rng.IntN(3))
	return r
}

// TestCompileMatchesMeaning: for random rulesets and packets, walking the
// compiled ruleset as the program does finds the same rule as trying the
// rules in order.
func TestCompileMatchesMeaning(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 9))
	rounds := 300
	if testing.Short() {
		rounds = 50
	}
	// The rounds really exercised, and the packets some rule matched:
	// the test fails if refused rulesets or misses left too few.
	var compiled, matched, packets int
	for round := 0; round < rounds; round++ {
		rules := make([]Rule, 1+rng.IntN(12))
		for i := range rules {
			rules[i] = randRule(rng)
		}
		slots := make([]uint32, len(rules))
		for i := range slots {
			slots[i] = uint32(i)
		}
		rs, err := compile(rules, slots, Pass)
		if errors.Is(err, ErrRule) {
			continue // too many candidates for one packet class
		}
		if err != nil {
			t.Fatal(err)
		}
		compiled++
		for k := 0; k < 300; k++ {
			f := fields{src: randAddr(rng), dst: randAddr(rng)}
			switch rng.IntN(5) {
			case 0:
				f.arp = true
			case 1:
				f.proto = 1
			case 2:
				f.proto = uint8(rng.IntN(256))
			default:
				f.proto = []uint8{6, 17}[rng.IntN(2)]
				f.hasPorts = rng.IntN(8) != 0 // sometimes a fragment
				if f.hasPorts {
					f.dport = uint16(rng.IntN(60))
				}
			}
			if want, got := firstMatch(rules, f), simulate(rs, f); want != got {
				t.Fatalf("round %d: rules %v\npacket %+v: compiled ruleset finds rule %d, want %d", round, rules, f, got, want)
			} else if want >= 0 {
				matched++
			}
			packets++
		}
	}
	t.Logf("%d of %d rulesets compiled; %d of %d packets matched a rule", compiled, rounds, matched, packets)
	if compiled < rounds*3/4 || matched < packets/10 {
		t.Errorf("%d of %d rulesets compiled, %d of %d packets matched a rule: too few exercised (want 3/4, 1/10)", compiled, rounds, matched, packets)
	}
}

func TestCompileLimits(t *testing.T) {
	slots := func(n int) []uint32 { return make([]uint32, n) }
	// 16 rules that can all match UDP port 53.
	var many []Rule
	for i := 0; i < 16; i++ {
		many = append(many, Rule{Proto: ProtoUDP, DstPort: Port(53), Dst: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}), 32)})
	}
	if _, err := compile(many, slots(16), Pass); !errors.Is(err, ErrRule) {
		t.Errorf("16 candidates for one port: %v", err)
	}
	if _, err := compile(many[:15], slots(15), Pass); err != nil {
		t.Errorf("15 candidates for one port: %v", err)
	}
	// More distinct candidate lists than the program indexes: 200
	// ranges, each overlapping the next, give about 400 ({i}, {i, i+1}).
	var ranges []Rule
	for i := 0; i < 200; i++ {
		ranges = append(ranges, Rule{Proto: ProtoUDP, DstPort: Ports(uint16(10*i), uint16(10*i+14))})
	}
	if _, err := compile(ranges, slots(200), Pass); !errors.Is(err, ErrRule) {
		t.Errorf("too many lists: %v", err)
	}
	if _, err := compile(make([]Rule, bpf.MaxRules), slots(bpf.MaxRules), Pass); !errors.Is(err, ErrRule) {
		t.Errorf("%d rules: %v", bpf.MaxRules, err)
	}
	if _, err := compile(nil, nil, 3); !errors.Is(err, ErrRule) {
		t.Errorf("default action 3: %v", err)
	}
}

func TestRuleCheck(t *testing.T) {
	for _, r := range []Rule{
		{Proto: ProtoICMP, DstPort: Port(1)},
		{Proto: ProtoARP, DstPort: Port(1)},
		{Dst: netip.MustParsePrefix("2001:db8::/32")},
		{Src: netip.MustParsePrefix("::1/128")},
		{Proto: 300},
		{DstPort: PortRange{Lo: 10, Hi: 5}},
		{Action: 9},
	} {
		if err := r.Check(); !errors.Is(err, ErrRule) {
			t.Errorf("Check(%v) = %v, want ErrRule", r, err)
		}
	}
	for _, r := range testRules {
		if err := r.Check(); err != nil {
			t.Errorf("Check(%v): %v", r, err)
		}
	}
}

// TestPortZero: Port(0) is port 0, not "any port"; the zero PortRange is
// no port condition at all.
func TestPortZero(t *testing.T) {
	if Port(0).Any() || Ports(0, 65535).Any() || !(PortRange{}).Any() {
		t.Fatal("Any is wrong")
	}
	drop0 := []Rule{{Proto: ProtoUDP, DstPort: Port(0), Action: Drop}}
	for _, f := range []fields{
		{proto: 17, hasPorts: true, dport: 9000, src: peerIP, dst: engineIP},
		{proto: 17, src: peerIP, dst: engineIP}, // a fragment
	} {
		if i := firstMatch(drop0, f); i != -1 {
			t.Errorf("a rule for port 0 matches %+v", f)
		}
		rs, err := compile(drop0, []uint32{0}, Pass)
		if err != nil {
			t.Fatal(err)
		}
		if i := simulate(rs, f); i != -1 {
			t.Errorf("compiled rule for port 0 matches %+v", f)
		}
	}
	if i := firstMatch(drop0, fields{proto: 17, hasPorts: true, dport: 0, src: peerIP, dst: engineIP}); i != 0 {
		t.Error("a rule for port 0 does not match port 0")
	}
}

func TestParsers(t *testing.T) {
	for in, want := range map[string]PortRange{"53": Port(53), "1024-2047": Ports(1024, 2047), "0-65535": Ports(0, 65535)} {
		if got, err := ParsePortRange(in); err != nil || got != want {
			t.Errorf("ParsePortRange(%q) = %v, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "x", "70000", "5-1", "1-", "-3", "1-2-3"} {
		if _, err := ParsePortRange(in); !errors.Is(err, ErrRule) {
			t.Errorf("ParsePortRange(%q) = %v, want ErrRule", in, err)
		}
	}
	for in, want := range map[string]Proto{"udp": ProtoUDP, "TCP": ProtoTCP, "icmp": ProtoICMP, "arp": ProtoARP, "any": ProtoAny, "47": 47} {
		if got, err := ParseProto(in); err != nil || got != want {
			t.Errorf("ParseProto(%q) = %v, %v", in, got, err)
		}
	}
	for _, in := range []string{"sctpx", "0", "256", "-1"} {
		if _, err := ParseProto(in); !errors.Is(err, ErrRule) {
			t.Errorf("ParseProto(%q) = %v, want ErrRule", in, err)
		}
	}
	for in, want := range map[string]Action{"engine": Engine, "pass": Pass, "DROP": Drop} {
		if got, err := ParseAction(in); err != nil || got != want {
			t.Errorf("ParseAction(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseAction("redirect"); !errors.Is(err, ErrRule) {
		t.Error("ParseAction(redirect) succeeded")
	}
}
