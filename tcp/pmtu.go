package tcp

// Path MTU discovery (RFC 8201 for IPv6, RFC 1191 for IPv4): a router
// that cannot forward a segment of ours for its size says so in an ICMP
// error ("packet too big", "fragmentation needed") with the MTU of the
// link it could not cross; the connection's MSS comes down to fit, and
// what was in flight goes again in segments of the new size.

import "net/netip"

// Path MTU floors: RFC 8201 4 forbids an IPv6 path MTU below the minimum
// link MTU (a PTB saying less is taken as 1280); for IPv4, 576, the
// datagram every host must take (RFC 1122 3.3.3, RFC 791), as a floor
// against forged messages asking for tiny segments.
const (
	minPMTU6 = 1280
	minPMTU4 = 576
)

// PacketTooBig handles an ICMP error about a segment this Host sent from
// local to remote: an ICMPv6 Packet Too Big (RFC 4443 3.2) or an ICMPv4
// destination unreachable, fragmentation needed (RFC 792, RFC 1191),
// reporting mtu, the next hop's MTU. seq is the sequence number of the
// segment the message quotes.
//
// Anyone can send such a message, so it is checked as RFC 5927 4.1
// advises (and Linux does): it must name a connection in the table,
// synchronized, and seq must lie within SND.UNA..SND.MAX (a segment sent
// and not acknowledged); otherwise, or when it would not lower the MSS,
// it is ignored (DropPacketTooBig). An MTU below the family's floor
// counts as the floor (1280 for IPv6, RFC 8201 4; 576 for IPv4). The MSS
// comes down to the MTU less the IP and TCP headers and the timestamp
// option; the congestion window is kept in bytes (a lost segment was not
// congestion); every segment outstanding was too big and was dropped, so
// the connection goes back to SND.UNA and sends it all again at the new
// size at once, without waiting for a timeout (Linux's
// tcp_simple_retransmit). It reports whether the MSS came down
// (PMTUReductions).
func (h *Host) PacketTooBig(local, remote netip.AddrPort, seq Seq, mtu int, now int64) bool {
	c := h.conns.get(keyOf(local, remote))
	if c == nil || c.Send == nil || c.state == StateTimeWait || c.state == StateClosed ||
		seq.LessThan(c.sndUna) || seq.GreaterEq(c.sndMax) {
		h.counters[DropPacketTooBig]++
		return false
	}
	ip, floor := ipv4HeaderLen, minPMTU4
	if remote.Addr().Is6() {
		ip, floor = ipv6HeaderLen, minPMTU6
	}
	mss := max(mtu, floor) - ip - HeaderLen
	if c.tsOK {
		mss -= 12 // as negotiate: every segment carries the option
	}
	if mss >= c.mss {
		h.counters[DropPacketTooBig]++
		return false
	}
	h.counters[PMTUReductions]++
	h.touch(c)
	c.mss = mss
	c.cc.SetMSS(mss)
	// What was sent at the old size is lost past the hop that refused
	// it: back to SND.UNA, as after a timeout, but with no backoff and
	// the window kept. SACKed data is sent again too (the scoreboard
	// is cleared, as onRTO clears it): rare enough not to matter.
	c.tlpAt, c.tlpOut = 0, false
	c.rack, c.rackAt = c.rack[:0], 0
	c.forgetSent()
	c.inRecovery, c.dupAcks = false, 0
	c.recover = c.sndMax
	c.sacked.reset()
	c.rttTiming = false
	c.sndNxt = c.sndUna
	if c.finSent && c.sndUna == c.finSeq.Add(1) {
		return true
	}
	if c.finSent && c.sndNxt.LessEq(c.finSeq) {
		c.finSent = false // sent again with the data before it
	}
	c.rtoAt = 0
	c.output(now)
	c.restartRTO(now)
	return true
}
