package tcp

// Loss recovery in one place: the SACK scoreboard's use (RFC 6675 pipe,
// NextSeg, IsLost), the decision to enter fast recovery (three duplicate
// ACKs, RFC 5681 3.2; early retransmit, RFC 5827; RACK's time rule, RFC
// 8985 6), what goes during it (SACK holes, or NewReno's partial ACKs, RFC
// 6582), RACK's rule for lost retransmissions, and the loss side of a tail
// loss probe (RFC 8985 7.4). What RACK records to decide (send times,
// reordering) is in rack.go; the timers that fire into recovery (the
// reordering timer, the PTO, the RTO) in timers.go.

// pipe estimates the bytes in the network (RFC 6675 SetPipe, with every
// hole below the highest SACKed byte taken as lost): what was sent past
// the highest SACK block, plus what was retransmitted into the holes.
// Without SACK, each duplicate ACK stands for a segment that left.
func (c *Conn) pipe() int {
	out := int(c.sndMax.Sub(c.sndUna))
	if !c.inRecovery {
		// After a timeout SND.NXT went back: what lies beyond it is
		// taken as lost.
		return int(c.sndNxt.Sub(c.sndUna)) - c.sackedBelow(c.sndNxt)
	}
	if !c.sackOK {
		return max(out-c.dupAcks*c.mss, 0)
	}
	high, ok := c.sacked.highest()
	if !ok {
		return out
	}
	p := int(c.sndMax.Sub(high))
	// Retransmitted hole bytes below highRxt are in flight again.
	if c.highRxt.GreaterThan(c.sndUna) {
		p += int(c.highRxt.Sub(c.sndUna)) - c.sackedBelow(c.highRxt)
	}
	return p
}

// sackedBelow is the SACKed bytes below seq.
func (c *Conn) sackedBelow(seq Seq) int {
	n := 0
	for _, b := range c.sacked.r {
		if b.Start.GreaterEq(seq) {
			break
		}
		n += int(minSeq(b.End, seq).Sub(b.Start))
	}
	return n
}

// nextHole returns the first byte at or after from that is not SACKed and
// lies below the highest SACK block, with the length up to the next SACK
// block; ok false when there is none.
func (c *Conn) nextHole(from Seq) (Seq, int, bool) {
	s := maxSeq(from, c.sndUna)
	for _, b := range c.sacked.r {
		if s.LessThan(b.Start) {
			return s, int(b.Start.Sub(s)), true
		}
		if s.LessThan(b.End) {
			s = b.End
		}
	}
	return 0, 0, false
}

// updateScoreboard adds an ACK's SACK blocks to the scoreboard (RFC 6675
// 4) and reports whether they SACKed anything new.
func (c *Conn) updateScoreboard(seg *Segment) bool {
	ack := seg.Ack
	newSACK := false
	if c.sackOK && seg.Opts.NumSACK > 0 {
		before := c.sacked.bytes()
		for i := 0; i < seg.Opts.NumSACK; i++ {
			b := seg.Opts.SACK[i]
			// Only blocks above SND.UNA and within what was sent count
			// (a D-SACK below SND.UNA says nothing about holes).
			if b.Start.GreaterEq(ack) && b.End.LessEq(c.sndMax) && b.Start.LessThan(b.End) {
				c.sacked.add(b.Start, b.End)
			}
		}
		newSACK = c.sacked.bytes() > before
	}
	return newSACK
}

// onOldAck handles an ACK that acknowledges nothing new (acked <= 0): a
// duplicate ACK counts towards fast recovery; new SACK blocks may let
// RACK decide.
func (c *Conn) onOldAck(seg *Segment, acked int, wndChanged, newSACK bool, now int64) {
	// A duplicate ACK (RFC 5681 2): nothing new, no data, the window
	// unchanged, data outstanding; with SACK, it must also report
	// data not SACKed before (RFC 6675 2): an ACK carrying only a
	// D-SACK, or blocks already known, says nothing of a loss.
	if acked == 0 && len(seg.Payload) == 0 && seg.Flags&(FlagSYN|FlagFIN) == 0 &&
		!wndChanged && c.sndMax != c.sndUna && (!c.sackOK || newSACK) {
		c.onDupAck(now)
	}
	if newSACK {
		c.rackCheck(now)
	}
}

// onDupAck counts a duplicate ACK and enters fast recovery at the third
// (RFC 5681 3.2), or earlier with SACK once three segments' worth above a
// hole are SACKed (RFC 6675 IsLost).
func (c *Conn) onDupAck(now int64) {
	c.dupAcks++
	if c.inRecovery {
		if c.sackOK {
			c.rackDetect(now)
			return // output sends what the pipe allows
		}
		return // NewReno: each dup ACK lets a segment out (pipe)
	}
	// DupThresh is 3, lowered for a small flight with nothing more to send
	// (early retransmit, RFC 5827): two segments out and the second one
	// SACKed (a tail loss probe's usual answer) is a loss.
	thresh := 3
	if out := (int(c.sndMax.Sub(c.sndUna)) + c.mss - 1) / c.mss; out < 4 && int(c.sndMax.Sub(c.sndBase)) >= c.Send.Len() {
		thresh = max(out-1, 1)
	}
	lost := c.dupAcks >= thresh
	if c.sackOK && c.sacked.bytes() >= thresh*c.mss {
		lost = true
	}
	if !lost {
		return
	}
	c.enterRecovery(now)
}

// enterRecovery starts fast recovery (RFC 5681 3.2, RFC 6675 5) and
// retransmits the first hole (SACK) or segment (NewReno).
func (c *Conn) enterRecovery(now int64) {
	h := c.host
	// It handles the loss a probe's episode was about.
	c.reoAt = 0
	if c.reoRecov++; c.reoRecov > 16 {
		c.reoMult, c.reoRecov = 1, 0 // RFC 8985 6.2 step 4: reo_wnd_persist
	}
	c.tlpAt, c.tlpOut = 0, false
	c.rack, c.rackAt = c.rack[:0], 0
	h.counters[RecoveryEntry]++
	h.counters[FastRetransmits]++
	c.inRecovery = true
	c.recover = c.sndMax
	c.cc.OnCongestion(int(c.sndMax.Sub(c.sndUna)), now)
	c.highRxt = c.sndUna
	if c.sackOK {
		h.counters[SACKRecovery]++
		// The first hole goes now regardless of the pipe (RFC 6675 5 step 4.3).
		if s, n, ok := c.nextHole(c.sndUna); ok {
			n = min(n, c.mss)
			if c.retransmit(s, n, now) {
				c.highRxt = s.Add(uint32(n))
			}
		}
		return
	}
	c.retransmit(c.sndUna, c.mss, now)
	c.highRxt = c.sndUna.Add(uint32(c.mss))
}

// recoveryOnAck is what an ACK of new data means to recovery: the end of
// fast recovery at RECOVER (RFC 6582 3.2 step 5, RFC 6675 5), a NewReno
// partial ACK's retransmission, RACK's look for lost retransmissions; and
// outside recovery, congestion control's growth (RFC 5681 3.1). SND.UNA
// has moved to ack already.
func (c *Conn) recoveryOnAck(ack Seq, acked int, now int64) {
	if c.inRecovery {
		if ack.GreaterEq(c.recover) {
			c.inRecovery = false
			c.dupAcks = 0
			c.rack, c.rackAt = c.rack[:0], 0
			c.cc.OnRecoveryExit(now)
		} else if !c.sackOK {
			// NewReno partial ACK (RFC 6582 3.2 step 5): retransmit the
			// next unacknowledged segment, deflate by what was acked.
			c.retransmit(c.sndUna, c.mss, now)
			c.dupAcks = max(c.dupAcks-acked/c.mss, 0)
		} else {
			if c.highRxt.LessThan(c.sndUna) {
				c.highRxt = c.sndUna
			}
			c.rackDetect(now)
		}
	} else {
		c.dupAcks = 0
		c.cc.OnAck(acked, c.rtt.SRTT(), c.pipe(), now)
	}
}

// retransmitHoles sends, within cwnd, the holes below the highest SACKed
// byte not yet retransmitted in this recovery (RFC 6675 NextSeg rule 1);
// without SACK, NewReno retransmits the first unacknowledged segment on
// entry and on each partial ACK (see onAck).
func (c *Conn) retransmitHoles(now int64) {
	if !c.sackOK {
		return
	}
	for c.cc.Cwnd()-c.pipe() >= c.mss {
		s, n, ok := c.nextHole(c.highRxt)
		if !ok {
			return
		}
		n = min(n, c.mss)
		if !c.retransmit(s, n, now) {
			return
		}
		c.highRxt = s.Add(uint32(n))
	}
}

// rackCheck runs on each ACK, and when the reordering timer fires, outside
// recovery: the first hole (at SND.UNA) is lost when a segment sent after
// it was SACKed and the reordering window has passed since that delivery
// would have been due; then recovery starts. Before that, the reordering
// timer waits for it. It needs Config.RACK (marks kept), SACK, marks for
// both segments (original transmissions: nothing from SND.UNA on was
// sent twice), and no tail probe or RTO retransmission outstanding.
func (c *Conn) rackCheck(now int64) {
	c.reoAt = 0
	if c.sent == nil || c.inRecovery || !c.sackOK || c.tlpOut || c.sndNxt != c.sndMax || !c.tlpState() || c.rtt.MinRTT() <= 0 ||
		c.sndUna.LessThan(c.rxtEnd) {
		return // the hole was sent again: its mark is not its time
	}
	fack, ok := c.sacked.highest()
	if !ok {
		return
	}
	// The hole went at the latest, the delivered segment at the
	// earliest, its mark allows: merged marks delay a decision only.
	_, hole, ok1 := c.sentTime(c.sndUna)
	last, _, ok2 := c.sentTime(fack.Add(^uint32(0)))
	if !ok1 || !ok2 {
		return
	}
	// RACK.xmit_ts, RACK.end_seq and RACK.rtt (RFC 8985 6.2 steps 1-2):
	// the most recently sent segment delivered (sent later, or at the
	// same time and ending higher), and its RTT when it was.
	if last > c.rackXmit || last == c.rackXmit && fack.GreaterThan(c.rackEnd) {
		c.rackXmit, c.rackEnd, c.rackRTT = last, fack, now-last
		if c.rackMin == 0 || c.rackRTT < c.rackMin {
			c.rackMin = max(c.rackRTT, 1)
		}
	}
	// Step 5: remaining = hole + RACK.rtt + reo_wnd - now.
	if wait := hole + c.rackRTT + c.reoWnd() - now; wait > 0 {
		c.reoAt = now + wait
		return
	}
	c.host.counters[RACKRecovery]++
	c.enterRecovery(now)
}

// rackDetect applies RACK's rule (RFC 8985 6.2) to the transmissions of
// the recovery episode, on an ACK: a segment not yet delivered (neither
// acknowledged nor SACKed) is lost when one sent at least a reordering
// window (min RTT / 4) after it has been delivered; it goes again at once.
// Fast recovery (RFC 6675) finds the first losses; this finds the
// retransmissions that were lost too, which would otherwise wait for the
// RTO.
func (c *Conn) rackDetect(now int64) {
	minRTT := c.rtt.MinRTT()
	for _, r := range c.rack {
		// A retransmission acknowledged sooner than the minimum RTT
		// after it went was the original's delivery (RFC 8985 6.2
		// step 2): it says nothing of when the retransmission left.
		if r.at > c.rackAt && (r.end.LessEq(c.sndUna) || c.sacked.covers(r.start, r.end)) && (!r.retrans || now-r.at >= minRTT) {
			c.rackAt = r.at
		}
	}
	latest := c.rackAt
	if latest == 0 {
		return
	}
	reo := c.rtt.MinRTT() / 4
	var lost [8]rackSent
	nl := 0
	keep := c.rack[:0]
	for _, r := range c.rack {
		switch {
		case r.end.LessEq(c.sndUna) || c.sacked.covers(r.start, r.end):
			// Delivered.
		case r.at+reo <= latest && nl < len(lost):
			lost[nl] = r
			nl++
		default:
			keep = append(keep, r)
		}
	}
	c.rack = keep
	for _, r := range lost[:nl] {
		s := maxSeq(r.start, c.sndUna)
		if !s.LessThan(r.end) {
			continue
		}
		if !c.retransmit(s, int(r.end.Sub(s)), now) {
			// The link refused it: it stays lost, found again on the
			// next ACK (output's retry does not know it).
			if len(c.rack) < cap(c.rack) {
				c.rack = append(c.rack, r)
			}
			continue
		}
		c.host.counters[RACKLost]++
	}
}

// tlpAck ends a probe's episode (RFC 8985 7.4): a D-SACK (RFC 2883: a
// first SACK block below the cumulative ACK) for the probe's data says
// the original arrived; an ACK beyond tlpHigh without one says the probe
// repaired a loss, to which congestion control reacts as to any other.
func (c *Conn) tlpAck(seg *Segment, newSACK bool, now int64) {
	if !c.tlpOut || seg.Ack.LessThan(c.tlpHigh) {
		return
	}
	if d := seg.Opts.SACK[0]; seg.Opts.NumSACK > 0 && d.End.LessEq(seg.Ack) && d.Start.LessThan(c.tlpHigh) && c.tlpSeq.LessThan(d.End) {
		c.tlpOut = false
		return
	}
	if seg.Ack == c.tlpHigh && seg.Ack == c.sndUna && len(seg.Payload) == 0 && !newSACK {
		// A pure duplicate ACK at tlpHigh, everything up to it already
		// acknowledged: the original and the probe both arrived (the
		// peer sends no D-SACK).
		c.tlpOut = false
		return
	}
	if seg.Ack.GreaterThan(c.tlpHigh) {
		c.tlpOut = false
		c.host.counters[TLPRepairs]++
		// The loss the probe repaired, answered as any other, from the
		// congestion window (the flight may be small by now).
		c.cc.OnCongestion(max(c.cc.Cwnd(), int(c.sndMax.Sub(c.sndUna))), now)
		c.cc.OnRecoveryExit(now)
	}
}
