// Package steering is fastpath's XDP control plane: it attaches the
// steering program to a device through a bpf_link, so that a crash or
// SIGKILL leaves nothing attached, registers the engine's AF_XDP sockets per
// queue, installs rules atomically and reads the program's counters.
//
// Frames the rules give to the engine go to the socket registered for the
// queue they arrived on; everything else goes to the kernel, so a host
// running fastpath keeps its SSH and the rest of its traffic.
package steering

import (
	"errors"
	"fmt"
	"runtime"
	"slices"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/fastpathnet/fastpath/bpf"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Mode is how the program is attached.
type Mode uint8

const (
	// ModeAuto tries native (driver) mode and falls back to generic.
	ModeAuto Mode = iota
	// ModeNative runs the program in the driver, before any skb exists.
	ModeNative
	// ModeGeneric runs it after the kernel built an skb: works on every
	// device, much slower.
	ModeGeneric
)

func (m Mode) String() string {
	switch m {
	case ModeAuto:
		return "auto"
	case ModeNative:
		return "native"
	case ModeGeneric:
		return "generic"
	}
	return fmt.Sprintf("Mode(%d)", uint8(m))
}

// ParseMode parses "auto", "native" (or "driver", "drv") or "generic"
// (or "skb").
func ParseMode(s string) (Mode, error) {
	switch s {
	case "auto", "":
		return ModeAuto, nil
	case "native", "driver", "drv":
		return ModeNative, nil
	case "generic", "skb":
		return ModeGeneric, nil
	}
	return 0, fmt.Errorf("steering: XDP mode %q: %w: use auto, native or generic", s, ErrOptions)
}

// Errors.
var (
	// ErrAttached: the device already carries an XDP program.
	ErrAttached = errors.New("device already has an XDP program")
	// ErrOptions: an Options field is out of range.
	ErrOptions = errors.New("invalid options")
	// ErrNoDevice: no such device in this network namespace.
	ErrNoDevice = errors.New("no such device in this network namespace (list them with: ip link show)")
	// ErrNoRule: no installed rule has that ID.
	ErrNoRule = errors.New("no such rule")
)

// Options configure Attach. The zero value attaches in auto mode with the
// default action Pass and an XSKMAP as large as the device's queue count.
type Options struct {
	Mode Mode
	// Replace detaches an XDP program attached through netlink (ip link
	// set dev DEV xdp ...) instead of refusing. A program held by another
	// process's bpf_link cannot be replaced.
	Replace bool
	// Default is the action for frames that match no rule: IPv4, IPv6
	// and ARP. Malformed frames and other EtherTypes always go to the
	// kernel. The zero value is Pass.
	Default Action
	// Queues sizes the XSKMAP; 0 means the device's queue count.
	Queues int
}

// ID names an installed rule; it stays the same while the rule is
// installed, whatever is added or removed around it.
type ID uint32

// Steering is the steering program attached to one device. It is not safe
// for concurrent use: one goroutine (the control plane) owns it.
type Steering struct {
	dev     string
	ifindex int
	mode    Mode
	steer   *bpf.Steer
	link    link.Link

	def   Action
	rules []Rule
	ids   []ID
	slots []uint32 // rule i counts into stat slot slots[i]
	// base holds each slot's count when its rule was installed: the
	// program's per-CPU counters only grow, and a rule's count is the
	// growth since.
	base   [bpf.MaxSlots]Counter
	free   []uint32 // stat slots no installed rule uses
	nextID ID
	closed bool
}

// Attach loads the steering program and attaches it to dev, found in the
// calling thread's network namespace, through a bpf_link. The program
// starts with no rules: every frame takes opts.Default.
func Attach(dev string, opts Options) (*Steering, error) {
	if opts.Mode > ModeGeneric {
		return nil, fmt.Errorf("steering: %v: %w", opts.Mode, ErrOptions)
	}
	if opts.Default > Drop || opts.Queues < 0 {
		return nil, fmt.Errorf("steering: default action %v, queues %d: %w", opts.Default, opts.Queues, ErrOptions)
	}
	// One thread for the lookup, the replacement and the attach: each
	// resolves the device in the thread's network namespace.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	lk, err := lookupLink(dev)
	if err != nil {
		return nil, err
	}
	attrs := lk.Attrs()
	old := attrs.Xdp
	if old != nil && old.Attached {
		if old.AttachMode == 4 { // XDP_ATTACHED_MULTI: offloaded plus another
			return nil, fmt.Errorf("steering: %s: %w: several programs (offloaded and driver or generic); remove them with `ip link set dev %s xdp off xdpoffload off`", dev, ErrAttached, dev)
		}
		if !opts.Replace {
			return nil, fmt.Errorf("%w, or set Replace", attachedError(dev, old))
		}
	}
	// Load and fill in everything before touching the device.
	st, err := bpf.LoadSteer(xskmapSize(attrs, opts.Queues))
	if err != nil {
		return nil, fmt.Errorf("steering: %w", withHint(err))
	}
	s := &Steering{dev: dev, ifindex: attrs.Index, steer: st, def: opts.Default}
	for i := bpf.MaxSlots - 1; i >= 0; i-- {
		s.free = append(s.free, uint32(i))
	}
	if err := s.install(nil, nil, nil, nil); err != nil {
		st.Close()
		return nil, err
	}
	if old != nil && old.Attached {
		// The kernel will not put a bpf_link over a program attached
		// with netlink: detach it, attach ours, and put it back if ours
		// fails.
		prev, err := ebpf.NewProgramFromID(ebpf.ProgramID(old.ProgId))
		if err != nil {
			st.Close()
			return nil, fmt.Errorf("steering: %s: hold %s: %w", dev, describeProg(old.ProgId, old.AttachMode), withHint(err))
		}
		defer prev.Close()
		flags := xdpFlags(old.AttachMode)
		if err := netlink.LinkSetXdpFdWithFlags(lk, -1, flags); err != nil {
			st.Close()
			return nil, fmt.Errorf("steering: %s: replace %s: %w (a program held by a bpf_link cannot be replaced: stop its owner)",
				dev, describeProg(old.ProgId, old.AttachMode), err)
		}
		if err := s.attach(opts.Mode); err != nil {
			st.Close()
			if rerr := netlink.LinkSetXdpFdWithFlags(lk, prev.FD(), flags); rerr != nil {
				return nil, fmt.Errorf("%w; and putting back program %d failed: %w", err, old.ProgId, rerr)
			}
			return nil, fmt.Errorf("%w (program %d was put back)", err, old.ProgId)
		}
		return s, nil
	}
	if err := s.attach(opts.Mode); err != nil {
		st.Close()
		return nil, err
	}
	return s, nil
}

func (s *Steering) attach(mode Mode) error {
	l, got, err := attachXDP(s.steer.Program, s.dev, s.ifindex, mode)
	if err != nil {
		return err
	}
	s.link, s.mode = l, got
	return nil
}

// attachXDP attaches prog to the device through a bpf_link in mode, auto
// trying native (the driver) first and falling back to generic: the one
// attach fallback of fastpath, for the steering and the redirect program.
func attachXDP(prog *ebpf.Program, dev string, ifindex int, mode Mode) (link.Link, Mode, error) {
	try := func(m Mode) (link.Link, error) {
		flags := link.XDPDriverMode
		if m == ModeGeneric {
			flags = link.XDPGenericMode
		}
		return link.AttachXDP(link.XDPOptions{Program: prog, Interface: ifindex, Flags: flags})
	}
	got := mode
	l, err := try(mode)
	if err != nil && mode == ModeAuto {
		got = ModeGeneric
		var gerr error
		if l, gerr = try(ModeGeneric); gerr != nil {
			err = fmt.Errorf("native: %w; generic: %w", err, gerr)
		} else {
			err = nil
		}
	} else if mode == ModeAuto {
		got = ModeNative
	}
	if err != nil {
		if errors.Is(err, unix.EBUSY) || errors.Is(err, unix.EEXIST) {
			return nil, 0, fmt.Errorf("steering: attach to %s: %w: %w (another program was attached meanwhile)", dev, err, ErrAttached)
		}
		return nil, 0, fmt.Errorf("steering: attach to %s in %v mode: %w", dev, mode, withHint(err))
	}
	return l, got, nil
}

// attachedError says that dev carries a program already and how to remove
// it.
func attachedError(dev string, old *netlink.LinkXdp) error {
	return fmt.Errorf("steering: %s: %w: %s; remove it with `ip link set dev %s xdp off` if it was attached with ip, or stop the process that holds its bpf_link (bpftool link show)",
		dev, ErrAttached, describeProg(old.ProgId, old.AttachMode), dev)
}

// xskmapSize is the XSKMAP's size: queues, or when 0 the device's queue
// count.
func xskmapSize(attrs *netlink.LinkAttrs, queues int) int {
	if queues == 0 {
		queues = max(attrs.NumRxQueues, attrs.NumTxQueues, 1)
	}
	return queues
}

// lookupLink finds dev in the calling thread's network namespace.
func lookupLink(dev string) (netlink.Link, error) {
	lk, err := netlink.LinkByName(dev)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil, fmt.Errorf("steering: device %q: %w", dev, ErrNoDevice)
		}
		return nil, fmt.Errorf("steering: look up %q: %w", dev, err)
	}
	return lk, nil
}

func withHint(err error) error {
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
		return fmt.Errorf("%w: loading and attaching XDP programs needs CAP_BPF, CAP_PERFMON (the verifier allows the program's packet-pointer arithmetic only with it) and CAP_NET_ADMIN, or root", err)
	}
	return err
}

func xdpFlags(attachMode uint32) int {
	switch attachMode {
	case 1:
		return unix.XDP_FLAGS_DRV_MODE
	case 2:
		return unix.XDP_FLAGS_SKB_MODE
	case 3:
		return unix.XDP_FLAGS_HW_MODE
	}
	return 0
}

// describeProg names an attached program for a message.
func describeProg(id uint32, attachMode uint32) string {
	mode := map[uint32]string{1: "native", 2: "generic", 3: "offloaded"}[attachMode]
	name := "?"
	if p, err := ebpf.NewProgramFromID(ebpf.ProgramID(id)); err == nil {
		if info, err := p.Info(); err == nil {
			name = info.Name
		}
		p.Close()
	}
	return fmt.Sprintf("program %d (%q) in %s mode", id, name, mode)
}

// Device is the device the program is attached to.
func (s *Steering) Device() string { return s.dev }

// Mode is the attach mode obtained: ModeNative or ModeGeneric.
func (s *Steering) Mode() Mode { return s.mode }

// Program is the attached program.
func (s *Steering) Program() *ebpf.Program { return s.steer.Program }

// Register sends the engine's frames arriving on queue to the AF_XDP
// socket fd.
func (s *Steering) Register(queue, fd int) error {
	if err := s.steer.XSKs.Put(uint32(queue), uint32(fd)); err != nil {
		return fmt.Errorf("steering: register socket for %s queue %d: %w", s.dev, queue, err)
	}
	return nil
}

// Unregister stops sending queue's frames to a socket: engine frames on it
// go to the kernel (counted as no_socket).
func (s *Steering) Unregister(queue int) error {
	if err := s.steer.XSKs.Delete(uint32(queue)); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("steering: unregister %s queue %d: %w", s.dev, queue, err)
	}
	return nil
}

// Add appends r as the lowest-priority rule and returns its ID.
func (s *Steering) Add(r Rule) (ID, error) {
	return s.Insert(len(s.rules), r)
}

// Insert puts r at position pos (0 = first tried) and returns its ID.
func (s *Steering) Insert(pos int, r Rule) (ID, error) {
	if pos < 0 || pos > len(s.rules) {
		return 0, fmt.Errorf("steering: position %d of %d rules: %w", pos, len(s.rules), ErrOptions)
	}
	if len(s.rules) >= bpf.MaxRules-1 {
		return 0, fmt.Errorf("steering: %w: the program holds at most %d rules", ErrRule, bpf.MaxRules-1)
	}
	slot := s.free[len(s.free)-1]
	id := s.nextID
	rules := slices.Insert(slices.Clone(s.rules), pos, r)
	ids := slices.Insert(slices.Clone(s.ids), pos, id)
	slots := slices.Insert(slices.Clone(s.slots), pos, slot)
	if err := s.install(rules, ids, slots, []uint32{slot}); err != nil {
		return 0, err
	}
	s.free = s.free[:len(s.free)-1]
	s.nextID++
	return id, nil
}

// Remove deletes the rule with the given ID.
func (s *Steering) Remove(id ID) error {
	i := slices.Index(s.ids, id)
	if i < 0 {
		return fmt.Errorf("steering: rule %d: %w", id, ErrNoRule)
	}
	slot := s.slots[i]
	if err := s.install(slices.Delete(slices.Clone(s.rules), i, i+1), slices.Delete(slices.Clone(s.ids), i, i+1),
		slices.Delete(slices.Clone(s.slots), i, i+1), nil); err != nil {
		return err
	}
	// The swap waited for every program run that could still see the
	// old ruleset (the kernel's synchronize_rcu on a map-in-map update):
	// nothing counts into the slot any more.
	s.free = append(s.free, slot)
	return nil
}

// SetRules replaces every rule at once and returns the new rules' IDs.
// Counters start from zero for the new rules.
func (s *Steering) SetRules(rules []Rule) ([]ID, error) {
	if len(rules) > bpf.MaxRules-1 {
		return nil, fmt.Errorf("steering: %d rules: %w: at most %d", len(rules), ErrRule, bpf.MaxRules-1)
	}
	// New rules count into slots no installed rule uses (there are twice
	// as many slots as rules), so the old rules' last packets are not
	// credited to them.
	ids := make([]ID, len(rules))
	slots := make([]uint32, len(rules))
	for i := range rules {
		ids[i] = s.nextID + ID(i)
		slots[i] = s.free[len(s.free)-1-i]
	}
	old := s.slots
	if err := s.install(slices.Clone(rules), ids, slots, slots); err != nil {
		return nil, err
	}
	s.free = append(s.free[:len(s.free)-len(rules)], old...)
	s.nextID += ID(len(rules))
	return ids, nil
}

// SetDefault sets the action for frames that match no rule.
func (s *Steering) SetDefault(a Action) error {
	old := s.def
	s.def = a
	if err := s.install(s.rules, s.ids, s.slots, nil); err != nil {
		s.def = old
		return err
	}
	return nil
}

// Default is the action for frames that match no rule.
func (s *Steering) Default() Action { return s.def }

// install compiles and swaps in a ruleset, and adopts it on success.
// fresh lists the slots of rules new to this ruleset: their base is read
// just before the swap, while no installed rule counts into them.
func (s *Steering) install(rules []Rule, ids []ID, slots, fresh []uint32) error {
	if s.closed {
		return fmt.Errorf("steering: %s: closed", s.dev)
	}
	base := s.base
	if len(fresh) > 0 {
		st, err := bpf.ReadStats(s.steer.StatsMap)
		if err != nil {
			return fmt.Errorf("steering: %w", err)
		}
		for _, slot := range fresh {
			base[slot] = Counter{st.Rules[slot].Packets, st.Rules[slot].Bytes}
		}
	}
	rs, err := compileWith(rules, ids, slots, &base, s.def)
	if err != nil {
		return err
	}
	if err := s.steer.Install(rs); err != nil {
		return fmt.Errorf("steering: %w", err)
	}
	s.rules, s.ids, s.slots, s.base = rules, ids, slots, base
	return nil
}

// Counter is a packet and byte count.
type Counter struct {
	Packets uint64 `json:"packets"`
	Bytes   uint64 `json:"bytes"`
}

// InstalledRule is a rule, its ID and its counters.
type InstalledRule struct {
	ID   ID
	Rule Rule
	Counter
}

// Rules returns the installed rules in the order they are tried, with
// their counters.
func (s *Steering) Rules() ([]InstalledRule, error) {
	st, err := bpf.ReadStats(s.steer.StatsMap)
	if err != nil {
		return nil, fmt.Errorf("steering: %w", err)
	}
	out := make([]InstalledRule, len(s.rules))
	for i, slot := range s.slots {
		c := st.Rules[slot]
		b := s.base[slot]
		out[i] = InstalledRule{ID: s.ids[i], Rule: s.rules[i], Counter: Counter{c.Packets - b.Packets, c.Bytes - b.Bytes}}
	}
	return out, nil
}

// Stats are the program's per-action counters, summed over CPUs: what it
// did with frames (engine, pass, drop) and why (default, malformed,
// no_socket, ...). Index them with the bpf.Count constants; Names labels
// them.
type Stats [bpf.CountMax]Counter

// Names labels Stats, by index.
var Names = bpf.CounterNames

// Stats reads the per-action counters.
func (s *Steering) Stats() (Stats, error) {
	st, err := bpf.ReadStats(s.steer.StatsMap)
	if err != nil {
		return Stats{}, fmt.Errorf("steering: %w", err)
	}
	var out Stats
	for i, c := range st.Actions {
		out[i] = Counter{c.Packets, c.Bytes}
	}
	return out, nil
}

// Close detaches the program and frees its maps. It is safe to call twice.
func (s *Steering) Close() error {
	if s == nil || s.closed {
		return nil
	}
	s.closed = true
	var errs []error
	if s.link != nil {
		errs = append(errs, s.link.Close())
	}
	errs = append(errs, s.steer.Close())
	return errors.Join(errs...)
}
