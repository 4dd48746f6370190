package tcp

// The three-way handshake (RFC 9293 3.5): SYN-SENT's arm of segment
// arrival (3.10.7.3, simultaneous open included), the options a SYN
// negotiates, and the move to ESTABLISHED, which gives the connection its
// buffers. Active opens start in Host.Dial, passive ones in listen.go.

// inputSynSent handles a segment in SYN-SENT (RFC 9293 3.10.7.3).
func (c *Conn) inputSynSent(seg *Segment, now int64) {
	h := c.host
	if seg.Flags&FlagACK != 0 && (seg.Ack.LessEq(c.iss) || seg.Ack.GreaterThan(c.sndMax)) {
		if seg.Flags&FlagRST == 0 {
			h.sendRST(c.local, c.remote, seg.Ack, 0, false)
		}
		h.counters[DropBadACK]++
		return
	}
	if seg.Flags&FlagRST != 0 {
		if seg.Flags&FlagACK != 0 {
			h.counters[ResetsIn]++
			c.terminate(ErrRefused)
		} else {
			h.counters[DropBadRST]++
		}
		return
	}
	if seg.Flags&FlagSYN == 0 {
		h.counters[DropState]++
		return
	}
	c.irs = seg.Seq
	c.rcvNxt = seg.Seq.Add(1)
	c.negotiate(&seg.Opts)
	if seg.Flags&FlagACK != 0 {
		// SYN-ACK: ESTABLISHED.
		c.sndUna = seg.Ack
		c.sndWnd = uint32(seg.Window) // never scaled in a SYN
		c.maxSndWnd = c.sndWnd
		c.sndWl1, c.sndWl2 = seg.Seq, seg.Ack
		timed := int64(0)
		if c.retries == 0 {
			timed = now - c.rttStart // Karn: not after a retransmitted SYN
		}
		c.rttTiming = false
		c.sampleRTT(seg, now, timed)
		c.rtoAt = 0
		c.establish(now)
		if c.state == StateClosed {
			return // the handler aborted it
		}
		c.ackNow = true
		if len(seg.Payload) > 0 {
			c.receive(seg, now)
		}
		c.output(now)
		return
	}
	// Simultaneous open (RFC 9293 3.5): SYN-RECEIVED, answer SYN-ACK.
	c.state = StateSynReceived
	c.sndWnd = uint32(seg.Window) // unscaled in a SYN
	c.ackNow = true
	c.output(now)
}

// negotiate takes the peer's SYN options: MSS (RFC 9293 3.7.1, RFC 6691),
// window scale (RFC 7323 2), SACK-permitted (RFC 2018), timestamps.
func (c *Conn) negotiate(o *Options) {
	cfg := &c.host.cfg
	mss := defaultMSS(c.remote.Addr()) // RFC 9293 3.7.1: the default without the option
	if o.MSS != 0 {
		mss = int(o.MSS)
	}
	c.mss = max(min(mss, c.host.mssFor(c.remote.Addr())), 64)
	if cfg.WindowScale && o.HasWScale {
		c.wsOK = true
		c.sndShift = min(o.WScale, 14)
	} else {
		c.wsOK = false
		c.sndShift, c.rcvShift = 0, 0
	}
	c.sackOK = cfg.SACK && o.SACKPermitted
	c.tsOK = cfg.Timestamps && o.HasTimestamps
	if c.tsOK {
		c.tsRecent = o.TSVal
		c.mss -= 12 // every segment carries the option
	}
}

// establish moves the connection to ESTABLISHED and tells the handler.
func (c *Conn) establish(now int64) {
	h := c.host
	c.state = StateEstablished
	c.synAcked = true
	if c.Send == nil {
		c.Send, c.Recv = h.takeBuffers()
	}
	if c.sackOK && c.rack == nil {
		if c.rackMem == nil {
			c.rackMem = make([]rackSent, 0, rackCap)
		}
		c.rack = c.rackMem[:0]
		if h.cfg.RACK {
			if c.sentMem == nil {
				c.sentMem = make([]sentMark, 0, sentCap)
			}
			c.sent = c.sentMem[:0] // nil: no marks kept
		}
	}
	c.sndUna = c.iss.Add(1)
	c.sndBase = c.sndUna
	c.rxtEnd = c.sndUna
	c.sndSmall = c.sndUna // no short segment in flight
	c.retries = 0
	// The SYN is acknowledged and nothing else is outstanding: the SYN's
	// timer stops, or data sent soon after would inherit its deadline
	// and be retransmitted early.
	c.rtoAt = 0
	c.rtt.ResetBackoff()
	c.cc.Init(c.mss, now)
	h.counters[Established]++
	if c.listener != nil {
		h.synRecv--
		l := c.listener
		if l.accept != nil {
			c.handler = l.accept(c)
		}
	}
	if c.handler != nil {
		c.handler.Established(c)
	}
	if c.finQueued && c.state == StateEstablished {
		c.state = StateFinWait1
	}
}
