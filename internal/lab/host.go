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
// After fn, the thread switches back to its original namespace; if that
// fails, the thread is left locked so that Go discards it when the
// goroutine exits, and Do reports the failure.
func (h *Host) Do(fn func() error) error {
	type result struct {
		err      error
		panicked bool
		val      any
	}
	c := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			c <- result{err: fmt.Errorf("lab: %s: open current namespace: %w", h.Name, err)}
			return
		}
		defer orig.Close()
		leave := func() error {
			if err := netns.Set(orig); err != nil {
				// Stay locked: Go discards the thread when this goroutine exits.
				return fmt.Errorf("lab: %s: switch back to the original namespace (thread discarded): %w", h.Name, err)
			}
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

// enter switches the calling thread into h's namespace.
func (h *Host) enter() error {
	h.lab.mu.Lock()
	defer h.lab.mu.Unlock()
	if h.lab.closed {
		return fmt.Errorf("lab: enter namespace %s: %w", h.Name, ErrClosed)
	}
	if err := netns.Set(h.NS); err != nil {
		return fmt.Errorf("lab: enter namespace %s: %w", h.Name, err)
	}
	// Check, so that a bug here can never let fn loose in the caller's
	// namespace (the host's own, normally).
	cur, err := netns.Get()
	if err != nil {
		return fmt.Errorf("lab: enter namespace %s: open current namespace: %w", h.Name, err)
	}
	defer cur.Close()
	if !cur.Equal(h.NS) {
		return fmt.Errorf("lab: enter namespace %s: setns succeeded but the thread is in %s", h.Name, cur)
	}
	return nil
}

// Handle returns a netlink handle bound to h's namespace. The lab owns it
// and closes it in Close; after Close, Handle returns nil.
//
// Do not keep using a handle after Close: a closed netlink.Handle falls
// back to the namespace of the calling thread, which is normally the
// host's own.
func (h *Host) Handle() *netlink.Handle {
	h.lab.mu.Lock()
	defer h.lab.mu.Unlock()
	return h.handle
}

// handleOrErr is Handle for the lab's own use: an error instead of nil.
func (h *Host) handleOrErr() (*netlink.Handle, error) {
	if hd := h.Handle(); hd != nil {
		return hd, nil
	}
	return nil, fmt.Errorf("lab: netlink handle of %s: %w", h.Name, ErrClosed)
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
// LAB.md). Close detaches it and closes the program.
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
	hd, err := h.handleOrErr()
	if err != nil {
		return err
	}
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
	if err := hd.NeighSet(n); err != nil {
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
