package stack

import (
	"errors"
	"net/netip"
	"time"

	"github.com/fastpathnet/fastpath/ether"
	"github.com/fastpathnet/fastpath/ipv4"
	"github.com/fastpathnet/fastpath/tcp"
	"github.com/fastpathnet/fastpath/xsk"
)

// TCP on the engines: each engine runs a tcp.Host over its queue. Segments
// are demultiplexed on the engine goroutine; timers run on the engine's
// wheel; active opens take ports of the engine's share of the ephemeral
// range (portShares): where the device's RSS can be computed (RSSPorts),
// ports whose replies RSS gives the engine's own queue; otherwise port %
// engines == engine index, a reply that lands on another queue being
// handed over to the owner.

const tcpTick = int64(time.Millisecond)

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

// Errors of Engine.Do.
var (
	// ErrNoTCP: TCP is off on the engines (Stack.EnableTCP was not called).
	ErrNoTCP = errors.New("stack: Engine.Do needs EnableTCP")
	// ErrBusy: the engine's command queue is full; try again shortly.
	ErrBusy = errors.New("stack: engine command queue full")
)

// Do runs fn on the engine goroutine at its next round (fn must not
// block). It fails with ErrBusy when the engine's command queue is full and
// ErrNoTCP when TCP is off.
func (e *Engine) Do(fn func(e *Engine)) error {
	if e.tcpCmds == nil {
		return ErrNoTCP
	}
	select {
	case e.tcpCmds <- tcpCmd{fn: fn}:
		return nil
	default:
		return ErrBusy
	}
}

// drainTCP runs what other goroutines asked of the engine's TCP. Like the
// UDP outbox, tcpCmds is a channel because any goroutine may write to it;
// the hot loop only reads its length while it is empty (BenchmarkOutbox
// measures the pattern against a single-producer ring).
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
