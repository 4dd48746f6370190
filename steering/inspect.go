package steering

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"net/netip"
	"os"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/fastpathnet/fastpath/bpf"
	"golang.org/x/sys/unix"
)

// Report is what Inspect finds on a device: any XDP program, and for
// fastpath's, its rules and counters, read from its maps. It needs no
// access to the process that attached the program.
type Report struct {
	Device  string `json:"device"`
	Ifindex int    `json:"ifindex"`
	// Attached is false when the device has no XDP program.
	Attached    bool   `json:"attached"`
	ProgramID   uint32 `json:"program_id,omitempty"`
	ProgramName string `json:"program_name,omitempty"`
	// Mode is native, generic or offloaded.
	Mode string `json:"mode,omitempty"`
	// Fastpath is set when the program is fastpath's steering program;
	// the fields below are filled only then.
	Fastpath bool               `json:"fastpath"`
	Default  string             `json:"default,omitempty"`
	Rules    []ReportRule       `json:"rules,omitempty"`
	Counters map[string]Counter `json:"counters,omitempty"`
}

// ReportRule is one installed rule as read back from the program.
type ReportRule struct {
	ID     ID     `json:"id"`
	Name   string `json:"name,omitempty"`
	Match  string `json:"match"`
	Action string `json:"action"`
	Rule   Rule   `json:"-"`
	Counter
}

// Inspect reads the XDP program attached to dev, found in the calling
// thread's network namespace.
func Inspect(dev string) (*Report, error) {
	lk, err := lookupLink(dev)
	if err != nil {
		return nil, err
	}
	r := &Report{Device: dev, Ifindex: lk.Attrs().Index}
	x := lk.Attrs().Xdp
	if x == nil || !x.Attached {
		return r, nil
	}
	r.Attached, r.ProgramID = true, x.ProgId
	r.Mode = map[uint32]string{1: "native", 2: "generic", 3: "offloaded", 4: "several (offloaded and another)"}[x.AttachMode]
	if x.ProgId == 0 {
		return r, nil // several programs: netlink names none
	}
	prog, err := ebpf.NewProgramFromID(ebpf.ProgramID(x.ProgId))
	if err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
			// Without CAP_SYS_ADMIN only what netlink says is known.
			r.ProgramName = "? (reading programs needs CAP_SYS_ADMIN)"
			return r, nil
		}
		return nil, fmt.Errorf("steering: open program %d: %w", x.ProgId, withHint(err))
	}
	defer prog.Close()
	info, err := prog.Info()
	if err != nil {
		return nil, fmt.Errorf("steering: program %d info: %w", x.ProgId, err)
	}
	r.ProgramName = info.Name
	if info.Name != bpf.ProgramName {
		return r, nil
	}
	ids, ok := info.MapIDs()
	if !ok {
		return nil, fmt.Errorf("steering: program %d: the kernel does not list its maps", x.ProgId)
	}
	var outer, stats *ebpf.Map
	for _, id := range ids {
		m, err := ebpf.NewMapFromID(id)
		if err != nil {
			return nil, fmt.Errorf("steering: open map %d: %w", id, withHint(err))
		}
		defer m.Close()
		mi, err := m.Info()
		if err != nil {
			return nil, err
		}
		switch mi.Name {
		case "rulesets":
			outer = m
		case "stats_map":
			stats = m
		}
	}
	if outer == nil || stats == nil {
		return nil, fmt.Errorf("steering: program %d is named %s but lacks its maps: another version?", x.ProgId, bpf.ProgramName)
	}
	if stats.ValueSize() != uint32(unsafe.Sizeof(bpf.Stats{})) {
		return nil, fmt.Errorf("steering: program %d is another version of fastpath's (counters of %d bytes, this one has %d): use that version's fastpath steer",
			x.ProgId, stats.ValueSize(), unsafe.Sizeof(bpf.Stats{}))
	}
	r.Fastpath = true
	rs, err := readRuleset(outer)
	if err != nil {
		return nil, err
	}
	st, err := bpf.ReadStats(stats)
	if err != nil {
		return nil, fmt.Errorf("steering: %w", err)
	}
	r.Default = Action(rs.DefaultAction).String()
	r.Counters = make(map[string]Counter, len(st.Actions))
	for i, c := range st.Actions {
		r.Counters[bpf.CounterNames[i]] = Counter{c.Packets, c.Bytes}
	}
	for i := 0; i < int(rs.Nrules) && i < bpf.MaxRules; i++ {
		rule := decodeRule(&rs.Rules[i], &rs.Names[i])
		c, b := st.Rules[rs.Rules[i].Stat%uint32(bpf.MaxSlots)], rs.Base[i]
		r.Rules = append(r.Rules, ReportRule{
			ID: ID(rs.Ids[i]), Name: rule.Name, Match: matchString(rule), Action: rule.Action.String(), Rule: rule,
			Counter: Counter{c.Packets - b.Packets, c.Bytes - b.Bytes},
		})
	}
	return r, nil
}

// readRuleset reads the ruleset in use. A swap between reading the inner
// map's ID and opening it frees that map: read again.
func readRuleset(outer *ebpf.Map) (*bpf.Ruleset, error) {
	var err error
	for try := 0; try < 5; try++ {
		var innerID uint32
		if err = outer.Lookup(uint32(0), &innerID); err != nil {
			return nil, fmt.Errorf("steering: read the ruleset's map: %w", err)
		}
		var inner *ebpf.Map
		inner, err = ebpf.NewMapFromID(ebpf.MapID(innerID))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("steering: open the ruleset's map: %w", err)
		}
		defer inner.Close()
		if inner.ValueSize() != uint32(bpf.RulesetSize) {
			return nil, fmt.Errorf("steering: the program is another version of fastpath's (ruleset of %d bytes, this one has %d): use that version's fastpath steer", inner.ValueSize(), bpf.RulesetSize)
		}
		rs := new(bpf.Ruleset)
		if err := inner.Lookup(uint32(0), rs); err != nil {
			return nil, fmt.Errorf("steering: read the ruleset: %w", err)
		}
		return rs, nil
	}
	return nil, fmt.Errorf("steering: the rules kept changing while being read: %w", err)
}

func decodeRule(br *bpf.Rule, name *[32]int8) Rule {
	var r Rule
	var b []byte
	for _, c := range name {
		if c == 0 {
			break
		}
		b = append(b, byte(c))
	}
	r.Name = string(b)
	r.Action = Action(br.Action)
	switch br.Kind {
	case bpf.KindARP:
		r.Proto = ProtoARP
	case bpf.KindND:
		r.Proto = ProtoND
	default:
		r.Proto = Proto(br.Proto)
	}
	v6 := br.Family == bpf.FamilyIPv6
	if br.Flags&bpf.RuleDst != 0 {
		r.Dst = decodePrefix(br.Dst, br.DstMask, v6)
	}
	if br.Flags&bpf.RuleSrc != 0 {
		r.Src = decodePrefix(br.Src, br.SrcMask, v6)
	}
	if br.Flags&bpf.RulePorts != 0 {
		r.DstPort = Ports(br.PortLo, br.PortHi)
	}
	return r
}

// decodePrefix is prefixMatch's inverse: the prefix of an address and a
// mask as the program holds them, IPv6 if v6.
func decodePrefix(addr, mask [4]uint32, v6 bool) netip.Prefix {
	var a [16]byte
	ones := 0
	for i := range addr {
		binary.LittleEndian.PutUint32(a[4*i:], addr[i])
		ones += bits.OnesCount32(mask[i])
	}
	if !v6 {
		return netip.PrefixFrom(netip.AddrFrom4([4]byte(a[:4])), ones)
	}
	return netip.PrefixFrom(netip.AddrFrom16(a), ones)
}

// matchString is a rule's match without its action.
func matchString(r Rule) string {
	s := r.String()
	if i := len(s) - len(" -> "+r.Action.String()); i >= 0 {
		return s[:i]
	}
	return s
}
