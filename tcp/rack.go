package tcp

// What RACK (RFC 8985) records to decide: the send times of original
// transmissions (marks), the transmissions of a recovery episode, the
// reordering seen, and the reordering window. RACK is a trigger of loss
// recovery: a segment is lost once one sent after it has been delivered
// and a reordering window has passed since, however few segments were
// SACKed. Duplicate ACKs (RFC 6675's three segments) still start recovery
// too; RACK starts it sooner when fewer arrive (a small flight, the end of
// a burst). Inside recovery rackDetect applies the same rule to the
// episode's retransmissions. The decisions themselves (rackCheck,
// rackDetect) are in recovery.go.

// sentMark says that the original transmissions from seq on (up to the
// next mark) went between first and last (the same instant unless marks
// were merged).
type sentMark struct {
	seq         Seq
	first, last int64
}

// sentCap bounds the marks per connection (24 bytes each).
const sentCap = 64

// markSent records that new data from seq went at now.
func (c *Conn) markSent(seq Seq, now int64) {
	if n := len(c.sent); n > c.sentHead && c.sent[n-1].last == now {
		return // the same round: the last mark covers it
	}
	if len(c.sent) == cap(c.sent) {
		if c.sentHead > 0 {
			c.sent = c.sent[:copy(c.sent, c.sent[c.sentHead:])]
			c.sentHead = 0
		} else {
			// Merge the last two: their bytes went somewhere between the
			// first's first time and the second's last. RACK takes a
			// hole's time as the latest and a delivered segment's as the
			// earliest, so a merged mark can only delay a decision.
			n := len(c.sent)
			c.sent[n-2].last = c.sent[n-1].last
			c.sent = c.sent[:n-1]
		}
	}
	c.sent = append(c.sent, sentMark{seq: seq, first: now, last: now})
}

// trimSent drops the marks of acknowledged data.
func (c *Conn) trimSent() {
	if c.sndUna == c.sndMax {
		c.sent, c.sentHead = c.sent[:0], 0
		return
	}
	for c.sentHead+1 < len(c.sent) && c.sent[c.sentHead+1].seq.LessEq(c.sndUna) {
		c.sentHead++
	}
}

// forgetSent drops every mark: the data outstanding is being sent again
// (after an RTO), and the marks' times are no longer its own.
func (c *Conn) forgetSent() {
	c.sent, c.sentHead = c.sent[:0], 0
	c.reoAt = 0
}

// sentTime is when the original transmission of the byte at seq went, no
// earlier than first and no later than last; ok false when no mark covers
// it (sent again after an RTO).
func (c *Conn) sentTime(seq Seq) (first, last int64, ok bool) {
	if seq.GreaterEq(c.sndMax) {
		return 0, 0, false // not sent
	}
	for _, m := range c.sent[c.sentHead:] {
		if m.seq.GreaterThan(seq) {
			break
		}
		first, last, ok = m.first, m.last, true
	}
	return first, last, ok
}

// reoWnd is RACK's reordering window (RFC 8985 6.2 step 4): none before
// any reordering was seen once duplicate ACKs would count a loss (three
// segments SACKed) or in recovery; otherwise a quarter of the minimum
// RTT, times reoMult, at most SRTT.
func (c *Conn) reoWnd() int64 {
	if !c.reoSeen && (c.inRecovery || c.sacked.bytes() >= 3*c.mss) {
		return 0
	}
	return min(c.rackMinRTT()*int64(max(c.reoMult, 1))/4, c.rtt.SRTT())
}

// rackMinRTT is the minimum RTT for the reordering window: the
// estimator's, or RACK's own samples (delivered original segments, to the
// nanosecond) when those say more. With timestamps the estimator counts
// whole milliseconds, at least one: a tick low at times, which RACK's
// samples correct, and a floor that absorbs the reordering of hosts
// themselves (a sender's thread moving between CPUs reorders a veth's
// per-CPU backlogs by tens of microseconds: with a window of a quarter of
// a 100 us RTT, TestTCPLoss counted those as losses and ran slower).
func (c *Conn) rackMinRTT() int64 {
	return max(c.rtt.MinRTT(), c.rackMin)
}

// rackOnAck notes what an ACK says about reordering, before the
// connection's state moves on: a hole (SND.UNA up to the first SACK
// block) acknowledged without having been retransmitted was reordered,
// not lost; and a D-SACK (RFC 2883) widens the window (RFC 8985 6.2
// step 4), at most once per round trip.
func (c *Conn) rackOnAck(seg *Segment) {
	if !c.sackOK || c.sent == nil {
		return // RACK's trigger is off
	}
	if c.dsackWait && c.sndUna.GreaterEq(c.dsackRound) {
		c.dsackWait = false
	}
	if seg.Opts.NumSACK > 0 && !c.dsackWait {
		// A D-SACK is a first block below the cumulative ACK, or within
		// the second block (RFC 2883 4): a repeated first block is not
		// one (an ACK on a data segment carries the same blocks again).
		d, o := seg.Opts.SACK[0], seg.Opts.SACK[1]
		if d.End.LessEq(seg.Ack) || seg.Opts.NumSACK > 1 && o.Start.LessEq(d.Start) && d.End.LessEq(o.End) {
			c.reoMult = min(max(c.reoMult, 1)+1, 16)
			c.reoRecov = 0
			c.dsackRound, c.dsackWait = c.sndMax, true
		}
	}
	if !c.reoSeen && !c.inRecovery && !c.tlpOut && c.sndNxt == c.sndMax && len(c.sacked.r) > 0 && seg.Ack.GreaterThan(c.sndUna) &&
		c.sndUna.GreaterEq(c.rxtEnd) {
		c.reoSeen = true
		c.host.counters[RACKReorder]++
	}
}

// rackSent is one transmission of [start, end) at at.
type rackSent struct {
	start, end Seq
	at         int64
	retrans    bool // the range had been sent before
}

// rackCap bounds the transmissions recorded per recovery episode.
const rackCap = 64

// rackRecord records a transmission during recovery.
func (c *Conn) rackRecord(seq Seq, n int, now int64) {
	if len(c.rack) == cap(c.rack) {
		c.rack = c.rack[:copy(c.rack, c.rack[1:])]
	}
	c.rack = append(c.rack, rackSent{start: seq, end: seq.Add(uint32(n)), at: now, retrans: seq.LessThan(c.sndMax)})
}
