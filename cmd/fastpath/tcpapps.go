package main

import (
	"bytes"
	"strconv"

	"github.com/fastpathnet/fastpath/stack"
	"github.com/fastpathnet/fastpath/tcp"
)

// The TCP servers of serve, on the engine goroutine through the callback
// API: they read the receive buffer in place and write straight into the
// send buffer, so a request costs no copy across goroutines.

// tcpEcho sends back everything it receives (RFC 862), closing after the
// peer does.
type tcpEcho struct{ e *stack.Engine }

func (h tcpEcho) Established(c *tcp.Conn) {}
func (h tcpEcho) Readable(c *tcp.Conn)    { h.pump(c) }
func (h tcpEcho) Writable(c *tcp.Conn)    { h.pump(c) }
func (h tcpEcho) Closed(*tcp.Conn, error) {}

func (h tcpEcho) pump(c *tcp.Conn) {
	for {
		p1, _ := c.Recv.Peek(0, c.Send.Free())
		if len(p1) == 0 {
			break
		}
		c.Recv.Consume(c.Send.Write(p1))
	}
	if c.PeerClosed() && c.Recv.Len() == 0 {
		c.Close(h.e.Now())
	}
}

// tcpDiscard throws away everything it receives (RFC 863).
type tcpDiscard struct{ e *stack.Engine }

func (h tcpDiscard) Established(c *tcp.Conn) {}
func (h tcpDiscard) Writable(c *tcp.Conn)    {}
func (h tcpDiscard) Closed(*tcp.Conn, error) {}
func (h tcpDiscard) Readable(c *tcp.Conn) {
	c.Recv.Consume(c.Recv.Len())
	if c.PeerClosed() {
		c.Close(h.e.Now())
	}
}

// httpResponder answers every HTTP/1.1 request with the same small body,
// keeping the connection open unless the client says "Connection: close"
// or speaks HTTP/1.0 without keep-alive. It is a load-test target, not a
// web server: it reads the request line and headers and ignores bodies.
type httpResponder struct {
	e         *stack.Engine
	keepAlive []byte // the whole response, keep-alive
	closing   []byte // the whole response, Connection: close
	scratch   []byte // a request split across the ring's end
}

func newHTTPResponder(e *stack.Engine, body string) *httpResponder {
	head := "HTTP/1.1 200 OK\r\nServer: fastpath\r\nContent-Type: text/plain\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n"
	return &httpResponder{
		e:         e,
		keepAlive: []byte(head + "\r\n" + body),
		closing:   []byte(head + "Connection: close\r\n\r\n" + body),
		scratch:   make([]byte, 0, 16384),
	}
}

var (
	crlfcrlf   = []byte("\r\n\r\n")
	connClose  = []byte("connection: close")
	keepAlive  = []byte("connection: keep-alive")
	http10     = []byte("HTTP/1.0")
	maxRequest = 16384
)

func (h *httpResponder) Established(c *tcp.Conn) {}
func (h *httpResponder) Writable(c *tcp.Conn)    { h.Readable(c) }
func (h *httpResponder) Closed(*tcp.Conn, error) {}

func (h *httpResponder) Readable(c *tcp.Conn) {
	for c.State() == tcp.StateEstablished || c.State() == tcp.StateCloseWait {
		p1, p2 := c.Recv.Peek(0, maxRequest)
		req := p1
		if len(p2) > 0 {
			h.scratch = append(append(h.scratch[:0], p1...), p2...)
			req = h.scratch
		}
		end := bytes.Index(req, crlfcrlf)
		if end < 0 {
			if len(req) >= maxRequest {
				c.Abort() // headers too large
				return
			}
			break
		}
		head := req[:end]
		closeAfter := containsFold(head, connClose) ||
			bytes.HasSuffix(firstLine(head), http10) && !containsFold(head, keepAlive)
		resp := h.keepAlive
		if closeAfter {
			resp = h.closing
		}
		if c.Send.Free() < len(resp) {
			break // Writable brings us back
		}
		c.Send.Write(resp)
		c.Recv.Consume(end + len(crlfcrlf))
		if closeAfter {
			c.Close(h.e.Now())
			return
		}
	}
	if c.PeerClosed() && c.Recv.Len() == 0 {
		c.Close(h.e.Now())
	}
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
