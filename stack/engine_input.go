package stack

import (
	"net/netip"

	"github.com/fastpathnet/fastpath/arp"
	"github.com/fastpathnet/fastpath/ether"
	"github.com/fastpathnet/fastpath/ipv4"
	"github.com/fastpathnet/fastpath/rings"
)

// input handles one received frame. Every path either hands the frame on
// (transmitted in place, or kept by a handler) or frees it, and every drop
// is counted.
func (e *Engine) input(d rings.Desc) {
	e.counters[RXFrames]++
	e.counters[RXBytes] += uint64(d.Len)
	b := e.sock.UMEM().Packet(d.Addr, d.Len)
	if !e.demux(d.Addr, b) {
		e.sock.Frames.Free(d.Addr)
	}
}

// demux returns true when the frame was kept (sent on, or queued).
func (e *Engine) demux(addr uint64, b []byte) bool {
	f, err := ether.Split(b)
	if err != nil {
		e.counters[DropMalformedEther]++
		return false
	}
	if f.NumVLANs > 0 {
		e.counters[DropVLAN]++
		return false
	}
	if dst := f.Header.Dst(); dst != e.mac && !dst.IsBroadcast() && !(f.Type == ether.TypeIPv6 && dst[0] == 0x33 && dst[1] == 0x33) {
		// (33:33 is IPv6 multicast: inputIPv6 checks the group.)
		e.counters[DropNotForUs]++
		return false
	}
	switch f.Type {
	case ether.TypeARP:
		e.inputARP(b, f)
		return false
	case ether.TypeIPv4:
		return e.inputIPv4(addr, b, f)
	case ether.TypeIPv6:
		return e.inputIPv6(addr, b, f)
	}
	e.counters[DropEtherType]++
	return false
}

func (e *Engine) inputARP(b []byte, f ether.Frame) {
	p := arp.Packet(b[f.L3:])
	if err := p.Check(); err != nil {
		e.counters[DropMalformedARP]++
		return
	}
	if p.Op() == arp.OpRequest {
		e.counters[ARPRequestsIn]++
	} else if p.Op() == arp.OpReply {
		e.counters[ARPRepliesIn]++
	}
	res := e.neigh.Input(p, e.owns, e.now, e.ready[:0])
	if res.Conflict {
		e.counters[ARPConflicts]++
	}
	if res.Learned && len(e.peerOut) > 1 {
		e.share(p.SenderIP(), p.SenderMAC())
	}
	if len(res.Ready) > 0 {
		e.release(res.Ready, res.MAC)
	}
	if !res.Reply {
		if p.Op() == arp.OpRequest && !e.owns(p.TargetIP()) {
			e.counters[DropARPNotForUs]++
		}
		return
	}
	addr, out, ok := e.frame()
	if !ok {
		return
	}
	n, err := arp.Reply(out, e.mac, p.TargetIP(), p, f.Header.Src())
	if err != nil {
		e.sock.Frames.Free(addr)
		return
	}
	e.counters[ARPRepliesOut]++
	e.transmit(addr, n)
}

func (e *Engine) inputIPv4(addr uint64, b []byte, f ether.Frame) bool {
	h := ipv4.Header(b[f.L3:])
	if err := h.Check(); err != nil {
		e.counters[DropMalformedIPv4]++
		return false
	}
	if !h.ChecksumValid() {
		e.counters[DropIPv4Checksum]++
		return false
	}
	if !e.owns(h.Dst()) {
		e.counters[DropIPv4NotForUs]++
		return false
	}
	if h.IsFragment() {
		e.counters[DropFragment]++
		return false
	}
	switch h.Protocol() {
	case ipv4.ProtoICMP:
		return e.inputICMP(addr, f, h)
	case ipv4.ProtoUDP:
		return e.inputUDP(addr, b, f, h)
	case ipv4.ProtoTCP:
		if e.tcpHost != nil {
			if !e.tcpPartialChecksum(h) {
				return false
			}
			return e.inputTCP(b, f.L3)
		}
	}
	e.counters[DropProtocol]++
	return false
}

func (e *Engine) inputICMP(addr uint64, f ether.Frame, h ipv4.Header) bool {
	c := ipv4.ICMP(h.Payload())
	if err := c.Check(); err != nil {
		e.counters[DropMalformedICMP]++
		return false
	}
	if !c.ChecksumValid() {
		e.counters[DropICMPChecksum]++
		return false
	}
	if c.Type() != ipv4.ICMPEchoRequest {
		e.counters[DropICMPType]++
		return false
	}
	e.counters[ICMPEchoIn]++
	// The request is turned into its reply in place: addresses swapped,
	// options dropped, the type and checksums updated. The reply goes back
	// to the link-layer source: the peer, or the router it came through.
	out := e.sock.UMEM().Frame(addr)
	eh := ether.Header(out)
	eh.SetDst(f.Header.Src())
	eh.SetSrc(e.mac)
	n, err := ipv4.EchoReply(out[f.L3:], h, e.cfg.TTL)
	if err != nil {
		e.counters[DropTooBig]++
		return false
	}
	e.counters[ICMPEchoOut]++
	e.transmit(addr, ether.Pad(out, f.L3+n))
	return true
}

func (e *Engine) inputUDP(addr uint64, b []byte, f ether.Frame, h ipv4.Header) bool {
	u := ipv4.UDP(h.Payload())
	if err := u.Check(); err != nil {
		e.counters[DropMalformedUDP]++
		return false
	}
	if !u.ChecksumValid(h.Src(), h.Dst()) {
		if !e.veth || !ipv4.PartialChecksum(h) {
			e.counters[DropUDPChecksum]++
			return false
		}
		if !e.partialChecksum(h) {
			return false
		}
	}
	e.counters[UDPIn]++
	handler := e.udp[u.DstPort()]
	if handler == nil {
		e.counters[DropNoPort]++
		if f.Header.Dst().IsBroadcast() {
			// RFC 1122 3.2.2: no ICMP error for a link-layer broadcast.
			e.counters[UnreachSuppressed]++
			return false
		}
		e.portUnreachable(f, h)
		return false
	}
	d := &e.dgram
	*d = Datagram{
		Src:     netip.AddrPortFrom(h.Src(), u.SrcPort()),
		Dst:     netip.AddrPortFrom(h.Dst(), u.DstPort()),
		Payload: u.Payload(),
		e:       e, addr: addr, frame: b, l3: f.L3,
	}
	handler(d)
	e.counters[UDPDelivered]++
	kept := d.kept
	*d = Datagram{} // the view ends here
	return kept
}

// portUnreachable answers a datagram to an unbound port, within the rate
// limit.
func (e *Engine) portUnreachable(f ether.Frame, h ipv4.Header) {
	if !e.unreach.Allow(e.now) {
		e.counters[UnreachLimited]++
		return
	}
	addr, out, ok := e.replyFrame(f.Header.Src())
	if !ok {
		return
	}
	n, err := ipv4.Unreachable(out[ether.HeaderLen:], h, h.Dst(), ipv4.CodePortUnreachable, e.cfg.TTL)
	if err != nil {
		e.counters[UnreachSuppressed]++ // RFC 1122 forbids it (ipv4.ErrSuppressed)
		e.sock.Frames.Free(addr)
		return
	}
	e.counters[ICMPUnreachOut]++
	e.transmit(addr, ether.Pad(out, ether.HeaderLen+n))
}

// replyFrame allocates a frame and writes an IPv4 Ethernet header from us
// to dst into it; false (counted by frame) when no frame is free.
func (e *Engine) replyFrame(dst ether.Addr) (uint64, []byte, bool) {
	addr, out, ok := e.frame()
	if !ok {
		return 0, nil, false
	}
	if _, err := ether.Encode(out, dst, e.mac, ether.TypeIPv4); err != nil {
		e.sock.Frames.Free(addr)
		return 0, nil, false
	}
	return addr, out, true
}
