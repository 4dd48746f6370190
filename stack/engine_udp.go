package stack

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"unsafe"

	"github.com/fastpathnet/fastpath/ether"
	"github.com/fastpathnet/fastpath/ipv4"
	"github.com/fastpathnet/fastpath/ipv6"
)

// UDPHandler is called on the engine goroutine for every datagram to its
// port. The Datagram, and its Payload, are valid only until it returns:
// copy what must outlive it. It must not block.
type UDPHandler func(d *Datagram)

// Datagram is a received UDP datagram, a view into its frame.
type Datagram struct {
	Src, Dst netip.AddrPort
	Payload  []byte

	e     *Engine
	addr  uint64
	frame []byte
	l3    int
	l4    int // where UDP's header starts in frame (IPv6: after any extension headers)
	kept  bool
}

// Errors of the send path. They are preallocated: the hot path returns
// them without allocating, and counts them.
var (
	ErrNoRoute = errors.New("stack: no route to the destination")
	ErrNoFrame = errors.New("stack: no free frame")
	ErrTooBig  = errors.New("stack: datagram does not fit a frame")
	ErrUsed    = errors.New("stack: the datagram was already replied to in place")
	ErrAddress = errors.New("stack: the source must be one of the engine's addresses, the destination of its family")
)

// FrameLen is the length of the frame the datagram came in (Ethernet
// header to the end, no FCS).
func (d *Datagram) FrameLen() int { return len(d.frame) }

// Engine returns the engine the datagram arrived on.
func (d *Datagram) Engine() *Engine { return d.e }

// Reply sends payload back to the datagram's source from its destination.
// When payload is the datagram's own Payload (an echo), the frame itself is
// turned around and sent: no copy, no allocation. Otherwise a new datagram
// is built.
func (d *Datagram) Reply(payload []byte) error {
	if d.kept {
		return ErrUsed
	}
	if len(payload) == len(d.Payload) && (len(payload) == 0 || unsafe.SliceData(payload) == unsafe.SliceData(d.Payload)) {
		d.turnAround()
		return nil
	}
	return d.e.SendUDP(d.Dst, d.Src, payload)
}

// turnAround swaps the frame's addresses and ports and sends it back.
// Swapping source and destination leaves the UDP checksum and the IPv4
// header checksum unchanged; only the TTL (and so that checksum) changes.
func (d *Datagram) turnAround() {
	e := d.e
	eh := ether.Header(d.frame)
	eh.SetDst(eh.Src())
	eh.SetSrc(e.mac)
	var u ipv4.UDP
	if d.frame[d.l3]>>4 == 6 {
		h := ipv6.Header(d.frame[d.l3:])
		src, dst := h.Src(), h.Dst()
		h.SetSrc(dst)
		h.SetDst(src)
		h.SetHopLimit(e.cfg.TTL)
		u = ipv4.UDP(d.frame[d.l4:])
	} else {
		h := ipv4.Header(d.frame[d.l3:])
		src, dst := h.Src(), h.Dst()
		h.SetSrc(dst)
		h.SetDst(src)
		h.SetTTL(e.cfg.TTL)
		u = ipv4.UDP(h.Payload())
	}
	sp, dp := u.SrcPort(), u.DstPort()
	binary.BigEndian.PutUint16(u[0:], dp)
	binary.BigEndian.PutUint16(u[2:], sp)
	d.kept = true
	e.counters[UDPOut]++
	e.transmit(d.addr, len(d.frame))
	// The frame is the TX ring's now: the view ends.
	d.Payload, d.frame = nil, nil
}

// SendUDP sends a datagram from src (one of the engine's addresses) to
// dst, built straight into a frame, through the route and ARP. Call it on
// the engine goroutine (from a handler). Errors are preallocated and also
// counted.
func (e *Engine) SendUDP(src, dst netip.AddrPort, payload []byte) error {
	const hdr = ether.HeaderLen + ipv4.HeaderLen + 8
	if !e.owns(src.Addr()) || dst.Addr().Is4() != src.Addr().Is4() || dst.Addr().Is4In6() {
		e.counters[DropBadSend]++
		return ErrAddress
	}
	if dst.Addr().Is6() {
		return e.sendUDP6(src, dst, payload)
	}
	if hdr+len(payload) > e.frameRoom() || len(payload) > 65507 {
		e.counters[DropTooBig]++
		return ErrTooBig
	}
	addr, b, ok := e.frame()
	if !ok {
		return ErrNoFrame
	}
	// The destination MAC is filled in by route, once resolved.
	ether.Encode(b, ether.Addr{}, e.mac, ether.TypeIPv4)
	e.ipID++
	h, err := ipv4.Encode(b[ether.HeaderLen:], ipv4.Fields{
		ID: e.ipID, DontFragment: true, TTL: e.cfg.TTL, Protocol: ipv4.ProtoUDP,
		Src: src.Addr(), Dst: dst.Addr(), PayloadLen: 8 + len(payload),
	})
	if err != nil {
		e.counters[DropTooBig]++
		e.sock.Frames.Free(addr)
		return ErrTooBig
	}
	u, err := ipv4.EncodeUDP(b[ether.HeaderLen+ipv4.HeaderLen:], src.Port(), dst.Port(), len(payload))
	if err != nil {
		e.counters[DropTooBig]++
		e.sock.Frames.Free(addr)
		return ErrTooBig
	}
	copy(u[8:], payload)
	u = u[:8+len(payload)]
	u.SetChecksum(h.Src(), h.Dst())
	e.counters[UDPOut]++
	return e.route(addr, ether.Pad(b, hdr+len(payload)), dst.Addr())
}

// drainOutbox sends what Conns queued for this engine, a batch at a time.
// The hot loop looks at len first, which costs no synchronisation when the
// outbox is empty. The outbox is a channel, not a single-producer ring,
// because any number of goroutines write to it; BenchmarkOutbox measures
// it against the ring (a few ns per idle round, alike per datagram).
func (e *Engine) drainOutbox() bool {
	if len(e.outbox) == 0 {
		return false
	}
	for i := 0; i < len(e.rxd); i++ {
		select {
		case m := <-e.outbox:
			e.SendUDP(m.src, m.dst, *m.buf)
			datagramBufs.Put(m.buf)
		default:
			return true
		}
	}
	return true
}
