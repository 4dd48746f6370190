package stack

import (
	"fmt"
	"net/netip"

	"github.com/fastpathnet/fastpath/ether"
	"github.com/fastpathnet/fastpath/ipv4"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// control carries a change to an engine, which applies it on its own
// goroutine: a kernel route added or removed, or (neighbour set) a
// neighbour another engine of the stack learned.
type control struct {
	add   bool
	route ipv4.Route

	neighbour bool
	ip        netip.Addr
	mac       ether.Addr
}

// importRoutes subscribes to the kernel's IPv4 routes (existing ones
// first) in the calling thread's network namespace and forwards those
// through ifindex to every engine until s.routesDone closes.
func (s *Stack) importRoutes(ifindex int) error {
	ch := make(chan netlink.RouteUpdate, 256)
	s.routesDone = make(chan struct{})
	err := netlink.RouteSubscribeWithOptions(ch, s.routesDone, netlink.RouteSubscribeOptions{ListExisting: true})
	if err != nil {
		return fmt.Errorf("stack: subscribe to the kernel's routes: %w", err)
	}
	s.routesWait = make(chan struct{})
	go func() {
		defer close(s.routesWait)
		for u := range ch {
			r, ok := kernelRoute(u.Route, ifindex)
			if !ok {
				continue
			}
			upd := control{add: u.Type == unix.RTM_NEWROUTE, route: r}
			for _, e := range s.engines {
				select {
				case e.ctl <- upd:
				case <-s.routesDone:
					return
				}
			}
		}
	}()
	return nil
}

// kernelRoute converts a kernel route through ifindex in the main table.
func kernelRoute(kr netlink.Route, ifindex int) (ipv4.Route, bool) {
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
	// The engine sends from its own addresses (dedicated mode), not the
	// kernel's preferred source.
	return r, true
}

// applyControl applies queued control messages: kernel route changes to
// the engine's table, and neighbours other engines learned.
func (e *Engine) applyControl() {
	for {
		select {
		case u := <-e.ctl:
			if u.neighbour {
				e.counters[NeighboursShared]++
				if ready := e.neigh.Set(u.ip, u.mac, e.now, e.ready[:0]); len(ready) > 0 {
					e.release(ready, u.mac)
				}
				continue
			}
			if u.add {
				if err := e.routes.Add(u.route); err != nil {
					e.counters[RoutesRefused]++
					continue
				}
				e.counters[RoutesAdded]++
			} else if e.routes.RemoveRoute(u.route) {
				e.counters[RoutesRemoved]++
			}
		default:
			return
		}
	}
}

// share tells the stack's other engines about a neighbour this one
// learned, so that an ARP reply that RSS delivered to the wrong queue
// still resolves the engine that asked. It never blocks: a full channel
// drops the news (counted), and that engine resolves on its own.
func (e *Engine) share(ip netip.Addr, mac ether.Addr) {
	for _, o := range e.peers {
		select {
		case o.ctl <- control{neighbour: true, ip: ip, mac: mac}:
		default:
			e.counters[NeighboursUnshared]++
		}
	}
}
