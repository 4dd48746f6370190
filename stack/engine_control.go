package stack

import (
	"net/netip"

	"github.com/fastpathnet/fastpath/ether"
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
