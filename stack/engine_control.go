package stack

import (
	"net/netip"

	"github.com/fastpathnet/fastpath/ether"
	"github.com/fastpathnet/fastpath/ipv4"
	"github.com/fastpathnet/fastpath/ipv6"
)

// The engine's end of the messages (messages.go) from the control plane
// and the other engines, and of its requests to the control plane. All of
// it runs on the engine goroutine and never blocks.

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
	if m.snapshot != nil {
		e.applySnapshot(m.snapshot)
		return
	}
	if m.neighbour {
		e.counters[NeighboursShared]++
		if m.ip.Is6() && m.stale {
			// Learned from neighbour discovery on another queue: as
			// that engine learned it (stale, confirmed on first use),
			// and never in place of a neighbour in use (RFC 4861 7.2.3).
			if res := e.neigh.Solicitation(m.ip, m.mac, e.now, e.ready[:0]); len(res.Ready) > 0 {
				e.release(res.Ready, m.mac)
			}
			return
		}
		if ready := e.neigh.Set(m.ip, m.mac, e.now, e.ready[:0]); len(ready) > 0 {
			e.release(ready, m.mac)
		}
		return
	}
	if m.v6 {
		e.applyRoute6(m.add, m.route6)
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
		e.restoreStatic(m.route)
	}
}

// applySnapshot replaces the engine's routes with its static ones
// (Config) and the kernel's in s, at once: no packet sees a table in
// between. A kernel route replaces a static one of the same prefix and
// metric, as an imported change does. The neighbours in s are set; those
// the kernel forgot age out of the cache on its own timers.
func (e *Engine) applySnapshot(s *snapshot) {
	e.counters[Resyncs]++
	e.routes.Reset()
	for _, r := range e.static {
		e.routes.Add(r) // they fitted at newEngine
	}
	for _, r := range s.routes {
		if err := e.routes.Add(r); err != nil {
			e.counters[RoutesRefused]++
			continue
		}
		e.counters[RoutesAdded]++
	}
	e.routes6.Reset()
	for _, r := range e.static6 {
		e.routes6.Add(r)
	}
	if e.raUntil != 0 {
		e.routes6.Add(e.raRoute)
	}
	for _, r := range s.routes6 {
		if err := e.routes6.Add(r); err != nil {
			e.counters[RoutesRefused]++
			continue
		}
		e.counters[RoutesAdded]++
	}
	for _, n := range s.neighbours {
		if ready := e.neigh.Set(n.ip, n.mac, e.now, e.ready[:0]); len(ready) > 0 {
			e.release(ready, n.mac)
		}
	}
}

// restoreStatic puts back the static route of r's prefix and metric, if
// there is one: the kernel route just removed had replaced it.
func (e *Engine) restoreStatic(r ipv4.Route) {
	for _, s := range e.static {
		if s.Prefix == r.Prefix.Masked() && s.Metric == r.Metric {
			e.routes.Add(s)
		}
	}
}

// applyRoute6 adds or removes a kernel IPv6 route; a removal puts back
// the static route it had replaced.
func (e *Engine) applyRoute6(add bool, r ipv6.Route) {
	if add {
		if err := e.routes6.Add(r); err != nil {
			e.counters[RoutesRefused]++
			return
		}
		e.counters[RoutesAdded]++
		return
	}
	if e.routes6.RemoveRoute(r) {
		e.counters[RoutesRemoved]++
		for _, s := range e.static6 {
			if s.Prefix == r.Prefix.Masked() && s.Metric == r.Metric {
				e.routes6.Add(s)
			}
		}
	}
}

// share tells the stack's other engines about a neighbour this one
// learned, so that an ARP reply that RSS delivered to the wrong queue
// still resolves the engine that asked. It never blocks: a full ring
// drops the news (counted), and that engine resolves on its own.
func (e *Engine) share(ip netip.Addr, mac ether.Addr) {
	for _, r := range e.peerOut {
		if r != nil && !r.push(control{neighbour: true, stale: ip.Is6(), ip: ip, mac: mac}) {
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
