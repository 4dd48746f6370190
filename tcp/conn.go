package tcp

// The Conn type: a connection's state and variables (RFC 9293 3.3.1's
// sequence spaces, the negotiated options, the timers' deadlines), its
// accessors, and the calls that end it (Close, Abort). Its behaviour is
// split by concern: the handshake in handshake.go, segment arrival in
// input.go, what goes on the wire in output.go, timers in timers.go, loss
// recovery in recovery.go and rack.go.

import (
	"errors"
	"net/netip"
)

// Errors a connection ends with, passed to Handler.Closed.
var (
	ErrReset     = errors.New("tcp: connection reset by peer")
	ErrRefused   = errors.New("tcp: connection refused")
	ErrTimeout   = errors.New("tcp: connection timed out (no acknowledgement after every retransmission)")
	ErrAborted   = errors.New("tcp: connection aborted")
	ErrTableFull = errors.New("tcp: connection table full")
	ErrNoPort    = errors.New("tcp: no free ephemeral port for this destination")
	ErrClosing   = errors.New("tcp: connection is closing")
	// ErrFamily: Dial's local and remote addresses are not both IPv4 or
	// both IPv6 (an IPv4-mapped address counts as IPv4).
	ErrFamily = errors.New("tcp: local and remote addresses of different families")
)

// Handler receives a connection's events on the engine goroutine. Its
// methods must not block.
type Handler interface {
	// Established is called once the handshake completes.
	Established(c *Conn)
	// Readable is called when new in-order data is in c.Recv, or the peer
	// closed its side (c.PeerClosed; before Closed, when the peer's FIN
	// ends the connection).
	Readable(c *Conn)
	// Writable is called when acknowledgements made room in c.Send.
	Writable(c *Conn)
	// Closed is called once, when the connection is gone: err is nil after
	// an orderly close, ErrReset, ErrRefused, ErrTimeout or ErrAborted.
	// After an orderly close it comes as TIME-WAIT begins: the connection
	// lingers in the table for 2*MSL, but nothing more can happen to it
	// that its user could see. It is the last call the handler gets for
	// c.
	//
	// Once Closed has returned, c is the Host's: it may be reused for
	// another connection once it has left the table, and in TIME-WAIT
	// its buffers go back to the Host at once, Send and Recv left empty
	// (capacity 0; pool.go). A user that keeps c longer, or reads Recv
	// after, calls c.Keep first.
	Closed(c *Conn, err error)
}

// Conn is one TCP connection. Every method runs on its Host's goroutine,
// except Send.Write and Recv.Read/Peek/Consume, which the connection's one
// writer and one reader may call from theirs (Buffer is a lock-free ring);
// tell the Host's goroutine about them with Update. Send and Recv are nil
// until ESTABLISHED, and empty (capacity 0) in TIME-WAIT once
// Handler.Closed has returned, unless Keep was called.
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
	// of its first byte) to the last byte written. In TIME-WAIT (not
	// kept) it is the Host's empty Buffer, as Recv is.
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
	// rackMem and sentMem are rack's and sent's memory, kept across the
	// connection's lives (pool.go): rack and sent stay nil unless the
	// connection uses them.
	rackMem []rackSent
	sentMem []sentMark
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
	kept     bool // Keep: not reused (pool.go)
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
	case StateSynReceived:
		// RFC 9293 3.10.4: the FIN is queued until ESTABLISHED, whose
		// buffers it needs; establish then moves to FIN-WAIT-1 and
		// output sends it.
		c.finQueued = true
		c.host.touch(c)
		return
	case StateEstablished:
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
	if c.state == StateTimeWait {
		c.host.counters[TimeWaitEnded]++
	}
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

// Sequence returns SND.UNA, SND.NXT and RCV.NXT, for diagnostics and
// tests.
func (c *Conn) Sequence() (sndUna, sndNxt, rcvNxt Seq) { return c.sndUna, c.sndNxt, c.rcvNxt }

// PeerWindow is the peer's receive window (scaled), as last advertised.
func (c *Conn) PeerWindow() int { return int(c.sndWnd) }
