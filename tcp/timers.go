package tcp

// Every timer of a connection, armed and fired: retransmission (RFC 6298),
// tail loss probe (RFC 8985 7), zero-window probe (persist, RFC 9293
// 3.8.6.1), keepalive (RFC 9293 3.8.4, RFC 1122 4.2.3.6), delayed ACK (RFC
// 9293 3.8.6.3), TIME-WAIT (2*MSL) and the link's retry. The Host files
// each connection's earliest deadline in its wheel (wheel.go) and calls
// tick when it is due.

// deadline is the earliest armed timer, or 0.
func (c *Conn) deadline() int64 {
	d := int64(0)
	for _, t := range [...]int64{c.rtoAt, c.delackAt, c.persistAt, c.keepAt, c.twAt, c.retryAt, c.tlpAt, c.reoAt} {
		if t != 0 && (d == 0 || t < d) {
			d = t
		}
	}
	return d
}

// tick fires the connection's due timers.
func (c *Conn) tick(now int64) {
	if c.twAt != 0 && now >= c.twAt {
		c.twAt = 0
		c.terminate(nil)
		return
	}
	if c.reoAt != 0 && now >= c.reoAt {
		c.reoAt = 0
		was := c.inRecovery
		c.rackCheck(now)
		if !was && c.inRecovery {
			// Recovery took the loss: the RTO starts over (a late tick
			// may find it due too), as after a probe.
			c.rtoAt = now + c.rtt.RTO()
			c.output(now)
		}
	}
	if c.tlpAt != 0 && now >= c.tlpAt {
		// Before the RTO: a PTO clipped to the RTO's deadline probes
		// instead (RFC 8985 7.2), and re-arms the RTO.
		c.tlpAt = 0
		c.onPTO(now)
	}
	if c.rtoAt != 0 && now >= c.rtoAt {
		c.rtoAt = 0
		c.onRTO(now)
		if c.state == StateClosed {
			return
		}
	}
	if c.persistAt != 0 && now >= c.persistAt {
		c.persistAt = 0
		c.probeWindow(now)
	}
	if c.delackAt != 0 && now >= c.delackAt {
		c.delackAt = 0
		if c.unacked > 0 {
			c.ackNow = true
			c.host.counters[DelayedACKs]++
			c.output(now)
		}
	}
	if c.keepAt != 0 && now >= c.keepAt {
		c.keepAt = 0
		c.keepalive(now)
	}
	if c.retryAt != 0 && now >= c.retryAt {
		c.retryAt = 0
		if c.state != StateClosed {
			c.output(now)
		}
	}
}

// armRTO starts the retransmission timer if it is not running.
func (c *Conn) armRTO(now int64) {
	if c.rtoAt == 0 {
		c.rtoAt = now + c.rtt.RTO()
	}
}

// restartRTO restarts the retransmission timer (RFC 6298 5.3), or stops it
// when nothing is outstanding.
func (c *Conn) restartRTO(now int64) {
	if c.sndMax == c.sndUna {
		c.rtoAt = 0
		return
	}
	c.rtoAt = now + c.rtt.RTO()
}

// onRTO handles a retransmission timeout (RFC 6298 5.4-5.7, RFC 5681 3.1):
// back off, collapse cwnd, and go back to SND.UNA.
func (c *Conn) onRTO(now int64) {
	h := c.host
	switch c.state {
	case StateSynSent, StateSynReceived:
		if c.retries++; c.retries > h.cfg.SynRetries {
			h.counters[Timeouts]++
			c.terminate(ErrTimeout)
			return
		}
		c.rtt.Backoff()
		flags := FlagSYN
		if c.state == StateSynReceived {
			flags |= FlagACK
		}
		h.counters[Retransmits]++
		h.counters[RTOs]++
		h.counters[SynRetransmits]++
		c.sendSegment(c.iss, flags, 0, 0, now)
		c.rtoAt = now + c.rtt.RTO()
		return
	}
	if c.sndMax == c.sndUna {
		return
	}
	if c.retries++; c.retries > h.cfg.Retries {
		h.counters[Timeouts]++
		h.sendRST(c.local, c.remote, c.sndNxt, 0, false)
		c.terminate(ErrTimeout)
		return
	}
	h.counters[RTOs]++
	c.tlpAt, c.tlpOut = 0, false
	c.rack, c.rackAt = c.rack[:0], 0
	c.forgetSent()
	c.cc.OnRTO(int(c.sndMax.Sub(c.sndUna)), now) // FlightSize (RFC 5681 eq. 4), not the pipe
	c.rtt.Backoff()
	c.inRecovery, c.dupAcks = false, 0
	c.recover = c.sndMax
	c.sacked.reset()
	c.rttTiming = false
	c.sndNxt = c.sndUna
	if c.finSent && c.sndUna == c.finSeq.Add(1) {
		return
	}
	if c.finSent && c.sndNxt.LessEq(c.finSeq) {
		c.finSent = false // sent again with the data before it
	}
	c.rtoAt = 0
	c.output(now)
	c.rtoAt = now + c.rtt.RTO()
}

// tlpDelAck is WCDelAckT (RFC 8985 7.2): how long a receiver may delay
// the ACK of a lone segment; a probe after one segment waits that too.
const tlpDelAck = 200 * millisecond

// armTLP starts or restarts the probe timeout after new data went or new
// data was acknowledged (RFC 8985 7.2), where a probe may go: SACK on, an
// open state, data outstanding, no recovery (fast or after an RTO) and no
// probe's episode running. PTO = 2*SRTT, plus WCDelAckT when one segment
// is out (its ACK may be delayed) or 2 ms otherwise; 1 s before an RTT
// sample; never later than the RTO's deadline.
func (c *Conn) armTLP(now int64) {
	c.tlpAt = 0
	if !c.host.cfg.TLP || !c.sackOK || c.tlpOut || c.inRecovery || c.sndMax == c.sndUna || c.sndNxt != c.sndMax || !c.tlpState() {
		return
	}
	pto := second
	if srtt := c.rtt.SRTT(); srtt > 0 {
		pto = 2 * srtt
		if int(c.sndMax.Sub(c.sndUna)) <= c.mss {
			pto += tlpDelAck
		} else {
			pto += 2 * millisecond
		}
	}
	c.tlpAt = now + pto
	if c.rtoAt != 0 && c.rtoAt < c.tlpAt {
		c.tlpAt = c.rtoAt
	}
}

// onPTO sends a tail loss probe (RFC 8985 7.3): a segment of new data if
// the peer's window takes it, else the last segment sent again; then the
// RTO starts over. The probe's ACK (with SACK) brings loss recovery, or
// its retransmission repairs a lost last segment outright.
func (c *Conn) onPTO(now int64) {
	if c.tlpOut || c.inRecovery || c.sndMax == c.sndUna || c.sndNxt != c.sndMax || !c.tlpState() {
		return
	}
	before := c.sndNxt
	if c.Send.Len() > int(c.sndNxt.Sub(c.sndBase)) && c.sndUna.Add(c.sndWnd).GreaterThan(c.sndNxt) {
		c.tlpProbe = true
		c.output(now)
		c.tlpProbe = false
	}
	if c.sndNxt == before {
		end := c.sndMax
		if c.finSent {
			end = c.finSeq // the FIN goes with the last data, or alone
		}
		n := min(c.mss, int(end.Sub(c.sndUna)))
		seq := end.Add(-uint32(n))
		if !c.retransmit(seq, n, now) {
			c.tlpAt = now + linkRetry // the link refused it: probe again soon
			return
		}
		c.tlpOut, c.tlpSeq, c.tlpHigh = true, seq, c.sndNxt
	}
	c.host.counters[TLPProbes]++
	c.tlpAt = 0
	c.rtoAt = now + c.rtt.RTO()
}

// tlpState: the states in which a probe may go (data or a FIN outstanding
// on a synchronized connection).
func (c *Conn) tlpState() bool {
	switch c.state {
	case StateEstablished, StateCloseWait, StateFinWait1, StateClosing, StateLastAck:
		return true
	}
	return false
}

// delayACK counts a segment of in-order text: the ACK goes at once for
// every second one, else when the delayed-ACK timer fires (RFC 9293
// 3.8.6.3, RFC 5681 4.2).
func (c *Conn) delayACK(now int64) {
	c.unacked++
	if c.unacked >= 2 || c.host.cfg.DelayedACK == 0 {
		c.ackNow = true
	} else if c.delackAt == 0 {
		c.delackAt = now + c.host.cfg.DelayedACK
	}
}

// armKeepalive starts the keepalive timer when it is configured and not
// running (RFC 9293 3.8.4).
func (c *Conn) armKeepalive(now int64) {
	if c.keepAt == 0 && c.host.cfg.Keepalive > 0 {
		c.keepAt = now + c.host.cfg.Keepalive
	}
}

// persistTimeout is the zero-window probe interval: the RTO, backed off.
func (c *Conn) persistTimeout() int64 {
	t := c.rtt.RTO() << c.persistShift
	if max := c.host.cfg.MaxRTO; t > max {
		t = max
	}
	return t
}

// probeWindow sends a zero-window probe (RFC 9293 3.8.6.1), which the
// peer answers with its window.
func (c *Conn) probeWindow(now int64) {
	off := int(c.sndNxt.Sub(c.sndBase))
	if c.sndWnd > 0 || c.Send.Len()-off <= 0 || !c.state.synchronized() {
		c.persistShift = 0
		return
	}
	c.host.counters[ZeroWindowProbes]++
	// SEG.SEQ = SND.UNA-1 and no data, as Linux probes: an old sequence
	// number the peer must answer with an ACK carrying its window, and
	// no sequence space taken.
	c.sendSegment(c.sndUna.Add(^uint32(0)), FlagACK, 0, 0, now)
	if c.persistShift < 6 {
		c.persistShift++
	}
	c.persistAt = now + c.persistTimeout()
}

// keepalive sends a keepalive probe (RFC 9293 3.8.4: SEG.SEQ = SND.NXT-1)
// or ends an idle connection whose probes went unanswered.
func (c *Conn) keepalive(now int64) {
	cfg := &c.host.cfg
	if cfg.Keepalive <= 0 || !c.state.synchronized() {
		return
	}
	if now-c.lastRecv < cfg.Keepalive {
		c.keepAt = c.lastRecv + cfg.Keepalive
		c.keepProbes = 0
		return
	}
	if c.keepProbes >= cfg.KeepaliveProbes {
		c.host.counters[Timeouts]++
		c.terminate(ErrTimeout)
		return
	}
	c.keepProbes++
	c.host.counters[KeepalivesSent]++
	c.sendSegment(c.sndNxt.Add(^uint32(0)), FlagACK, 0, 0, now)
	c.keepAt = now + cfg.KeepaliveInterval
}

// enterTimeWait starts TIME-WAIT's 2*MSL timer; the other timers stop.
// The handler hears of it from timeWaitClosed, once it has heard the
// rest (the end of the stream).
func (c *Conn) enterTimeWait(now int64) {
	c.state = StateTimeWait
	c.host.counters[TimeWaitEntered]++
	c.rtoAt, c.persistAt, c.keepAt, c.delackAt, c.tlpAt, c.reoAt = 0, 0, 0, 0, 0, 0
	c.twAt = now + c.host.cfg.TimeWait
	if c.host.cfg.TimeWait <= 0 {
		c.twAt = now + 1
	}
	if tw := c.host.counters.InTimeWait(); c.host.cfg.MaxTimeWait > 0 && tw > uint64(c.host.cfg.MaxTimeWait) {
		// Over the bound (Linux's tcp_max_tw_buckets): no TIME-WAIT, the
		// connection goes at the next tick (after the ACK it owes).
		c.host.counters[TimeWaitOverflow]++
		c.twAt = now + 1
	}
}

// timeWaitClosed tells the handler that the connection closed in order,
// as TIME-WAIT begins: Closed is the last call it gets for c. A handler
// that ended the connection meanwhile (Abort) heard its own Closed. Then
// the buffers go back to the Host (pool.go): no data moves in TIME-WAIT.
func (c *Conn) timeWaitClosed() {
	if c.state != StateTimeWait {
		return
	}
	c.notify(nil)
	if c.state == StateTimeWait {
		c.host.timeWaitBuffers(c)
	}
}
