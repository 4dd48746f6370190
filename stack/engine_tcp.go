package stack

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"time"

	"github.com/fastpathnet/fastpath/ether"
	"github.com/fastpathnet/fastpath/ipv4"
	"github.com/fastpathnet/fastpath/ipv6"
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

// inputTCP6 takes a TCP segment over IPv6 (frame is the whole frame, h
// its fixed header, seg the segment after the extension headers), as
// inputTCP takes one over IPv4: to the engine's host, or to the engine
// that owns its port. Segments to a multicast group the engine listens
// to are not its.
func (e *Engine) inputTCP6(frame []byte, h ipv6.Header, seg []byte) bool {
	if !e.owns(h.Dst()) {
		e.counters[DropIPv6NotForUs]++
		return false
	}
	s := tcp.Header(seg)
	if len(s) >= 4 && !e.tcpHost.OwnsPort(s.DstPort()) {
		owner := e.peers[int(s.DstPort())%len(e.peers)]
		e.Handover(owner, frame)
		return false
	}
	e.tcpHost.Input(h.Src(), h.Dst(), s, e.now)
	return false
}

// inputPTB takes an ICMPv6 Packet Too Big (RFC 4443 3.2), its checksum
// verified, to the connection whose segment it quotes (RFC 8201):
// from one of our addresses, TCP, with at least the ports and sequence
// number quoted (else a malformed ICMPv6 message, or one of a type the
// engine does not take). The TCP host checks the rest (tcp.Host.PacketTooBig:
// a connection it holds, the sequence number outstanding) and counts.
// Where ports are split by number, a PTB for another engine's port is
// handed to it; with the RSS split (one stride), a PTB that lands on
// another engine's queue than its connection's finds no connection and
// is counted (DropPacketTooBig).
func (e *Engine) inputPTB(frame []byte, c ipv6.ICMP) {
	q, err := ipv6.ParseQuote(c.Body())
	if err != nil || q.Proto == ipv6.ProtoTCP && len(q.Upper) < 8 {
		e.counters[DropMalformedICMP6]++
		return
	}
	if q.Proto != ipv6.ProtoTCP || !e.owns(q.Src) {
		e.counters[DropICMP6Type]++
		return
	}
	s := tcp.Header(q.Upper)
	if !e.tcpHost.OwnsPort(s.SrcPort()) {
		e.Handover(e.peers[int(s.SrcPort())%len(e.peers)], frame)
		return
	}
	// tcp.Header's accessors need 20 bytes; the quote may hold 8.
	seq := tcp.Seq(binary.BigEndian.Uint32(q.Upper[4:8]))
	e.tcpHost.PacketTooBig(netip.AddrPortFrom(q.Src, s.SrcPort()), netip.AddrPortFrom(q.Dst, s.DstPort()),
		seq, int(min(c.MTU(), 1<<16)), e.now)
}

// tcpLink sends a host's segments out of its engine.
type tcpLink struct{ e *Engine }

// Send builds the segment in a frame, behind an IPv4 header (DF set) or
// an IPv6 one (hop limit Config.TTL, no extension headers) by the
// connection's family, with the checksum computed or left to the device
// (xsk.RequestChecksum, the L4 header after either IP header).
func (l tcpLink) Send(local, remote netip.AddrPort, f *tcp.Fields, o *tcp.Options, p1, p2 []byte) bool {
	e := l.e
	hl := tcp.HeaderLen
	if o != nil {
		hl += tcp.OptionsLen(o)
	}
	n := len(p1) + len(p2)
	const l3 = ether.HeaderLen
	ipLen, typ := ipv4.HeaderLen, ether.TypeIPv4
	v6 := local.Addr().Is6()
	if v6 {
		ipLen, typ = ipv6.HeaderLen, ether.TypeIPv6
	}
	total := l3 + ipLen + hl + n
	if total > e.frameRoom() {
		e.counters[DropTooBig]++
		return false
	}
	addr, b, ok := e.frame()
	if !ok {
		return false
	}
	ether.Encode(b, ether.Addr{}, e.mac, typ)
	var err error
	if v6 {
		_, err = ipv6.Encode(b[l3:], ipv6.Fields{NextHeader: ipv6.ProtoTCP, HopLimit: e.cfg.TTL,
			Src: local.Addr(), Dst: remote.Addr(), PayloadLen: hl + n})
	} else {
		e.ipID++
		_, err = ipv4.Encode(b[l3:], ipv4.Fields{
			ID: e.ipID, DontFragment: true, TTL: e.cfg.TTL, Protocol: ipv4.ProtoTCP,
			Src: local.Addr(), Dst: remote.Addr(), PayloadLen: hl + n,
		})
	}
	if err != nil {
		e.sock.Frames.Free(addr)
		return false
	}
	t := b[l3+ipLen:]
	if _, err := tcp.Encode(t, *f, o); err != nil {
		e.sock.Frames.Free(addr)
		return false
	}
	copy(t[hl+copy(t[hl:], p1):], p2)
	if e.csumOffload {
		tcp.Header(t[:hl+n]).SetPartialChecksum(local.Addr(), remote.Addr())
		xsk.RequestChecksum(e.sock.UMEM().Frame(addr-e.txOff), uint16(l3+ipLen), tcp.ChecksumOffset)
	} else {
		tcp.Header(t[:hl+n]).SetChecksum(local.Addr(), remote.Addr())
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
