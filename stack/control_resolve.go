package stack

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"time"

	"github.com/fastpathnet/fastpath/ether"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Path is where the kernel sends a destination: the device, the source
// address it would pick, the next hop (the destination itself when it is
// on-link, else the gateway) and the next hop's MAC.
type Path struct {
	Device  string
	Ifindex int
	Src     netip.Addr
	NextHop netip.Addr
	MAC     ether.Addr
}

// ErrNoNeighbour reports a next hop that did not answer ARP (or, over
// IPv6, neighbour solicitations) in time.
var ErrNoNeighbour = errors.New("no ARP or neighbour discovery answer")

// Resolve looks dst up in the kernel's routes in the calling thread's
// network namespace, as shared mode does, and finds the next hop's MAC in
// the kernel's neighbour table. When the kernel has no usable entry it
// asks the kernel to resolve one (NTF_USE) and waits for it until ctx
// ends. dev, when set, is the device the route must go through.
func Resolve(ctx context.Context, dev string, dst netip.Addr) (Path, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return Path{}, fmt.Errorf("stack: netlink: %w", err)
	}
	defer h.Close()
	routes, err := h.RouteGet(net.IP(dst.AsSlice()))
	if err != nil || len(routes) == 0 {
		return Path{}, fmt.Errorf("stack: no route to %v: %w", dst, err)
	}
	r := routes[0]
	lk, err := h.LinkByIndex(r.LinkIndex)
	if err != nil {
		return Path{}, fmt.Errorf("stack: route to %v: device %d: %w", dst, r.LinkIndex, err)
	}
	p := Path{Device: lk.Attrs().Name, Ifindex: r.LinkIndex, NextHop: dst}
	if dev != "" && p.Device != dev {
		return p, fmt.Errorf("stack: the kernel routes %v through %s, not %s: pick the device the route uses, or give the MAC", dst, p.Device, dev)
	}
	if a, ok := netip.AddrFromSlice(r.Src); ok {
		p.Src = a.Unmap()
	}
	if a, ok := netip.AddrFromSlice(r.Gw); ok && r.Gw != nil {
		p.NextHop = a.Unmap()
	}
	if lk.Attrs().Flags&net.FlagLoopback != 0 {
		return p, fmt.Errorf("stack: %v is local to this namespace (routed through %s)", dst, p.Device)
	}
	family := unix.AF_INET
	if p.NextHop.Is6() {
		family = unix.AF_INET6
	}
	asked := false
	for {
		list, err := h.NeighList(p.Ifindex, family)
		if err != nil {
			return p, fmt.Errorf("stack: neighbours of %s: %w", p.Device, err)
		}
		for _, n := range list {
			if ip, mac, ok := kernelNeighbour(n, p.Ifindex); ok && ip == p.NextHop {
				p.MAC = mac
				return p, nil
			}
		}
		if !asked {
			n := &netlink.Neigh{LinkIndex: p.Ifindex, Family: family, IP: net.IP(p.NextHop.AsSlice()), Flags: netlink.NTF_USE}
			if err := h.NeighSet(n); err != nil {
				return p, fmt.Errorf("stack: ask the kernel to resolve %v on %s: %w", p.NextHop, p.Device, err)
			}
			asked = true
		}
		select {
		case <-ctx.Done():
			via := ""
			if p.NextHop != dst {
				via = fmt.Sprintf(" (the gateway to %v)", dst)
			}
			return p, fmt.Errorf("stack: %v%s on %s: %w", p.NextHop, via, p.Device, ErrNoNeighbour)
		case <-time.After(10 * time.Millisecond):
		}
	}
}
