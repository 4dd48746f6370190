package tcp

// Segment arrival (RFC 9293 3.10.7): the checks of 3.10.7.4 in the RFC's
// order (sequence number, RST, SYN, ACK, text, FIN) with RFC 5961's
// challenges and RFC 7323's PAWS, and the receive side: the text into
// Recv, out-of-order blocks, the peer's FIN. SYN-SENT's arm (3.10.7.3) is
// in handshake.go.

// input processes a segment for the connection (RFC 9293 3.10.7.3 and
// 3.10.7.4, with RFC 5961's checks and RFC 7323's PAWS): one step per
// check of 3.10.7.4, in the RFC's order; a step that returns false has
// dealt with the segment.
func (c *Conn) input(seg *Segment, now int64) {
	c.lastRecv = now
	switch c.state {
	case StateSynSent:
		c.inputSynSent(seg, now)
		return
	case StateClosed:
		c.host.counters[DropState]++
		return
	}
	if !c.inputSeq(seg, now) || // first: the sequence number
		!c.inputRST(seg, now) || // second: RST
		!c.inputSYN(seg, now) || // fourth: SYN (third, security, is not kept)
		!c.inputACK(seg, now) { // fifth: the ACK field
		return
	}
	// Timestamps: record TS.Recent for an in-window segment (RFC 7323 4.3).
	if c.tsOK && seg.Opts.HasTimestamps && seg.Seq.LessEq(c.lastAckSent) {
		c.tsRecent = seg.Opts.TSVal
	}
	c.inputText(seg, now) // seventh: the segment text (sixth, URG, is not kept)
	c.inputFIN(seg, now)  // eighth: FIN
	c.output(now)
}

// inputSeq is PAWS and the first check (RFC 9293 3.10.7.4): is the
// sequence number acceptable?
func (c *Conn) inputSeq(seg *Segment, now int64) bool {
	h := c.host
	// PAWS (RFC 7323 5.3): an old timestamp marks an old duplicate.
	if c.tsOK && seg.Opts.HasTimestamps && seg.Flags&FlagRST == 0 &&
		int32(seg.Opts.TSVal-c.tsRecent) < 0 {
		h.counters[DropPAWS]++
		c.sendACK(now)
		return false
	}

	// The peer's SYN again in SYN-RECEIVED: our SYN-ACK was lost; send
	// it again (as Linux does) rather than the bare ACK of RFC 9293.
	if c.state == StateSynReceived && seg.Flags&(FlagSYN|FlagACK|FlagRST) == FlagSYN && seg.Seq == c.irs {
		h.counters[Retransmits]++
		h.counters[SynRetransmits]++
		c.ackNow = true
		c.output(now)
		return false
	}

	// First: is the sequence number acceptable (RFC 9293 3.10.7.4, the
	// four cases)?
	if !c.acceptable(seg) {
		if seg.Flags&FlagRST == 0 {
			if n := len(seg.Payload); n > 0 && c.sackOK && seg.Seq.Add(uint32(n)).LessEq(c.rcvNxt) {
				// Data received before: a D-SACK tells the sender
				// (RFC 2883) its retransmission was not needed.
				c.dsack, c.dsackPending = SACKBlock{Start: seg.Seq, End: seg.Seq.Add(uint32(n))}, true
			}
			c.sendACK(now)
		}
		h.counters[DropOutOfWindow]++
		return false
	}
	return true
}

// inputRST is the second check (RFC 9293 3.10.7.4, RFC 5961 3.2): only a
// RST exactly at RCV.NXT resets; anywhere else in the window earns a
// challenge ACK.
func (c *Conn) inputRST(seg *Segment, now int64) bool {
	h := c.host
	if seg.Flags&FlagRST == 0 {
		return true
	}
	if seg.Seq != c.rcvNxt {
		h.counters[DropBadRST]++
		c.challengeACK(now)
		return false
	}
	h.counters[ResetsIn]++
	if c.state == StateSynReceived && c.listener != nil {
		c.terminate(ErrRefused) // back to LISTEN: the listener never saw it
		return false
	}
	switch c.state {
	case StateClosing, StateLastAck, StateTimeWait:
		c.terminate(nil)
	default:
		c.terminate(ErrReset)
	}
	return false
}

// inputSYN is the fourth check: a SYN in a synchronized state (RFC 5961
// 4.2) earns a challenge ACK.
func (c *Conn) inputSYN(seg *Segment, now int64) bool {
	if seg.Flags&FlagSYN != 0 {
		c.host.counters[DropSYNInWindow]++
		c.challengeACK(now)
		return false
	}
	return true
}

// inputACK is the fifth check, the ACK field: in SYN-RECEIVED the ACK of
// our SYN establishes the connection; then onAck.
func (c *Conn) inputACK(seg *Segment, now int64) bool {
	h := c.host
	if seg.Flags&FlagACK == 0 {
		h.counters[DropNoACK]++
		return false
	}
	if c.state == StateSynReceived {
		if !seg.Ack.GreaterThan(c.sndUna) || seg.Ack.GreaterThan(c.sndMax) {
			h.sendRST(c.local, c.remote, seg.Ack, 0, false)
			h.counters[DropBadACK]++
			return false
		}
		c.establish(now)
		if c.state == StateClosed {
			return false // the handler aborted it
		}
		c.sndWnd = uint32(seg.Window) << c.sndShift
		c.maxSndWnd = max(c.maxSndWnd, c.sndWnd)
		c.sndWl1, c.sndWl2 = seg.Seq, seg.Ack
	}
	if !c.onAck(seg, now) {
		return false
	}
	return c.state != StateClosed
}

// inputText is the seventh step, the segment text.
func (c *Conn) inputText(seg *Segment, now int64) {
	if len(seg.Payload) > 0 {
		switch c.state {
		case StateEstablished, StateFinWait1, StateFinWait2:
			c.receive(seg, now)
		default:
			// The peer sent its FIN already: data past it is bogus.
			c.host.counters[DropState]++
		}
	}
}

// inputFIN is the eighth step: the FIN, taken once every byte before it
// arrived (finReceived), held until then, or ACKed again.
func (c *Conn) inputFIN(seg *Segment, now int64) {
	if seg.Flags&FlagFIN != 0 {
		fin := seg.Seq.Add(uint32(len(seg.Payload)))
		switch {
		case fin == c.rcvNxt:
			c.finReceived(now)
		case fin.GreaterThan(c.rcvNxt) && !c.peerFin:
			c.finPending, c.finIn = true, fin
			c.ackNow = true
		default:
			c.ackNow = true // a FIN again: ACK it (TIME-WAIT restarts below)
			if c.state == StateTimeWait {
				c.twAt = now + c.host.cfg.TimeWait
			}
		}
	}
}

// acceptable is RFC 9293's acceptability test for SEG.SEQ and SEG.LEN
// against RCV.NXT and RCV.WND.
func (c *Conn) acceptable(seg *Segment) bool {
	n := seg.Len()
	wnd := uint32(c.rcvAdv.Sub(c.rcvNxt))
	if int32(wnd) < 0 {
		wnd = 0
	}
	wnd = max(wnd, c.rcvWindow())
	end := c.rcvNxt.Add(wnd)
	switch {
	case n == 0 && wnd == 0:
		return seg.Seq == c.rcvNxt
	case n == 0:
		return seg.Seq.InRange(c.rcvNxt, end)
	case wnd == 0:
		return false
	default:
		last := seg.Seq.Add(n - 1)
		return seg.Seq.InRange(c.rcvNxt, end) || last.InRange(c.rcvNxt, end) ||
			// A segment that starts before RCV.NXT and ends past the
			// window still carries RCV.NXT.
			seg.Seq.LessThan(c.rcvNxt) && last.GreaterEq(end)
	}
}

// onAck processes SEG.ACK in a synchronized state (RFC 9293 3.10.7.4
// fifth, RFC 5961 5.2, RFC 5681/6582/6675 for loss detection). It returns
// false when the segment must go no further.
func (c *Conn) onAck(seg *Segment, now int64) bool {
	if !c.ackAcceptable(seg, now) {
		return false
	}
	c.rackOnAck(seg)
	newSACK := c.updateScoreboard(seg)
	c.tlpAck(seg, newSACK, now)
	acked := int(seg.Ack.Sub(c.sndUna))
	wndChanged := c.updateSendWindow(seg)
	if acked <= 0 {
		c.onOldAck(seg, acked, wndChanged, newSACK, now)
		return true
	}

	// New data acknowledged.
	data := c.ackData(seg, acked, now)
	c.recoveryOnAck(seg.Ack, acked, now)
	c.restartRTO(now)
	c.rackCheck(now)
	c.armTLP(now)
	if !c.finAcked(seg.Ack, now) {
		return false
	}
	if c.handler != nil && data > 0 && !c.notified {
		c.handler.Writable(c) // not once Closed (CLOSING's ACK): c is the Host's
	}
	return true
}

// ackAcceptable is RFC 5961 5.2: SEG.ACK is acceptable only within
// [SND.UNA - MAX.SND.WND, SND.NXT]; beyond SND.NXT it earns an ACK, too
// old a challenge ACK.
func (c *Conn) ackAcceptable(seg *Segment, now int64) bool {
	h := c.host
	ack := seg.Ack
	if ack.GreaterThan(c.sndMax) {
		h.counters[DropBadACK]++
		c.sendACK(now)
		return false
	}
	if ack.LessThan(c.sndUna.Add(-c.maxSndWnd)) {
		h.counters[DropBadACK]++
		c.challengeACK(now)
		return false
	}
	return true
}

// updateSendWindow takes the peer's window from a segment newer than the
// last update (RFC 9293 3.10.7.4, SND.WL1/SND.WL2) and reports whether it
// changed; an open window stops the persist timer.
func (c *Conn) updateSendWindow(seg *Segment) bool {
	ack := seg.Ack
	wndChanged := false
	if c.sndWl1.LessThan(seg.Seq) || c.sndWl1 == seg.Seq && c.sndWl2.LessEq(ack) {
		w := uint32(seg.Window) << c.sndShift
		wndChanged = w != c.sndWnd
		c.sndWnd = w
		c.maxSndWnd = max(c.maxSndWnd, w)
		c.sndWl1, c.sndWl2 = seg.Seq, ack
		if w > 0 {
			c.persistAt, c.persistShift = 0, 0
		}
	}
	return wndChanged
}

// ackData moves SND.UNA to SEG.ACK, which acknowledges acked new bytes
// (RFC 9293 3.10.7.4): the backoff ends, the RTT is sampled, the bytes
// leave Send. It returns the data bytes acknowledged (the FIN's sequence
// number is not in Send).
func (c *Conn) ackData(seg *Segment, acked int, now int64) int {
	ack := seg.Ack
	c.retries = 0
	c.rtt.ResetBackoff()
	if c.rttTiming && ack.GreaterThan(c.rttSeq) {
		c.rttTiming = false
		c.sampleRTT(seg, now, now-c.rttStart)
	} else if c.tsOK {
		c.sampleRTT(seg, now, 0)
	}
	// Data bytes leave Send; the FIN's sequence number is not in it.
	data := acked
	if c.finSent && ack == c.finSeq.Add(1) {
		data--
	}
	c.Send.Consume(data)
	c.sndBase = c.sndBase.Add(uint32(data))
	c.sndUna = ack
	if c.sndNxt.LessThan(ack) {
		c.sndNxt = ack
	}
	if c.sndSmall.LessThan(ack) {
		c.sndSmall = ack // kept within reach of SND.UNA across wraps
	}
	if c.rxtEnd.LessThan(ack) {
		c.rxtEnd = ack
	}
	c.sacked.trim(ack)
	c.trimSent()
	return data
}

// finAcked moves the closing states on when SEG.ACK acknowledges our FIN
// (RFC 9293 3.10.7.4 fifth: FIN-WAIT-1, CLOSING, LAST-ACK). It returns
// false when the connection ended.
func (c *Conn) finAcked(ack Seq, now int64) bool {
	if c.finSent && ack == c.finSeq.Add(1) {
		switch c.state {
		case StateFinWait1:
			c.state = StateFinWait2
		case StateClosing:
			c.enterTimeWait(now)
			c.timeWaitClosed()
		case StateLastAck:
			c.terminate(nil)
			return false
		}
	}
	return true
}

// receive takes the segment's text (RFC 9293 3.10.7.4 seventh): in order
// into Recv, out of order into Recv's free space past the tail, recorded
// in the out-of-order blocks.
func (c *Conn) receive(seg *Segment, now int64) {
	h := c.host
	p := seg.Payload
	seq := seg.Seq
	if seg.Flags&FlagSYN != 0 {
		seq = seq.Add(1)
	}
	// Trim what was already received.
	if seq.LessThan(c.rcvNxt) {
		cut := int(c.rcvNxt.Sub(seq))
		if cut >= len(p) {
			c.ackNow = true // a duplicate: ACK at once (RFC 5681 4.2)
			if c.sackOK && len(p) > 0 {
				// Tell the sender with a D-SACK (RFC 2883): its
				// retransmission (a probe, say) was not needed.
				c.dsack, c.dsackPending = SACKBlock{Start: seq, End: seq.Add(uint32(len(p)))}, true
			}
			return
		}
		p, seq = p[cut:], c.rcvNxt
	}
	if off := int(seq.Sub(c.rcvNxt)); off > 0 {
		c.receiveOutOfOrder(seq, off, p)
		return
	}
	n := c.Recv.Write(p)
	if n < len(p) {
		h.counters[DropRecvBufferFull]++
	}
	if n == 0 {
		c.ackNow = true
		return
	}
	c.rcvNxt = c.rcvNxt.Add(uint32(n))
	h.counters[BytesIn] += uint64(n)
	c.joinOutOfOrder()
	c.delayACK(now)
	if c.finPending && c.finIn == c.rcvNxt {
		// The FIN held until now: finReceived tells the handler
		// (Readable, then Closed if that ends the connection).
		c.finPending = false
		c.finReceived(now)
		return
	}
	if c.handler != nil {
		c.handler.Readable(c)
	}
}

// receiveOutOfOrder keeps text that starts off bytes past RCV.NXT in
// Recv's free space and records its block for SACK; the ACK goes at once
// (RFC 5681 4.2).
func (c *Conn) receiveOutOfOrder(seq Seq, off int, p []byte) {
	h := c.host
	n := c.Recv.WriteAt(off, p)
	if n == 0 {
		h.counters[DropRecvBufferFull]++
		c.ackNow = true
		return
	}
	if !c.ooo.add(seq, seq.Add(uint32(n))) {
		h.counters[DropOOOFull]++
	} else {
		c.lastSACK = seq
	}
	c.ackNow = true
}

// joinOutOfOrder moves RCV.NXT over the out-of-order blocks that now
// continue the stream.
func (c *Conn) joinOutOfOrder() {
	if len(c.ooo.r) == 0 {
		return
	}
	filled := false
	for len(c.ooo.r) > 0 && c.ooo.r[0].Start.LessEq(c.rcvNxt) {
		b := c.ooo.r[0]
		if b.End.GreaterThan(c.rcvNxt) {
			more := int(b.End.Sub(c.rcvNxt))
			c.Recv.Commit(more)
			c.rcvNxt = b.End
			c.host.counters[BytesIn] += uint64(more)
		}
		c.ooo.trim(b.End)
		filled = true
	}
	if filled {
		c.ackNow = true // a hole filled: ACK at once
	}
}

// finReceived handles the peer's FIN once every byte before it arrived,
// and tells the handler: Readable (the stream has ended), then, when the
// FIN ends the connection (TIME-WAIT), Closed.
func (c *Conn) finReceived(now int64) {
	if c.peerFin {
		return
	}
	c.peerFin = true
	c.rcvNxt = c.rcvNxt.Add(1)
	c.ackNow = true
	switch c.state {
	case StateSynReceived, StateEstablished:
		c.state = StateCloseWait
	case StateFinWait1:
		if c.finSent && c.sndUna == c.finSeq.Add(1) {
			c.enterTimeWait(now)
		} else {
			c.state = StateClosing
		}
	case StateFinWait2:
		c.enterTimeWait(now)
	}
	if c.handler != nil {
		c.handler.Readable(c)
	}
	c.timeWaitClosed()
}
