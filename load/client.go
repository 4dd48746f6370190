package load

import (
	"errors"
	"net/netip"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/fastpathnet/fastpath/gen"
	"github.com/fastpathnet/fastpath/stack"
	"github.com/fastpathnet/fastpath/tcp"
)

// A Client is one engine's part of a load run. It runs on the engine's
// goroutine only: Round opens the connections the pacing allows and
// expires the late ones; each connection's handler (conn) writes its
// requests and checks its responses as the engine delivers them. Its
// connections' state lives in a free list it owns, so that churn
// allocates nothing once the list has grown to the run's concurrency.
type Client struct {
	e      *stack.Engine
	cfg    Config // this engine's share
	bucket *gen.Bucket
	idle   bool // nothing to open: a zero share
	paused bool
	// resolved: the next hop towards Dst is known. Until then one
	// connection's SYN waits for it, and no other opens: a burst of SYNs
	// would overflow the neighbour's queue and wait out an RTO.
	resolved bool
	// stopping: the run is ending; no new connections.
	stopping bool

	counters Counters
	hist     [NumLatencies]*hdrhistogram.Histogram

	request   []byte // a whole request (HTTP keep-alive; RR)
	lastReq   []byte // HTTP: the last request of a connection (Connection: close)
	timeout   int64
	src       int // the next source address
	free      []*conn
	active    []*conn // open connections, for the timeout sweep
	nextSweep int64
}

// Latency names one of the latencies a Client records.
type Latency int

const (
	// ConnectLatency: from the SYN to the handshake's completion.
	ConnectLatency Latency = iota
	// FirstByteLatency: from a request's last byte written to its response's
	// first byte received.
	FirstByteLatency
	// ResponseLatency: from a request's last byte written to its
	// response's last byte received.
	ResponseLatency
	// NumLatencies is the number of latencies.
	NumLatencies
)

var latencyNames = [...]string{ConnectLatency: "connect", FirstByteLatency: "first_byte", ResponseLatency: "response"}

func (l Latency) String() string { return latencyNames[l] }

// Latencies are recorded in microseconds, from 1 µs to a minute, to 3
// significant digits (HdrHistogram).
const (
	minLatencyUs = 1
	maxLatencyUs = 60_000_000
)

func newHistogram() *hdrhistogram.Histogram { return hdrhistogram.New(minLatencyUs, maxLatencyUs, 3) }

// sweepEvery is how often a Client looks for connections past their
// deadline.
const sweepEvery = int64(10e6) // 10 ms

// maxDialsPerRound bounds the connections one round opens, so that a
// burst of tokens (after a stall) does not starve the engine's input.
const maxDialsPerRound = 64

// NewClient makes engine e's client for share (Config.share's) and hooks
// it to the engine's rounds. Call it before the stack starts.
func NewClient(e *stack.Engine, share Config) *Client {
	cl := &Client{e: e, cfg: share, timeout: int64(share.Timeout)}
	for i := range cl.hist {
		cl.hist[i] = newHistogram()
	}
	if share.HTTP {
		host := share.Host
		if host == "" {
			host = share.Dst.String()
		}
		cl.request = AppendRequest(nil, host, share.Path, false)
		cl.lastReq = AppendRequest(nil, host, share.Path, true)
	} else {
		cl.request = make([]byte, share.RequestSize)
		for i := 0; i < len(cl.request); i += len(pattern) {
			copy(cl.request[i:], pattern[:])
		}
		cl.lastReq = cl.request
	}
	cl.idle = share.CPS == 0 && share.Conns == 0 // a zero share
	cl.paused = share.Paused
	e.OnRound(cl.round)
	return cl
}

// catchUp is how much of the schedule a Client catches up on after its
// engine lost the CPU: connections it could not open for up to this long
// are opened as soon as it runs again (at most maxDialsPerRound a
// round), so that --cps holds over each second on a busy host.
const catchUp = 0.05 // s

// newBucket paces cps connections a second from now, with catchUp's worth
// of burst.
func newBucket(cps float64, now int64) *gen.Bucket {
	return gen.NewBucket(gen.Rate{Value: cps}, int(cps*catchUp), 0, now)
}

// start sets the pacing off from now (the engine's first round).
func (cl *Client) start(now int64) {
	cl.bucket = newBucket(cl.cfg.CPS, now)
	cl.nextSweep = now + sweepEvery
}

// round opens what the pacing allows and expires late connections.
func (cl *Client) round(now int64) bool {
	if cl.bucket == nil {
		cl.start(now)
	}
	work := false
	if !cl.resolved {
		cl.resolved = cl.e.NextHopKnown(cl.cfg.Dst.Addr())
	}
	if cl.idle || cl.paused || cl.stopping || cl.countDone() {
		cl.bucket.Skip(now)
	} else {
		cl.bucket.Refill(now)
		limit := maxDialsPerRound
		if !cl.resolved {
			// One connection's SYN resolves the next hop; the rest
			// wait for it (and another tries if that one ended).
			limit = 0
			if cl.counters.Open() == 0 {
				limit = 1
			}
		}
		for n := 0; n < limit && cl.room() && !cl.countDone() && cl.bucket.Take(0); n++ {
			work = true
			if !cl.dial(now) {
				break // no port or no room: the next round tries again
			}
		}
	}
	if now >= cl.nextSweep {
		cl.sweep(now)
		cl.nextSweep = now + sweepEvery
	}
	return work
}

// room reports whether one more connection may open: below Conns, when
// set.
func (cl *Client) room() bool {
	return cl.cfg.Conns == 0 || int(cl.counters.Open()) < cl.cfg.Conns
}

// countDone reports whether Count connections were opened.
func (cl *Client) countDone() bool {
	return cl.cfg.Count > 0 && int64(cl.counters[Dialed]+cl.counters[ErrLocal]) >= cl.cfg.Count
}

// Done reports whether the client has nothing left to do: its Count
// opened and every connection ended. Engine goroutine only.
func (cl *Client) Done() bool {
	return (cl.idle || cl.countDone()) && cl.counters.Open() == 0
}

// dial opens one connection; it reports false when the engine could not
// (counted ErrLocal).
func (cl *Client) dial(now int64) bool {
	k := cl.take()
	k.opened, k.deadline = now, now+cl.timeout
	var err error
	if len(cl.cfg.Src) > 0 {
		src := cl.cfg.Src[cl.src]
		cl.src = (cl.src + 1) % len(cl.cfg.Src)
		k.c, err = cl.e.TCP().Dial(netip.AddrPortFrom(src, 0), cl.cfg.Dst, k, now)
	} else {
		k.c, err = cl.e.DialTCP(cl.cfg.Dst, k)
	}
	if err != nil {
		// No port or no room: the bucket's token is spent, the error
		// counted (a run that asks more than the ports allow says so).
		cl.counters[ErrLocal]++
		cl.put(k)
		return false
	}
	cl.counters[Dialed]++
	k.slot = len(cl.active)
	cl.active = append(cl.active, k)
	return true
}

// sweep aborts the connections past their deadline.
func (cl *Client) sweep(now int64) {
	for i := 0; i < len(cl.active); {
		k := cl.active[i]
		if now < k.deadline {
			i++
			continue
		}
		// Both take k out of active: i now holds another connection.
		if k.lingering {
			k.complete() // answered in full; the server kept it open
			continue
		}
		k.fail(ErrTimeout)
	}
}

// take returns a connection's state from the free list, or a new one.
func (cl *Client) take() *conn {
	if n := len(cl.free); n > 0 {
		k := cl.free[n-1]
		cl.free = cl.free[:n-1]
		return k
	}
	k := &conn{cl: cl, slot: -1}
	if cl.cfg.HTTP {
		k.resp = new(Response)
	}
	return k
}

// put returns k to the free list.
func (cl *Client) put(k *conn) {
	resp := k.resp
	*k = conn{cl: cl, resp: resp, slot: -1}
	cl.free = append(cl.free, k)
}

// record adds a latency in nanoseconds.
func (cl *Client) record(l Latency, ns int64) {
	us := ns / 1000
	if us < minLatencyUs {
		us = minLatencyUs
	}
	if us > maxLatencyUs {
		us = maxLatencyUs
	}
	cl.hist[l].RecordValue(us)
}

// conn is one connection of a Client: its tcp.Handler.
type conn struct {
	cl       *Client
	c        *tcp.Conn
	slot     int   // index in cl.active; -1: not there
	opened   int64 // the SYN
	sent     int64 // the current request's last byte written; 0: none in flight
	deadline int64 // the handshake's or the current response's
	gotFirst bool  // the current response's first byte came
	requests int   // requests written in full
	answered int   // responses received in full
	reqLeft  int   // bytes of the current request still to write
	respOff  int   // RR: bytes of the current response received
	resp     *Response
	// lingering: every response came; waiting for the server's FIN.
	lingering bool
	ended     bool // counted as completed, failed or aborted
}

// Closed is the last call tcp makes to a handler: once it has put k back
// on the free list, nothing reaches k for the old connection.

func (k *conn) Established(c *tcp.Conn) {
	cl := k.cl
	now := cl.e.Now()
	cl.counters[Established]++
	cl.record(ConnectLatency, now-k.opened)
	k.startRequest(c, now)
}

// req is the request k sends next: the last one of a connection may
// differ (HTTP's Connection: close).
func (k *conn) req() []byte {
	if k.requests == k.cl.cfg.Requests-1 {
		return k.cl.lastReq
	}
	return k.cl.request
}

// startRequest begins the next request.
func (k *conn) startRequest(c *tcp.Conn, now int64) {
	k.reqLeft = len(k.req())
	k.gotFirst, k.respOff, k.sent = false, 0, 0
	if k.resp != nil {
		size := int64(k.cl.cfg.ResponseSize)
		if size == 0 {
			size = -1 // any length
		}
		k.resp.Reset(size > 0, size)
	}
	k.deadline = now + k.cl.timeout
	k.write(c, now)
}

// write writes what is left of the current request.
func (k *conn) write(c *tcp.Conn, now int64) {
	if k.reqLeft == 0 {
		return
	}
	req := k.req()
	n := c.Send.Write(req[len(req)-k.reqLeft:])
	k.reqLeft -= n
	k.cl.counters[RequestBytes] += uint64(n)
	if k.reqLeft == 0 {
		k.requests++
		k.sent = now
		k.cl.counters[Requests]++
	}
}

func (k *conn) Writable(c *tcp.Conn) { k.write(c, k.cl.e.Now()) }

func (k *conn) Readable(c *tcp.Conn) {
	cl := k.cl
	now := cl.e.Now()
	for c.Recv.Len() > 0 && !k.ended {
		if k.answered >= k.requests {
			// Bytes before a request was written in full, or after its
			// answer: not a response to anything.
			k.fail(ErrBadResponse)
			return
		}
		if !k.gotFirst {
			k.gotFirst = true
			cl.record(FirstByteLatency, now-k.sent)
		}
		p1, p2 := c.Recv.Peek(0, c.Recv.Len())
		n, done, err := k.consume(p1)
		if err == nil && !done && n == len(p1) && len(p2) > 0 {
			var m int
			m, done, err = k.consume(p2)
			n += m
		}
		c.Recv.Consume(n)
		cl.counters[ResponseBytes] += uint64(n)
		if err != nil {
			k.fail(ErrBadResponse)
			return
		}
		if !done {
			break
		}
		if k.resp != nil && k.resp.Status() != cl.cfg.Status {
			k.fail(ErrBadResponse)
			return
		}
		k.answered++
		cl.counters[Responses]++
		cl.record(ResponseLatency, now-k.sent)
		if k.answered < cl.cfg.Requests {
			k.startRequest(c, now)
			continue
		}
		// The last answer. HTTP: the server closes (Connection: close);
		// we close when its FIN comes, or after the timeout if it does
		// not. RR: we close now.
		if !cl.cfg.HTTP {
			k.finish(c, now)
			return
		}
		k.lingering, k.deadline = true, now+cl.timeout
	}
	if c.PeerClosed() && !k.ended {
		if k.answered == cl.cfg.Requests {
			k.finish(c, now)
			return
		}
		k.fail(ErrClosed)
	}
}

// consume feeds p to the current response's parser or checker.
func (k *conn) consume(p []byte) (n int, done bool, err error) {
	if k.resp != nil {
		return k.resp.Feed(p)
	}
	n = min(len(p), k.cl.cfg.ResponseSize-k.respOff)
	if m := matchPattern(p[:n], int64(k.respOff)); m < n {
		return m, false, ErrBadBody
	}
	k.respOff += n
	return n, k.respOff == k.cl.cfg.ResponseSize, nil
}

// finish closes a connection that did all it had to.
func (k *conn) finish(c *tcp.Conn, now int64) {
	k.ended = true
	k.cl.counters[Completed]++
	k.unlist()
	c.Close(now)
}

// complete ends, with a reset, a connection that had every answer but
// whose server did not close it: a FIN from us could leave it in
// FIN-WAIT-2 for as long as the server keeps it.
func (k *conn) complete() {
	k.ended = true
	k.cl.counters[Completed]++
	k.unlist()
	k.c.Abort()
}

// fail ends the connection with a reset, counting kind.
func (k *conn) fail(kind Counter) {
	if k.ended {
		return
	}
	k.ended = true
	k.cl.counters[Failed]++
	k.cl.counters[kind]++
	k.unlist()
	k.c.Abort()
}

// unlist takes k off the active list.
func (k *conn) unlist() {
	cl := k.cl
	if k.slot < 0 {
		return
	}
	last := len(cl.active) - 1
	cl.active[k.slot] = cl.active[last]
	cl.active[k.slot].slot = k.slot
	cl.active[last] = nil
	cl.active = cl.active[:last]
	k.slot = -1
}

// Closed counts how the connection ended, if nothing else did, and
// returns its state to the free list.
func (k *conn) Closed(c *tcp.Conn, err error) {
	cl := k.cl
	if !k.ended {
		k.ended = true
		k.unlist()
		switch {
		case cl.stopping:
			cl.counters[Aborted]++
		case errors.Is(err, tcp.ErrRefused):
			cl.counters[Failed]++
			cl.counters[ErrRefused]++
		case errors.Is(err, tcp.ErrReset):
			cl.counters[Failed]++
			cl.counters[ErrReset]++
		case errors.Is(err, tcp.ErrTimeout):
			cl.counters[Failed]++
			cl.counters[ErrTimeout]++
		case k.answered == cl.cfg.Requests:
			cl.counters[Completed]++
		default:
			cl.counters[Failed]++
			cl.counters[ErrClosed]++
		}
	}
	cl.put(k)
}

var _ tcp.Handler = (*conn)(nil)
