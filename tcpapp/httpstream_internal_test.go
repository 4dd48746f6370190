package tcpapp

import (
	"fmt"
	"strings"
	"testing"

	"github.com/fastpathnet/fastpath/tcp"
)

const (
	getKeepAlive = "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
	getClose     = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
	get10        = "GET / HTTP/1.0\r\nHost: x\r\n\r\n"
)

func patternHead(size int, close bool) string {
	h := fmt.Sprintf("HTTP/1.1 200 OK\r\nServer: fastpath\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n", size)
	if close {
		h += "Connection: close\r\n"
	}
	return h + "\r\n"
}

// newMemHTTP is an HTTPPattern server on m's server Host, listening.
func newMemHTTP(tb testing.TB, m *memPair, size int) *HTTPPattern {
	tb.Helper()
	s, err := newHTTPPattern(m, m.p.hosts[0].Config().MaxConns, size)
	if err != nil {
		tb.Fatal(err)
	}
	m.listen(tb, s.Accept)
	return s
}

// TestHTTPPatternInMemory: an HTTPPattern server and a client on two Hosts
// in memory (16 KiB buffers), bodies smaller and larger than the buffers,
// requests one at a time and pipelined, the last one keep-alive (the
// client closes) or "Connection: close" or HTTP/1.0 (the client waits for
// the server to close, which it does once the response is written).
// Every byte of every response, head and body, is checked; after each
// connection the server's handler is back in its free list, once.
func TestHTTPPatternInMemory(t *testing.T) {
	for _, size := range []int{64, 64 << 10, 1 << 20} {
		for _, tc := range []struct {
			name  string
			last  string
			depth int
		}{
			{"keep-alive", getKeepAlive, 1},
			{"pipelined", getKeepAlive, 3},
			{"close", getClose, 1},
			{"pipelined close", getClose, 3},
			{"HTTP/1.0", get10, 2},
		} {
			t.Run(fmt.Sprintf("%s/%d", tc.name, size), func(t *testing.T) {
				m := newMemPair(t, memConfig())
				s := newMemHTTP(t, m, size)
				k := &memClient{m: m, req: []byte(getKeepAlive), lastReq: []byte(tc.last),
					head: []byte(patternHead(size, false)), lastHead: []byte(patternHead(size, tc.last != getKeepAlive)),
					body: size, rounds: 3, depth: tc.depth, waitFIN: tc.last != getKeepAlive}
				for conn := range 3 {
					k.reset()
					if !m.run(k, 20000) {
						t.Fatalf("connection %d: not over after 20 s: %v", conn, k)
					}
					if !k.ok() {
						t.Fatalf("connection %d: %v", conn, k)
					}
					checkFree(t, &s.conns)
					if a := s.Allocs(); a != 1 {
						t.Errorf("connection %d: %d handlers allocated, want 1", conn, a)
					}
				}
				if m.p.dropped != 0 {
					t.Errorf("%d segments dropped", m.p.dropped)
				}
			})
		}
	}
}

// TestHTTPPatternLimits: a request whose headers exceed MaxRequest is
// reset (and its handler goes back); a request after "Connection: close"
// gets no response; a client that closes with a request cut short is
// closed on.
func TestHTTPPatternLimits(t *testing.T) {
	m := newMemPair(t, memConfig())
	s := newMemHTTP(t, m, 100)
	k := &memClient{m: m, req: []byte(strings.Repeat("x", MaxRequest+100)), rounds: 1, depth: 1, body: 1}
	if !m.run(k, 1000) || k.err != tcp.ErrReset || k.got != 0 {
		t.Errorf("headers too large: %v", k)
	}
	checkFree(t, &s.conns)

	// Two requests in one write, the first asking to close: one response.
	k = &memClient{m: m, req: []byte(getClose + getKeepAlive), head: []byte(patternHead(100, true)), body: 100, rounds: 1, depth: 1}
	if !m.run(k, 1000) || !k.ok() {
		t.Errorf("after Connection: close: %v", k)
	}
	checkFree(t, &s.conns)

	// A request and half of another, then the client's FIN: one response,
	// then the server's FIN.
	k = &memClient{m: m, req: []byte(getKeepAlive + "GET / HT"), head: []byte(patternHead(100, false)), body: 100, rounds: 1, depth: 1, closeEarly: true}
	if !m.run(k, 1000) || !k.ok() {
		t.Errorf("cut short: %v", k)
	}
	checkFree(t, &s.conns)
}

// TestHTTPPatternSizes: bodies outside 64 bytes to 1 MiB are refused.
func TestHTTPPatternSizes(t *testing.T) {
	for _, size := range []int{-1, 0, 63, MaxMessage + 1} {
		if _, err := newHTTPPattern(nil, 1, size); err == nil {
			t.Errorf("%d accepted", size)
		}
	}
	for _, size := range []int{64, MaxMessage} {
		if _, err := newHTTPPattern(nil, 1, size); err != nil {
			t.Errorf("%d: %v", size, err)
		}
	}
}

// afterClosed forwards a handler's events and records what the
// connection did around Closed.
type afterClosed struct {
	tcp.Handler
	closedIn tcp.State // the state Closed came in
	after    int       // events after Closed
	closed   bool
}

func (a *afterClosed) Readable(c *tcp.Conn) { a.count(); a.Handler.Readable(c) }
func (a *afterClosed) Writable(c *tcp.Conn) { a.count(); a.Handler.Writable(c) }
func (a *afterClosed) Closed(c *tcp.Conn, err error) {
	a.closed, a.closedIn = true, c.State()
	a.Handler.Closed(c, err)
}
func (a *afterClosed) count() {
	if a.closed {
		a.after++
	}
}

// TestHTTPPatternTimeWait: the server closes first ("Connection: close"),
// so its connection ends in TIME-WAIT: Closed comes as TIME-WAIT begins,
// and is the last call its handler gets (the client's FIN that began it
// comes before, as a Readable); the handler is back in the free list,
// once.
func TestHTTPPatternTimeWait(t *testing.T) {
	m := newMemPair(t, memConfig())
	s, err := newHTTPPattern(m, 64, 1000)
	if err != nil {
		t.Fatal(err)
	}
	rec := &afterClosed{}
	m.listen(t, func(c *tcp.Conn) tcp.Handler { rec.Handler = s.Accept(c); return rec })
	k := &memClient{m: m, req: []byte(getClose), head: []byte(patternHead(1000, true)), body: 1000, rounds: 1, depth: 1, waitFIN: true}
	if !m.run(k, 1000) || !k.ok() {
		t.Fatalf("%v", k)
	}
	if !rec.closed || rec.closedIn != tcp.StateTimeWait || rec.after != 0 {
		t.Errorf("server's connection: Closed %v in %v, %d events after", rec.closed, rec.closedIn, rec.after)
	}
	checkFree(t, &s.conns)
	if s.Allocs() != 1 {
		t.Errorf("%d handlers allocated", s.Allocs())
	}
}
