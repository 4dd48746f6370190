package stack

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/fastpathnet/fastpath/ether"
	"github.com/fastpathnet/fastpath/internal/rss"
	"github.com/fastpathnet/fastpath/ipv4"
	"github.com/fastpathnet/fastpath/steering"
	"github.com/fastpathnet/fastpath/tcp"
	"github.com/fastpathnet/fastpath/xsk"
)

// TCP on the engines: each engine runs a tcp.Host over its queue. Segments
// are demultiplexed on the engine goroutine; timers run on the engine's
// wheel; active opens take ports of the engine's share of the ephemeral
// range (port % engines == engine index), so a reply that lands on another
// queue is handed over to the owner. Where the device's RSS can be
// computed (RSSPorts), they take only ports whose replies RSS gives their
// own queue.

const tcpTick = int64(time.Millisecond)

// EnableTCP gives every engine a TCP host configured by cfg (its ISNKey,
// when zero, drawn from crypto/rand; PortStride and PortIndex set per
// engine) and steers the ephemeral range to the engines. Call it before
// Start.
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
	// The MSS the frames allow.
	frame := s.engines[0].frameRoom() - ether.HeaderLen - ipv4.HeaderLen - tcp.MaxHeaderLen
	cfg.MSS = min(cfg.MSS, frame, s.mtu-40)
	cfg.PortStride = len(s.engines)
	for i, e := range s.engines {
		c := cfg
		c.PortIndex = i
		if s.rss != nil && c.PortFilter == nil {
			c.PortFilter = rssPorts(s.rss, e.queue)
		}
		h, err := tcp.NewHost(c, tcpLink{e})
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
	if len(s.engines) > 1 {
		s.enableHandover()
	}
	s.tcpOn = true
	return nil
}

// rssPorts accepts the local ports whose replies (remote -> local) the
// device's RSS puts on queue: the connection's segments then arrive at
// the engine that owns it, with no handover.
func rssPorts(t *rss.Table, queue int) func(local, remote netip.AddrPort) bool {
	return func(local, remote netip.AddrPort) bool { return t.Queue(remote, local) == queue }
}

// RSSPorts reports whether the engines pick the local ports of the
// connections they open by the device's RSS hash (Toeplitz over the
// 4-tuple, read from the device with its indirection table), so that
// replies come back to the opening engine's queue. Without it (veth, one
// queue, another hash function) a reply that lands on another engine's
// queue is handed over to the owner.
func (s *Stack) RSSPorts() bool { return s.rss != nil }

// steerTCP sends TCP to ports on the stack's addresses to the engines.
func (s *Stack) steerTCP(ports steering.PortRange, name string) error {
	for _, a := range s.addrs {
		if _, err := s.steer.Add(steering.Rule{Name: fmt.Sprintf("%s %s:%s", name, a.Addr(), ports), Proto: steering.ProtoTCP,
			Dst: netip.PrefixFrom(a.Addr(), 32), DstPort: ports, Action: steering.Engine}); err != nil {
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

// Now is the engine's clock for its TCP host's calls (Conn.Close,
// Conn.Update): monotonic nanoseconds, read once per round.
func (e *Engine) Now() int64 { return e.now }

// TCP returns the engine's TCP host (nil without EnableTCP). Use it on
// the engine goroutine only.
func (e *Engine) TCP() *tcp.Host { return e.tcpHost }

// DialTCP opens a connection to remote from the engine's address towards
// it, with an ephemeral port of the engine's share. Call it on the engine
// goroutine (from a handler or a Do function).
func (e *Engine) DialTCP(remote netip.AddrPort, h tcp.Handler) (*tcp.Conn, error) {
	if e.tcpHost == nil {
		return nil, errors.New("stack: DialTCP: TCP is not enabled (EnableTCP)")
	}
	src := e.sourceFor(remote.Addr())
	return e.tcpHost.Dial(netip.AddrPortFrom(src, 0), remote, h, e.now)
}

// Do runs fn on the engine goroutine at its next round (fn must not
// block). It fails when the engine's command queue is full or TCP is off.
func (e *Engine) Do(fn func(e *Engine)) error {
	if e.tcpCmds == nil {
		return errors.New("stack: Engine.Do needs EnableTCP")
	}
	select {
	case e.tcpCmds <- tcpCmd{fn: fn}:
		return nil
	default:
		return errors.New("stack: engine command queue full")
	}
}

// tcpCmd is work for an engine from another goroutine: a function, or a
// connection adapter whose buffers moved.
type tcpCmd struct {
	fn func(e *Engine)
	tc *TCPConn
}

// drainTCP runs what other goroutines asked of the engine's TCP.
func (e *Engine) drainTCP() bool {
	if len(e.tcpCmds) == 0 {
		return false
	}
	for i := 0; i < 256; i++ {
		select {
		case cmd := <-e.tcpCmds:
			if cmd.fn != nil {
				cmd.fn(e)
				continue
			}
			cmd.tc.service(e)
		default:
			return true
		}
	}
	return true
}

// inputTCP takes a TCP segment for the engine's addresses (frame is the
// whole frame, l3 the offset of its IPv4 header): it goes to the engine's
// host, or to the engine that owns its port. The host copies what it
// keeps, so the frame is never kept.
func (e *Engine) inputTCP(frame []byte, l3 int) bool {
	h := ipv4.Header(frame[l3:])
	seg := tcp.Header(h.Payload())
	if len(seg) >= 4 && !e.tcpHost.OwnsPort(seg.DstPort()) {
		owner := e.peers[int(seg.DstPort())%len(e.peers)]
		e.Handover(owner, frame)
		return false
	}
	e.tcpHost.Input(h.Src(), h.Dst(), seg, e.now)
	return false
}

// tcpLink sends a host's segments out of its engine.
type tcpLink struct{ e *Engine }

func (l tcpLink) Send(local, remote netip.AddrPort, f *tcp.Fields, o *tcp.Options, p1, p2 []byte) bool {
	e := l.e
	hl := tcp.HeaderLen
	if o != nil {
		hl += tcp.OptionsLen(o)
	}
	n := len(p1) + len(p2)
	const l3 = ether.HeaderLen
	total := l3 + ipv4.HeaderLen + hl + n
	if total > e.frameRoom() {
		e.counters[DropTooBig]++
		return false
	}
	addr, b, ok := e.frame()
	if !ok {
		return false
	}
	ether.Encode(b, ether.Addr{}, e.mac, ether.TypeIPv4)
	e.ipID++
	ih, err := ipv4.Encode(b[l3:], ipv4.Fields{
		ID: e.ipID, DontFragment: true, TTL: e.cfg.TTL, Protocol: ipv4.ProtoTCP,
		Src: local.Addr(), Dst: remote.Addr(), PayloadLen: hl + n,
	})
	if err != nil {
		e.sock.Frames.Free(addr)
		return false
	}
	t := b[l3+ipv4.HeaderLen:]
	if _, err := tcp.Encode(t, *f, o); err != nil {
		e.sock.Frames.Free(addr)
		return false
	}
	copy(t[hl+copy(t[hl:], p1):], p2)
	if e.csumOffload {
		tcp.Header(t[:hl+n]).SetPartialChecksum(ih.Src(), ih.Dst())
		xsk.RequestChecksum(e.sock.UMEM().Frame(addr-e.txOff), l3+ipv4.HeaderLen, tcp.ChecksumOffset)
	} else {
		tcp.Header(t[:hl+n]).SetChecksum(ih.Src(), ih.Dst())
	}
	e.route(addr, ether.Pad(b, total), remote.Addr())
	return true
}

// TCPCounters returns the engine's TCP counters as last published (every
// 50 ms, and at stop); safe from any goroutine.
func (e *Engine) TCPCounters() tcp.Counters {
	var c tcp.Counters
	for i := range c {
		c[i] = e.tcpPub[i].Load()
	}
	return c
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
