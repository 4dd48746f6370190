package tcpapp_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fastpathnet/fastpath/internal/lab"
	"github.com/fastpathnet/fastpath/stack"
	"github.com/fastpathnet/fastpath/tcp"
	"github.com/fastpathnet/fastpath/tcpapp"
)

// checkBody reports the first byte of b that is not the pattern (byte i
// is i mod 251), or -1.
func checkBody(b []byte) int {
	for i, c := range b {
		if c != byte(i%251) {
			return i
		}
	}
	return -1
}

// checkResponse reads resp's body and fails t unless it is a 200 with
// size bytes of the pattern, as HTTPPattern sends.
func checkResponse(t *testing.T, resp *http.Response, size int) {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || resp.ContentLength != int64(size) || len(b) != size ||
		resp.Header.Get("Content-Type") != "application/octet-stream" {
		t.Fatalf("%d, Content-Length %d, Content-Type %q, %d bytes of %d, %v", resp.StatusCode, resp.ContentLength, resp.Header.Get("Content-Type"), len(b), size, err)
	}
	if i := checkBody(b); i >= 0 {
		t.Fatalf("body byte %d is %d, want %d", i, b[i], i%251)
	}
}

// TestHTTPPattern: the kernel's HTTP clients in B fetch 64 B, 64 KiB and
// 1 MiB bodies from HTTPPattern on the engine in A (larger than the
// 256 KiB send buffer: they stream): on one kept-alive connection
// (net/http), pipelined on one connection with "Connection: close" last
// (the server closes once that response is written), and HTTP/1.0.
func TestHTTPPattern(t *testing.T) {
	l := lab.NewT(t, lab.Options{})
	sizes := []int{64, 64 << 10, 1 << 20}
	startStack(t, l, func(st *stack.Stack) error {
		for i, size := range sizes {
			if err := tcpapp.ListenHTTPPattern(st, uint16(8081+i), size); err != nil {
				return err
			}
		}
		return nil
	})
	addr := l.A.Addr.Addr().String()
	for i, size := range sizes {
		hostPort := fmt.Sprintf("%s:%d", addr, 8081+i)
		t.Run(fmt.Sprintf("keep-alive/%d", size), func(t *testing.T) {
			var dials atomic.Int32
			client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
				DisableCompression: true,
				DialContext: func(ctx context.Context, _, a string) (net.Conn, error) {
					dials.Add(1)
					return dialFrom(l.B, a)
				},
			}}
			for range 4 {
				resp, err := client.Get("http://" + hostPort + "/x")
				if err != nil {
					t.Fatal(err)
				}
				if resp.Close {
					t.Fatal("keep-alive request answered with Connection: close")
				}
				checkResponse(t, resp, size)
			}
			if n := dials.Load(); n != 1 {
				t.Errorf("4 keep-alive requests took %d connections", n)
			}
		})
		t.Run(fmt.Sprintf("pipelined/%d", size), func(t *testing.T) {
			c, err := dialFrom(l.B, hostPort)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			const get = "GET /%d HTTP/1.1\r\nHost: x\r\n%s\r\n"
			reqs := fmt.Sprintf(get, 1, "") + fmt.Sprintf(get, 2, "") + fmt.Sprintf(get, 3, "") + fmt.Sprintf(get, 4, "Connection: close\r\n")
			if _, err := io.WriteString(c, reqs); err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(c)
			for i := range 4 {
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatalf("response %d: %v", i, err)
				}
				if resp.Close != (i == 3) {
					t.Errorf("response %d: Close %v", i, resp.Close)
				}
				checkResponse(t, resp, size)
			}
			if b, err := br.ReadByte(); err != io.EOF {
				t.Errorf("after Connection: close: %q, %v; want the server's FIN", b, err)
			}
		})
		t.Run(fmt.Sprintf("HTTP1.0/%d", size), func(t *testing.T) {
			c, err := dialFrom(l.B, hostPort)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			io.WriteString(c, "GET / HTTP/1.0\r\nHost: x\r\n\r\n")
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !resp.Close {
				t.Error("HTTP/1.0 request kept alive")
			}
			checkResponse(t, resp, size)
			if _, err := br.ReadByte(); err != io.EOF {
				t.Errorf("after the response: %v, want the server's FIN", err)
			}
		})
	}
}

// readResponses reads n responses of size bytes of the pattern from c and
// fails t unless every byte is right.
func readResponses(t *testing.T, c io.Reader, buf []byte, n, size int) {
	t.Helper()
	for i := range n {
		if _, err := io.ReadFull(c, buf[:size]); err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		if j := checkBody(buf[:size]); j >= 0 {
			t.Fatalf("response %d: byte %d is %d, want %d", i, j, buf[j], j%251)
		}
	}
}

// TestRR: the kernel in B talks to RR on the engine in A, requests of 100
// bytes answered with 1,000 bytes and with 1 MiB (streamed): rounds one
// at a time on one connection, every byte checked, then the client's
// FIN, answered with the server's; and every request written at once with
// half a request more before the FIN: the server answers the complete
// ones, then closes.
func TestRR(t *testing.T) {
	l := lab.NewT(t, lab.Options{})
	sizes := []int{1000, 1 << 20}
	startStack(t, l, func(st *stack.Stack) error {
		for i, size := range sizes {
			if err := tcpapp.ListenRR(st, uint16(9000+i), tcpapp.RRConfig{RequestSize: 100, ResponseSize: size}); err != nil {
				return err
			}
		}
		return nil
	})
	addr := l.A.Addr.Addr().String()
	req := make([]byte, 100)
	buf := make([]byte, 1<<20)
	for i, size := range sizes {
		hostPort := fmt.Sprintf("%s:%d", addr, 9000+i)
		t.Run(fmt.Sprintf("rounds/%d", size), func(t *testing.T) {
			c, err := dialFrom(l.B, hostPort)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			for range 5 {
				// A request in two writes: the server counts bytes.
				if _, err := c.Write(req[:30]); err != nil {
					t.Fatal(err)
				}
				time.Sleep(time.Millisecond)
				if _, err := c.Write(req[30:]); err != nil {
					t.Fatal(err)
				}
				readResponses(t, c, buf, 1, size)
			}
			c.(*net.TCPConn).CloseWrite()
			if b, err := io.ReadAll(c); err != nil || len(b) != 0 {
				t.Errorf("after the client's FIN: %d bytes, %v; want the server's FIN", len(b), err)
			}
		})
		t.Run(fmt.Sprintf("pipelined/%d", size), func(t *testing.T) {
			c, err := dialFrom(l.B, hostPort)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			const n = 5
			go func() {
				c.Write(make([]byte, n*100+50))
				c.(*net.TCPConn).CloseWrite()
			}()
			readResponses(t, c, buf, n, size)
			if b, err := io.ReadAll(c); err != nil || len(b) != 0 {
				t.Errorf("after %d responses: %d bytes more, %v; want the server's FIN", n, len(b), err)
			}
		})
	}
}

// engineCounters reads e's TCP counters on its goroutine.
func engineCounters(t *testing.T, e *stack.Engine) tcp.Counters {
	t.Helper()
	ch := make(chan tcp.Counters, 1)
	if err := e.Do(func(e *stack.Engine) { ch <- *e.TCP().Counters() }); err != nil {
		t.Fatal(err)
	}
	select {
	case c := <-ch:
		return c
	case <-time.After(5 * time.Second):
		t.Fatal("the engine did not run the counters' read")
		return tcp.Counters{}
	}
}

// TestRRChurn: short connections to RR one after another, one request and
// response each (TCP_CRR's pattern), from the kernel in B: after a
// warm-up, the engine's Host allocates no more connections or buffers and
// the server no more handlers: each connection's come back for the next.
// A Host takes a gone connection back at the end of its next Tick (every
// millisecond, tcp/pool.go): back to back, as many connections are
// allocated as end within one Tick, which timing raises now and then. So
// the warm-up runs back to back, and the connections counted after it
// start a millisecond apart: they never need more than it left in the
// pool. (The handlers come back in Closed, at once: one serves them all.
// TestNoAllocs counts every allocation, on a clock of its own.)
func TestRRChurn(t *testing.T) {
	l := lab.NewT(t, lab.Options{})
	var rr *tcpapp.RR
	st := startStack(t, l, func(st *stack.Stack) error {
		var err error
		if rr, err = tcpapp.NewRR(st.Engines()[0], tcpapp.RRConfig{RequestSize: 100, ResponseSize: 1000}); err != nil {
			return err
		}
		return st.ListenTCPFunc(9000, func(_ *stack.Engine, c *tcp.Conn) tcp.Handler { return rr.Accept(c) })
	})
	if n := len(st.Engines()); n != 1 {
		t.Fatalf("%d engines, want 1", n)
	}
	e := st.Engines()[0]
	hostPort := l.A.Addr.Addr().String() + ":9000"
	req, buf := make([]byte, 100), make([]byte, 1000)
	crr := func(n int, pause time.Duration) {
		t.Helper()
		for range n {
			c, err := dialFrom(l.B, hostPort)
			if err != nil {
				t.Fatal(err)
			}
			c.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := c.Write(req); err != nil {
				t.Fatal(err)
			}
			readResponses(t, c, buf, 1, 1000)
			c.(*net.TCPConn).CloseWrite()
			if b, err := io.ReadAll(c); err != nil || len(b) != 0 {
				t.Fatalf("after the client's FIN: %d bytes, %v", len(b), err)
			}
			c.Close()
			time.Sleep(pause)
		}
	}
	crr(200, 0)
	before, handlers := engineCounters(t, e), rr.Allocs()
	const n = 300
	crr(n, time.Millisecond)
	after := engineCounters(t, e)
	if got := after[tcp.PassiveOpens] - before[tcp.PassiveOpens]; got != n {
		t.Errorf("%d connections accepted, want %d", got, n)
	}
	if after[tcp.ConnAllocs] != before[tcp.ConnAllocs] || after[tcp.BufferAllocs] != before[tcp.BufferAllocs] || rr.Allocs() != handlers {
		t.Errorf("over %d connections after warm-up, Conns allocated %d -> %d, buffer pairs %d -> %d, handlers %d -> %d; want no change",
			n, before[tcp.ConnAllocs], after[tcp.ConnAllocs], before[tcp.BufferAllocs], after[tcp.BufferAllocs], handlers, rr.Allocs())
	}
	t.Logf("%d connections: %d Conns, %d buffer pairs, %d handlers allocated in all", after[tcp.PassiveOpens], after[tcp.ConnAllocs], after[tcp.BufferAllocs], rr.Allocs())
}
