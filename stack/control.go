package stack

import (
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/fastpathnet/fastpath/ether"
	"github.com/fastpathnet/fastpath/ipv4"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// control carries a change to an engine, which applies it on its own
// goroutine: a kernel route added or removed, or (neighbour set) a
// neighbour that another engine learned or the kernel resolved.
type control struct {
	add   bool
	route ipv4.Route

	neighbour bool
	ip        netip.Addr
	mac       ether.Addr
}

// The control plane is one goroutine per stack, off the engines' hot
// path. It forwards the kernel's route changes (ImportRoutes, and always
// in shared mode) and, in shared mode, the kernel's neighbours to every
// engine, and asks the kernel to resolve the neighbours engines miss.
// Messages to an engine go through its ctlIn ring (this goroutine is the
// only producer); engines' requests come back through their resolveOut
// rings, with a token on s.wake.
type controlPlane struct {
	s       *Stack
	ifindex int
	nl      *netlink.Handle
	routes  chan netlink.RouteUpdate
	neighs  chan netlink.NeighUpdate
	done    chan struct{}
	wait    chan struct{}
}

// startControl subscribes, in the calling thread's network namespace, to
// what the stack's mode needs, and starts the control plane.
func (s *Stack) startControl(ifindex int) error {
	c := &controlPlane{s: s, ifindex: ifindex, done: make(chan struct{}), wait: make(chan struct{})}
	if s.cfg.ImportRoutes || s.cfg.Shared {
		c.routes = make(chan netlink.RouteUpdate, 256)
		err := netlink.RouteSubscribeWithOptions(c.routes, c.done, netlink.RouteSubscribeOptions{ListExisting: true})
		if err != nil {
			return fmt.Errorf("stack: subscribe to the kernel's routes: %w", err)
		}
	}
	if s.cfg.Shared {
		var err error
		if c.nl, err = netlink.NewHandle(unix.NETLINK_ROUTE); err != nil {
			close(c.done)
			return fmt.Errorf("stack: netlink: %w", err)
		}
		c.neighs = make(chan netlink.NeighUpdate, 256)
		err = netlink.NeighSubscribeWithOptions(c.neighs, c.done, netlink.NeighSubscribeOptions{ListExisting: true})
		if err != nil {
			close(c.done)
			c.nl.Close()
			return fmt.Errorf("stack: subscribe to the kernel's neighbours: %w", err)
		}
	}
	if c.routes == nil && c.neighs == nil {
		return nil
	}
	s.ctl = c
	go c.run()
	return nil
}

// stop ends the control plane and waits for it.
func (c *controlPlane) stop() {
	close(c.done)
	<-c.wait
	if c.nl != nil {
		c.nl.Close()
	}
}

func (c *controlPlane) run() {
	defer close(c.wait)
	for {
		select {
		case u, ok := <-c.routes:
			if !ok {
				c.routes = nil
				continue
			}
			if r, ok := kernelRoute(u.Route, c.ifindex, c.s.cfg.Shared); ok {
				c.broadcast(control{add: u.Type == unix.RTM_NEWROUTE, route: r})
			}
		case u, ok := <-c.neighs:
			if !ok {
				c.neighs = nil
				continue
			}
			if ip, mac, ok := kernelNeighbour(u.Neigh, c.ifindex); ok && u.Type == unix.RTM_NEWNEIGH {
				c.broadcast(control{neighbour: true, ip: ip, mac: mac})
			}
		case <-c.s.wake:
			c.resolve()
		case <-c.done:
			return
		}
	}
}

// broadcast hands m to every engine, waiting while an engine's ring is
// full (engines drain it every poll; a stopped engine's ring is not
// waited for beyond the stack's stop).
func (c *controlPlane) broadcast(m control) {
	for _, e := range c.s.engines {
		for !e.ctlIn.push(m) {
			select {
			case <-c.done:
				return
			case <-time.After(100 * time.Microsecond):
			}
		}
	}
}

// resolve answers the engines' requests for neighbours (shared mode):
// with the kernel's entry when it has a usable one, and in every case by
// asking the kernel to resolve, or re-confirm, it (NTF_USE: the kernel
// sends its ARP request as if it had a packet to send there). The answer
// arrives as a neighbour update.
func (c *controlPlane) resolve() {
	for _, e := range c.s.engines {
		for {
			ip, ok := e.resolveOut.pop()
			if !ok {
				break
			}
			if mac, ok := c.lookup(ip); ok {
				c.broadcast(control{neighbour: true, ip: ip, mac: mac})
			}
			n := &netlink.Neigh{LinkIndex: c.ifindex, Family: unix.AF_INET, IP: net.IP(ip.AsSlice()), Flags: netlink.NTF_USE}
			if err := c.nl.NeighSet(n); err != nil {
				c.s.resolveErrors.Add(1)
			}
		}
	}
}

// lookup returns the kernel's usable entry for ip.
func (c *controlPlane) lookup(ip netip.Addr) (ether.Addr, bool) {
	list, err := c.nl.NeighList(c.ifindex, unix.AF_INET)
	if err != nil {
		return ether.Addr{}, false
	}
	for _, n := range list {
		if a, mac, ok := kernelNeighbour(n, c.ifindex); ok && a == ip {
			return mac, true
		}
	}
	return ether.Addr{}, false
}

// kernelNeighbour converts a kernel neighbour entry on ifindex with a
// usable link-layer address.
func kernelNeighbour(n netlink.Neigh, ifindex int) (netip.Addr, ether.Addr, bool) {
	const usable = unix.NUD_REACHABLE | unix.NUD_STALE | unix.NUD_DELAY | unix.NUD_PROBE | unix.NUD_PERMANENT | unix.NUD_NOARP
	if n.LinkIndex != ifindex || n.State&usable == 0 || len(n.HardwareAddr) != 6 {
		return netip.Addr{}, ether.Addr{}, false
	}
	ip, ok := netip.AddrFromSlice(n.IP)
	if !ok || !ip.Unmap().Is4() {
		return netip.Addr{}, ether.Addr{}, false
	}
	var mac ether.Addr
	copy(mac[:], n.HardwareAddr)
	if mac == (ether.Addr{}) {
		return netip.Addr{}, ether.Addr{}, false
	}
	return ip.Unmap(), mac, true
}

// kernelRoute converts a kernel route through ifindex in the main table.
// In dedicated mode the engine sends from its own addresses, so the
// kernel's preferred source is dropped; in shared mode it is kept.
func kernelRoute(kr netlink.Route, ifindex int, shared bool) (ipv4.Route, bool) {
	if kr.LinkIndex != ifindex || kr.Table != unix.RT_TABLE_MAIN || kr.Type != unix.RTN_UNICAST || len(kr.MultiPath) > 0 {
		return ipv4.Route{}, false
	}
	r := ipv4.Route{Prefix: netip.PrefixFrom(netip.IPv4Unspecified(), 0), Metric: kr.Priority}
	if kr.Dst != nil {
		a, ok := netip.AddrFromSlice(kr.Dst.IP)
		ones, bits := kr.Dst.Mask.Size()
		if !ok || !a.Unmap().Is4() || bits != 32 {
			return ipv4.Route{}, false
		}
		r.Prefix = netip.PrefixFrom(a.Unmap(), ones).Masked()
	}
	if kr.Gw != nil {
		gw, ok := netip.AddrFromSlice(kr.Gw)
		if !ok || !gw.Unmap().Is4() {
			return ipv4.Route{}, false
		}
		r.Gateway = gw.Unmap()
	}
	if shared && kr.Src != nil {
		if src, ok := netip.AddrFromSlice(kr.Src); ok && src.Unmap().Is4() {
			r.Src = src.Unmap()
		}
	}
	return r, true
}

// applyControl applies what the control plane and the other engines sent:
// route changes to the engine's table, neighbours to its cache.
func (e *Engine) applyControl() {
	for {
		m := e.ctlIn.front()
		if m == nil {
			break
		}
		e.applyOne(m)
		e.ctlIn.advance()
	}
	for _, r := range e.peerIn {
		if r == nil {
			continue
		}
		for m := r.front(); m != nil; m = r.front() {
			e.applyOne(m)
			r.advance()
		}
	}
}

func (e *Engine) applyOne(m *control) {
	if m.neighbour {
		e.counters[NeighboursShared]++
		if ready := e.neigh.Set(m.ip, m.mac, e.now, e.ready[:0]); len(ready) > 0 {
			e.release(ready, m.mac)
		}
		return
	}
	if m.add {
		if err := e.routes.Add(m.route); err != nil {
			e.counters[RoutesRefused]++
			return
		}
		e.counters[RoutesAdded]++
	} else if e.routes.RemoveRoute(m.route) {
		e.counters[RoutesRemoved]++
	}
}

// share tells the stack's other engines about a neighbour this one
// learned, so that an ARP reply that RSS delivered to the wrong queue
// still resolves the engine that asked. It never blocks: a full ring
// drops the news (counted), and that engine resolves on its own.
func (e *Engine) share(ip netip.Addr, mac ether.Addr) {
	for _, r := range e.peerOut {
		if r != nil && !r.push(control{neighbour: true, ip: ip, mac: mac}) {
			e.counters[NeighboursUnshared]++
		}
	}
}

// askKernel queues a request for the kernel to resolve ip (shared mode)
// and wakes the control plane. It never blocks: a full ring drops the
// request (counted); the neighbour cache asks again on its next retry.
func (e *Engine) askKernel(ip netip.Addr) {
	if !e.resolveOut.push(ip) {
		e.counters[ResolveUnsent]++
		return
	}
	e.counters[ResolveRequests]++
	select {
	case e.wake <- struct{}{}:
	default: // a token is already there: the control plane drains all
	}
}
