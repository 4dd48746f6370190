package stack

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/fastpathnet/fastpath/arp"
	"github.com/fastpathnet/fastpath/ether"
	"github.com/fastpathnet/fastpath/ipv4"
	"github.com/fastpathnet/fastpath/ipv6"
)

// IPv6 on the engine (dedicated mode): neighbour discovery (RFC 4861) for
// its addresses and its next hops, through the same neighbour cache as
// ARP; duplicate address detection (RFC 4862 5.4) before an address is
// used; echo; UDP; the default route from router advertisements.
//
//	demux -> inputIPv6 -> (walk the extension headers)
//	          -> inputICMPv6 -> echo reply in place
//	                         -> inputNS: learn, answer with an NA
//	                         -> inputNA: the neighbour cache, DAD
//	                         -> inputRA: the default route
//	                         -> inputPTB: a TCP connection's path MTU
//	          -> inputUDP6 -> the port's handler, or a port unreachable
//	          -> inputTCP6 -> the engine's TCP host (engine_tcp.go)

// DADConflict is an IPv6 address that duplicate address detection found
// in use on the link, and the MAC that claimed it.
type DADConflict struct {
	Addr netip.Addr
	MAC  ether.Addr
}

// ErrDuplicateAddress: another host on the link holds one of the
// engines' IPv6 addresses (Start's error wraps it).
var ErrDuplicateAddress = errors.New("stack: duplicate IPv6 address")

// retransTimer is RFC 4861's RETRANS_TIMER: the time between
// solicitations, and how long DAD waits after its last probe.
const retransTimer = int64(time.Second)

// linkLocal is fe80::/64, on-link on every IPv6 interface.
var linkLocal = netip.MustParsePrefix("fe80::/64")

// addIPv6 takes p's address, tentative while DAD runs, with its prefix
// (and fe80::/64) on-link unless an earlier address brought them.
func (e *Engine) addIPv6(p netip.Prefix, before []netip.Prefix) error {
	a := p.Addr()
	if e.cfg.DADTransmits > 0 && !e.cfg.Shared { // (shared: the kernel's, checked by the kernel)
		e.tentative = append(e.tentative, a)
	} else {
		e.owned = append(e.owned, a)
	}
	if g := ipv6.SolicitedNode(a); !slices.Contains(e.groups, g) {
		e.groups = append(e.groups, g)
	}
	has := func(q netip.Prefix) bool {
		return slices.ContainsFunc(before, func(o netip.Prefix) bool { return o.Addr().Is6() && o.Masked() == q.Masked() })
	}
	first6 := !slices.ContainsFunc(before, func(o netip.Prefix) bool { return o.Addr().Is6() })
	for _, q := range []netip.Prefix{p.Masked(), linkLocal} {
		if q == linkLocal && (!first6 || p.Masked() == linkLocal) || q != linkLocal && has(q) {
			continue
		}
		r := ipv6.Route{Prefix: q, Src: a}
		if err := e.routes6.Add(r); err != nil {
			return fmt.Errorf("stack: route %v: %w", q, err)
		}
		e.static6 = append(e.static6, r)
	}
	return nil
}

// gateway6 adds the default route through Config.Gateway6.
func (e *Engine) gateway6() error {
	gw := e.cfg.Gateway6
	if !gw.IsValid() {
		return nil
	}
	r := ipv6.Route{Prefix: netip.PrefixFrom(netip.IPv6Unspecified(), 0), Gateway: gw.WithZone("")}
	if rt, ok := e.routes6.Lookup(r.Gateway); ok {
		r.Src = rt.Src
	}
	if err := e.routes6.Add(r); err != nil {
		return fmt.Errorf("stack: default route via %v: %w", gw, err)
	}
	e.static6 = append(e.static6, r)
	return nil
}

// nextHop is where a packet to dst goes: a gateway, or dst on-link.
func (e *Engine) nextHop(dst netip.Addr) (netip.Addr, bool) {
	if dst.Is6() {
		hop, _, ok := e.routes6.NextHop(dst)
		return hop, ok
	}
	hop, _, ok := e.routes.NextHop(dst)
	return hop, ok
}

// listens reports whether the engine takes packets to the multicast
// address dst: all nodes, and its addresses' solicited-node groups.
func (e *Engine) listens(dst netip.Addr) bool {
	return dst == ipv6.AllNodes || slices.Contains(e.groups, dst)
}

func (e *Engine) inputIPv6(addr uint64, b []byte, f ether.Frame) bool {
	h := ipv6.Header(b[f.L3:])
	if err := h.Check(); err != nil {
		e.counters[DropMalformedIPv6]++
		return false
	}
	unicast := e.owns(h.Dst())
	if !unicast && !e.listens(h.Dst()) {
		e.counters[DropIPv6NotForUs]++
		return false
	}
	if src := h.Src(); src.IsMulticast() || src.Is4In6() || src.IsLoopback() {
		// No packet comes from these (RFC 4291 2.5.3, 2.5.5.2, 2.7); a
		// reply to one would go to a group, or over IPv4.
		e.counters[DropMalformedIPv6]++
		return false
	}
	u, err := h.Walk()
	if err != nil {
		e.counters[DropExtHeaders]++
		return false
	}
	if u.Fragment && (u.FragOffset != 0 || u.MoreFragments) {
		e.counters[DropFragment]++
		return false
	}
	end := f.L3 + ipv6.HeaderLen + h.PayloadLen()
	switch u.Proto {
	case ipv6.ProtoICMPv6:
		return e.inputICMPv6(addr, b, f, h, ipv6.ICMP(b[f.L3+u.Offset:end]), u.Offset == ipv6.HeaderLen)
	case ipv6.ProtoUDP:
		if unicast { // (to a group: neighbour discovery's only)
			return e.inputUDP6(addr, b, f, h, f.L3+u.Offset, end)
		}
		e.counters[DropIPv6NotForUs]++
		return false
	case ipv6.ProtoTCP:
		if e.tcpHost != nil && unicast {
			return e.inputTCP6(b, h, b[f.L3+u.Offset:end])
		}
	}
	e.counters[DropProtocol]++
	return false
}

// inputICMPv6 handles an ICMPv6 message; direct: no extension header
// came before it (neighbour discovery allows none, and the echo reply
// is built in place over the fixed header).
func (e *Engine) inputICMPv6(addr uint64, b []byte, f ether.Frame, h ipv6.Header, c ipv6.ICMP, direct bool) bool {
	if c.Check() != nil {
		e.counters[DropMalformedICMP6]++
		return false
	}
	if !c.ChecksumValid(h.Src(), h.Dst()) {
		e.counters[DropICMP6Checksum]++
		return false
	}
	switch {
	case c.Type() == ipv6.ICMPPacketTooBig && e.tcpHost != nil && e.owns(h.Dst()):
		e.inputPTB(b, c)
		return false
	case !direct || e.cfg.Shared: // (shared: ICMPv6 is the kernel's)
	case c.Type() == ipv6.ICMPEchoRequest && e.owns(h.Dst()):
		return e.echo6(addr, f, h)
	case c.Type() == ipv6.ICMPNeighborSolicitation:
		e.inputNS(f, h)
		return false
	case c.Type() == ipv6.ICMPNeighborAdvertisement:
		e.inputNA(f, h)
		return false
	case c.Type() == ipv6.ICMPRouterAdvertisement && e.cfg.AcceptRA && !e.cfg.Gateway6.IsValid():
		e.inputRA(f, h)
		return false
	}
	e.counters[DropICMP6Type]++
	return false
}

// echo6 turns an echo request into its reply in place, back to the
// link-layer source.
func (e *Engine) echo6(addr uint64, f ether.Frame, h ipv6.Header) bool {
	e.counters[ICMPv6EchoIn]++
	out := e.sock.UMEM().Frame(addr)
	eh := ether.Header(out)
	eh.SetDst(f.Header.Src())
	eh.SetSrc(e.mac)
	n, err := ipv6.EchoReply(out[f.L3:], h, h.Dst(), e.cfg.TTL)
	if err != nil {
		e.counters[DropMalformedICMP6]++
		return false
	}
	e.counters[ICMPv6EchoOut]++
	e.transmit(addr, ether.Pad(out, f.L3+n))
	return true
}

// inputNS answers a solicitation for one of our addresses (RFC 4861
// 7.2.3, 7.2.4), learning the sender's MAC; for an address under DAD, a
// probe from another host (from ::) is a conflict (RFC 4862 5.4.3).
func (e *Engine) inputNS(f ether.Frame, h ipv6.Header) {
	m, err := ipv6.CheckND(h)
	if err != nil {
		e.counters[DropMalformedND]++
		return
	}
	t, src := m.Target(), h.Src()
	if slices.Contains(e.tentative, t) {
		if src.IsUnspecified() {
			e.conflict(t, f.Header.Src())
		}
		return // a tentative address is not answered for
	}
	if !e.owns(t) {
		e.counters[DropIPv6NotForUs]++
		return
	}
	e.counters[NDSolicitsIn]++
	if e.owns(src) && f.Header.Src() != e.mac {
		// Another host uses one of our addresses as its source: a
		// conflict, as ARP's; nothing to learn or answer.
		e.counters[NDConflicts]++
		return
	}
	dst, dstMAC, flags := src, f.Header.Src(), uint8(ipv6.FlagSolicited|ipv6.FlagOverride)
	if src.IsUnspecified() {
		// Another host's DAD for an address we hold: defend it, to all
		// nodes (7.2.4).
		dst, dstMAC, flags = ipv6.AllNodes, ipv6.MulticastMAC(ipv6.AllNodes), ipv6.FlagOverride
	} else if mac, ok := m.LinkAddr(ipv6.OptSourceLinkAddr); ok {
		res := e.neigh.Solicitation(src, mac, e.now, e.ready[:0])
		if res.Learned && len(e.peerOut) > 1 {
			e.share(src, mac)
		}
		if len(res.Ready) > 0 {
			e.release(res.Ready, res.MAC)
		}
		dstMAC = mac
	}
	e.advertise(t, dst, dstMAC, flags)
}

// inputNA gives an advertisement to the neighbour cache (RFC 4861
// 7.2.5); one for an address under DAD is a conflict, one for an address
// we hold from another MAC is counted.
func (e *Engine) inputNA(f ether.Frame, h ipv6.Header) {
	m, err := ipv6.CheckND(h)
	if err != nil {
		e.counters[DropMalformedND]++
		return
	}
	t := m.Target()
	mac, has := m.LinkAddr(ipv6.OptTargetLinkAddr)
	if !has {
		mac = f.Header.Src()
	}
	if slices.Contains(e.tentative, t) {
		e.conflict(t, mac)
		return
	}
	if e.owns(t) {
		if mac != e.mac {
			e.counters[NDConflicts]++
		}
		return
	}
	e.counters[NDAdvertsIn]++
	fl := m.Flags()
	res := e.neigh.Advertisement(arp.Advert{Target: t, MAC: mac, HasMAC: has,
		Solicited: fl&ipv6.FlagSolicited != 0, Override: fl&ipv6.FlagOverride != 0}, e.now, e.ready[:0])
	if res.Learned && len(e.peerOut) > 1 {
		e.share(t, res.MAC)
	}
	if len(res.Ready) > 0 {
		e.release(res.Ready, res.MAC)
	}
}

// inputRA takes the default route from a router advertisement (RFC 4861
// 6.3.4): via the router's link-local address for its lifetime; a
// lifetime of 0 withdraws it. The router's MAC, when given, is learned
// as a solicitation's would be.
func (e *Engine) inputRA(f ether.Frame, h ipv6.Header) {
	m, err := ipv6.CheckRA(h)
	if err != nil {
		e.counters[DropMalformedND]++
		return
	}
	e.counters[RouterAdverts]++
	router := h.Src()
	if mac, ok := m.SourceLinkAddr(); ok {
		res := e.neigh.Solicitation(router, mac, e.now, e.ready[:0])
		if len(res.Ready) > 0 {
			e.release(res.Ready, res.MAC)
		}
	}
	// One default router: the first to advertise itself, until its
	// lifetime ends or it withdraws (RFC 4861 6.3.4: a lifetime is about
	// its sender's entry only). Others' advertisements change nothing.
	if e.raUntil != 0 && router != e.raRoute.Gateway {
		return
	}
	if m.Lifetime() == 0 {
		if e.raUntil != 0 {
			e.setRARoute(false)
		}
		return
	}
	e.raRoute = ipv6.Route{Prefix: netip.PrefixFrom(netip.IPv6Unspecified(), 0), Gateway: router, Src: e.sourceFor(router)}
	e.raUntil = e.now + int64(m.Lifetime())*int64(time.Second)
	e.setRARoute(true)
}

// setRARoute adds (or withdraws) the router advertisement's default
// route, here and on the stack's other engines: RSS hands a router's
// advertisements to one queue, and every engine routes.
func (e *Engine) setRARoute(add bool) {
	if !add {
		e.raUntil = 0
	}
	e.applyRoute6(add, e.raRoute)
	for _, r := range e.peerOut {
		if r != nil && !r.push(control{add: add, v6: true, route6: e.raRoute}) {
			e.counters[NeighboursUnshared]++
		}
	}
}

// expireRA withdraws the default route from a router advertisement once
// its lifetime is over.
func (e *Engine) expireRA(now int64) {
	if e.raUntil != 0 && now >= e.raUntil {
		e.setRARoute(false)
	}
}

// advertise sends a neighbour advertisement of our target to dst at
// dstMAC.
func (e *Engine) advertise(target, dst netip.Addr, dstMAC ether.Addr, flags uint8) {
	addr, out, ok := e.frame()
	if !ok {
		return
	}
	ether.Encode(out, dstMAC, e.mac, ether.TypeIPv6)
	n, err := ipv6.Advertise(out[ether.HeaderLen:], target, dst, target, e.mac, flags)
	if err != nil {
		e.sock.Frames.Free(addr)
		return
	}
	e.counters[NDAdvertsOut]++
	e.transmit(addr, ether.Pad(out, ether.HeaderLen+n))
}

// solicitFrom sends a neighbour solicitation for ip from src (:: for
// DAD) to ip's solicited-node group, and reports whether it went out.
// Probes of a stale neighbour go there too, where RFC 4861 7.3.3 sends
// them to the cached MAC: the group reaches the neighbour either way, at
// the cost of the other hosts in it looking at the probe.
func (e *Engine) solicitFrom(src, ip netip.Addr) bool {
	addr, out, ok := e.frame()
	if !ok {
		return false
	}
	ether.Encode(out, ipv6.MulticastMAC(ipv6.SolicitedNode(ip)), e.mac, ether.TypeIPv6)
	n, err := ipv6.Solicit(out[ether.HeaderLen:], src, ip, e.mac)
	if err != nil {
		e.sock.Frames.Free(addr)
		return false
	}
	e.counters[NDSolicitsOut]++
	e.transmit(addr, ether.Pad(out, ether.HeaderLen+n))
	return true
}

// solicit resolves ip, from the address the route to it prefers.
func (e *Engine) solicit(ip netip.Addr) {
	if src := e.sourceFor(ip); src.IsValid() {
		e.solicitFrom(src, ip)
	}
}

// startDAD sends the first probes for the tentative addresses (engine 0
// only: one host, one probe; every engine watches for conflicts).
func (e *Engine) startDAD() {
	if len(e.tentative) == 0 {
		e.dad.Store(&[]DADConflict{})
		return
	}
	e.dadUntil = e.now + int64(e.cfg.DADTransmits)*retransTimer
	e.probeDAD()
}

func (e *Engine) probeDAD() {
	e.dadSent++
	if e.index != 0 {
		return
	}
	for _, a := range e.tentative {
		if !e.solicitFrom(netip.IPv6Unspecified(), a) {
			// No frame for the probe: it goes out at the next tick,
			// and DAD waits for it.
			e.dadSent--
			e.dadUntil += arpTick
			return
		}
	}
}

// tickDAD sends the next probes when due, and ends DAD after the last
// one's wait: the addresses without a conflict become the engine's,
// announced to all nodes (RFC 4861 7.2.6) as gratuitous ARP announces
// IPv4's.
func (e *Engine) tickDAD(now int64) {
	if len(e.tentative) == 0 {
		return
	}
	start := e.dadUntil - int64(e.cfg.DADTransmits)*retransTimer
	if e.dadSent < e.cfg.DADTransmits && now >= start+int64(e.dadSent)*retransTimer {
		e.probeDAD()
	}
	if now < e.dadUntil {
		return
	}
	for _, a := range e.tentative {
		if slices.ContainsFunc(e.conflicts, func(c DADConflict) bool { return c.Addr == a }) {
			continue
		}
		e.owned = append(e.owned, a)
		if e.index == 0 {
			e.advertise(a, ipv6.AllNodes, ipv6.MulticastMAC(ipv6.AllNodes), ipv6.FlagOverride)
		}
	}
	e.indexOwned()
	e.tentative = nil
	found := slices.Clone(e.conflicts)
	e.dad.Store(&found)
}

// conflict records that mac claims the tentative address a.
func (e *Engine) conflict(a netip.Addr, mac ether.Addr) {
	if slices.ContainsFunc(e.conflicts, func(c DADConflict) bool { return c.Addr == a }) {
		return
	}
	e.counters[DADDuplicates]++
	e.conflicts = append(e.conflicts, DADConflict{a, mac})
}

// DAD returns what duplicate address detection found, and whether it has
// ended (or there was nothing to detect). Safe from any goroutine.
func (e *Engine) DAD() ([]DADConflict, bool) {
	p := e.dad.Load()
	if p == nil {
		return nil, false
	}
	return *p, true
}

// inputUDP6 takes the datagram at b[l4:end]: the frame may run on past
// the packet (Ethernet padding, or bytes someone added).
func (e *Engine) inputUDP6(addr uint64, b []byte, f ether.Frame, h ipv6.Header, l4, end int) bool {
	u := ipv4.UDP(b[l4:end])
	if err := u.Check(); err != nil {
		e.counters[DropMalformedUDP]++
		return false
	}
	if !ipv6.UDPChecksumValid(u, h.Src(), h.Dst()) {
		e.counters[DropUDPChecksum]++
		return false
	}
	e.counters[UDPIn]++
	handler := e.udp[u.DstPort()]
	if handler == nil {
		e.counters[DropNoPort]++
		if f.Header.Dst().IsMulticast() {
			// RFC 4443 2.4 (e.3): no error about a packet sent to a
			// link-layer multicast or broadcast address.
			e.counters[UnreachSuppressed]++
			return false
		}
		e.portUnreachable6(f, h)
		return false
	}
	d := &e.dgram
	*d = Datagram{
		Src:     netip.AddrPortFrom(h.Src(), u.SrcPort()),
		Dst:     netip.AddrPortFrom(h.Dst(), u.DstPort()),
		Payload: u.Payload(),
		e:       e, addr: addr, frame: b, l3: f.L3, l4: l4,
	}
	handler(d)
	e.counters[UDPDelivered]++
	kept := d.kept
	*d = Datagram{} // the view ends here
	return kept
}

// portUnreachable6 answers a datagram to an unbound port, within the
// rate limit; RFC 4443 2.4 (e) forbids it for multicast destinations.
func (e *Engine) portUnreachable6(f ether.Frame, h ipv6.Header) {
	if !e.unreach.Allow(e.now) {
		e.counters[UnreachLimited]++
		return
	}
	addr, out, ok := e.frame()
	if !ok {
		return
	}
	ether.Encode(out, f.Header.Src(), e.mac, ether.TypeIPv6)
	n, err := ipv6.ICMPError(out[ether.HeaderLen:], h, h.Dst(), ipv6.ICMPDestUnreachable, 4, 0, e.cfg.TTL)
	if err != nil {
		e.counters[UnreachSuppressed]++
		e.sock.Frames.Free(addr)
		return
	}
	e.counters[ICMPv6UnreachOut]++
	e.transmit(addr, ether.Pad(out, ether.HeaderLen+n))
}

// sendUDP6 is SendUDP to an IPv6 destination.
func (e *Engine) sendUDP6(src, dst netip.AddrPort, payload []byte) error {
	const hdr = ether.HeaderLen + ipv6.HeaderLen + 8
	if a := dst.Addr(); a.IsMulticast() || a.IsUnspecified() || a.IsLoopback() {
		e.counters[DropBadSend]++
		return ErrAddress
	}
	if hdr+len(payload) > e.frameRoom() || len(payload) > 0xffff-8 {
		e.counters[DropTooBig]++
		return ErrTooBig
	}
	addr, b, ok := e.frame()
	if !ok {
		return ErrNoFrame
	}
	ether.Encode(b, ether.Addr{}, e.mac, ether.TypeIPv6)
	if _, err := ipv6.Encode(b[ether.HeaderLen:], ipv6.Fields{NextHeader: ipv6.ProtoUDP, HopLimit: e.cfg.TTL,
		Src: src.Addr(), Dst: dst.Addr(), PayloadLen: 8 + len(payload)}); err != nil {
		e.counters[DropBadSend]++
		e.sock.Frames.Free(addr)
		return ErrAddress
	}
	u, err := ipv4.EncodeUDP(b[ether.HeaderLen+ipv6.HeaderLen:], src.Port(), dst.Port(), len(payload))
	if err != nil {
		e.counters[DropTooBig]++
		e.sock.Frames.Free(addr)
		return ErrTooBig
	}
	copy(u[8:], payload)
	ipv6.SetUDPChecksum(u, src.Addr(), dst.Addr())
	e.counters[UDPOut]++
	return e.route(addr, ether.Pad(b, hdr+len(payload)), dst.Addr().WithZone(""))
}
