package bpf

import (
	"fmt"
	"unsafe"

	"github.com/cilium/ebpf"
)

// Mirrors of steer.c's types and constants. bpf2go generates the structs
// from the object's BTF; TestSteerLayout checks them against it.
type (
	// Ruleset is struct ruleset: every rule and the indexes that find
	// them, written whole into a fresh inner map for every change.
	Ruleset = steerRuleset
	// Rule is struct rule.
	Rule = steerRule
	// List is struct list: ids of rules that may match a class of
	// packets, in priority order.
	List = steerList
	// Counter is struct counter_val.
	Counter = steerCounterVal
	// Stats is struct stats: one CPU's counters, actions and rules.
	Stats = steerStats
)

// Limits of the ruleset.
const (
	MaxRules = 256
	MaxLists = 256
	ListLen  = len(List{}.Ids)
	// MaxSlots is the number of rule counter slots: twice the rules, so
	// that a new ruleset's rules count into slots no installed rule uses.
	MaxSlots = len(Stats{}.Rules)
)

// Actions (enum action).
const (
	ActionPass   = 0
	ActionEngine = 1
	ActionDrop   = 2
)

// Rule kinds, flags and families.
const (
	// KindIP is a rule on IP packets of its Family.
	KindIP = 0
	// KindIPv4 is KindIP's former name.
	//
	// Deprecated: use KindIP; the kind covers IPv6 too.
	KindIPv4 = KindIP
	KindARP  = 1
	// KindND is a rule on IPv6 neighbour discovery, Dst by target.
	KindND = 2

	RulePorts = 1
	// RuleDst and RuleSrc mark a rule that has a destination or source
	// prefix (/0 included); the program does not read them.
	RuleDst = 2
	RuleSrc = 4

	// Families: the packets a rule may match (a bit set; a rule of
	// neither matches nothing).
	FamilyIPv4 = 1
	FamilyIPv6 = 2
)

// Counters of the action_stats map (enum counter).
const (
	CountEngine = iota
	CountPass
	CountDrop
	CountDefault
	CountMalformed
	CountNoSocket
	// CountIPv6 counts every IPv6 frame, whatever its verdict.
	CountIPv6
	CountOther
	CountFragment
	CountVLAN
	CountNoRuleset
	// CountFragment6 counts IPv6 fragments (CountFragment IPv4's).
	CountFragment6
	// CountExtChain counts IPv6 packets whose extension headers are more
	// than MaxExtHeaders or put a hop-by-hop header after the first; they
	// are CountMalformed too.
	CountExtChain
	CountMax
)

// MaxExtHeaders is the number of IPv6 extension headers the program
// follows, as the ipv6 package's Walk does: more is malformed.
const MaxExtHeaders = 8

// CounterNames names the action_stats counters, by index.
var CounterNames = [CountMax]string{
	"engine", "pass", "drop", "default", "malformed", "no_socket", "ipv6", "other_ethertype", "fragment", "vlan", "no_ruleset",
	"fragment6", "ext_chain",
}

// ProgramName is the steering program's name, as the kernel reports it.
const ProgramName = "fastpath_steer"

// Steer is the loaded steering program and its maps.
type Steer struct {
	Program *ebpf.Program
	// Rulesets is the outer array-of-maps; slot 0 holds the ruleset in
	// use.
	Rulesets *ebpf.Map
	// XSKs is the XSKMAP, indexed by receive queue.
	XSKs *ebpf.Map
	// StatsMap is a per-CPU array of one Stats.
	StatsMap *ebpf.Map
	// RulesetSpec creates inner maps for Rulesets.
	RulesetSpec *ebpf.MapSpec

	objs steerObjects
}

// LoadSteer loads the steering program with an XSKMAP of queues entries.
func LoadSteer(queues int) (*Steer, error) {
	if queues < 1 {
		return nil, fmt.Errorf("bpf: steering needs at least one queue, got %d", queues)
	}
	allowMaps()
	spec, err := loadSteer()
	if err != nil {
		return nil, fmt.Errorf("bpf: load steering object: %w", err)
	}
	spec.Maps[steerMapXsks].MaxEntries = uint32(queues)
	inner := spec.Maps[steerMapRulesets].InnerMap.Copy()
	s := &Steer{}
	if err := spec.LoadAndAssign(&s.objs, nil); err != nil {
		return nil, fmt.Errorf("bpf: load steering program: %w", memlockHint(err))
	}
	// The template only gave the object full BTF for struct ruleset.
	s.objs.RulesetTemplate.Close()
	s.objs.RulesetTemplate = nil
	s.Program = s.objs.FastpathSteer
	s.Rulesets, s.XSKs = s.objs.Rulesets, s.objs.Xsks
	s.StatsMap = s.objs.StatsMap
	s.RulesetSpec = inner
	return s, nil
}

// Install writes rs into a new inner map and swaps it into the program's
// outer map: packets see the old ruleset or the new one, never a mix. The
// kernel frees the old inner map once no program run still uses it.
func (s *Steer) Install(rs *Ruleset) error {
	m, err := ebpf.NewMap(s.RulesetSpec)
	if err != nil {
		return fmt.Errorf("bpf: create ruleset map: %w", memlockHint(err))
	}
	defer m.Close() // the outer map keeps its own reference
	if err := m.Put(uint32(0), rs); err != nil {
		return fmt.Errorf("bpf: write ruleset: %w", err)
	}
	if err := s.Rulesets.Put(uint32(0), m); err != nil {
		return fmt.Errorf("bpf: swap ruleset: %w", err)
	}
	return nil
}

// ReadStats returns the counters summed over every CPU.
func ReadStats(m *ebpf.Map) (*Stats, error) {
	var per []Stats
	if err := m.Lookup(uint32(0), &per); err != nil {
		return nil, fmt.Errorf("bpf: read counters: %w", err)
	}
	sum := new(Stats)
	for i := range per {
		for j, c := range per[i].Actions {
			sum.Actions[j].Packets += c.Packets
			sum.Actions[j].Bytes += c.Bytes
		}
		for j, c := range per[i].Rules {
			sum.Rules[j].Packets += c.Packets
			sum.Rules[j].Bytes += c.Bytes
		}
	}
	return sum, nil
}

// Close releases the program and maps. It is safe to call twice.
func (s *Steer) Close() error {
	if s == nil {
		return nil
	}
	err := s.objs.Close()
	s.objs = steerObjects{}
	return err
}

// RulesetSize is sizeof(struct ruleset).
const RulesetSize = int(unsafe.Sizeof(Ruleset{}))
