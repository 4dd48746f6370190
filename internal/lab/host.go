package lab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/fastpathnet/fastpath/bpf"
)

// Do runs fn on a locked OS thread switched into h's namespace and waits
// for it. Whatever fn creates that belongs to a namespace (sockets,
// netlink handles, files under /proc/sys/net) belongs to h's namespace and
// stays there after Do returns: a socket created inside fn may be used
// from any goroutine afterwards.
//
// fn runs on a goroutine of its own, so it must not call t.FailNow,
// t.Fatal or t.Skip; return an error instead. Goroutines that fn starts
// do not run in h's namespace. A panic in fn is re-raised in the caller.
//
// Do checks that the thread is in h's namespace before it runs fn, and
// fails with ErrClosed, without running fn, once the lab is closed. A
// Close while fn runs does not move fn: it goes on in h's namespace, which
// lives on, though no longer under /run/netns, until fn's thread leaves
// it and the sockets made in it are closed.
//
// After fn, the thread switches back to its original namespace and checks
// that it got there; if either fails, the thread is left locked so that Go
// discards it when the goroutine exits, and Do reports the failure.
func (h *Host) Do(fn func() error) error {
	type result struct {
		err      error
		panicked bool
		val      any
	}
	c := make(chan result, 1)
	go func() {
		// Locked twice, so that an unbalanced runtime.UnlockOSThread in fn
		// cannot hand this thread, in h's namespace, to other goroutines.
		runtime.LockOSThread()
		runtime.LockOSThread()
		orig, err := threadNS()
		if err != nil {
			runtime.UnlockOSThread()
			runtime.UnlockOSThread()
			c <- result{err: fmt.Errorf("lab: %s: open current namespace: %w", h.Name, err)}
			return
		}
		defer orig.Close()
		leave := func() error {
			if err := switchBack(orig); err != nil {
				// Stay locked: Go discards the thread when this goroutine exits.
				return fmt.Errorf("lab: %s: %w", h.Name, err)
			}
			runtime.UnlockOSThread()
			runtime.UnlockOSThread()
			return nil
		}
		if err := h.enter(); err != nil {
			c <- result{err: errors.Join(err, leave())}
			return
		}

		returned := false
		defer func() {
			if returned {
				return
			}
			// fn panicked or called runtime.Goexit (t.FailNow, t.Skip).
			r := recover()
			lerr := leave()
			if r != nil {
				c <- result{panicked: true, val: fmt.Sprintf("%v\n\ngoroutine inside %s.Do:\n%s", r, h.Name, debug.Stack())}
				return
			}
			c <- result{err: errors.Join(fmt.Errorf("lab: %s: fn called runtime.Goexit inside Do (t.FailNow, t.Fatal and t.Skip do that; return an error instead)", h.Name), lerr)}
		}()
		err = fn()
		returned = true
		c <- result{err: errors.Join(err, leave())}
	}()
	r := <-c
	if r.panicked {
		panic(r.val)
	}
	return r.err
}

// enter switches the calling thread into h's namespace and checks that it
// got there.
func (h *Host) enter() error {
	err := h.lab.use(func() error {
		if err := netns.Set(h.NS); err != nil {
			return err
		}
		// Check, so that a bug here can never let fn loose in the caller's
		// namespace (the host's own, normally).
		ok, err := inNS(h.NS)
		if err != nil {
			return err
		}
		if !ok {
			return errors.New("setns succeeded but the thread is elsewhere")
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("lab: enter namespace %s: %w", h.Name, err)
	}
	return nil
}

// Netlink calls fn with a netlink handle bound to h's namespace and
// returns fn's error; once the lab is closed it returns ErrClosed without
// calling fn. Close waits for fn to return before it seals the handle, so
// every request fn makes reaches h's namespace:
//
//	err := l.A.Netlink(func(hd *netlink.Handle) error {
//		lk, err := hd.LinkByName(l.A.Link)
//		if err != nil {
//			return err
//		}
//		return hd.LinkSetDown(lk)
//	})
//
// fn must not keep hd, must not call Close (that deadlocks), and should be
// short: a Close, say from NewT's signal handler, waits for it. The
// handle speaks NETLINK_ROUTE (links, addresses, routes, neighbours,
// qdiscs, ...) only; requests of other netlink families fail. For those,
// call the package-level netlink functions inside Do.
func (h *Host) Netlink(fn func(hd *netlink.Handle) error) error {
	return h.lab.use(func() error {
		if h.handle == nil {
			// Only while New builds the host.
			return fmt.Errorf("lab: netlink handle of %s: not open yet", h.Name)
		}
		return fn(h.handle)
	})
}

// LinkStats returns the kernel's statistics of h's lab link (what its
// kernel received and sent).
func (h *Host) LinkStats() (netlink.LinkStatistics, error) {
	var st netlink.LinkStatistics
	err := h.Netlink(func(hd *netlink.Handle) error {
		lk, err := hd.LinkByName(h.Link)
		if err == nil {
			st = *lk.Attrs().Statistics
		}
		return err
	})
	return st, err
}

// Handle returns the netlink handle bound to h's namespace that Netlink
// passes to its fn, for short calls such as
// l.A.Handle().LinkByName(l.A.Link). The lab owns it. Prefer Netlink,
// which also keeps the lab open while fn runs.
//
// After Close, every request through the handle fails ("use of closed
// file"), however it was obtained: the lab seals the handle
// instead of closing it, since a closed netlink.Handle falls back to the
// namespace of the calling thread, normally the host's own. Requests of
// netlink families other than NETLINK_ROUTE always fail, for the same
// reason. Do not call the handle's socket option methods
// (SetSocketReceiveBufferSize, SetStrictCheck, ...) after Close: they use
// the descriptor numbers the closed sockets had.
//
// Handle returns nil only while New builds the host.
func (h *Host) Handle() *netlink.Handle {
	h.lab.mu.Lock()
	defer h.lab.mu.Unlock()
	return h.handle
}

// writeSysctl writes val to /proc/sys/key inside h's namespace (key such
// as "net/ipv4/ip_forward").
func (h *Host) writeSysctl(key, val string, optional bool) error {
	return h.Do(func() error { return writeSysctl(key, val, optional) })
}

// setTxChecksum turns transmit checksum offload of the device name in h's
// namespace on or off.
func (h *Host) setTxChecksum(name string, on bool) error {
	return h.Do(func() error { return setTxChecksum(name, on) })
}

// txChecksum reports whether transmit checksum offload of the device name
// in h's namespace is on.
func (h *Host) txChecksum(name string) (on bool, err error) {
	err = h.Do(func() error { on, err = txChecksum(name); return err })
	return on, err
}

// Command returns a command that runs name with args inside h's namespace,
// as `ip netns exec h.Name name args...` does; that is how it is built, so
// it needs iproute2's ip in PATH. Like exec.CommandContext, it kills the
// command when ctx is done.
func (h *Host) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", h.Name, name}, args...)...)
}

// AttachPass loads bpf.NewPass (XDP_PASS for every frame) and attaches it
// in native (driver) mode to h.Link through a bpf_link. An XDP program on
// a veth end puts that end's receive side on veth's fast path (see
// README, Troubleshooting). Close detaches it and closes the program.
//
// veth refuses a program without multi-buffer support when the peer's MTU
// is above about 3500 bytes.
func (h *Host) AttachPass() error {
	h.lab.mu.Lock()
	closed, attached := h.lab.closed, h.xdp != nil
	h.lab.mu.Unlock()
	if closed {
		return fmt.Errorf("lab: attach xdp to %s in %s: %w", h.Link, h.Name, ErrClosed)
	}
	if attached {
		return fmt.Errorf("lab: attach xdp to %s in %s: the lab already attached a program", h.Link, h.Name)
	}

	prog, err := bpf.NewPass()
	if err != nil {
		return fmt.Errorf("lab: attach xdp to %s in %s: %w", h.Link, h.Name, err)
	}
	var l link.Link
	// The kernel resolves the ifindex in the namespace of the calling thread.
	err = h.Do(func() error {
		var err error
		l, err = link.AttachXDP(link.XDPOptions{Program: prog, Interface: h.Index, Flags: link.XDPDriverMode})
		return err
	})
	if err != nil {
		prog.Close()
		hint := ""
		if h.lab.opts.MTU > 3500 {
			hint = fmt.Sprintf(" (mtu %d may be too large for XDP on veth)", h.lab.opts.MTU)
		}
		return fmt.Errorf("lab: attach xdp in driver mode to %s in %s%s: %w", h.Link, h.Name, hint, err)
	}

	h.lab.mu.Lock()
	defer h.lab.mu.Unlock()
	if h.lab.closed {
		// Close ran meanwhile and could not see them.
		l.Close()
		prog.Close()
		return fmt.Errorf("lab: attach xdp to %s in %s: %w", h.Link, h.Name, ErrClosed)
	}
	h.xdp, h.prog = l, prog
	return nil
}

// SetNeighbor adds a permanent neighbour (ARP) entry mapping ip to mac, as
// needed when the host owning ip has its ARP taken by an XDP program. The
// entry goes on the link whose subnet contains ip (for R, the side facing
// that host), or on h.Link when none does.
func (h *Host) SetNeighbor(ip netip.Addr, mac net.HardwareAddr) error {
	if len(h.Links) == 0 {
		return fmt.Errorf("lab: set neighbour %s in %s: the host has no link", ip, h.Name)
	}
	ifc := h.Links[0]
	for _, x := range h.Links {
		if x.Addr.Contains(ip) {
			ifc = x
			break
		}
	}
	n := &netlink.Neigh{
		LinkIndex:    ifc.Index,
		Family:       unix.AF_INET,
		State:        netlink.NUD_PERMANENT,
		IP:           ip.AsSlice(),
		HardwareAddr: mac,
	}
	if ip.Is6() {
		n.Family = unix.AF_INET6
	}
	if err := h.Netlink(func(hd *netlink.Handle) error { return hd.NeighSet(n) }); err != nil {
		return fmt.Errorf("lab: set neighbour %s at %s on %s in %s: %w", ip, mac, ifc.Name, h.Name, err)
	}
	return nil
}

// SNMP returns the counters of one protocol line of /proc/net/snmp in h's
// namespace ("Ip", "Icmp", "Tcp", "Udp", ...), keyed by name, e.g.
// SNMP("Udp")["InCsumErrors"].
func (h *Host) SNMP(proto string) (map[string]uint64, error) {
	var b []byte
	err := h.Do(func() (err error) {
		// /proc/thread-self/net follows the calling thread's namespace.
		b, err = os.ReadFile("/proc/thread-self/net/snmp")
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("lab: read /proc/net/snmp in %s: %w", h.Name, err)
	}
	var names []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != proto+":" {
			continue
		}
		if names == nil {
			names = f
			continue
		}
		m := make(map[string]uint64, len(f))
		for i := 1; i < len(f) && i < len(names); i++ {
			v, err := strconv.ParseInt(f[i], 10, 64) // some counters are signed (Tcp MaxConn)
			if err != nil {
				return nil, fmt.Errorf("lab: /proc/net/snmp in %s: %s %s: %w", h.Name, proto, names[i], err)
			}
			m[names[i]] = uint64(v)
		}
		return m, nil
	}
	return nil, fmt.Errorf("lab: no %s counters in /proc/net/snmp of %s", proto, h.Name)
}

// Police makes h (a router) drop what it forwards to UDP port udpPort
// above fps frames/s, with a bucket of burst frames: a device under test
// of known capacity. It uses nftables' limit, which counts in
// nanoseconds: this kernel has no tc police action, and a tbf shaper
// pushes back on a veth sender instead of dropping. It needs nft. One
// limit covers both families (an inet table).
func (h *Host) Police(ctx context.Context, udpPort uint16, fps, burst int) error {
	for _, args := range [][]string{
		{"add", "table", "inet", "dut"},
		{"add", "chain", "inet", "dut", "fw", "{ type filter hook forward priority 0; policy accept; }"},
		{"add", "rule", "inet", "dut", "fw", "udp", "dport", fmt.Sprint(udpPort), "limit", "rate", "over", fmt.Sprintf("%d/second", fps),
			"burst", fmt.Sprint(burst), "packets", "counter", "drop"},
	} {
		if out, err := h.Command(ctx, "nft", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("lab: nft in %s: %v: %s (install nftables)", h.Name, err, out)
		}
	}
	return nil
}
