package tcpapp

import (
	"fmt"

	"github.com/fastpathnet/fastpath/stack"
	"github.com/fastpathnet/fastpath/tcp"
)

// RR is a request/response server on one engine, as netperf's TCP_RR and
// TCP_CRR: both sides are told the sizes. A client sends requests of
// exactly RequestSize bytes on a connection, one after another or
// pipelined; for every complete request the server writes ResponseSize
// bytes, byte i of each response being i mod 251 (the pattern Sender
// sends). The requests' content is not looked at.
//
// Responses go out in order as the send buffer makes room: one larger
// than the buffer streams. The next request is taken only once the
// response before it is all written, so a client that pipelines more than
// the buffers hold is held back by TCP's flow control, not queued in
// memory. When the client closes, the server finishes the response it
// owes for every complete request, then closes; a request the FIN cut
// short gets none.
//
// Each connection's state (what is left of the request being received and
// of the response being written) is in a handler from the server's free
// list: it goes back when the connection is Closed and the next
// connection takes it, so that at steady state, connection churn
// included, nothing allocates. Use an RR on its engine's goroutine only,
// as every tcp.Handler.
type RR struct {
	clk   clock
	cfg   RRConfig
	conns freeList[rrConn]
}

// RRConfig is the sizes of an RR server's exchanges.
type RRConfig struct {
	// RequestSize is the bytes of every request, 1 to MaxMessage.
	RequestSize int
	// ResponseSize is the bytes of every response, 1 to MaxMessage.
	ResponseSize int
}

func (cfg RRConfig) check() error {
	if cfg.RequestSize < 1 || cfg.RequestSize > MaxMessage {
		return fmt.Errorf("tcpapp: RR request size %d: use 1 byte to 1 MiB", cfg.RequestSize)
	}
	if cfg.ResponseSize < 1 || cfg.ResponseSize > MaxMessage {
		return fmt.Errorf("tcpapp: RR response size %d: use 1 byte to 1 MiB", cfg.ResponseSize)
	}
	return nil
}

// NewRR returns an RR server for connections on e, whose TCP must be on
// (Stack.EnableTCP). Give its Accept to a listener (Stack.ListenTCPFunc)
// for e's connections.
func NewRR(e *stack.Engine, cfg RRConfig) (*RR, error) {
	if e.TCP() == nil {
		return nil, fmt.Errorf("tcpapp: RR: TCP is not enabled: call Stack.EnableTCP first")
	}
	return newRR(e, e.TCP().Config().MaxConns, cfg)
}

func newRR(clk clock, maxConns int, cfg RRConfig) (*RR, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	s := &RR{clk: clk, cfg: cfg}
	s.conns.init(maxConns)
	return s, nil
}

// ListenRR serves RR on port, one server per engine of st. Call it after
// st.EnableTCP, before st.Start.
func ListenRR(st *stack.Stack, port uint16, cfg RRConfig) error {
	return listenEach(st, port, func(e *stack.Engine) (*RR, error) { return NewRR(e, cfg) })
}

// Accept returns the handler of a new connection, c: one from the free
// list, or a new one.
func (s *RR) Accept(c *tcp.Conn) tcp.Handler {
	h := s.conns.get()
	*h = rrConn{s: s, reqLeft: s.cfg.RequestSize, resp: response{size: s.cfg.ResponseSize, off: s.cfg.ResponseSize}}
	return h
}

// Allocs is the number of connection handlers the server has allocated:
// once it holds as many as connections were open at once, it stops
// growing. Safe from any goroutine.
func (s *RR) Allocs() uint64 { return s.conns.allocs.Load() }

// rrConn is one connection's state.
type rrConn struct {
	s       *RR
	reqLeft int      // bytes of the request being received still to come
	resp    response // the response being written
}

func (h *rrConn) Established(c *tcp.Conn) {}
func (h *rrConn) Readable(c *tcp.Conn)    { h.pump(c) }
func (h *rrConn) Writable(c *tcp.Conn)    { h.pump(c) }

// Closed puts the handler back in the free list: it is the last call tcp
// makes to it for the connection.
func (h *rrConn) Closed(*tcp.Conn, error) { h.s.conns.put(h) }

// pump writes what the response being written still owes, then takes the
// next request's bytes, and so on, until the send buffer is full (Writable
// brings it back) or the receive buffer is empty (Readable does); it
// closes once the client has closed and every response it owes is
// written.
func (h *rrConn) pump(c *tcp.Conn) {
	for {
		if !h.resp.write(c.Send) {
			return
		}
		n := min(c.Recv.Len(), h.reqLeft)
		if n == 0 {
			break
		}
		c.Recv.Consume(n)
		if h.reqLeft -= n; h.reqLeft == 0 {
			h.reqLeft = h.s.cfg.RequestSize
			h.resp.off = 0
		}
	}
	if c.PeerClosed() {
		c.Close(h.s.clk.Now()) // no more than once: Close ignores a second
	}
}

var _ tcp.Handler = (*rrConn)(nil)
