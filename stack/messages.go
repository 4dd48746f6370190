package stack

import (
	"net/netip"

	"github.com/fastpathnet/fastpath/ether"
	"github.com/fastpathnet/fastpath/ipv4"
	"github.com/fastpathnet/fastpath/ipv6"
)

// The messages between the units (doc.go). Work and news reach a running
// engine from other goroutines only as these, each on a queue whose one
// consumer is the engine: control on its ctlIn ring (from the control
// plane) and its peerIn rings (from the other engines), outbound on its
// outbox (from UDPConns), tcpCmd on its tcpCmds channel (from TCPConns and
// Engine.Do). Besides them there are only the stop flag, the published
// counters, and the lock-free buffers a TCPConn shares with its
// connection. Frames handed between engines travel on rings of their own
// (engine_handover.go); an engine's requests to the control plane, on its
// resolveOut ring (engine_control.go).

// control carries a change to an engine, which applies it on its own
// goroutine: a kernel route added or removed, (neighbour set) a
// neighbour that another engine learned or the kernel resolved, or
// (snapshot set) the kernel's tables, which replace every route the
// engine learned from the kernel.
type control struct {
	add    bool
	route  ipv4.Route
	v6     bool // the route is route6
	route6 ipv6.Route

	neighbour bool
	stale     bool // learned from neighbour discovery: inserted stale, evicting only stale entries
	ip        netip.Addr
	mac       ether.Addr

	snapshot *snapshot
}

// snapshot is what the kernel had when the control plane listed it: its
// routes through the device, and in shared mode its usable neighbours
// there. Every engine reads the same one; nobody writes it once sent.
type snapshot struct {
	routes     []ipv4.Route
	routes6    []ipv6.Route
	neighbours []neighbour
}

type neighbour struct {
	ip  netip.Addr
	mac ether.Addr
}

// outbound is a datagram a UDPConn asks an engine to send.
type outbound struct {
	buf      *[]byte // from datagramBufs; the engine puts it back once sent
	src, dst netip.AddrPort
}

// tcpCmd is work for an engine from another goroutine: a function, or a
// connection adapter whose buffers moved.
type tcpCmd struct {
	fn func(e *Engine)
	tc *TCPConn
}
