package tcpapp

import (
	"fmt"
	"strconv"

	"github.com/fastpathnet/fastpath/stack"
	"github.com/fastpathnet/fastpath/tcp"
)

// HTTPPattern answers every HTTP/1.1 request, as HTTP does (keep-alive;
// "Connection: close" and HTTP/1.0 without keep-alive close after the
// response), with a body of a given size: byte i of it is i mod 251 (the
// pattern Sender sends), Content-Type application/octet-stream. A
// response larger than the send buffer streams as the buffer makes room;
// requests pipelined behind it wait in the receive buffer and are
// answered in order. A connection asked to close closes once its response
// is all written.
//
// Each connection's state (what is left of the response being written) is
// in a handler from the server's free list, as RR's: at steady state,
// connection churn included, nothing allocates. Use an HTTPPattern on its
// engine's goroutine only.
type HTTPPattern struct {
	clk       clock
	size      int
	keepAlive response // a response to copy: pre, head, size
	closing   response
	scratch   []byte // a request split across the ring's end
	conns     freeList[httpConn]
}

// MinHTTPPatternSize is the smallest body HTTPPattern sends: a smaller one
// is HTTP's (NewHTTP's fixed body).
const MinHTTPPatternSize = 64

// NewHTTPPattern returns an HTTP responder for connections on e, whose TCP
// must be on (Stack.EnableTCP), answering every request with size bytes
// of the pattern, MinHTTPPatternSize to MaxMessage. Give its Accept to a
// listener (Stack.ListenTCPFunc) for e's connections.
func NewHTTPPattern(e *stack.Engine, size int) (*HTTPPattern, error) {
	if e.TCP() == nil {
		return nil, fmt.Errorf("tcpapp: HTTPPattern: TCP is not enabled: call Stack.EnableTCP first")
	}
	return newHTTPPattern(e, e.TCP().Config().MaxConns, size)
}

func newHTTPPattern(clk clock, maxConns, size int) (*HTTPPattern, error) {
	if size < MinHTTPPatternSize || size > MaxMessage {
		return nil, fmt.Errorf("tcpapp: HTTP body size %d: use %d bytes to 1 MiB (a smaller body: NewHTTP)", size, MinHTTPPatternSize)
	}
	head := "HTTP/1.1 200 OK\r\nServer: fastpath\r\nContent-Type: application/octet-stream\r\nContent-Length: " + strconv.Itoa(size) + "\r\n"
	// The body's first bytes go with the head: a response of up to
	// len(pattern) bytes of body is one write.
	body := pattern[:min(size, len(pattern))]
	resp := func(head string) response {
		pre := append([]byte(head), body...)
		return response{pre: pre, head: len(head), size: len(head) + size}
	}
	s := &HTTPPattern{clk: clk, size: size, keepAlive: resp(head + "\r\n"), closing: resp(head + "Connection: close\r\n\r\n"),
		scratch: make([]byte, 0, MaxRequest)}
	s.conns.init(maxConns)
	return s, nil
}

// ListenHTTPPattern serves an HTTPPattern of size bytes on port, one per
// engine of st. Call it after st.EnableTCP, before st.Start.
func ListenHTTPPattern(st *stack.Stack, port uint16, size int) error {
	return listenEach(st, port, func(e *stack.Engine) (*HTTPPattern, error) { return NewHTTPPattern(e, size) })
}

// listenEach serves on port a server per engine of st, made by mk, each
// accepting its engine's connections.
func listenEach[S interface{ Accept(*tcp.Conn) tcp.Handler }](st *stack.Stack, port uint16, mk func(*stack.Engine) (S, error)) error {
	per := map[*stack.Engine]S{}
	for _, e := range st.Engines() {
		s, err := mk(e)
		if err != nil {
			return err
		}
		per[e] = s
	}
	return st.ListenTCPFunc(port, func(e *stack.Engine, c *tcp.Conn) tcp.Handler { return per[e].Accept(c) })
}

// Accept returns the handler of a new connection, c: one from the free
// list, or a new one.
func (s *HTTPPattern) Accept(c *tcp.Conn) tcp.Handler {
	h := s.conns.get()
	*h = httpConn{s: s}
	return h
}

// Allocs is the number of connection handlers the server has allocated:
// once it holds as many as connections were open at once, it stops
// growing. Safe from any goroutine.
func (s *HTTPPattern) Allocs() uint64 { return s.conns.allocs.Load() }

// httpConn is one connection's state.
type httpConn struct {
	s          *HTTPPattern
	resp       response // the response being written
	closeAfter bool     // close once resp is written
}

func (h *httpConn) Established(c *tcp.Conn) {}
func (h *httpConn) Readable(c *tcp.Conn)    { h.pump(c) }
func (h *httpConn) Writable(c *tcp.Conn)    { h.pump(c) }

// Closed puts the handler back in the free list: it is the last call tcp
// makes to it for the connection.
func (h *httpConn) Closed(*tcp.Conn, error) { h.s.conns.put(h) }

// pump writes what the response being written still owes, then takes the
// next request and answers it, and so on, until the send buffer is full
// (Writable brings it back) or no complete request is left (Readable
// does). It closes after a response that was asked to, and once the
// client has closed and no complete request is left.
func (h *httpConn) pump(c *tcp.Conn) {
	for c.State() == tcp.StateEstablished || c.State() == tcp.StateCloseWait {
		if !h.resp.write(c.Send) {
			return
		}
		if h.closeAfter {
			c.Close(h.s.clk.Now())
			return
		}
		n, closeAfter := nextRequest(c, h.s.scratch)
		if n < 0 {
			c.Abort() // headers too large
			return
		}
		if n == 0 {
			break
		}
		c.Recv.Consume(n)
		h.resp, h.closeAfter = h.s.keepAlive, closeAfter
		if closeAfter {
			h.resp = h.s.closing
		}
	}
	if c.PeerClosed() {
		// What is left in Recv is a request cut short: it gets no
		// response.
		c.Close(h.s.clk.Now())
	}
}

var _ tcp.Handler = (*httpConn)(nil)
