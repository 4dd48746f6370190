package tcpapp_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fastpathnet/fastpath/internal/lab"
	"github.com/fastpathnet/fastpath/stack"
	"github.com/fastpathnet/fastpath/tcp"
	"github.com/fastpathnet/fastpath/tcpapp"
)

// startStack runs an engine with TCP in A in shared mode (the kernel's
// address), after listen.
func startStack(t *testing.T, l *lab.Lab, listen func(*stack.Stack) error) *stack.Stack {
	t.Helper()
	cfg := stack.DefaultConfig()
	cfg.Device, cfg.Shared, cfg.ImportRoutes = l.A.Link, true, true
	var st *stack.Stack
	err := l.A.Do(func() (err error) {
		if st, err = stack.New(cfg); err != nil {
			return err
		}
		if err := st.EnableTCP(tcp.DefaultConfig()); err != nil {
			return err
		}
		return listen(st)
	})
	if err != nil {
		if st != nil {
			st.Close()
		}
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Start(); err != nil {
		t.Fatal(err)
	}
	return st
}

// dialFrom dials addr from h's namespace.
func dialFrom(h *lab.Host, addr string) (net.Conn, error) {
	var c net.Conn
	err := h.Do(func() (err error) {
		c, err = net.DialTimeout("tcp4", addr, 5*time.Second)
		return err
	})
	return c, err
}

// TestServers: the kernel in B talks to Echo, Discard and HTTP on the
// engine in A.
func TestServers(t *testing.T) {
	l := lab.NewT(t, lab.Options{})
	startStack(t, l, func(st *stack.Stack) error {
		if err := tcpapp.ListenEcho(st, 7); err != nil {
			return err
		}
		if err := tcpapp.ListenDiscard(st, 9); err != nil {
			return err
		}
		return tcpapp.ListenHTTP(st, 8080, "hello from tcpapp\n")
	})
	addr := l.A.Addr.Addr().String()
	msg := strings.Repeat("echo me ", 50000)

	t.Run("echo", func(t *testing.T) {
		c, err := dialFrom(l.B, addr+":7")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		go func() { io.WriteString(c, msg); c.(*net.TCPConn).CloseWrite() }()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if b, err := io.ReadAll(c); err != nil || string(b) != msg {
			t.Fatalf("%d of %d bytes back, %v", len(b), len(msg), err)
		}
	})
	t.Run("discard", func(t *testing.T) {
		c, err := dialFrom(l.B, addr+":9")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, msg)
		c.(*net.TCPConn).CloseWrite()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if b, err := io.ReadAll(c); err != nil || len(b) != 0 {
			t.Fatalf("answered %q, %v", b, err)
		}
	})
	t.Run("http", func(t *testing.T) {
		var dials atomic.Int32
		client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, a string) (net.Conn, error) {
				dials.Add(1)
				return dialFrom(l.B, a)
			},
		}}
		get := func(close bool) *http.Response {
			t.Helper()
			req, _ := http.NewRequest("GET", "http://"+addr+":8080/x", nil)
			req.Close = close
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || string(b) != "hello from tcpapp\n" || resp.StatusCode != 200 {
				t.Fatalf("%d %q, %v", resp.StatusCode, b, err)
			}
			return resp
		}
		for range 3 {
			if resp := get(false); resp.Close {
				t.Fatalf("keep-alive request answered with Connection: close")
			}
		}
		if n := dials.Load(); n != 1 {
			t.Errorf("3 keep-alive requests took %d connections", n)
		}
		if resp := get(true); !resp.Close {
			t.Errorf("Connection: close request kept alive")
		}
		// HTTP/1.0 without keep-alive: answered, then closed.
		c, err := dialFrom(l.B, addr+":8080")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, "GET / HTTP/1.0\r\nHost: x\r\n\r\n")
		b, err := io.ReadAll(bufio.NewReader(c))
		if err != nil || !strings.HasPrefix(string(b), "HTTP/1.1 200 OK\r\n") || !strings.Contains(string(b), "Connection: close\r\n") {
			t.Fatalf("HTTP/1.0: %q, %v", b, err)
		}
	})
}

// TestSender: Senders on the engine in A send the pattern, and content,
// to a kernel server in B that checks every byte.
func TestSender(t *testing.T) {
	l := lab.NewT(t, lab.Options{})
	got := patternServer(t, l.B, 5201)
	st := startStack(t, l, func(*stack.Stack) error { return nil })
	dst := netip.AddrPortFrom(l.B.Addr.Addr(), 5201)
	const n = 3 << 20
	var acked atomic.Int64
	done := make(chan tcpapp.SenderResult, 3)
	e := st.Engines()[0]
	senders := []*tcpapp.Sender{
		tcpapp.NewSender(e, tcpapp.SenderConfig{Bytes: n, Acked: &acked, Done: done}),
		tcpapp.NewSender(e, tcpapp.SenderConfig{Bytes: n, Acked: &acked, Done: done}),
		tcpapp.NewSender(e, tcpapp.SenderConfig{Content: []byte("content, not the pattern"), Acked: &acked, Done: done}),
	}
	for _, s := range senders {
		if err := s.Dial(dst); err != nil {
			t.Fatal(err)
		}
	}
	var total int64
	for range senders {
		select {
		case r := <-done:
			if r.Err != nil || r.SRTT <= 0 || r.At.IsZero() {
				t.Errorf("result %+v", r)
			}
			total += r.Bytes
		case <-time.After(30 * time.Second):
			t.Fatal("senders did not finish")
		}
	}
	want := int64(2*n + len("content, not the pattern"))
	if total != want || acked.Load() != want {
		t.Errorf("acknowledged %d (Acked %d), want %d", total, acked.Load(), want)
	}
	var results []string
	for range senders {
		results = append(results, <-got)
	}
	pattern, content := 0, 0
	for _, r := range results {
		switch r {
		case fmt.Sprintf("pattern %d", n):
			pattern++
		case "content, not the pattern":
			content++
		default:
			t.Errorf("server got %s", r)
		}
	}
	if pattern != 2 || content != 1 {
		t.Errorf("server got %v", results)
	}
}

// patternServer is a kernel TCP server in h on port: for every connection
// it reads to the end and sends checkPattern's description on the channel
// (or the read error). It closes with the test.
func patternServer(t *testing.T, h *lab.Host, port int) <-chan string {
	t.Helper()
	var ln net.Listener
	if err := h.Do(func() (err error) {
		ln, err = net.Listen("tcp4", netip.AddrPortFrom(h.Addr.Addr(), uint16(port)).String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	got := make(chan string, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				b, err := io.ReadAll(c)
				if err != nil {
					got <- err.Error()
					return
				}
				got <- checkPattern(b)
			}()
		}
	}()
	return got
}

// checkPattern describes b: "pattern N" when it is N bytes of the default
// content, else b itself (cut short).
func checkPattern(b []byte) string {
	for i, c := range b {
		if c != byte(i%251) {
			return string(b[:min(len(b), 64)])
		}
	}
	return fmt.Sprintf("pattern %d", len(b))
}

// TestDialWithoutTCP: a Sender on an engine without TCP says so.
func TestDialWithoutTCP(t *testing.T) {
	l := lab.NewT(t, lab.Options{})
	cfg := stack.DefaultConfig()
	cfg.Device, cfg.Shared = l.A.Link, true
	var st *stack.Stack
	if err := l.A.Do(func() (err error) { st, err = stack.New(cfg); return err }); err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s := tcpapp.NewSender(st.Engines()[0], tcpapp.SenderConfig{Bytes: 1, Done: make(chan tcpapp.SenderResult, 1)})
	if err := s.Dial(netip.MustParseAddrPort("198.18.0.2:5201")); err == nil || !strings.Contains(err.Error(), "EnableTCP") {
		t.Errorf("Dial without TCP: %v", err)
	}
}

// TestBulk: a bulk transfer of 6 connections to a kernel server, each
// checked byte for byte there; then one to a port nobody listens on, which
// fails and says so.
func TestBulk(t *testing.T) {
	l := lab.NewT(t, lab.Options{})
	const conns, n = 6, 1 << 20
	got := patternServer(t, l.B, 5201)
	st := startStack(t, l, func(*stack.Stack) error { return nil })
	b, err := tcpapp.StartBulk(st, tcpapp.BulkConfig{Dst: netip.AddrPortFrom(l.B.Addr.Addr(), 5201), Conns: conns, Bytes: n, Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	res := b.Wait(context.Background())
	if res.Completed != conns || res.BytesSent != conns*n || len(res.Errors) != 0 || res.GoodputBPS <= 0 || res.RTTUs <= 0 || res.TCP["active_opens"] != conns {
		t.Errorf("bulk: %+v", res)
	}
	if a, f := b.Progress(); a != conns*n || f != conns {
		t.Errorf("progress %d bytes, %d ended", a, f)
	}
	for range conns {
		if r := <-got; r != fmt.Sprintf("pattern %d", n) {
			t.Errorf("server got %s", r)
		}
	}

	st.Close() // one program on A at a time
	st2 := startStack(t, l, func(*stack.Stack) error { return nil })
	b, err = tcpapp.StartBulk(st2, tcpapp.BulkConfig{Dst: netip.AddrPortFrom(l.B.Addr.Addr(), 5299), Conns: 1, Bytes: n, Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if res := b.Wait(context.Background()); res.Completed != 0 || len(res.Errors) != 1 {
		t.Errorf("bulk to a closed port: %+v", res)
	}
}
