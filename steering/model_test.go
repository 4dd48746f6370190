package steering

import (
	"errors"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"

	"github.com/fastpathnet/fastpath/bpf"
)

// fields is what the program matches a packet on.
type fields struct {
	arp      bool
	v6       bool // an IPv6 packet (src and dst are IPv6 addresses)
	proto    uint8
	src, dst netip.Addr
	hasPorts bool
	dport    uint16
	// nd: an IPv6 neighbour discovery message (ICMPv6 133 to 137, not a
	// fragment); ndDst is what ND rules match Dst with: the target of a
	// solicitation or advertisement, else dst.
	nd    bool
	ndDst netip.Addr
}

// firstMatch is the rules' meaning: the index of the first rule that
// matches, or -1.
func firstMatch(rules []Rule, f fields) int {
	for i, r := range rules {
		if matches(r, f) {
			return i
		}
	}
	return -1
}

// matches is Rule's documentation, read literally.
func matches(r Rule, f fields) bool {
	inPrefixes := func(dst netip.Addr) bool {
		return (!r.Dst.IsValid() || r.Dst.Contains(dst)) && (!r.Src.IsValid() || r.Src.Contains(f.src))
	}
	switch r.Proto {
	case ProtoARP:
		return f.arp && inPrefixes(f.dst)
	case ProtoND:
		return f.nd && inPrefixes(f.ndDst)
	}
	if f.arp {
		return false
	}
	is4 := func(p netip.Prefix) bool { return p.IsValid() && p.Addr().Is4() }
	is6 := func(p netip.Prefix) bool { return p.IsValid() && !p.Addr().Is4() }
	ipv4Only := r.Proto == ProtoICMP || is4(r.Dst) || is4(r.Src)
	ipv6Only := r.Proto == ProtoICMPv6 || is6(r.Dst) || is6(r.Src)
	if f.v6 && ipv4Only || !f.v6 && ipv6Only {
		return false
	}
	if r.Proto != ProtoAny && uint8(r.Proto) != f.proto {
		return false
	}
	if !inPrefixes(f.dst) {
		return false
	}
	return r.DstPort.Any() || f.hasPorts && r.DstPort.Lo <= f.dport && f.dport <= r.DstPort.Hi
}

// simulate walks a compiled ruleset as steer.c does: prefixes and family
// only, since the lists already encode the ports; an ND message walks the
// ND list too, and the first rule of the two walks wins.
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
	best := simWalk(rs, l, f.v6, f.src, f.dst)
	if f.nd {
		best = min(best, simWalk(rs, rs.NdList, true, f.src, f.ndDst))
	}
	if best == bpf.MaxRules {
		return -1
	}
	return best
}

// simWalk is steer.c's walk4 (v6 false: word 0 only) or walk6.
func simWalk(rs *bpf.Ruleset, l uint8, v6 bool, src, dst netip.Addr) int {
	fam, n := uint8(bpf.FamilyIPv4), 1
	if v6 {
		fam, n = bpf.FamilyIPv6, 4
	}
	s, d := words(src), words(dst)
	lst := rs.Lists[l]
	for _, id := range lst.Ids[:lst.Len] {
		r := rs.Rules[id]
		if r.Family&fam == 0 {
			continue
		}
		ok := true
		for w := 0; w < n; w++ {
			ok = ok && d[w]&r.DstMask[w] == r.Dst[w] && s[w]&r.SrcMask[w] == r.Src[w]
		}
		if ok {
			return int(id)
		}
	}
	return bpf.MaxRules
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

// randAddr6 is randAddr for IPv6: 2001:db8::/32, varied in the third and
// last words, so that /48, /64, /120 and /128 prefixes all split it.
func randAddr6(rng *rand.Rand) netip.Addr {
	var a [16]byte
	a[0], a[1], a[2], a[3] = 0x20, 0x01, 0x0d, 0xb8
	a[5] = byte(rng.IntN(3))
	a[7] = byte(rng.IntN(2))
	a[15] = byte(rng.IntN(8))
	return netip.AddrFrom16(a)
}

func randPrefix(rng *rand.Rand, v6 bool, bits4 int) netip.Prefix {
	if v6 {
		return netip.PrefixFrom(randAddr6(rng), []int{40, 48, 64, 120, 125, 128}[rng.IntN(6)]).Masked()
	}
	return netip.PrefixFrom(randAddr(rng), bits4+rng.IntN(33-bits4)).Masked()
}

// randRule returns a rule of either family or both, a third of them IPv6.
func randRule(rng *rand.Rand) Rule {
	var r Rule
	switch rng.IntN(9) {
	case 0:
		r.Proto = ProtoAny
	case 1:
		r.Proto = ProtoARP
	case 2:
		r.Proto = ProtoICMP
	case 3:
		r.Proto = ProtoTCP
	case 4:
		r.Proto = ProtoICMPv6
	case 5:
		r.Proto = ProtoND
	default:
		r.Proto = ProtoUDP
	}
	v6 := rng.IntN(3) == 0
	switch r.Proto {
	case ProtoARP, ProtoICMP:
		v6 = false
	case ProtoND, ProtoICMPv6:
		v6 = true
	}
	if rng.IntN(2) == 0 {
		r.Dst = randPrefix(rng, v6, 24)
	}
	if rng.IntN(3) == 0 {
		r.Src = randPrefix(rng, v6, 30)
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

// randFields returns a packet of either family: ARP, ICMP or ICMPv6 (ND
// among them), another protocol, or TCP or UDP with ports or as a fragment.
func randFields(rng *rand.Rand) fields {
	f := fields{src: randAddr(rng), dst: randAddr(rng)}
	if rng.IntN(2) == 0 {
		f.v6, f.src, f.dst = true, randAddr6(rng), randAddr6(rng)
	}
	switch rng.IntN(6) {
	case 0:
		if f.v6 {
			f.proto = 58
			f.nd = rng.IntN(4) != 0
			f.ndDst = f.dst
			if rng.IntN(2) == 0 {
				f.ndDst = randAddr6(rng) // a solicitation's target
			}
		} else {
			f.arp = true
		}
	case 1:
		f.proto = []uint8{1, 58}[rng.IntN(2)]
	case 2:
		f.proto = uint8(rng.IntN(256))
	default:
		f.proto = []uint8{6, 17}[rng.IntN(2)]
		f.hasPorts = rng.IntN(8) != 0 // sometimes a fragment
		if f.hasPorts {
			f.dport = uint16(rng.IntN(60))
		}
	}
	return f
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
	// The rounds really exercised, and the packets some rule matched (by
	// family, and ND by an ND rule): the test fails if refused rulesets or
	// misses left too few.
	var compiled, matched, packets, matched6, matchedND int
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
			f := randFields(rng)
			if want, got := firstMatch(rules, f), simulate(rs, f); want != got {
				t.Fatalf("round %d: rules %v\npacket %+v: compiled ruleset finds rule %d, want %d", round, rules, f, got, want)
			} else if want >= 0 {
				matched++
				if f.v6 {
					matched6++
				}
				if f.nd && rules[want].Proto == ProtoND {
					matchedND++
				}
			}
			packets++
		}
	}
	t.Logf("%d of %d rulesets compiled; %d of %d packets matched a rule, %d IPv6, %d ND by an ND rule", compiled, rounds, matched, packets, matched6, matchedND)
	if compiled < rounds*3/4 || matched < packets/10 || matched6 < packets/40 || matchedND < packets/400 {
		t.Errorf("%d of %d rulesets compiled, %d of %d packets matched a rule (%d IPv6, %d ND): too few exercised (want 3/4, 1/10, 1/40, 1/400)", compiled, rounds, matched, packets, matched6, matchedND)
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
		{Dst: pfx("2001:db8::/32"), Src: pfx("10.0.0.0/8")},
		{Dst: pfx("10.0.0.0/8"), Src: pfx("::ffff:10.0.0.0/104")},
		{Proto: ProtoICMP, Dst: pfx("2001:db8::1/128")},
		{Proto: ProtoARP, Src: pfx("::/0")},
		{Proto: ProtoICMPv6, Dst: pfx("198.18.0.1/32")},
		{Proto: ProtoND, Dst: pfx("198.18.0.1/32")},
		{Proto: ProtoND, DstPort: Port(1)},
		{Proto: ProtoICMPv6, DstPort: Port(1)},
		{Proto: 0x102},
		{Proto: 300},
		{DstPort: PortRange{Lo: 10, Hi: 5}},
		{Action: 9},
	} {
		if err := r.Check(); !errors.Is(err, ErrRule) {
			t.Errorf("Check(%v) = %v, want ErrRule", r, err)
		}
	}
	for _, r := range append(testRules,
		Rule{Dst: pfx("2001:db8::/32"), Src: pfx("::1/128")},
		Rule{Dst: pfx("::ffff:198.18.0.1/128")},
		Rule{Proto: ProtoND, Src: pfx("fe80::/10")},
		Rule{Proto: ProtoICMPv6, Dst: pfx("::/0")},
		Rule{Proto: ProtoARP, Dst: pfx("0.0.0.0/0")},
	) {
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
	for in, want := range map[string]Proto{"udp": ProtoUDP, "TCP": ProtoTCP, "icmp": ProtoICMP, "arp": ProtoARP, "any": ProtoAny, "47": 47,
		"icmpv6": ProtoICMPv6, "ICMPv6": ProtoICMPv6, "58": ProtoICMPv6, "nd": ProtoND} {
		if got, err := ParseProto(in); err != nil || got != want {
			t.Errorf("ParseProto(%q) = %v, %v", in, got, err)
		}
		if in == strings.ToLower(in) && in != "58" && want.String() != in {
			t.Errorf("%v.String() = %q, want %q", want, want.String(), in)
		}
	}
	for _, in := range []string{"sctpx", "0", "256", "-1", "257", "icmp6"} {
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
