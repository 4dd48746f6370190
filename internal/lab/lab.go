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
// Namespaces are named Prefix-PID-SEQ-ROLE (for example fp-4711-3-a) and
// bind-mounted under /run/netns, so `ip netns exec fp-4711-3-a ...` works
// while the lab is open. Sweep removes those left behind by processes that
// died without closing their labs.
package lab

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"regexp"
	"sync"
	"sync/atomic"

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

	opts Options

	mu     sync.Mutex // control path only; guards the fields below and every Host's NS, handle and XDP state
	closed bool
	hosts  []*Host // in creation order; only those whose namespace exists
}

// Host is one network namespace of a lab.
type Host struct {
	// Name of the namespace, bind-mounted as /run/netns/Name.
	Name string
	// NS is an open handle to the namespace, valid until Lab.Close.
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
	// Peer is the host on the other end of Link.
	Peer *Host
	// PeerMAC is the hardware address of the other end of Link.
	PeerMAC net.HardwareAddr
	// Links lists every veth in the namespace; Links[0] is Link.
	Links []Iface

	lab    *Lab
	role   string
	handle *netlink.Handle
	xdp    link.Link
	prog   *ebpf.Program
}

// Iface is one veth end inside a Host's namespace.
type Iface struct {
	Name    string           // interface name inside the namespace, e.g. "veth1"
	Index   int              // its ifindex inside the namespace
	MAC     net.HardwareAddr // its hardware address
	Addr    netip.Prefix     // its IPv4 address and prefix length
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

// New builds a lab. On error it removes whatever it had built.
//
// New first calls SweepPrefix(opts.Prefix), best effort, to remove
// namespaces left behind by dead processes.
//
// New installs no signal handler: a command that uses it must call Close
// when it is interrupted (NewT does this for tests).
func New(opts Options) (*Lab, error) {
	opts, err := opts.check()
	if err != nil {
		return nil, err
	}
	// Best effort: a leftover that cannot be removed does not stop this
	// lab, whose names are unique.
	_ = SweepPrefix(opts.Prefix)

	l := &Lab{opts: opts}
	register(l) // from here on a signal handler can close l, even half built
	if err := l.build(seq.Add(1)); err != nil {
		if cerr := l.Close(); cerr != nil {
			err = errors.Join(err, cerr)
		}
		return nil, err
	}
	return l, nil
}

// build creates the namespaces, veths, addresses and routes.
func (l *Lab) build(n uint64) error {
	name := func(role string) string {
		return fmt.Sprintf("%s-%d-%d-%s", l.opts.Prefix, os.Getpid(), n, role)
	}
	var err error
	if l.A, err = l.newHost(name("a"), "a"); err != nil {
		return err
	}
	if l.B, err = l.newHost(name("b"), "b"); err != nil {
		return err
	}
	if l.opts.Router {
		if l.R, err = l.newHost(name("r"), "r"); err != nil {
			return err
		}
	}
	for _, h := range l.Hosts() {
		if err := h.setup(h == l.R); err != nil {
			return err
		}
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
	l.A.Gateway = l.R.Links[0].Addr.Addr()
	l.B.Gateway = l.R.Links[1].Addr.Addr()
	for _, h := range []*Host{l.A, l.B} {
		if err := h.defaultRoute(); err != nil {
			return err
		}
	}
	return nil
}

// newHost creates the named namespace name and opens a netlink handle in
// it. l.mu is held while the namespace is created, so that a concurrent
// Close either sees the host or makes newHost fail.
func (l *Lab) newHost(name, role string) (*Host, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, ErrClosed
	}
	ns, err := createNamed(name)
	if err != nil {
		return nil, fmt.Errorf("lab: create namespace %s: %w", name, err)
	}
	h := &Host{Name: name, NS: ns, lab: l, role: role}
	l.hosts = append(l.hosts, h)
	return h, nil
}

// setup opens the host's netlink handle, brings lo up and sets the
// namespace's sysctls. It runs before any veth exists, so that the
// default disable_ipv6 applies to the veths created later.
func (h *Host) setup(router bool) error {
	err := h.Do(func() error {
		hd, err := netlink.NewHandle(unix.NETLINK_ROUTE)
		if err != nil {
			return fmt.Errorf("lab: open netlink handle in %s: %w", h.Name, err)
		}
		h.lab.mu.Lock()
		h.handle = hd
		h.lab.mu.Unlock()
		if err := writeSysctl("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1", true); err != nil {
			return fmt.Errorf("lab: disable ipv6 in %s: %w", h.Name, err)
		}
		if router {
			if err := writeSysctl("/proc/sys/net/ipv4/ip_forward", "1", false); err != nil {
				return fmt.Errorf("lab: enable ip_forward in %s: %w", h.Name, err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	hd, err := h.handleOrErr()
	if err != nil {
		return err
	}
	lo, err := hd.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("lab: find lo in %s: %w", h.Name, err)
	}
	if err := hd.LinkSetUp(lo); err != nil {
		return fmt.Errorf("lab: set lo up in %s: %w", h.Name, err)
	}
	return nil
}

// join creates a veth pair between left (interface lname) and right
// (interface rname) through left's handle, with the right end created
// directly in right's namespace, then addresses both ends and sets them up.
func (l *Lab) join(left *Host, lname string, lmac net.HardwareAddr, laddr netip.Prefix,
	right *Host, rname string, rmac net.HardwareAddr, raddr netip.Prefix) error {
	hd, err := left.handleOrErr()
	if err != nil {
		return err
	}
	l.mu.Lock()
	rns := right.NS
	closed := l.closed
	l.mu.Unlock()
	if closed {
		return ErrClosed
	}

	attrs := netlink.NewLinkAttrs()
	attrs.Name = lname
	attrs.MTU = l.opts.MTU
	attrs.NumTxQueues = l.opts.Queues
	attrs.NumRxQueues = l.opts.Queues
	attrs.HardwareAddr = lmac
	veth := netlink.NewVeth(attrs)
	veth.PeerName = rname
	veth.PeerHardwareAddr = rmac
	veth.PeerNamespace = netlink.NsFd(int(rns))
	// Peer MTU and queue counts default to the link's own.
	if err := hd.LinkAdd(veth); err != nil {
		if errors.Is(err, unix.EOPNOTSUPP) {
			return fmt.Errorf("lab: create veth %s in %s (peer %s in %s): the veth driver is missing (CONFIG_VETH, modprobe veth): %w: %w",
				lname, left.Name, rname, right.Name, ErrNotSupported, err)
		}
		return fmt.Errorf("lab: create veth %s in %s (peer %s in %s): %w", lname, left.Name, rname, right.Name, err)
	}

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
		h.Link, h.Index, h.MAC, h.Addr = first.Name, first.Index, first.MAC, first.Addr
		h.Peer, h.PeerMAC = first.Peer, first.PeerMAC
	}
	return nil
}

// addIface addresses the veth name in h's namespace, disables IPv6 on it,
// sets it up and appends it to h.Links, returning the new entry.
func (h *Host) addIface(name string, addr netip.Prefix) (*Iface, error) {
	hd, err := h.handleOrErr()
	if err != nil {
		return nil, err
	}
	lk, err := hd.LinkByName(name)
	if err != nil {
		return nil, fmt.Errorf("lab: find %s in %s: %w", name, h.Name, err)
	}
	err = h.Do(func() error {
		if err := writeSysctl("/proc/sys/net/ipv6/conf/"+name+"/disable_ipv6", "1", true); err != nil {
			return fmt.Errorf("lab: disable ipv6 on %s in %s: %w", name, h.Name, err)
		}
		if !h.lab.opts.TxChecksumOffload {
			if err := setTxChecksum(name, false); err != nil {
				return fmt.Errorf("lab: turn checksum offload off on %s in %s: %w", name, h.Name, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := hd.AddrAdd(lk, &netlink.Addr{IPNet: ipNet(addr)}); err != nil {
		return nil, fmt.Errorf("lab: add address %s to %s in %s: %w", addr, name, h.Name, err)
	}
	if err := hd.LinkSetUp(lk); err != nil {
		return nil, fmt.Errorf("lab: set %s up in %s: %w", name, h.Name, err)
	}
	h.Links = append(h.Links, Iface{
		Name:  name,
		Index: lk.Attrs().Index,
		MAC:   lk.Attrs().HardwareAddr,
		Addr:  addr,
	})
	return &h.Links[len(h.Links)-1], nil
}

// defaultRoute routes everything through h.Gateway on h.Link.
func (h *Host) defaultRoute() error {
	hd, err := h.handleOrErr()
	if err != nil {
		return err
	}
	r := &netlink.Route{
		LinkIndex: h.Index,
		Dst:       &net.IPNet{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)},
		Gw:        h.Gateway.AsSlice(),
	}
	if err := hd.RouteAdd(r); err != nil {
		return fmt.Errorf("lab: add default route via %s in %s: %w", h.Gateway, h.Name, err)
	}
	return nil
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// Hosts returns A, B and, with a router, R.
func (l *Lab) Hosts() []*Host {
	hs := []*Host{l.A, l.B}
	if l.R != nil {
		hs = append(hs, l.R)
	}
	return hs
}

// Close detaches and closes the XDP links and programs the lab attached,
// closes its netlink and namespace handles, and deletes its namespaces,
// which destroys the veths. The kernel frees a namespace once nothing uses
// it any more: sockets created inside Do keep theirs alive until they are
// closed, but it is gone from /run/netns at once.
//
// Close is safe to call more than once and from several goroutines; calls
// after the first return nil. Do not use a Host's Handle after Close.
func (l *Lab) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
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
		if h.handle != nil {
			h.handle.Close()
			h.handle = nil
		}
		if h.NS.IsOpen() {
			if err := h.NS.Close(); err != nil {
				errs = append(errs, fmt.Errorf("lab: close handle of namespace %s: %w", h.Name, err))
			}
		}
		if err := deleteNamed(h.Name); err != nil {
			errs = append(errs, fmt.Errorf("lab: delete namespace %s: %w (remove it with: ip netns delete %s)", h.Name, err, h.Name))
		}
	}
	l.mu.Unlock()
	unregister(l)
	return errors.Join(errs...)
}
