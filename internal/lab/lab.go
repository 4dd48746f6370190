// Package lab builds a test lab: network namespaces joined by veth pairs,
// created through netlink from Go. Kernel tests of other packages use it
// (through NewT), and so do the `fastpath lab` command and bench/ (through
// New and Close).
//
// Everything the lab creates lives in namespaces of its own: each veth pair
// is created by a netlink handle bound to one namespace with its peer placed
// directly in the other, so no interface ever appears in the caller's
// namespace, and closing the lab deletes the namespaces, which destroys the
// veths with them.
//
// Two shapes exist. Without a router:
//
//	A veth0 198.18.0.1/24 <-> B veth0 198.18.0.2/24
//
// With Options.Router:
//
//	A veth0 198.18.1.1/24 <-> R veth0 198.18.1.254/24
//	                          R veth1 198.19.1.254/24 <-> B veth0 198.19.1.1/24
//
// where R forwards (ip_forward=1) and A and B route by default through it.
// The addresses come from the RFC 2544 benchmarking range 198.18.0.0/15;
// every lab uses the same ones, which is fine because namespaces isolate
// them. IPv6 is disabled on the veths so that tests see no router
// solicitations or duplicate-address probes.
//
// Namespaces are named Prefix-PID-START-PIDNS-SEQ-ROLE (for example
// fp-4711-982345-4026531836-3-a): PID, START (its start time, field 22 of
// /proc/PID/stat, less any time namespace offset) and PIDNS (the inode of
// its PID namespace, as in `readlink /proc/4711/ns/pid`) identify the
// creating process even across PID namespaces that share /run/netns, SEQ
// numbers its labs and ROLE is a, b or r. They are bind-mounted under
// /run/netns, so `ip netns exec fp-4711-982345-4026531836-3-a ...` works
// while the lab is open. Sweep removes those left behind by processes
// that died without closing their labs.
//
// Nothing the lab does can reach the caller's namespace: netlink requests
// go through handles bound to the lab's namespaces, which the lab never
// closes in a way that would let them fall back to the calling thread's
// namespace (see Host.Handle), and everything else runs inside Host.Do,
// which checks the namespace it entered. Once Close has begun, Do,
// Netlink, SetNeighbor, AttachPass, SNMP and the rest of New fail with
// ErrClosed, and requests through a handle from Host.Handle fail too.
package lab

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// ErrClosed is returned by methods of a Host whose lab has been closed.
var ErrClosed = errors.New("lab: closed")

// ErrNotSupported is wrapped into errors caused by a kernel that lacks a
// feature the lab needs (for example the veth driver). The error also
// wraps the kernel's errno.
var ErrNotSupported = errors.New("not supported by this kernel")

// Defaults for zero fields of Options.
const (
	DefaultQueues = 1
	DefaultMTU    = 1500
	DefaultPrefix = "fp"
)

// maxQueues is the kernel's limit on numrxqueues and numtxqueues of a link
// (net/core/rtnetlink.c).
const maxQueues = 4096

// Options configures New. The zero value is valid: fields left zero take
// the defaults of DefaultOptions.
type Options struct {
	// Queues is the number of RX and TX queues (numrxqueues and
	// numtxqueues) on every veth end. Zero means DefaultQueues.
	Queues int
	// MTU of every veth end. Zero means DefaultMTU.
	MTU int
	// Router selects the shape. False: A and B share one veth pair and one
	// /24. True: A <-> R <-> B, where R is a router namespace with
	// ip_forward=1, the two sides are two /24s, and A and B have default
	// routes through R.
	Router bool
	// Prefix starts every namespace name. It must start with a letter or
	// digit and hold only letters, digits, '_', '.' and '-'. Empty means
	// DefaultPrefix.
	Prefix string
	// TxChecksumOffload keeps veth's transmit checksum offload on. By
	// default the lab turns it off on every veth end, so that frames carry
	// complete checksums as on a real wire (see setTxChecksum). With it on,
	// an XDP program or AF_XDP socket sees partial UDP and TCP checksums in
	// what the kernel sends; kernel-to-kernel TCP is faster (TSO, GSO).
	TxChecksumOffload bool
	// Devices, when set, gives A and B existing interfaces instead of a
	// veth pair: Devices[0] is moved from the caller's namespace into A and
	// Devices[1] into B, then addressed as the veth ends would be (their
	// MACs, MTUs and queues stay the device's own; Queues and MTU do not
	// apply). This is how tests inside a VM put real NICs wired back to
	// back into a lab. Deleting a namespace at Close gives a physical
	// device back to the initial namespace (asynchronously: New waits up
	// to 70 s for a device to reappear). Unless TxChecksumOffload, the lab
	// turns the device's TX checksum offload off, as on a veth, and it
	// stays off. Not with Router.
	Devices [2]string
	// IPv6 keeps IPv6 on the lab's veths (by default it is off) and gives
	// each end an IPv6 address beside its IPv4 one (Host.Addr6, without
	// DAD, usable at once): 2001:db8::1/64 for A and ::2 for B; with a
	// router, 2001:db8:1::/64 on A's side (A ::1, R ::fe) and
	// 2001:db8:2::/64 on B's (B ::1, R ::fe), R forwarding IPv6 too and A
	// and B routing through it. Not with Devices.
	IPv6 bool
	// More, with Router, adds hosts on A's side (Lab.More): host i on its
	// own veth to R (R.Links[2+i]) and its own /24, 198.18.(10+i).1 with
	// R at .254, and a default route through R, as A has. Up to 16; IPv4
	// only. A fleet of senders to one receiver (B) is A plus More.
	More int
}

// DefaultOptions returns the options New uses for zero fields: one queue,
// MTU 1500, no router, prefix "fp".
func DefaultOptions() Options {
	return Options{Queues: DefaultQueues, MTU: DefaultMTU, Prefix: DefaultPrefix}
}

var prefixRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// check fills in defaults and validates o.
func (o Options) check() (Options, error) {
	if o.Queues == 0 {
		o.Queues = DefaultQueues
	}
	if o.MTU == 0 {
		o.MTU = DefaultMTU
	}
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if o.Queues < 1 || o.Queues > maxQueues {
		return o, fmt.Errorf("lab: queues must be between 1 and %d, got %d", maxQueues, o.Queues)
	}
	// 68 is the IPv4 minimum (RFC 791); 65535 is veth's maximum.
	if o.MTU < 68 || o.MTU > 65535 {
		return o, fmt.Errorf("lab: mtu must be between 68 and 65535, got %d", o.MTU)
	}
	if (o.Devices[0] == "") != (o.Devices[1] == "") || (o.Devices[0] != "" && o.Devices[0] == o.Devices[1]) {
		return o, fmt.Errorf("lab: devices must name two different interfaces, got %q and %q", o.Devices[0], o.Devices[1])
	}
	if o.Devices[0] != "" && o.Router {
		return o, errors.New("lab: devices cannot be used with a router")
	}
	if o.Devices[0] != "" && o.IPv6 {
		return o, errors.New("lab: devices cannot be used with IPv6")
	}
	if o.More != 0 && (!o.Router || o.IPv6 || o.More < 0 || o.More > maxMore) {
		return o, fmt.Errorf("lab: more hosts (%d) need a router, IPv4 only, and at most %d", o.More, maxMore)
	}
	if !prefixRE.MatchString(o.Prefix) {
		return o, fmt.Errorf("lab: prefix %q must be 1 to 64 letters, digits, '_', '.' or '-', starting with a letter or digit", o.Prefix)
	}
	return o, nil
}

// Lab is a set of network namespaces joined by veth pairs. Close removes
// it. The exported fields describe the lab and must not be changed.
type Lab struct {
	// A and B are the end hosts.
	A, B *Host
	// R is the router, nil unless Options.Router. R.Links[0] faces A and
	// R.Links[1] faces B.
	R *Host
	// More are the hosts Options.More adds on A's side.
	More []*Host

	opts Options

	// mu guards the fields below and every Host's handle, xdp and prog.
	// It is held only briefly: users counts the calls in progress that
	// use a namespace handle or netlink handle of the lab (see use), and
	// Close waits on cond for it to drop to zero before it closes them.
	mu     sync.Mutex
	cond   sync.Cond // on mu; signalled when users drops to 0 and when done is set
	users  int
	closed bool    // set at the start of the first Close; no use starts after
	done   bool    // set at the end of the first Close
	hosts  []*Host // in creation order; only those whose namespace exists
}

// Host is one network namespace of a lab.
type Host struct {
	// Name of the namespace, bind-mounted as /run/netns/Name.
	Name string
	// NS is an open handle to the namespace, valid until Lab.Close. Close
	// sets it to -1, and keeps its old number taken by a descriptor that
	// is no namespace, so that a copy kept past Close makes setns fail
	// rather than enter whatever the number would have been reused for.
	NS netns.NsHandle
	// Link is the name of this host's veth; for R, the one facing A.
	Link string
	// Index is Link's ifindex inside the namespace.
	Index int
	// MAC is Link's hardware address.
	MAC net.HardwareAddr
	// Addr is Link's IPv4 address and prefix length.
	Addr netip.Prefix
	// Gateway is the next hop of A's and B's default routes: R's address
	// on their side. It is the zero Addr without a router, and for R.
	Gateway netip.Addr
	// Addr6 is Link's IPv6 address and prefix length, and Gateway6 the
	// next hop of the IPv6 default route, with Options.IPv6; else zero.
	Addr6    netip.Prefix
	Gateway6 netip.Addr
	// Peer is the host on the other end of Link.
	Peer *Host
	// PeerMAC is the hardware address of the other end of Link.
	PeerMAC net.HardwareAddr
	// Links lists every veth in the namespace; Links[0] is Link.
	Links []Iface

	lab    *Lab
	role   string
	handle *netlink.Handle // NETLINK_ROUTE in NS; see Handle and seal
	xdp    link.Link
	prog   *ebpf.Program
}

// Iface is one veth end inside a Host's namespace.
type Iface struct {
	Name    string           // interface name inside the namespace, e.g. "veth1"
	Index   int              // its ifindex inside the namespace
	MAC     net.HardwareAddr // its hardware address
	Addr    netip.Prefix     // its IPv4 address and prefix length
	Addr6   netip.Prefix     // its IPv6 address and prefix length (Options.IPv6)
	Peer    *Host            // host on the other end
	PeerMAC net.HardwareAddr // hardware address of the other end
}

// The address plan. MACs are locally administered (02:...) and distinct per
// veth end, the same in every lab.
var (
	macA  = net.HardwareAddr{0x02, 0xfa, 0, 0, 0, 0x01}
	macB  = net.HardwareAddr{0x02, 0xfa, 0, 0, 0, 0x02}
	macRA = net.HardwareAddr{0x02, 0xfa, 0, 0, 0, 0x03} // R's side facing A
	macRB = net.HardwareAddr{0x02, 0xfa, 0, 0, 0, 0x04} // R's side facing B

	addrA = netip.MustParsePrefix("198.18.0.1/24")
	addrB = netip.MustParsePrefix("198.18.0.2/24")

	routedA  = netip.MustParsePrefix("198.18.1.1/24")
	routedRA = netip.MustParsePrefix("198.18.1.254/24")
	routedB  = netip.MustParsePrefix("198.19.1.1/24")
	routedRB = netip.MustParsePrefix("198.19.1.254/24")

	// IPv6 (Options.IPv6): each IPv4 address's counterpart.
	sixOf = map[netip.Prefix]netip.Prefix{
		addrA:    netip.MustParsePrefix("2001:db8::1/64"),
		addrB:    netip.MustParsePrefix("2001:db8::2/64"),
		routedA:  netip.MustParsePrefix("2001:db8:1::1/64"),
		routedRA: netip.MustParsePrefix("2001:db8:1::fe/64"),
		routedB:  netip.MustParsePrefix("2001:db8:2::1/64"),
		routedRB: netip.MustParsePrefix("2001:db8:2::fe/64"),
	}
)

// seq numbers the labs of this process, making namespace names unique.
var seq atomic.Uint64

// registry holds the open labs of this process, so that a signal handler can
// close them all.
var registry struct {
	sync.Mutex
	labs map[*Lab]struct{}
}

func register(l *Lab) {
	registry.Lock()
	defer registry.Unlock()
	if registry.labs == nil {
		registry.labs = make(map[*Lab]struct{})
	}
	registry.labs[l] = struct{}{}
}

func unregister(l *Lab) {
	registry.Lock()
	defer registry.Unlock()
	delete(registry.labs, l)
}

// closeAll closes every open lab of this process.
func closeAll() error {
	registry.Lock()
	labs := make([]*Lab, 0, len(registry.labs))
	for l := range registry.labs {
		labs = append(labs, l)
	}
	registry.Unlock()
	var errs []error
	for _, l := range labs {
		errs = append(errs, l.Close())
	}
	return errors.Join(errs...)
}

// testHook, when set, is called by build at each step, with the step's
// name, outside of any use of the lab's handles. Tests close the lab from
// it, to check that whatever New does after Close fails cleanly.
var testHook func(l *Lab, step string)

func (l *Lab) hook(step string) {
	if testHook != nil {
		testHook(l, step)
	}
}

// New builds a lab. On error it removes whatever it had built.
//
// New first calls SweepPrefix(opts.Prefix), best effort, to remove
// namespaces left behind by dead processes.
//
// New installs no signal handler: a command that uses it must call Close
// when it is interrupted (NewT does this for tests). A Close while New
// runs makes New fail with ErrClosed.
func New(opts Options) (*Lab, error) {
	opts, err := opts.check()
	if err != nil {
		return nil, err
	}
	me, err := self()
	if err != nil {
		return nil, err
	}
	// Best effort: a leftover that cannot be removed does not stop this
	// lab, whose names are unique.
	_ = SweepPrefix(opts.Prefix)

	l := &Lab{opts: opts}
	l.cond.L = &l.mu
	register(l) // from here on a signal handler can close l, even half built
	err = l.build(me, seq.Add(1))
	if err == nil {
		l.mu.Lock()
		if l.closed {
			// Closed right after the last step.
			err = fmt.Errorf("lab: build: %w", ErrClosed)
		}
		l.mu.Unlock()
	}
	if err != nil {
		if cerr := l.Close(); cerr != nil {
			err = errors.Join(err, cerr)
		}
		return nil, err
	}
	return l, nil
}

// use runs fn, which uses namespace handles or netlink handles of l's
// hosts, unless l is closed, in which case it returns ErrClosed. Close
// waits for every fn in progress before it closes those handles. Calls
// nest, and one that starts after Close fails rather than blocks, but fn
// must not call Close.
func (l *Lab) use(fn func() error) error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	l.users++
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		l.users--
		if l.users == 0 {
			l.cond.Broadcast()
		}
		l.mu.Unlock()
	}()
	return fn()
}

// build creates the namespaces, veths, addresses and routes.
func (l *Lab) build(me owner, n uint64) error {
	var err error
	if l.A, err = l.newHost(nsName(l.opts.Prefix, me, n, "a"), "a"); err != nil {
		return err
	}
	l.hook("host a")
	if l.B, err = l.newHost(nsName(l.opts.Prefix, me, n, "b"), "b"); err != nil {
		return err
	}
	l.hook("host b")
	if l.opts.Router {
		if l.R, err = l.newHost(nsName(l.opts.Prefix, me, n, "r"), "r"); err != nil {
			return err
		}
		l.hook("host r")
	}
	for i := range l.opts.More {
		h, err := l.newHost(nsName(l.opts.Prefix, me, n, moreRole(i)), moreRole(i))
		if err != nil {
			return err
		}
		l.More = append(l.More, h)
		l.hook("host " + moreRole(i))
	}
	for _, h := range l.Hosts() {
		if err := h.setup(h == l.R); err != nil {
			return err
		}
	}

	if l.opts.Devices[0] != "" {
		return l.adopt()
	}
	if !l.opts.Router {
		return l.join(l.A, "veth0", macA, addrA, l.B, "veth0", macB, addrB)
	}
	if err := l.join(l.A, "veth0", macA, routedA, l.R, "veth0", macRA, routedRA); err != nil {
		return err
	}
	if err := l.join(l.R, "veth1", macRB, routedRB, l.B, "veth0", macB, routedB); err != nil {
		return err
	}
	for i, h := range l.More {
		host, router := moreAddrs(i)
		mac, rmac := net.HardwareAddr{0x02, 0xfa, 0, 0, byte(0x10 + i), 0x01}, net.HardwareAddr{0x02, 0xfa, 0, 0, byte(0x10 + i), 0x03}
		if err := l.join(l.R, fmt.Sprintf("veth%d", 2+i), rmac, router, h, "veth0", mac, host); err != nil {
			return err
		}
		h.Gateway = router.Addr()
	}
	l.A.Gateway = l.R.Links[0].Addr.Addr()
	l.B.Gateway = l.R.Links[1].Addr.Addr()
	l.A.Gateway6 = l.R.Links[0].Addr6.Addr()
	l.B.Gateway6 = l.R.Links[1].Addr6.Addr()
	for _, h := range append([]*Host{l.A, l.B}, l.More...) {
		if err := h.defaultRoute(); err != nil {
			return err
		}
		l.hook("route " + h.role)
	}
	return nil
}

// newHost creates the named namespace name. l.mu is held while the
// namespace is created, so that a concurrent Close either sees the host
// or makes newHost fail.
func (l *Lab) newHost(name, role string) (*Host, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, fmt.Errorf("lab: create namespace %s: %w", name, ErrClosed)
	}
	ns, err := createNamed(name)
	if err != nil {
		return nil, fmt.Errorf("lab: create namespace %s: %w", name, err)
	}
	h := &Host{Name: name, NS: ns, lab: l, role: role}
	l.hosts = append(l.hosts, h)
	return h, nil
}

// setup opens the host's netlink handle, sets the namespace's sysctls and
// brings lo up. It runs before any veth exists, so that the default
// disable_ipv6 applies to the veths created later.
func (h *Host) setup(router bool) error {
	var hd *netlink.Handle
	err := h.Do(func() (err error) {
		hd, err = newNSHandle()
		return err
	})
	if err != nil {
		return fmt.Errorf("lab: open netlink handle in %s: %w", h.Name, err)
	}
	h.lab.mu.Lock()
	closed := h.lab.closed
	if !closed {
		h.handle = hd
	}
	h.lab.mu.Unlock()
	if closed {
		// Close ran meanwhile and could not see it; nobody else has it.
		hd.Close()
		return fmt.Errorf("lab: open netlink handle in %s: %w", h.Name, ErrClosed)
	}
	h.lab.hook("handle " + h.role)

	if err := h.writeSysctl("net/ipv6/conf/default/disable_ipv6", "1", true); err != nil {
		return fmt.Errorf("lab: disable ipv6 in %s: %w", h.Name, err)
	}
	if router {
		if err := h.writeSysctl("net/ipv4/ip_forward", "1", false); err != nil {
			return fmt.Errorf("lab: enable ip_forward in %s: %w", h.Name, err)
		}
		if h.lab.opts.IPv6 {
			if err := h.writeSysctl("net/ipv6/conf/all/forwarding", "1", false); err != nil {
				return fmt.Errorf("lab: enable IPv6 forwarding in %s: %w", h.Name, err)
			}
			// The router's link-local addresses are usable at once: while
			// one is tentative (DAD, a second or two after its link comes
			// up), the kernel sends no neighbour solicitation for what it
			// forwards on that link (ndisc_send_ns wants a link-local
			// source that is not tentative), and a test's first frames
			// through R were all lost.
			if err := h.writeSysctl("net/ipv6/conf/default/accept_dad", "0", false); err != nil {
				return fmt.Errorf("lab: turn DAD off in %s: %w", h.Name, err)
			}
		}
	}
	h.lab.hook("sysctl " + h.role)
	err = h.Netlink(func(hd *netlink.Handle) error {
		lo, err := hd.LinkByName("lo")
		if err != nil {
			return fmt.Errorf("find lo: %w", err)
		}
		if err := hd.LinkSetUp(lo); err != nil {
			return fmt.Errorf("set lo up: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("lab: %s: %w", h.Name, err)
	}
	h.lab.hook("lo " + h.role)
	return nil
}

// join creates a veth pair between left (interface lname) and right
// (interface rname) through left's handle, with the right end created
// directly in right's namespace, then addresses both ends and sets them up.
func (l *Lab) join(left *Host, lname string, lmac net.HardwareAddr, laddr netip.Prefix,
	right *Host, rname string, rmac net.HardwareAddr, raddr netip.Prefix) error {
	attrs := netlink.NewLinkAttrs()
	attrs.Name = lname
	attrs.MTU = l.opts.MTU
	attrs.NumTxQueues = l.opts.Queues
	attrs.NumRxQueues = l.opts.Queues
	attrs.HardwareAddr = lmac
	veth := netlink.NewVeth(attrs)
	veth.PeerName = rname
	veth.PeerHardwareAddr = rmac
	// Peer MTU and queue counts default to the link's own.
	err := left.Netlink(func(hd *netlink.Handle) error {
		// Within use, so that right.NS is open.
		veth.PeerNamespace = netlink.NsFd(int(right.NS))
		return hd.LinkAdd(veth)
	})
	if err != nil {
		if errors.Is(err, unix.EOPNOTSUPP) {
			return fmt.Errorf("lab: create veth %s in %s (peer %s in %s): the veth driver is missing (CONFIG_VETH, modprobe veth): %w: %w",
				lname, left.Name, rname, right.Name, ErrNotSupported, err)
		}
		return fmt.Errorf("lab: create veth %s in %s (peer %s in %s): %w", lname, left.Name, rname, right.Name, err)
	}
	l.hook("veth " + left.role + right.role)

	lif, err := left.addIface(lname, laddr)
	if err != nil {
		return err
	}
	rif, err := right.addIface(rname, raddr)
	if err != nil {
		return err
	}
	lif.Peer, lif.PeerMAC = right, rif.MAC
	rif.Peer, rif.PeerMAC = left, lif.MAC
	for _, h := range []*Host{left, right} {
		first := h.Links[0]
		h.Link, h.Index, h.MAC, h.Addr, h.Addr6 = first.Name, first.Index, first.MAC, first.Addr, first.Addr6
		h.Peer, h.PeerMAC = first.Peer, first.PeerMAC
	}
	return nil
}

// adopt moves Options.Devices into A and B (see Devices) and addresses
// them as join does a veth pair.
func (l *Lab) adopt() error {
	var ifs [2]*Iface
	for i, h := range []*Host{l.A, l.B} {
		name := l.opts.Devices[i]
		// A lab closed just before gives its devices back once the kernel
		// has dismantled its namespaces, which it does asynchronously, and
		// only once nothing holds them (a TIME-WAIT socket can, for a
		// minute).
		var lk netlink.Link
		var err error
		for try := 0; try < 700; try++ {
			if lk, err = netlink.LinkByName(name); err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			return fmt.Errorf("lab: device %s (waited 70 s for a closed lab to give it back): %w", name, err)
		}
		err = l.use(func() error { return netlink.LinkSetNsFd(lk, int(h.NS)) })
		if err != nil {
			return fmt.Errorf("lab: move %s into %s: %w", name, h.Name, err)
		}
		l.hook("device " + h.role)
		addr := addrA
		if h == l.B {
			addr = addrB
		}
		if ifs[i], err = h.addIface(name, addr); err != nil {
			return err
		}
	}
	ifs[0].Peer, ifs[0].PeerMAC = l.B, ifs[1].MAC
	ifs[1].Peer, ifs[1].PeerMAC = l.A, ifs[0].MAC
	for _, h := range []*Host{l.A, l.B} {
		first := h.Links[0]
		h.Link, h.Index, h.MAC, h.Addr = first.Name, first.Index, first.MAC, first.Addr
		h.Peer, h.PeerMAC = first.Peer, first.PeerMAC
	}
	return nil
}

// addIface addresses the veth name in h's namespace, disables IPv6 on it,
// sets it up and appends it to h.Links, returning the new entry.
func (h *Host) addIface(name string, addr netip.Prefix) (*Iface, error) {
	off, addr6 := "1", netip.Prefix{}
	if h.lab.opts.IPv6 {
		off, addr6 = "0", sixOf[addr]
	}
	if err := h.writeSysctl("net/ipv6/conf/"+name+"/disable_ipv6", off, !h.lab.opts.IPv6); err != nil {
		return nil, fmt.Errorf("lab: set disable_ipv6 to %s on %s in %s: %w", off, name, h.Name, err)
	}
	if !h.lab.opts.TxChecksumOffload {
		if err := h.setTxChecksum(name, false); err != nil {
			return nil, fmt.Errorf("lab: turn checksum offload off on %s in %s: %w", name, h.Name, err)
		}
	}
	h.lab.hook("offload " + h.role + " " + name)
	var lk netlink.Link
	err := h.Netlink(func(hd *netlink.Handle) error {
		var err error
		if lk, err = hd.LinkByName(name); err != nil {
			return fmt.Errorf("find %s: %w", name, err)
		}
		if err := hd.AddrAdd(lk, &netlink.Addr{IPNet: ipNet(addr)}); err != nil {
			return fmt.Errorf("add address %s to %s: %w", addr, name, err)
		}
		if addr6.IsValid() {
			if err := hd.AddrAdd(lk, &netlink.Addr{IPNet: ipNet(addr6), Flags: unix.IFA_F_NODAD}); err != nil {
				return fmt.Errorf("add address %s to %s: %w", addr6, name, err)
			}
		}
		if err := hd.LinkSetUp(lk); err != nil {
			return fmt.Errorf("set %s up: %w", name, err)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("lab: %s: %w", h.Name, err)
	}
	h.lab.hook("iface " + h.role + " " + name)
	h.Links = append(h.Links, Iface{
		Name:  name,
		Index: lk.Attrs().Index,
		MAC:   lk.Attrs().HardwareAddr,
		Addr:  addr,
		Addr6: addr6,
	})
	return &h.Links[len(h.Links)-1], nil
}

// defaultRoute routes everything through h.Gateway (and h.Gateway6) on
// h.Link.
func (h *Host) defaultRoute() error {
	r := &netlink.Route{
		LinkIndex: h.Index,
		Dst:       &net.IPNet{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)},
		Gw:        h.Gateway.AsSlice(),
	}
	if err := h.Netlink(func(hd *netlink.Handle) error { return hd.RouteAdd(r) }); err != nil {
		return fmt.Errorf("lab: add default route via %s in %s: %w", h.Gateway, h.Name, err)
	}
	if !h.Gateway6.IsValid() {
		return nil
	}
	r6 := &netlink.Route{
		LinkIndex: h.Index,
		Dst:       &net.IPNet{IP: net.IPv6zero, Mask: net.CIDRMask(0, 128)},
		Gw:        h.Gateway6.AsSlice(),
	}
	if err := h.Netlink(func(hd *netlink.Handle) error { return hd.RouteAdd(r6) }); err != nil {
		return fmt.Errorf("lab: add IPv6 default route via %s in %s: %w", h.Gateway6, h.Name, err)
	}
	return nil
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// Hosts returns A, B and, with a router, R and the More hosts.
func (l *Lab) Hosts() []*Host {
	hs := []*Host{l.A, l.B}
	if l.R != nil {
		hs = append(hs, l.R)
	}
	return append(hs, l.More...)
}

// maxMore is the most hosts Options.More adds.
const maxMore = 16

// moreRole names the i-th added host's namespace: m0, m1, ...
func moreRole(i int) string { return fmt.Sprintf("m%d", i) }

// moreAddrs is the address plan of the i-th added host: its own /24,
// 198.18.(10+i).0, the host at .1 and R at .254.
func moreAddrs(i int) (host, router netip.Prefix) {
	net := netip.AddrFrom4([4]byte{198, 18, byte(10 + i), 0})
	return netip.PrefixFrom(net.Next(), 24), netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 18, byte(10 + i), 254}), 24)
}

// Close detaches and closes the XDP links and programs the lab attached,
// seals its netlink handles (see Host.Handle), closes its namespace
// handles, and deletes its namespaces, which destroys the veths. The
// kernel frees a namespace once nothing uses it any more: sockets created
// inside Do keep theirs alive until they are closed, but it is gone from
// /run/netns at once.
//
// Close waits for calls in progress that use the lab's handles (Netlink's
// fn, the netlink requests of New and SetNeighbor, the setns of Do) and
// makes every later one fail with ErrClosed. It is safe to call more than
// once and from several goroutines; every call returns once the lab is
// closed, and calls after the first return nil.
func (l *Lab) Close() error {
	l.mu.Lock()
	if l.closed {
		for !l.done {
			l.cond.Wait()
		}
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	for l.users > 0 {
		l.cond.Wait()
	}
	var errs []error
	for _, h := range l.hosts {
		if h.xdp != nil {
			if err := h.xdp.Close(); err != nil {
				errs = append(errs, fmt.Errorf("lab: detach xdp from %s in %s: %w", h.Link, h.Name, err))
			}
			h.xdp = nil
		}
		if h.prog != nil {
			if err := h.prog.Close(); err != nil {
				errs = append(errs, fmt.Errorf("lab: close xdp program of %s: %w", h.Name, err))
			}
			h.prog = nil
		}
	}
	for _, h := range l.hosts {
		// Sealed, not closed: callers of Handle may still hold it. h.handle
		// stays, so that Handle keeps returning it. If netlink changed
		// and cannot be sealed, the handle stays open, bound to the
		// namespace, which then lives as long as the process.
		seal(h.handle)
		if err := retireNS(h.NS); err != nil {
			errs = append(errs, fmt.Errorf("lab: close handle of namespace %s: %w", h.Name, err))
		}
		h.NS = netns.None()
		if err := deleteNamed(h.Name); err != nil {
			errs = append(errs, fmt.Errorf("lab: delete namespace %s: %w (remove it with: ip netns delete %s)", h.Name, err, h.Name))
		}
	}
	l.done = true
	l.cond.Broadcast()
	l.mu.Unlock()
	unregister(l)
	return errors.Join(errs...)
}
