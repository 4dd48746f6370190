package tcpapp

import (
	"bytes"
	"strconv"

	"github.com/fastpathnet/fastpath/stack"
	"github.com/fastpathnet/fastpath/tcp"
)

// HTTP answers every HTTP/1.1 request with the same small body, keeping
// the connection open unless the client says "Connection: close" or
// speaks HTTP/1.0 without keep-alive. It is a load-test target, not a web
// server: it reads the request line and headers and ignores bodies; a
// request whose headers exceed MaxRequest bytes is reset. It keeps no
// per-connection state: one serves every connection of its engine.
type HTTP struct {
	e         *stack.Engine
	keepAlive []byte // the whole response, keep-alive
	closing   []byte // the whole response, Connection: close
	scratch   []byte // a request split across the ring's end
}

// MaxRequest is the most bytes of request line and headers HTTP reads.
const MaxRequest = 16384

// NewHTTP returns an HTTP responder on e that answers 200 OK with body
// (Content-Type text/plain).
func NewHTTP(e *stack.Engine, body string) *HTTP {
	head := "HTTP/1.1 200 OK\r\nServer: fastpath\r\nContent-Type: text/plain\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n"
	return &HTTP{
		e:         e,
		keepAlive: []byte(head + "\r\n" + body),
		closing:   []byte(head + "Connection: close\r\n\r\n" + body),
		scratch:   make([]byte, 0, MaxRequest),
	}
}

// ListenHTTP serves an HTTP responder with body on port, one per engine
// of st. Call it after st.EnableTCP, before st.Start.
func ListenHTTP(st *stack.Stack, port uint16, body string) error {
	per := map[*stack.Engine]*HTTP{}
	for _, e := range st.Engines() {
		per[e] = NewHTTP(e, body)
	}
	return st.ListenTCPFunc(port, func(e *stack.Engine, _ *tcp.Conn) tcp.Handler { return per[e] })
}

var (
	crlfcrlf  = []byte("\r\n\r\n")
	connClose = []byte("connection: close")
	keepAlive = []byte("connection: keep-alive")
	http10    = []byte("HTTP/1.0")
)

func (h *HTTP) Established(c *tcp.Conn) {}
func (h *HTTP) Writable(c *tcp.Conn)    { h.Readable(c) }
func (h *HTTP) Closed(*tcp.Conn, error) {}

// Readable answers every complete request in the receive buffer that the
// send buffer has room for; Writable brings it back for the rest.
func (h *HTTP) Readable(c *tcp.Conn) {
	for c.State() == tcp.StateEstablished || c.State() == tcp.StateCloseWait {
		n, closeAfter := nextRequest(c, h.scratch)
		if n < 0 {
			c.Abort() // headers too large
			return
		}
		if n == 0 {
			break
		}
		resp := h.keepAlive
		if closeAfter {
			resp = h.closing
		}
		if c.Send.Free() < len(resp) {
			break // Writable brings us back
		}
		c.Send.Write(resp)
		c.Recv.Consume(n)
		if closeAfter {
			c.Close(h.e.Now())
			return
		}
	}
	if c.PeerClosed() && c.Recv.Len() == 0 {
		c.Close(h.e.Now())
	}
}

// nextRequest finds the first request (line and headers) in c.Recv: n is
// its length with the blank line that ends it, 0 while it is incomplete,
// -1 when its headers exceed MaxRequest; closeAfter says whether the
// client asks for the connection to close after the response ("Connection:
// close", or HTTP/1.0 without keep-alive). A request split across the
// ring's end is copied into scratch, which has room for MaxRequest bytes.
func nextRequest(c *tcp.Conn, scratch []byte) (n int, closeAfter bool) {
	p1, p2 := c.Recv.Peek(0, MaxRequest)
	req := p1
	if len(p2) > 0 {
		req = append(append(scratch[:0], p1...), p2...)
	}
	end := bytes.Index(req, crlfcrlf)
	if end < 0 {
		if len(req) >= MaxRequest {
			return -1, false
		}
		return 0, false
	}
	head := req[:end]
	closeAfter = containsFold(head, connClose) ||
		bytes.HasSuffix(firstLine(head), http10) && !containsFold(head, keepAlive)
	return end + len(crlfcrlf), closeAfter
}

func firstLine(b []byte) []byte {
	if i := bytes.IndexByte(b, '\r'); i >= 0 {
		return b[:i]
	}
	return b
}

// containsFold reports whether b contains the lower-case sub, ASCII case
// folded, without allocating.
func containsFold(b, sub []byte) bool {
	for i := 0; i+len(sub) <= len(b); i++ {
		j := 0
		for ; j < len(sub); j++ {
			c := b[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != sub[j] {
				break
			}
		}
		if j == len(sub) {
			return true
		}
	}
	return false
}

var _ tcp.Handler = (*HTTP)(nil)
