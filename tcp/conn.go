package tcp

import (
	"errors"
	"net/netip"
)

// State is a connection's RFC 9293 state.
type State uint8

const (
	StateClosed State = iota
	StateListen
	StateSynSent
	StateSynReceived
	StateEstablished
	StateFinWait1
	StateFinWait2
	StateCloseWait
	StateClosing
	StateLastAck
	StateTimeWait
)

var stateNames = [...]string{"CLOSED", "LISTEN", "SYN-SENT", "SYN-RECEIVED", "ESTABLISHED",
	"FIN-WAIT-1", "FIN-WAIT-2", "CLOSE-WAIT", "CLOSING", "LAST-ACK", "TIME-WAIT"}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "UNKNOWN"
}

// synchronized reports whether the state is past the handshake (RFC 9293
// 3.10.7.4 applies).
func (s State) synchronized() bool { return s >= StateEstablished }

// Errors a connection ends with, passed to Handler.Closed.
var (
	ErrReset     = errors.New("tcp: connection reset by peer")
	ErrRefused   = errors.New("tcp: connection refused")
	ErrTimeout   = errors.New("tcp: connection timed out (no acknowledgement after every retransmission)")
	ErrAborted   = errors.New("tcp: connection aborted")
	ErrTableFull = errors.New("tcp: connection table full")
	ErrNoPort    = errors.New("tcp: no free ephemeral port for this destination")
	ErrClosing   = errors.New("tcp: connection is closing")
)

// Handler receives a connection's events on the engine goroutine. Its
// methods must not block.
type Handler interface {
	// Established is called once the handshake completes.
	Established(c *Conn)
	// Readable is called when new in-order data is in c.Recv, or the peer
	// closed its side (c.PeerClosed).
	Readable(c *Conn)
	// Writable is called when acknowledgements made room in c.Send.
	Writable(c *Conn)
	// Closed is called once, when the connection is gone: err is nil after
	// an orderly close, ErrReset, ErrRefused, ErrTimeout or ErrAborted.
	// After an orderly close it comes as TIME-WAIT begins: the connection
	// lingers in the table for 2*MSL, but nothing more can happen to it
	// that its user could see.
	Closed(c *Conn, err error)
}

// Conn is one TCP connection. Every method runs on its Host's goroutine,
// except Send.Write and Recv.Read/Peek/Consume, which the connection's one
// writer and one reader may call from theirs (Buffer is a lock-free ring);
// tell the Host's goroutine about them with Update.
type Conn struct {
	host    *Host
	handler Handler
	state   State
	local   netip.AddrPort
	remote  netip.AddrPort
	k       key

	// Send sequence space (RFC 9293 3.3.1). sndMax is the highest
	// sequence number sent plus one; sndNxt goes back to SND.UNA after a
	// retransmission timeout.
	iss, sndUna, sndNxt, sndMax Seq
	sndSmall                    Seq    // end of the last short segment (Nagle)
	sndWnd                      uint32 // peer's window, scaled
	maxSndWnd                   uint32
	sndWl1, sndWl2              Seq
	sndShift                    uint8
	mss                         int // send MSS: the peer's MSS option, our MTU
	// Send holds the bytes from SND.UNA (sndBase is the sequence number
	// of its first byte) to the last byte written.
	Send    *Buffer
	sndBase Seq
	// finQueued: Close asked for a FIN; finSent: it was sent at finSeq.
	finQueued, finSent bool
	finSeq             Seq
	synAcked           bool

	// Receive sequence space.
	irs, rcvNxt Seq
	rcvShift    uint8
	rcvAdv      Seq // right edge of the window last advertised
	Recv        *Buffer
	ooo         ranges // out-of-order blocks held past Recv's tail
	lastSACK    Seq    // start of the most recently changed block
	// dsack is a duplicate segment's range, reported as the first SACK
	// block of the next ACK while dsackPending (RFC 2883).
	dsack        SACKBlock
	dsackPending bool
	peerFin      bool
	finPending   bool // the peer's FIN arrived out of order at finIn
	finIn        Seq

	// Negotiated options.
	sackOK, tsOK, wsOK bool
	tsRecent           uint32
	tsOffset           uint32
	lastAckSent        Seq

	// Round-trip time and congestion control.
	rtt        RTTEstimator
	rttTiming  bool
	rttSeq     Seq
	rttStart   int64
	cc         CongestionControl
	dupAcks    int
	inRecovery bool
	recover    Seq
	highRxt    Seq
	sacked     ranges // blocks the peer SACKed, above SND.UNA

	// ACK state: segments received since the last ACK we sent, and
	// whether one must go now.
	unacked int
	ackNow  bool

	// Timers, absolute ns; 0: off. retryAt: the link refused a segment
	// (no frame free), output tries again then.
	rtoAt, delackAt, persistAt, keepAt, twAt, retryAt int64
	// rack records the transmissions of a recovery episode, in the
	// order they went, for RACK's rule (RFC 8985 6.2): a segment is lost
	// once one sent a reordering window after it has been delivered.
	// Fixed capacity; the oldest record goes when it is full. rackAt
	// (RACK.xmit_ts) is the latest transmission time delivered in the
	// episode.
	rack   []rackSent
	rackAt int64
	// RACK outside recovery (RFC 8985 6; nil sent: Config.RACK off): the
	// send times of original transmissions, as marks (the first new byte
	// an output round sent, and when) in sent[sentHead:], sequence and
	// time both rising. Fixed capacity: when full, the last two marks
	// merge into a span (first, last), which can only delay a loss
	// decision (see markSent). reoAt is the reordering timer; reoSeen: a hole was filled
	// without a retransmission (the path reorders); reoMult scales the
	// reordering window after D-SACKs (at most once per round trip, until
	// dsackRound is acknowledged), back to 1 after 16 recoveries.
	sent       []sentMark
	sentHead   int
	reoAt      int64
	rxtEnd     Seq   // end of the highest range sent more than once; kept within reach of SND.UNA
	rackXmit   int64 // RACK.xmit_ts of original transmissions
	rackEnd    Seq   // RACK.end_seq
	rackRTT    int64 // RACK.rtt: when rackXmit's segment was delivered, less rackXmit
	rackMin    int64 // the least rackRTT: RACK's min RTT
	reoSeen    bool
	reoMult    int
	reoRecov   int
	dsackRound Seq
	dsackWait  bool
	// Tail loss probe (RFC 8985 7): tlpAt is the probe timeout (PTO).
	// tlpOut (TLPRxtOut): a probe resent old data, and tlpHigh
	// (TLPHighRxt) was SND.NXT then; the episode ends with a D-SACK for
	// the probe (the original arrived) or with an ACK beyond tlpHigh
	// (the probe repaired a loss: congestion control reacts). tlpProbe
	// tells output to send one segment past the congestion window.
	tlpAt        int64
	tlpSeq       Seq // where the probe's retransmission began
	tlpHigh      Seq
	tlpOut       bool
	tlpProbe     bool
	retries      int
	persistShift uint
	keepProbes   int
	lastRecv     int64

	err      error
	notified bool
	removed  bool
	listener *Listener
	// listIdx is the connection's index in Host.list. tNext, tPrev link
	// it in the timer wheel's slot tSlot (-1: not filed), under the
	// deadline tAt; touched: it waits in Host.touched to be filed anew.
	listIdx      int
	tNext, tPrev *Conn
	tAt          int64
	tSlot        int32
	touched      bool
	// User is free for the application (the handler's per-connection
	// state).
	User any
}

// State returns the connection's state.
func (c *Conn) State() State { return c.state }

// LocalAddr and RemoteAddr are the connection's endpoints.
func (c *Conn) LocalAddr() netip.AddrPort  { return c.local }
func (c *Conn) RemoteAddr() netip.AddrPort { return c.remote }

// PeerClosed reports whether the peer sent its FIN and every byte before
// it is in Recv: once Recv is read empty, the stream has ended.
func (c *Conn) PeerClosed() bool { return c.peerFin }

// Err is why the connection ended, once it has.
func (c *Conn) Err() error { return c.err }

// MSS is the send MSS in use.
func (c *Conn) MSS() int { return c.mss }

// SRTT is the smoothed round-trip time, in ns (0 before a sample).
func (c *Conn) SRTT() int64 { return c.rtt.SRTT() }

// Cwnd is the congestion window in bytes.
func (c *Conn) Cwnd() int { return c.cc.Cwnd() }

// InFlight is the number of bytes sent and not yet acknowledged.
func (c *Conn) InFlight() int { return int(c.sndMax.Sub(c.sndUna)) }

// Options reports what the handshake negotiated: SACK, timestamps, and
// the window scale shifts each way (-1: no window scaling).
func (c *Conn) Options() (sack, timestamps bool, sendShift, recvShift int) {
	if !c.wsOK {
		return c.sackOK, c.tsOK, -1, -1
	}
	return c.sackOK, c.tsOK, int(c.sndShift), int(c.rcvShift)
}

// Update runs the connection after its writer or reader moved a Buffer:
// it sends what was written, and a window update when reading opened the
// window. Call it on the Host's goroutine.
func (c *Conn) Update(now int64) {
	if c.state == StateClosed || c.removed {
		return
	}
	c.host.touch(c)
	if c.windowUpdateDue() {
		c.ackNow = true
		c.host.counters[WindowUpdates]++
	}
	c.output(now)
}

// Close starts an orderly close: everything written is sent, then a FIN.
// The connection stays readable until the peer's FIN.
func (c *Conn) Close(now int64) {
	switch c.state {
	case StateSynSent:
		c.terminate(nil)
		return
	case StateSynReceived, StateEstablished:
		c.state = StateFinWait1
	case StateCloseWait:
		c.state = StateLastAck
	default:
		return
	}
	c.host.touch(c)
	c.finQueued = true
	c.output(now)
}

// Abort resets the connection (RFC 9293 3.10.5): a RST goes to the peer
// and the connection ends with ErrAborted.
func (c *Conn) Abort() {
	if c.state == StateClosed || c.removed {
		return
	}
	if c.state.synchronized() || c.state == StateSynReceived {
		c.host.sendRST(c.local, c.remote, c.sndNxt, 0, false)
	}
	c.terminate(ErrAborted)
}

// terminate ends the connection with err and removes it from the table.
func (c *Conn) terminate(err error) {
	c.state = StateClosed
	c.err = err
	c.rtoAt, c.delackAt, c.persistAt, c.keepAt, c.twAt, c.retryAt, c.tlpAt, c.reoAt = 0, 0, 0, 0, 0, 0, 0, 0
	c.host.remove(c)
	c.notify(err)
}

// notify calls the handler's Closed, once.
func (c *Conn) notify(err error) {
	if !c.notified {
		c.notified = true
		if c.handler != nil {
			c.handler.Closed(c, err)
		}
	}
}

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

// tsNow is the timestamp clock: milliseconds, offset per connection
// (RFC 7323 5.4 recommends a random offset).
func (c *Conn) tsNow(now int64) uint32 { return uint32(now/millisecond) + c.tsOffset }

// rcvWindow is the window to advertise: the room in Recv (out-of-order
// blocks sit inside it). Since RCV.NXT moves with what Recv holds, the
// right edge never moves left.
func (c *Conn) rcvWindow() uint32 {
	if c.Recv == nil {
		// Before the handshake completes: the buffer to come.
		return min(uint32(bufferCap(c.host.cfg.RecvBuffer)), uint32(65535)<<c.rcvShift)
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
	*o = Options{}
	if flags&FlagSYN != 0 {
		o.MSS = uint16(h.cfg.MSS)
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
	cfg := &c.host.cfg
	if c.Send == nil {
		return // not established yet
	}
	if c.inRecovery {
		c.retransmitHoles(now)
	}
	sentNew := false
	for {
		off := int(c.sndNxt.Sub(c.sndBase))
		avail := c.Send.Len() - off
		if avail <= 0 {
			break
		}
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
			break
		}
		retx := c.sndNxt.LessThan(c.sndMax)
		if n < c.mss && n < avail && !retx && n < int(c.maxSndWnd/2) && c.sndMax != c.sndUna && !c.tlpProbe {
			// A window- or cwnd-limited short segment waits while data is
			// in flight: sender-side SWS avoidance (RFC 9293 3.8.6.2.1);
			// the ACK brings output back. With nothing in flight no ACK
			// would come, so it goes (what the RFC's override timeout is
			// for; holding it stalled connections whose peer advertised
			// less than half its largest window).
			break
		}
		if n < c.mss && n == avail && !cfg.NoDelay && !retx && !c.finQueued && c.sndSmall.GreaterThan(c.sndUna) && !c.tlpProbe {
			// Nagle (RFC 9293 3.7.4) as Minshall refined it: hold a
			// short segment while an earlier short one is unacknowledged.
			break
		}
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
		if !retx {
			sentNew = true
		}
		if c.tlpProbe {
			break // one segment
		}
	}
	if sentNew && !c.tlpProbe {
		c.armTLP(now)
	}
	// A FIN with no data to carry it.
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
	if c.ackNow {
		c.sendACK(now)
	}
	if c.keepAt == 0 && c.host.cfg.Keepalive > 0 {
		c.keepAt = now + c.host.cfg.Keepalive
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

// tlpState: the states in which a probe may go (data or a FIN outstanding
// on a synchronized connection).
func (c *Conn) tlpState() bool {
	switch c.state {
	case StateEstablished, StateCloseWait, StateFinWait1, StateClosing, StateLastAck:
		return true
	}
	return false
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

// Sequence returns SND.UNA, SND.NXT and RCV.NXT, for diagnostics and
// tests.
func (c *Conn) Sequence() (sndUna, sndNxt, rcvNxt Seq) { return c.sndUna, c.sndNxt, c.rcvNxt }

// PeerWindow is the peer's receive window (scaled), as last advertised.
func (c *Conn) PeerWindow() int { return int(c.sndWnd) }
