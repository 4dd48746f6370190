package steering

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/fastpathnet/fastpath/bpf"
)

// Action is what a rule does with the frames it matches.
type Action uint8

const (
	// Pass hands the frame to the kernel. It is the zero Action.
	Pass Action = bpf.ActionPass
	// Engine hands the frame to the AF_XDP socket registered for the
	// queue it arrived on, or to the kernel when none is.
	Engine Action = bpf.ActionEngine
	// Drop drops the frame.
	Drop Action = bpf.ActionDrop
)

func (a Action) String() string {
	switch a {
	case Engine:
		return "engine"
	case Pass:
		return "pass"
	case Drop:
		return "drop"
	}
	return fmt.Sprintf("Action(%d)", uint8(a))
}

// ParseAction parses "engine", "pass" or "drop".
func ParseAction(s string) (Action, error) {
	switch strings.ToLower(s) {
	case "engine":
		return Engine, nil
	case "pass":
		return Pass, nil
	case "drop":
		return Drop, nil
	}
	return 0, fmt.Errorf("steering: action %q: %w: use engine, pass or drop", s, ErrRule)
}

// Proto selects what a rule matches: an IP protocol number (IPv6: the
// next header after the extension headers), any IP protocol, ARP or
// neighbour discovery.
type Proto uint16

const (
	// ProtoAny matches every IP packet of the rule's family (IPv4, IPv6
	// or both; see Rule), neighbour discovery included, but not ARP.
	ProtoAny Proto = 0
	// ProtoICMP is IPv4's ICMP: a rule for it matches only IPv4.
	ProtoICMP Proto = 1
	ProtoTCP  Proto = 6
	ProtoUDP  Proto = 17
	// ProtoICMPv6 is IPv6's ICMP: a rule for it matches only IPv6, and
	// with a Dst matches neighbour discovery by its IPv6 destination
	// address (not by target: see ProtoND).
	ProtoICMPv6 Proto = 58
	// ProtoARP matches ARP for IPv4 over Ethernet. Dst is matched against
	// the target protocol address, Src against the sender's.
	ProtoARP Proto = 0x100
	// ProtoND matches IPv6 neighbour discovery (RFC 4861): ICMPv6 types
	// 133 to 137, router solicitations and advertisements, neighbour
	// solicitations and advertisements, redirects. It is ND's analogue of
	// ProtoARP: Dst is matched against the target address of a neighbour
	// solicitation or advertisement, and against the IPv6 destination of
	// the others; Src against the IPv6 source. So a rule for the
	// engine's own address takes the solicitations for it, sent to a
	// solicited-node multicast address, while the kernel keeps the rest.
	//
	// An ND message is also an ICMPv6 packet: ProtoICMPv6 and ProtoAny
	// rules match it by its IPv6 destination, and of every rule that
	// matches it one way or the other the first in order decides, as
	// for any packet. A fragment is never ND: a fragment matches rules
	// by its fragment header's next header (ICMPv6), and RFC 6980 has
	// ND messages never fragmented.
	ProtoND Proto = 0x101
)

func (p Proto) String() string {
	switch p {
	case ProtoAny:
		return "any"
	case ProtoICMP:
		return "icmp"
	case ProtoTCP:
		return "tcp"
	case ProtoUDP:
		return "udp"
	case ProtoICMPv6:
		return "icmpv6"
	case ProtoARP:
		return "arp"
	case ProtoND:
		return "nd"
	}
	return strconv.Itoa(int(p))
}

// ParseProto parses "any", "icmp", "icmpv6", "tcp", "udp", "arp", "nd" or
// an IP protocol number from 1 to 255.
func ParseProto(s string) (Proto, error) {
	switch strings.ToLower(s) {
	case "any", "":
		return ProtoAny, nil
	case "icmp":
		return ProtoICMP, nil
	case "icmpv6":
		return ProtoICMPv6, nil
	case "tcp":
		return ProtoTCP, nil
	case "udp":
		return ProtoUDP, nil
	case "arp":
		return ProtoARP, nil
	case "nd":
		return ProtoND, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 255 {
		return 0, fmt.Errorf("steering: protocol %q: %w: use any, icmp, icmpv6, tcp, udp, arp, nd or a number from 1 to 255", s, ErrRule)
	}
	return Proto(n), nil
}

// PortRange is an inclusive range of destination ports. The zero value
// means "no port condition": the rule also matches packets without ports
// (ICMP, fragments). Any other range, 0-65535 included, matches only TCP
// or UDP packets whose port is in it. Build ranges with Port, Ports or
// ParsePortRange; a literal {Lo, Hi} other than {0, 0} works too, and
// Port(0) is the port 0, not "any".
type PortRange struct {
	Lo, Hi uint16
	set    bool // distinguishes Port(0) from the zero value
}

// Port is the range of the one port p.
func Port(p uint16) PortRange { return PortRange{p, p, true} }

// Ports is the range lo to hi, inclusive.
func Ports(lo, hi uint16) PortRange { return PortRange{lo, hi, true} }

// Any reports whether r is the zero value: no port condition.
func (r PortRange) Any() bool { return !r.set && r.Lo == 0 && r.Hi == 0 }

func (r PortRange) String() string {
	switch {
	case r.Any():
		return "any"
	case r.Lo == r.Hi:
		return strconv.Itoa(int(r.Lo))
	}
	return fmt.Sprintf("%d-%d", r.Lo, r.Hi)
}

// ParsePortRange parses "P" or "A-B".
func ParsePortRange(s string) (PortRange, error) {
	lo, hi, isRange := strings.Cut(s, "-")
	a, err1 := strconv.ParseUint(lo, 10, 16)
	b, err2 := a, error(nil)
	if isRange {
		b, err2 = strconv.ParseUint(hi, 10, 16)
	}
	if err1 != nil || err2 != nil || a > b {
		return PortRange{}, fmt.Errorf("steering: port range %q: %w: use a port (53) or a range (1024-2047) of 0 to 65535", s, ErrRule)
	}
	return Ports(uint16(a), uint16(b)), nil
}

// Rule matches frames and says what to do with them. Zero fields match
// everything; every set field must match. Rules are tried in order: the
// first that matches decides.
//
// A rule is of a family, as in nftables' inet family: a rule with IPv4
// prefixes matches only IPv4 packets (and ARP), one with IPv6 prefixes
// only IPv6 packets, and one without a prefix both, unless its protocol is
// of one family (ProtoICMP and ProtoARP are IPv4's, ProtoICMPv6 and
// ProtoND IPv6's). A rule cannot mix the families: write one rule per
// family.
type Rule struct {
	// Name labels the rule for people (listings, metrics); the program
	// does not see it.
	Name  string
	Proto Proto
	// Dst and Src are IPv4 or IPv6 prefixes, both of the same family; the
	// zero Prefix matches any address. An IPv4-mapped IPv6 prefix
	// (::ffff:0:0/96) is IPv6: it matches IPv6 packets.
	Dst netip.Prefix
	Src netip.Prefix
	// DstPort needs Proto TCP, UDP or any (then it matches TCP and UDP).
	// A rule with ports never matches a fragment, IPv4 or IPv6, so that
	// all of a datagram goes the same way: a Drop rule on a port does not
	// stop fragmented datagrams to it (the default action decides those).
	DstPort PortRange
	Action  Action
}

func (r Rule) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s", r.Proto)
	if r.Dst.IsValid() {
		fmt.Fprintf(&b, " dst %s", r.Dst)
	}
	if r.Src.IsValid() {
		fmt.Fprintf(&b, " src %s", r.Src)
	}
	if !r.DstPort.Any() {
		fmt.Fprintf(&b, " dport %s", r.DstPort)
	}
	fmt.Fprintf(&b, " -> %s", r.Action)
	return b.String()
}

// ErrRule reports a rule or ruleset the program cannot hold.
var ErrRule = errors.New("invalid rule")

// Check reports why the program cannot hold r, if it cannot.
func (r Rule) Check() error {
	if _, err := r.family(); err != nil {
		return err
	}
	if r.Action > Drop {
		return fmt.Errorf("steering: rule %q: %v: %w", r.Name, r.Action, ErrRule)
	}
	if r.Proto > 255 && r.Proto != ProtoARP && r.Proto != ProtoND {
		return fmt.Errorf("steering: rule %q: protocol %d: %w", r.Name, r.Proto, ErrRule)
	}
	if !r.DstPort.Any() {
		if r.DstPort.Lo > r.DstPort.Hi {
			return fmt.Errorf("steering: rule %q: port range %d-%d: %w", r.Name, r.DstPort.Lo, r.DstPort.Hi, ErrRule)
		}
		if r.Proto != ProtoAny && r.Proto != ProtoTCP && r.Proto != ProtoUDP {
			return fmt.Errorf("steering: rule %q: %w: ports need protocol tcp, udp or any, not %s", r.Name, ErrRule, r.Proto)
		}
	}
	return nil
}

// family returns the packets r may match, bpf.FamilyIPv4, bpf.FamilyIPv6
// or both, from its prefixes and protocol, or why r mixes the families.
func (r Rule) family() (uint8, error) {
	var fam uint8 = bpf.FamilyIPv4 | bpf.FamilyIPv6
	switch r.Proto {
	case ProtoICMP, ProtoARP:
		fam = bpf.FamilyIPv4
	case ProtoICMPv6, ProtoND:
		fam = bpf.FamilyIPv6
	}
	var first netip.Prefix
	for _, p := range []netip.Prefix{r.Dst, r.Src} {
		if !p.IsValid() {
			continue
		}
		pf := uint8(bpf.FamilyIPv6)
		if p.Addr().Is4() {
			pf = bpf.FamilyIPv4
		}
		switch {
		case first.IsValid() && first.Addr().Is4() != p.Addr().Is4():
			return 0, fmt.Errorf("steering: rule %q: prefixes %s and %s: %w: one rule matches one family, IPv4 or IPv6: write one rule for each", r.Name, first, p, ErrRule)
		case fam&pf == 0 && pf == bpf.FamilyIPv6:
			return 0, fmt.Errorf("steering: rule %q: prefix %s: %w: %s is IPv4's: use %s for IPv6", r.Name, p, ErrRule, r.Proto, map[Proto]Proto{ProtoICMP: ProtoICMPv6, ProtoARP: ProtoND}[r.Proto])
		case fam&pf == 0:
			return 0, fmt.Errorf("steering: rule %q: prefix %s: %w: %s is IPv6's: use %s for IPv4", r.Name, p, ErrRule, r.Proto, map[Proto]Proto{ProtoICMPv6: ProtoICMP, ProtoND: ProtoARP}[r.Proto])
		}
		first, fam = p, pf
	}
	return fam, nil
}

// be32 returns the uint32 whose in-memory (little-endian) bytes are the
// address's bytes in network order, as the program compares them.
func be32(a [4]byte) uint32 { return binary.LittleEndian.Uint32(a[:]) }

// words returns an address as the program holds it: four be32 words, an
// IPv4 address in the first and zeros after it.
func words(a netip.Addr) [4]uint32 {
	var w [4]uint32
	if a.Is4() {
		w[0] = be32(a.As4())
		return w
	}
	b := a.As16()
	for i := range w {
		w[i] = be32([4]byte(b[4*i:]))
	}
	return w
}

// prefixMatch returns the masked address and the mask the program
// compares a packet's address with: (addr & mask) == want. The zero Prefix
// gives zeros, which match everything.
func prefixMatch(p netip.Prefix) (want, mask [4]uint32) {
	if !p.IsValid() {
		return want, mask
	}
	p = p.Masked()
	var m [16]byte
	for i := 0; i < p.Bits(); i++ {
		m[i/8] |= 0x80 >> (i % 8)
	}
	want = words(p.Addr())
	for i := range mask {
		mask[i] = be32([4]byte(m[4*i:]))
	}
	return want, mask
}

// compile builds the program's ruleset for rules in priority order, with
// rule i counting into stat slot stats[i].
func compile(rules []Rule, stats []uint32, def Action) (*bpf.Ruleset, error) {
	return compileWith(rules, nil, stats, nil, def)
}

// compileWith is compile that also records each rule's ID, and each slot's
// base count, for readers of the ruleset (Inspect).
func compileWith(rules []Rule, ids []ID, stats []uint32, base *[bpf.MaxSlots]Counter, def Action) (*bpf.Ruleset, error) {
	if len(rules) > bpf.MaxRules-1 {
		return nil, fmt.Errorf("steering: %d rules: %w: at most %d", len(rules), ErrRule, bpf.MaxRules-1)
	}
	if def > Drop {
		return nil, fmt.Errorf("steering: default action %v: %w", def, ErrRule)
	}
	rs := &bpf.Ruleset{Nrules: uint32(len(rules)), DefaultAction: uint8(def)}
	for i, r := range rules {
		if err := r.Check(); err != nil {
			return nil, err
		}
		fam, _ := r.family() // Check passed
		br := bpf.Rule{Action: uint8(r.Action), Stat: stats[i], PortLo: 0, PortHi: 65535, Family: fam}
		br.Dst, br.DstMask = prefixMatch(r.Dst)
		br.Src, br.SrcMask = prefixMatch(r.Src)
		if r.Dst.IsValid() {
			br.Flags |= bpf.RuleDst
		}
		if r.Src.IsValid() {
			br.Flags |= bpf.RuleSrc
		}
		switch r.Proto {
		case ProtoARP:
			br.Kind = bpf.KindARP
		case ProtoND:
			br.Kind = bpf.KindND
		default:
			br.Kind, br.Proto = bpf.KindIP, uint8(r.Proto)
		}
		if !r.DstPort.Any() {
			br.Flags |= bpf.RulePorts
			br.PortLo, br.PortHi = r.DstPort.Lo, r.DstPort.Hi
		}
		rs.Rules[i] = br
		if ids != nil {
			rs.Ids[i] = uint32(ids[i])
		}
		if base != nil {
			b := base[stats[i]]
			rs.Base[i] = bpf.Counter{Packets: b.Packets, Bytes: b.Bytes}
		}
		for j := 0; j < len(r.Name) && j < len(rs.Names[i])-1; j++ {
			rs.Names[i][j] = int8(r.Name[j])
		}
	}

	// Lists, deduplicated: lists[0] is the empty list.
	lists := map[string]uint8{"": 0}
	nlists := 1
	intern := func(ids []uint8, what func() string) (uint8, error) {
		if len(ids) > bpf.ListLen {
			return 0, fmt.Errorf("steering: %w: %d rules could match %s; the program tries at most %d: merge some", ErrRule, len(ids), what(), bpf.ListLen)
		}
		key := string(ids)
		if l, ok := lists[key]; ok {
			return l, nil
		}
		if nlists == bpf.MaxLists {
			return 0, fmt.Errorf("steering: %w: the rules need more than %d distinct candidate lists: use fewer distinct port ranges", ErrRule, bpf.MaxLists-1)
		}
		l := uint8(nlists)
		nlists++
		lists[key] = l
		rs.Lists[l].Len = uint8(len(ids))
		copy(rs.Lists[l].Ids[:], ids)
		return l, nil
	}

	var err error
	collect := func(keep func(Rule) bool) []uint8 {
		var ids []uint8
		for i, r := range rules {
			if keep(r) {
				ids = append(ids, uint8(i))
			}
		}
		return ids
	}
	if rs.ArpList, err = intern(collect(func(r Rule) bool { return r.Proto == ProtoARP }), func() string { return "ARP" }); err != nil {
		return nil, err
	}
	if rs.NdList, err = intern(collect(func(r Rule) bool { return r.Proto == ProtoND }), func() string { return "neighbour discovery" }); err != nil {
		return nil, err
	}
	// Rules without ports for protocol p: those for p and those for any.
	// The lists hold the rules of both families: a packet's walk skips
	// the other family's.
	noPorts := func(p Proto) func(Rule) bool {
		return func(r Rule) bool { return r.DstPort.Any() && (r.Proto == p || r.Proto == ProtoAny) }
	}
	for p := 0; p < 256; p++ {
		if rs.ProtoList[p], err = intern(collect(noPorts(Proto(p))), func() string { return "protocol " + Proto(p).String() }); err != nil {
			return nil, err
		}
	}
	// Port lists: the rules whose ports cover the port, merged in
	// priority order with the protocol's rules without ports. Sweep the
	// port space once per protocol, rebuilding the list only where a
	// range starts or ends.
	for pi, proto := range []Proto{ProtoUDP, ProtoTCP} {
		var portRules []int
		for i, r := range rules {
			if !r.DstPort.Any() && (r.Proto == proto || r.Proto == ProtoAny) {
				portRules = append(portRules, i)
			}
		}
		if len(portRules) == 0 {
			for port := range rs.PortList[pi] {
				rs.PortList[pi][port] = rs.ProtoList[proto]
			}
			continue
		}
		general := noPorts(proto)
		var cur uint8
		for port := 0; port < 65536; port++ {
			changed := port == 0
			for _, i := range portRules {
				pr := rules[i].DstPort
				if int(pr.Lo) == port || int(pr.Hi)+1 == port {
					changed = true
				}
			}
			if changed {
				ids := collect(func(r Rule) bool {
					return general(r) || (!r.DstPort.Any() && (r.Proto == proto || r.Proto == ProtoAny) &&
						int(r.DstPort.Lo) <= port && port <= int(r.DstPort.Hi))
				})
				if cur, err = intern(ids, func() string { return fmt.Sprintf("%s port %d", proto, port) }); err != nil {
					return nil, err
				}
			}
			rs.PortList[pi][port] = cur
		}
	}
	return rs, nil
}
