package tcp

// What goes on the wire: output sends what the peer's window, the
// congestion window, sender-side SWS avoidance and Nagle allow (RFC 9293
// 3.8.6.2.1, 3.7.4), then a FIN, then an owed ACK; sendSegment builds each
// segment (options, SACK and D-SACK blocks, the window we advertise).

import "net/netip"

// output sends what the state, the windows and Nagle allow: during
// recovery retransmissions first, then new data, then a FIN, then an ACK
// if one is still owed.
func (c *Conn) output(now int64) {
	switch c.state {
	case StateClosed, StateListen, StateTimeWait:
		if c.ackNow && c.state == StateTimeWait {
			c.sendACK(now)
		}
		return
	case StateSynSent, StateSynReceived:
		if c.ackNow && c.state == StateSynReceived {
			c.sendSegment(c.iss, FlagSYN|FlagACK, 0, 0, now)
		}
		return
	}
	if c.Send == nil {
		return // not established yet
	}
	if c.inRecovery {
		c.retransmitHoles(now)
	}
	if c.sendData(now) && !c.tlpProbe {
		c.armTLP(now)
	}
	c.sendFIN(now)
	if c.ackNow {
		c.sendACK(now)
	}
	c.armKeepalive(now)
}

// sendData sends from SND.NXT what the windows allow, one segment per
// MSS (exactly one for a tail loss probe), the FIN with the last byte
// when it is queued. It reports whether new data went.
func (c *Conn) sendData(now int64) bool {
	sentNew := false
	for {
		off := int(c.sndNxt.Sub(c.sndBase))
		avail := c.Send.Len() - off
		if avail <= 0 {
			break
		}
		n := c.segmentLen(avail, now)
		if n <= 0 {
			break
		}
		retx := c.sndNxt.LessThan(c.sndMax)
		flags := FlagACK
		if n == avail {
			flags |= FlagPSH
		}
		fin := c.finQueued && !c.finSent && n == avail
		if fin {
			flags |= FlagFIN
		}
		if !c.sendSegment(c.sndNxt, flags, off, n, now) {
			break
		}
		c.dataSent(n, retx, fin, now)
		if !retx {
			sentNew = true
		}
		if c.tlpProbe {
			break // one segment
		}
	}
	return sentNew
}

// segmentLen is the length of the next segment from SND.NXT, avail bytes
// being ready: within the peer's window and the congestion window, at
// most an MSS; 0 when nothing may go now (a zero window with nothing in
// flight arms the persist timer).
func (c *Conn) segmentLen(avail int, now int64) int {
	wndLeft := int(c.sndUna.Add(c.sndWnd).Sub(c.sndNxt))
	cwndLeft := c.cc.Cwnd() - c.pipe()
	if c.tlpProbe {
		cwndLeft = max(cwndLeft, c.mss) // the probe goes past cwnd
	}
	n := min(avail, c.mss, wndLeft, cwndLeft)
	if n <= 0 {
		if wndLeft <= 0 && c.sndMax == c.sndUna && c.persistAt == 0 {
			// Zero window, nothing in flight: probe (RFC 9293 3.8.6.1).
			c.persistAt = now + c.persistTimeout()
		}
		return 0
	}
	retx := c.sndNxt.LessThan(c.sndMax)
	if n < c.mss && n < avail && !retx && n < int(c.maxSndWnd/2) && c.sndMax != c.sndUna && !c.tlpProbe {
		// A window- or cwnd-limited short segment waits while data is
		// in flight: sender-side SWS avoidance (RFC 9293 3.8.6.2.1);
		// the ACK brings output back. With nothing in flight no ACK
		// would come, so it goes (what the RFC's override timeout is
		// for; holding it stalled connections whose peer advertised
		// less than half its largest window).
		return 0
	}
	if n < c.mss && n == avail && !c.host.cfg.NoDelay && !retx && !c.finQueued && c.sndSmall.GreaterThan(c.sndUna) && !c.tlpProbe {
		// Nagle (RFC 9293 3.7.4) as Minshall refined it: hold a
		// short segment while an earlier short one is unacknowledged.
		return 0
	}
	return n
}

// dataSent advances SND.NXT (and SND.MAX) over n bytes sent from it, the
// FIN too when fin: a short segment for Nagle, a retransmission counted,
// the RTT timed on new data (without timestamps), the RTO armed.
func (c *Conn) dataSent(n int, retx, fin bool, now int64) {
	if n < c.mss {
		c.sndSmall = c.sndNxt.Add(uint32(n))
	}
	if retx {
		c.host.counters[Retransmits]++
		if end := c.sndNxt.Add(uint32(n)); c.rxtEnd.LessThan(end) {
			c.rxtEnd = end
		}
	}
	if !retx && !c.rttTiming && !c.tsOK {
		c.rttTiming, c.rttSeq, c.rttStart = true, c.sndNxt, now
	}
	c.sndNxt = c.sndNxt.Add(uint32(n))
	if fin {
		c.finSent, c.finSeq = true, c.sndNxt
		c.sndNxt = c.sndNxt.Add(1)
	}
	if c.sndNxt.GreaterThan(c.sndMax) {
		c.sndMax = c.sndNxt
	}
	c.persistAt = 0
	c.armRTO(now)
}

// sendFIN sends a FIN with no data to carry it, when Close queued one and
// every byte before it went (or sends it again after SND.NXT went back).
func (c *Conn) sendFIN(now int64) {
	if c.finQueued && (!c.finSent || c.sndNxt == c.finSeq) && int(c.sndNxt.Sub(c.sndBase)) >= c.Send.Len() {
		if c.sendSegment(c.sndNxt, FlagFIN|FlagACK, 0, 0, now) {
			if !c.finSent {
				c.finSent, c.finSeq = true, c.sndNxt
			} else {
				c.host.counters[Retransmits]++
			}
			c.sndNxt = c.finSeq.Add(1)
			if c.sndNxt.GreaterThan(c.sndMax) {
				c.sndMax = c.sndNxt
			}
			c.armRTO(now)
		}
	}
}

// sendSegment transmits one segment: seq, flags, and the payload at off
// bytes into Send, n bytes long. Every segment after the SYN carries the
// ACK and our window.
func (c *Conn) sendSegment(seq Seq, flags Flags, off, n int, now int64) bool {
	h := c.host
	// Scratch, not locals: a pointer through the Link interface would
	// move them to the heap on every segment.
	f := &h.fields
	*f = Fields{SrcPort: c.local.Port(), DstPort: c.remote.Port(), Seq: seq, Flags: flags}
	o := &h.opts
	c.segmentOptions(o, flags, now)
	if flags&FlagSYN != 0 {
		// A SYN's window is never scaled (RFC 7323 2.2).
		f.Window = uint16(min(c.rcvWindow(), 65535))
	}
	var rcvAdv Seq
	if flags&FlagACK != 0 {
		f.Ack = c.rcvNxt
		if flags&FlagSYN != 0 {
			rcvAdv = c.rcvNxt.Add(uint32(f.Window))
		} else {
			f.Window = uint16(c.rcvWindow() >> c.rcvShift)
			rcvAdv = c.rcvNxt.Add(uint32(f.Window) << c.rcvShift)
		}
		if c.sackOK && (len(c.ooo.r) > 0 || c.dsackPending) && flags&FlagSYN == 0 {
			c.sackBlocks(o)
		}
	}
	var p1, p2 []byte
	if n > 0 {
		p1, p2 = c.Send.Peek(off, n)
	}
	if !h.link.Send(c.local, c.remote, f, o, p1, p2) {
		// No frame free (or no route yet): the segment was not sent, the
		// ACK state stays as it was (an ACK still owed), and output tries
		// again shortly. Nothing else would: with nothing in flight no ACK
		// comes back and no retransmission timer runs. (A SYN's timer
		// is armed whether or not it went.)
		h.counters[DropLinkRefused]++
		if c.retryAt == 0 {
			c.retryAt = now + linkRetry
		}
		return false
	}
	if flags&FlagACK != 0 {
		c.rcvAdv, c.lastAckSent = rcvAdv, c.rcvNxt
		c.unacked, c.ackNow, c.delackAt = 0, false, 0
		c.dsackPending = false
	}
	if n > 0 && c.inRecovery && c.rack != nil {
		c.rackRecord(seq, n, now)
	}
	if n > 0 && c.sent != nil && seq.GreaterEq(c.sndMax) {
		c.markSent(seq, now)
	}
	h.counters[SegsOut]++
	h.counters[BytesOut] += uint64(n)
	return true
}

// segmentOptions sets o to a segment's options: a SYN's offers (MSS,
// window scale, SACK-permitted, timestamps; a SYN-ACK's only those the
// peer's SYN offered), and on every later segment the timestamps when
// they were negotiated. SACK blocks are sendSegment's.
func (c *Conn) segmentOptions(o *Options, flags Flags, now int64) {
	h := c.host
	*o = Options{}
	if flags&FlagSYN != 0 {
		o.MSS = uint16(h.mssFor(c.remote.Addr()))
		// Our SYN offers window scaling when configured; a SYN-ACK only
		// answers a peer that offered it (RFC 7323 2.2).
		if flags&FlagACK == 0 && h.cfg.WindowScale || flags&FlagACK != 0 && c.wsOK {
			o.HasWScale, o.WScale = true, c.rcvShift
		}
		o.SACKPermitted = h.cfg.SACK && (flags&FlagACK == 0 || c.sackOK)
		if h.cfg.Timestamps && (flags&FlagACK == 0 || c.tsOK) {
			o.HasTimestamps, o.TSVal, o.TSEcr = true, c.tsNow(now), c.tsRecent
		}
	} else if c.tsOK {
		o.HasTimestamps, o.TSVal, o.TSEcr = true, c.tsNow(now), c.tsRecent
	}
}

// linkRetry is how soon output tries again after the link refused a
// segment: the engine frees frames as their transmissions complete.
const linkRetry = millisecond

// sackBlocks fills o's SACK blocks from the out-of-order queue: the block
// most recently changed first (RFC 2018 4), then the others, highest
// first, as many as fit beside the timestamps.
func (c *Conn) sackBlocks(o *Options) {
	limit := 4
	if o.HasTimestamps {
		limit = 3
	}
	n := 0
	if c.dsackPending {
		// A D-SACK goes first (RFC 2883 4).
		o.SACK[0] = c.dsack
		n = 1
	}
	first := n
	for _, b := range c.ooo.r {
		if b.Start == c.lastSACK || b.Start.LessEq(c.lastSACK) && c.lastSACK.LessThan(b.End) {
			o.SACK[n] = b
			n++
			break
		}
	}
	for i := len(c.ooo.r) - 1; i >= 0 && n < limit; i-- {
		b := c.ooo.r[i]
		if n > first && b == o.SACK[first] {
			continue
		}
		o.SACK[n] = b
		n++
	}
	o.NumSACK = n
}

// sendACK sends a pure ACK now.
func (c *Conn) sendACK(now int64) {
	c.sendSegment(c.sndNxt, FlagACK, 0, 0, now)
}

// challengeACK answers a suspicious RST or SYN (RFC 5961 3.2, 4.2) within
// the Host's rate limit.
func (c *Conn) challengeACK(now int64) {
	if !c.host.challenge.allow(now) {
		return
	}
	c.host.counters[ChallengeACKs]++
	c.sendACK(now)
}

// retransmit sends n bytes from seq again (a FIN too, when seq reaches it).
func (c *Conn) retransmit(seq Seq, n int, now int64) bool {
	off := int(seq.Sub(c.sndBase))
	n = min(n, c.Send.Len()-off)
	flags := FlagACK
	if c.finSent && seq.Add(uint32(max(n, 0))) == c.finSeq {
		flags |= FlagFIN
	}
	if n <= 0 && flags&FlagFIN == 0 {
		return false
	}
	n = max(n, 0)
	if !c.sendSegment(seq, flags, off, n, now) {
		return false
	}
	c.host.counters[Retransmits]++
	if end := seq.Add(uint32(n)); c.rxtEnd.LessThan(end) {
		c.rxtEnd = end
	}
	c.rttTiming = false // Karn: no sample from a retransmitted range
	c.armRTO(now)
	return true
}

// sendRST sends a RST with seq, and with ACK ack when withAck.
func (h *Host) sendRST(local, remote netip.AddrPort, seq, ack Seq, withAck bool) {
	f := &h.fields
	*f = Fields{SrcPort: local.Port(), DstPort: remote.Port(), Seq: seq, Flags: FlagRST}
	if withAck {
		f.Flags |= FlagACK
		f.Ack = ack
	}
	if h.link.Send(local, remote, f, nil, nil, nil) {
		h.counters[SegsOut]++
		h.counters[ResetsOut]++
	}
}

// rcvWindow is the window to advertise: the room in Recv (out-of-order
// blocks sit inside it). Since RCV.NXT moves with what Recv holds, the
// right edge never moves left.
func (c *Conn) rcvWindow() uint32 {
	if c.Recv == nil {
		// Before the handshake completes: the buffer to come.
		return min(uint32(bufferCap(c.host.cfg.RecvBuffer)), uint32(65535)<<c.rcvShift)
	}
	if c.Recv.Cap() == 0 {
		// TIME-WAIT, the buffers back with the Host (pool.go): the
		// window last advertised, its right edge where it was (to the
		// scale's unit; RFC 9293 3.8.6), as Linux's TIME-WAIT ACKs
		// carry tw_rcv_wnd. Nothing can fill it past the FIN.
		return uint32(max(c.rcvAdv.Sub(c.rcvNxt), 0))
	}
	w := uint32(c.Recv.Free())
	if max := uint32(65535) << c.rcvShift; w > max {
		w = max
	}
	return w
}

// windowUpdateDue reports whether reading opened the window enough to
// tell the peer (receiver-side SWS avoidance, RFC 9293 3.8.6.2.2): by
// at least two segments or half the buffer, or from zero.
func (c *Conn) windowUpdateDue() bool {
	if !c.state.synchronized() || c.peerFin {
		return false
	}
	edge := c.rcvNxt.Add(c.rcvWindow())
	grow := edge.Sub(c.rcvAdv)
	if grow <= 0 {
		return false
	}
	return c.rcvAdv == c.rcvNxt || int(grow) >= min(2*c.host.cfg.MSS, c.Recv.Cap()/2)
}

// tsNow is the timestamp clock: milliseconds, offset per address pair
// (ISNGenerator.TSOffset): it only rises from one connection between two
// addresses to the next.
func (c *Conn) tsNow(now int64) uint32 {
	return uint32((now+c.host.cfg.TSEpoch)/millisecond) + c.tsOffset
}
