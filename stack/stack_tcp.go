package stack

import (
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"

	"github.com/fastpathnet/fastpath/ether"
	"github.com/fastpathnet/fastpath/internal/rss"
	"github.com/fastpathnet/fastpath/ipv4"
	"github.com/fastpathnet/fastpath/steering"
	"github.com/fastpathnet/fastpath/tcp"
)

// The stack's side of TCP, before Start: a host on every engine, the
// steering rules that bring it its segments, the listeners. The engines'
// side (input, output, timers, Do) is engine_tcp.go.

// EnableTCP gives every engine a TCP host configured by cfg (its ISNKey,
// when zero, drawn from crypto/rand; its timestamp clock, when TSKey and
// TSEpoch are zero, keyed by the kernel's boot ID and counted from the
// wall clock, so that it keeps rising across runs; PortStride and
// PortIndex set per engine) and steers the ephemeral range to the
// engines. Call it before Start.
func (s *Stack) EnableTCP(cfg tcp.Config) error {
	if s.started {
		return errors.New("stack: EnableTCP after Start: enable TCP before starting the engines")
	}
	if s.tcpOn {
		return errors.New("stack: EnableTCP twice")
	}
	if cfg.ISNKey == ([16]byte{}) {
		rand.Read(cfg.ISNKey[:])
	}
	if cfg.TSKey == ([16]byte{}) && cfg.TSEpoch == 0 {
		// A server's TIME-WAIT takes our new SYN on a four-tuple only
		// with a newer timestamp: a load generator run twice within a
		// minute against one server needs a clock that did not restart
		// (the engines' now starts with the process). Linux keys its
		// offsets per boot; so do we, with the boot ID (not visible
		// off the host, which is what the offset hides the clock from).
		if id, err := os.ReadFile("/proc/sys/kernel/random/boot_id"); err == nil {
			sum := sha256.Sum256(append([]byte("fastpath tcp timestamps "), id...))
			copy(cfg.TSKey[:], sum[:])
			cfg.TSEpoch = epochWall
		}
	}
	// The MSS the frames allow, over IPv4: the host's IPv6 connections
	// take 20 bytes less (tcp.Config.MSS), which fits the same frames
	// behind the longer header.
	frame := s.engines[0].frameRoom() - ether.HeaderLen - ipv4.HeaderLen - tcp.MaxHeaderLen
	cfg.MSS = min(cfg.MSS, frame, s.mtu-40)
	queues := make([]int, len(s.engines))
	for i, e := range s.engines {
		queues[i] = e.queue
	}
	var cfgs []tcp.Config
	t, why := s.rss, s.rssWhy
	if t != nil && !t.Computable6() && slices.ContainsFunc(s.addrs, func(p netip.Prefix) bool { return p.Addr().Is6() }) {
		// Ports picked by RSS over IPv4 but not over IPv6 would send an
		// IPv6 connection's replies to another engine with no handover
		// (one stride): split by port number for both.
		t, why = nil, "the device's RSS does not hash TCP over IPv6 with its ports (ethtool -N DEV rx-flow-hash tcp6 sdfn), or its key is under 40 bytes"
	}
	cfgs, s.portSelection = portShares(cfg, t, why, queues)
	for i, e := range s.engines {
		h, err := tcp.NewHost(cfgs[i], tcpLink{e})
		if err != nil {
			return fmt.Errorf("stack: %w", err)
		}
		e.tcpHost = h
		e.tcpCmds = make(chan tcpCmd, 4096)
	}
	// Dedicated mode: the addresses are the engines', every TCP port
	// included (a port nobody listens on gets a RST from the engine).
	// Shared mode: only the ephemeral range, and the listening ports.
	ports, name := steering.Ports(cfg.EphemeralLo, cfg.EphemeralHi), "tcp ephemeral"
	if !s.cfg.Shared {
		ports, name = steering.PortRange{}, "tcp"
	}
	if err := s.steerTCP(ports, name); err != nil {
		return err
	}
	s.enableHandover(s.engines, handoverSlots)
	s.tcpOn = true
	return nil
}

// portShares splits the ephemeral range between the engines on queues:
// by the device's RSS hash where t (nil when unknown, why saying why) can
// compute it, so that each engine takes about 1/N of the range for any
// destination and replies come back to its own queue; otherwise by port
// number (port % N == engine index: 1/N each), a reply that lands on
// another engine's queue being handed over to the owner. A filter the
// caller set in cfg is kept, with the stride. It also says which it chose
// and why, for Stack.PortSelection.
func portShares(cfg tcp.Config, t *rss.Table, why string, queues []int) ([]tcp.Config, string) {
	cfgs := make([]tcp.Config, len(queues))
	useRSS := t != nil && cfg.PortFilter == nil
	sel := "rss"
	switch {
	case cfg.PortFilter != nil:
		sel = "stride: the caller's port filter"
	case t == nil:
		sel = "stride: " + why
	}
	if useRSS {
		var missing []int
		in := t.Queues()
		for _, q := range queues {
			if !slices.Contains(in, q) {
				missing = append(missing, q)
			}
		}
		if len(missing) > 0 {
			sel = fmt.Sprintf("rss: queues %v are not in the device's RSS indirection table: their engines open no connections (ethtool -X DEV equal %d)", missing, len(queues))
		}
	}
	for i, q := range queues {
		c := cfg
		if useRSS {
			c.PortStride, c.PortIndex = 1, 0
			c.PortFilter = rssPorts(t, q)
		} else {
			c.PortStride, c.PortIndex = len(queues), i
		}
		cfgs[i] = c
	}
	return cfgs, sel
}

// rssPorts accepts the local ports whose replies (remote -> local) the
// device's RSS puts on queue: the connection's segments then arrive at
// the engine that owns it, with no handover. IPv6 connections are hashed
// over their 36-byte input (rss.TCP6): EnableTCP uses the RSS split only
// when the device's can be computed for IPv6 too, where the stack has
// IPv6 addresses.
func rssPorts(t *rss.Table, queue int) func(local, remote netip.AddrPort) bool {
	return func(local, remote netip.AddrPort) bool { return t.Queue(remote, local) == queue }
}

// RSSPorts reports whether the engines pick the local ports of the
// connections they open by the device's RSS hash (Toeplitz over the
// 4-tuple, read from the device with its indirection table), so that
// replies come back to the opening engine's queue. Without it (veth, one
// queue, another hash function) a reply that lands on another engine's
// queue is handed over to the owner.
func (s *Stack) RSSPorts() bool { return strings.HasPrefix(s.portSelection, "rss") }

// PortSelection says how the engines split the ephemeral range after
// EnableTCP: "rss" (each engine about 1/N, by the device's RSS hash), or
// "stride: " and why the hash could not be used (each engine 1/N by port
// number, replies handed over between engines), or "rss: " and the
// queues that get no ports.
func (s *Stack) PortSelection() string { return s.portSelection }

// steerTCP sends TCP to ports on the stack's addresses, IPv4 and IPv6, to
// the engines.
func (s *Stack) steerTCP(ports steering.PortRange, name string) error {
	for _, a := range s.addrs {
		if _, err := s.steer.Add(steering.Rule{Name: fmt.Sprintf("%s %s:%s", name, a.Addr(), ports), Proto: steering.ProtoTCP,
			Dst: host(a.Addr()), DstPort: ports, Action: steering.Engine}); err != nil {
			return err
		}
	}
	return nil
}

// ListenTCPFunc accepts TCP connections to port on every engine: accept
// runs on the engine goroutine when a handshake completes and returns the
// connection's handler (the fast-path API: data as views in c.Recv, no
// copies across goroutines). Call it after EnableTCP, before Start.
func (s *Stack) ListenTCPFunc(port uint16, accept func(e *Engine, c *tcp.Conn) tcp.Handler) error {
	if !s.tcpOn {
		return errors.New("stack: ListenTCPFunc: call EnableTCP first")
	}
	if s.started {
		return errors.New("stack: ListenTCPFunc after Start: listen before starting the engines")
	}
	for _, e := range s.engines {
		e := e
		if _, err := e.tcpHost.Listen(port, func(c *tcp.Conn) tcp.Handler { return accept(e, c) }); err != nil {
			return fmt.Errorf("stack: %w", err)
		}
	}
	if !s.cfg.Shared {
		return nil // every port is steered already
	}
	return s.steerTCP(steering.Port(port), "tcp")
}

// TCPCounters sums the engines' TCP counters.
func (s *Stack) TCPCounters() tcp.Counters {
	var c tcp.Counters
	for _, e := range s.engines {
		ec := e.TCPCounters()
		for i := range c {
			c[i] += ec[i]
		}
	}
	return c
}

// readRSS reads dev's RSS configuration when it spreads flows over
// several queues and the engines can compute it; otherwise it says why
// not.
func readRSS(dev string, queues int) (*rss.Table, string) {
	if queues < 2 {
		return nil, "the device has one queue"
	}
	t, err := rss.Read(dev)
	switch {
	case err != nil:
		return nil, "the device's RSS configuration cannot be read (veth has none)"
	case !t.Toeplitz:
		return nil, "the device's RSS hash is not plain Toeplitz with a known key"
	case !t.Ports:
		return nil, "the device's RSS does not hash TCP ports (ethtool -N DEV rx-flow-hash tcp4 sdfn)"
	}
	return t, ""
}
