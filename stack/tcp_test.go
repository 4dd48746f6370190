package stack

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fastpathnet/fastpath/internal/lab"
	"github.com/fastpathnet/fastpath/tcp"
)

// Interop with the kernel's TCP in the other namespace: the reference
// implementation. Payload byte i of a stream is i mod 251, checked byte for
// byte at the receiving end.

// tcpBytes is the size of the bulk transfers: 256 MiB each way, less
// under the race detector (ten times slower) or -short.
func tcpBytes() int64 {
	if v := os.Getenv("FASTPATH_TCP_BYTES"); v != "" {
		n, _ := strconv.ParseInt(v, 10, 64)
		return n
	}
	if raceEnabled || testing.Short() {
		return 16 << 20
	}
	return 256 << 20
}

// patternWriter writes n bytes of the pattern to w.
func writePattern(w io.Writer, n int64) error {
	buf := make([]byte, 251*256)
	for i := range buf {
		buf[i] = byte(i % 251)
	}
	for off := int64(0); off < n; {
		k := min(int64(len(buf)), n-off)
		start := off % 251
		if k > int64(len(buf))-start {
			k = int64(len(buf)) - start
		}
		m, err := w.Write(buf[start : start+k])
		off += int64(m)
		if err != nil {
			return err
		}
	}
	return nil
}

// readPattern reads from r until EOF and checks every byte; it returns
// the count.
func readPattern(r io.Reader) (int64, error) {
	buf := make([]byte, 256<<10)
	var off int64
	for {
		n, err := r.Read(buf)
		for i := 0; i < n; i++ {
			if buf[i] != byte((off+int64(i))%251) {
				return off + int64(i), fmt.Errorf("byte %d is %d, want %d", off+int64(i), buf[i], (off+int64(i))%251)
			}
		}
		off += int64(n)
		if err == io.EOF {
			return off, nil
		}
		if err != nil {
			return off, err
		}
	}
}

// tcpStack starts an engine with TCP on h (dedicated address engineAddr
// unless mod changes it).
func tcpStack(t *testing.T, h *lab.Host, mod func(*Config), tmod func(*tcp.Config), bind func(*Stack) error) *Stack {
	t.Helper()
	return startStack(t, h, func(c *Config) {
		c.Idle = IdleBusy
		if mod != nil {
			mod(c)
		}
	}, func(s *Stack) error {
		tc := tcp.DefaultConfig()
		tc.TimeWait = int64(time.Second)
		if tmod != nil {
			tmod(&tc)
		}
		if err := s.EnableTCP(tc); err != nil {
			return err
		}
		if bind != nil {
			return bind(s)
		}
		return nil
	})
}

// kernelDial connects from h's kernel to dst.
func kernelDial(t testing.TB, h *lab.Host, dst netip.AddrPort) *net.TCPConn {
	t.Helper()
	var c net.Conn
	if err := h.Do(func() (err error) {
		c, err = net.DialTimeout("tcp", dst.String(), 5*time.Second) // dst's family
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

// kernelListenAt listens in h's kernel on addr (addr's family).
func kernelListenAt(t testing.TB, h *lab.Host, addr netip.AddrPort) net.Listener {
	t.Helper()
	var l net.Listener
	if err := h.Do(func() (err error) {
		l, err = net.Listen("tcp", addr.String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// serveChecked accepts connections on l and serves each with serveConn,
// its result on errs.
func serveChecked(l net.Listener, n int64, errs chan<- error) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() { errs <- serveConn(c, n) }()
	}
}

// serveConn reads the pattern on c to EOF, checks it, writes n bytes of
// the pattern back and closes c.
func serveConn(c net.Conn, n int64) error {
	defer c.Close()
	got, err := readPattern(c)
	if err == nil && got != n {
		err = fmt.Errorf("received %d bytes, want %d", got, n)
	}
	if err == nil {
		err = writePattern(c, n)
	}
	return err
}

// exchange writes n bytes of the pattern on c, closes its sending side,
// and reads and checks n bytes back.
func exchange(c net.Conn, n int64) error {
	werr := make(chan error, 1)
	go func() {
		err := writePattern(c, n)
		if err == nil {
			switch cw := c.(type) {
			case *TCPConn:
				err = cw.CloseWrite()
			case *net.TCPConn:
				err = cw.CloseWrite()
			}
		}
		werr <- err
	}()
	got, err := readPattern(c)
	if err == nil && got != n {
		err = fmt.Errorf("read back %d bytes, want %d", got, n)
	}
	return errors.Join(err, <-werr)
}

// TestTCPKernelClient: the kernel in B connects to the engine in A, sends
// the pattern, reads it back; the engine's side is the net.Conn adapter.
func TestTCPKernelClient(t *testing.T) {
	testTCPKernelClient(t, false, 5201, tcpBytes())
}

// testTCPKernelClient is TestTCPKernelClient in one family (IPv6 with
// ipv6): the engine, listening on port, serves one connection, which
// must come to its address in that family, and the kernel sends and
// reads back n bytes on it. It returns the stack and the kernel's end.
func testTCPKernelClient(t *testing.T, ipv6 bool, port uint16, n int64) (*Stack, *net.TCPConn) {
	l := lab.NewT(t, lab.Options{IPv6: ipv6})
	var ln *TCPListener
	s, engine, _ := tcpFamily(t, l, ipv6, nil, func(s *Stack) (err error) {
		ln, err = s.ListenTCP(port, 0)
		return err
	})
	errs := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			errs <- err
			return
		}
		if got := c.LocalAddr().(*net.TCPAddr).AddrPort().Addr(); got != engine {
			c.Close()
			errs <- fmt.Errorf("accepted on %v, want %v", got, engine)
			return
		}
		errs <- serveConn(c, n)
	}()
	defer ln.Close()
	c := kernelDial(t, l.B, netip.AddrPortFrom(engine, port))
	start := time.Now()
	if err := exchange(c, n); err != nil {
		t.Fatalf("kernel client: %v; tcp %v", err, s.TCPCounters().Map())
	}
	if err := <-errs; err != nil {
		t.Fatalf("engine server: %v", err)
	}
	t.Logf("%d MiB each way to %v in %v; tcp %v", n>>20, engine, time.Since(start), s.TCPCounters().Map())
	return s, c
}

// TestTCPEngineClient: the engine in A dials the kernel in B.
func TestTCPEngineClient(t *testing.T) {
	testTCPEngineClient(t, false, 5202, tcpBytes())
}

// testTCPEngineClient is TestTCPEngineClient in one family (IPv6 with
// ipv6): the engine dials B's address in that family on port, from its
// own in that family, and they exchange n bytes each way.
func testTCPEngineClient(t *testing.T, ipv6 bool, port uint16, n int64) {
	l := lab.NewT(t, lab.Options{IPv6: ipv6})
	s, engine, peer := tcpFamily(t, l, ipv6, nil, nil)
	kl := kernelListenAt(t, l.B, netip.AddrPortFrom(peer, port))
	errs := make(chan error, 1)
	go serveChecked(kl, n, errs)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := s.DialTCP(ctx, netip.AddrPortFrom(peer, port).String())
	if err != nil {
		t.Fatalf("dial: %v; tcp %v", err, s.TCPCounters().Map())
	}
	defer c.Close()
	if got := c.LocalAddr().(*net.TCPAddr).AddrPort().Addr(); got != engine {
		t.Errorf("dialled from %v, want %v", got, engine)
	}
	start := time.Now()
	if err := exchange(c, n); err != nil {
		t.Fatalf("engine client: %v; tcp %v", err, s.TCPCounters().Map())
	}
	if err := <-errs; err != nil {
		t.Fatalf("kernel server: %v", err)
	}
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the connection did not finish closing")
	}
	if err := c.Err(); err != nil {
		t.Fatalf("close: %v", err)
	}
	t.Logf("%d MiB each way from %v in %v; tcp %v", n>>20, engine, time.Since(start), s.TCPCounters().Map())
}

// TestTCPKernelOptionsOff: the kernel peer with SACK, timestamps and
// window scaling turned off, one at a time and all together.
func TestTCPKernelOptionsOff(t *testing.T) {
	for _, off := range [][]string{{"tcp_sack"}, {"tcp_timestamps"}, {"tcp_window_scaling"}, {"tcp_sack", "tcp_timestamps", "tcp_window_scaling"}} {
		t.Run(fmt.Sprint(off), func(t *testing.T) {
			l := lab.NewT(t, lab.Options{})
			for _, k := range off {
				sysctl(t, l.B, "net.ipv4."+k, "0")
			}
			n := int64(8 << 20)
			var ln *TCPListener
			s := tcpStack(t, l.A, nil, nil, func(s *Stack) (err error) {
				ln, err = s.ListenTCP(5203, 0)
				return err
			})
			errs := make(chan error, 1)
			go serveChecked(ln, n, errs)
			defer ln.Close()
			c := kernelDial(t, l.B, netip.AddrPortFrom(engineAddr.Addr(), 5203))
			if err := exchange(c, n); err != nil {
				t.Fatalf("%v off: %v; tcp %v", off, err, s.TCPCounters().Map())
			}
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		})
	}
}

func sysctl(t *testing.T, h *lab.Host, key, val string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if out, err := h.Command(ctx, "sysctl", "-qw", key+"="+val).CombinedOutput(); err != nil {
		t.Fatalf("sysctl %s=%s: %v: %s", key, val, err, out)
	}
}

// TestTCPLoss: through a router dropping 1% and 5% of the frames it
// forwards, at random, both ways (iptables statistic).
func TestTCPLoss(t *testing.T) {
	for _, p := range []string{"0.01", "0.05"} {
		t.Run(p, func(t *testing.T) {
			l := lab.NewT(t, lab.Options{Router: true})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if out, err := l.R.Command(ctx, "iptables", "-A", "FORWARD", "-m", "statistic", "--mode", "random", "--probability", p, "-j", "DROP").CombinedOutput(); err != nil {
				lab.RequireKernel(t, fmt.Sprintf("iptables in the router: %v: %s (install iptables)", err, out))
			}
			addr := netip.MustParsePrefix("198.18.1.10/24")
			n := int64(32 << 20)
			if p == "0.05" {
				n = 8 << 20
			}
			if raceEnabled || testing.Short() {
				n /= 8
			}
			var ln *TCPListener
			s := tcpStack(t, l.A, func(c *Config) {
				c.Addrs = []netip.Prefix{addr}
				c.Gateway = l.A.Gateway
			}, nil, func(s *Stack) (err error) {
				ln, err = s.ListenTCP(5204, 0)
				return err
			})
			errs := make(chan error, 1)
			go serveChecked(ln, n, errs)
			defer ln.Close()
			c := kernelDial(t, l.B, netip.AddrPortFrom(addr.Addr(), 5204))
			start := time.Now()
			if err := exchange(c, n); err != nil {
				t.Fatalf("loss %s: %v; tcp %v", p, err, s.TCPCounters().Map())
			}
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
			// Counters are published every publishTick: a short run may
			// end before they are.
			tc := waitTCP(t, s, "the transfer's counters", func(c tcp.Counters) bool { return c[tcp.BytesIn] >= uint64(n) })
			if tc[tcp.Retransmits] == 0 {
				t.Errorf("no retransmissions at %s loss: is the router dropping?", p)
			}
			t.Logf("loss %s: %d MiB each way in %v; tcp %v", p, n>>20, time.Since(start), tc.Map())
		})
	}
}

// TestTCPManyConns: 1,000 concurrent connections from the kernel, 1 MiB
// each way on each.
func TestTCPManyConns(t *testing.T) {
	l := lab.NewT(t, lab.Options{})
	conns, n := 1000, int64(1<<20)
	if raceEnabled || testing.Short() {
		conns, n = 100, 256<<10
	}
	var ln *TCPListener
	s := tcpStack(t, l.A, nil, func(c *tcp.Config) {
		c.SendBuffer, c.RecvBuffer = 64<<10, 64<<10
		c.SynBacklog = 2048
	}, func(s *Stack) (err error) {
		ln, err = s.ListenTCP(5205, 2048)
		return err
	})
	errs := make(chan error, conns)
	go serveChecked(ln, n, errs)
	defer ln.Close()
	var wg sync.WaitGroup
	cerrs := make(chan error, conns)
	for i := 0; i < conns; i++ {
		c := kernelDial(t, l.B, netip.AddrPortFrom(engineAddr.Addr(), 5205))
		wg.Add(1)
		go func() {
			defer wg.Done()
			cerrs <- exchange(c, n)
		}()
	}
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(90 * time.Second):
		c := s.Counters()
		t.Fatalf("not done after 90 s: tcp %v\nengine %v\nsocket %+v", s.TCPCounters().Map(), nonZero(c), s.Engines()[0].Socket().Counters())
	}
	close(cerrs)
	for err := range cerrs {
		if err != nil {
			t.Fatalf("a client: %v; tcp %v", err, s.TCPCounters().Map())
		}
	}
	for i := 0; i < conns; i++ {
		if err := <-errs; err != nil {
			t.Fatalf("a server: %v", err)
		}
	}
}

// TestTCPCloses: the kernel closes first, the engine closes first, both
// at once, and the kernel resets.
func TestTCPCloses(t *testing.T) {
	l := lab.NewT(t, lab.Options{})
	var ln *TCPListener
	s := tcpStack(t, l.A, nil, nil, func(s *Stack) (err error) {
		ln, err = s.ListenTCP(5206, 0)
		return err
	})
	defer ln.Close()
	accept := func() *TCPConn {
		t.Helper()
		type res struct {
			c   net.Conn
			err error
		}
		ch := make(chan res, 1)
		go func() { c, err := ln.Accept(); ch <- res{c, err} }()
		select {
		case r := <-ch:
			if r.err != nil {
				t.Fatal(r.err)
			}
			return r.c.(*TCPConn)
		case <-time.After(5 * time.Second):
			t.Fatal("no connection accepted")
		}
		return nil
	}
	dst := netip.AddrPortFrom(engineAddr.Addr(), 5206)
	done := func(c *TCPConn, want error) {
		t.Helper()
		select {
		case <-c.Done():
		case <-time.After(5 * time.Second):
			t.Fatalf("connection not finished; tcp %v", s.TCPCounters().Map())
		}
		if !errors.Is(c.Err(), want) {
			t.Fatalf("ended with %v, want %v", c.Err(), want)
		}
	}

	t.Run("kernel first", func(t *testing.T) {
		k := kernelDial(t, l.B, dst)
		e := accept()
		k.Write([]byte("last words"))
		k.Close()
		b, err := io.ReadAll(e)
		if err != nil || string(b) != "last words" {
			t.Fatalf("read %q, %v", b, err)
		}
		e.Close()
		done(e, nil)
	})
	t.Run("engine first", func(t *testing.T) {
		k := kernelDial(t, l.B, dst)
		e := accept()
		e.Write([]byte("goodbye"))
		e.Close()
		b, err := io.ReadAll(k)
		if err != nil || string(b) != "goodbye" {
			t.Fatalf("kernel read %q, %v", b, err)
		}
		k.Close()
		done(e, nil)
	})
	t.Run("simultaneous", func(t *testing.T) {
		k := kernelDial(t, l.B, dst)
		e := accept()
		k.CloseWrite()
		e.CloseWrite()
		io.ReadAll(e)
		io.ReadAll(k)
		k.Close()
		done(e, nil)
	})
	t.Run("kernel resets", func(t *testing.T) {
		k := kernelDial(t, l.B, dst)
		e := accept()
		k.SetLinger(0)
		k.Close() // RST
		done(e, tcp.ErrReset)
		if _, err := e.Read(make([]byte, 10)); !errors.Is(err, tcp.ErrReset) {
			t.Fatalf("Read after a reset: %v", err)
		}
	})
	t.Run("read after a reset", func(t *testing.T) {
		// What arrived before the RST stays readable, however many
		// connections the engine opens and closes in the meantime: the
		// adapter keeps its tcp.Conn from the engine's pool.
		received := func(n uint64) {
			t.Helper()
			for end := time.Now().Add(5 * time.Second); s.TCPCounters()[tcp.BytesIn] < n; time.Sleep(time.Millisecond) {
				if time.Now().After(end) {
					t.Fatalf("the engine has %d bytes, want %d", s.TCPCounters()[tcp.BytesIn], n)
				}
			}
		}
		first := "the first connection's last words"
		k := kernelDial(t, l.B, dst)
		e := accept()
		k.Write([]byte(first))
		received(s.TCPCounters()[tcp.BytesIn] + uint64(len(first)))
		k.SetLinger(0)
		k.Close() // RST
		done(e, tcp.ErrReset)
		for i := range 3 {
			k2 := kernelDial(t, l.B, dst)
			e2 := accept()
			msg := fmt.Sprintf("connection %d after", i)
			k2.Write([]byte(msg))
			k2.Close()
			if b, err := io.ReadAll(e2); err != nil || string(b) != msg {
				t.Fatalf("read %q, %v", b, err)
			}
			e2.Close()
			done(e2, nil)
		}
		b, err := io.ReadAll(e)
		if string(b) != first || !errors.Is(err, tcp.ErrReset) {
			t.Fatalf("the reset connection read %q, %v; want %q, %v", b, err, first, tcp.ErrReset)
		}
	})
	t.Run("no listener", func(t *testing.T) {
		var err error
		l.B.Do(func() error {
			_, err = net.DialTimeout("tcp4", netip.AddrPortFrom(engineAddr.Addr(), 5999).String(), 3*time.Second)
			return nil
		})
		if err == nil || !errors.Is(err, errConnRefused) {
			t.Fatalf("dial to a port nobody listens on: %v, want connection refused", err)
		}
	})
}

// TestTCPDeadlines: a read with nothing to read ends at its deadline.
func TestTCPDeadlines(t *testing.T) {
	l := lab.NewT(t, lab.Options{})
	var ln *TCPListener
	tcpStack(t, l.A, nil, nil, func(s *Stack) (err error) {
		ln, err = s.ListenTCP(5207, 0)
		return err
	})
	defer ln.Close()
	k := kernelDial(t, l.B, netip.AddrPortFrom(engineAddr.Addr(), 5207))
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if _, err := c.Read(make([]byte, 10)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read: %v, want a deadline error", err)
	}
	k.Write([]byte("late"))
	c.SetReadDeadline(time.Time{})
	r := bufio.NewReader(c)
	b := make([]byte, 4)
	if _, err := io.ReadFull(r, b); err != nil || string(b) != "late" {
		t.Fatalf("read %q, %v", b, err)
	}
}

// errConnRefused is ECONNREFUSED, as the kernel's dial returns it.
var errConnRefused = syscall.ECONNREFUSED

// TestTCPSynFlood: scapy in B floods the engine's listener with SYNs from
// random ports whose SYN-ACKs nobody answers (B's RSTs dropped, as a
// spoofed flood's would be), while a real connection moves data. The
// backlog fills, SYN cookies answer, and the real connection completes.
func TestTCPSynFlood(t *testing.T) {
	if err := exec.Command("/usr/bin/python3", "-c", "import scapy").Run(); err != nil {
		lab.RequireKernel(t, "scapy (apt-get install python3-scapy)")
	}
	l := lab.NewT(t, lab.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if out, err := l.B.Command(ctx, "iptables", "-A", "OUTPUT", "-p", "tcp", "--tcp-flags", "RST", "RST", "-j", "DROP").CombinedOutput(); err != nil {
		lab.RequireKernel(t, fmt.Sprintf("iptables in B: %v: %s (install iptables)", err, out))
	}
	var ln *TCPListener
	s := tcpStack(t, l.A, nil, func(c *tcp.Config) { c.SynBacklog = 64 }, func(s *Stack) (err error) {
		ln, err = s.ListenTCP(5208, 0)
		return err
	})
	defer ln.Close()
	const syns = 3000
	script := fmt.Sprintf(`
from scapy.all import *
conf.verb = 0
p = Ether(dst=%q)/IP(src=%q, dst=%q)/TCP(sport=RandShort(), dport=5208, flags="S", seq=RandInt())
sendp(p, iface=%q, count=%d)
`, l.B.PeerMAC.String(), l.B.Addr.Addr(), engineAddr.Addr(), l.B.Link, syns)
	flood := l.B.Command(ctx, "/usr/bin/python3", "-c", script)
	var floodOut strings.Builder
	flood.Stdout, flood.Stderr = &floodOut, &floodOut
	if err := flood.Start(); err != nil {
		t.Fatal(err)
	}
	// The flood is under way: a real client, after the backlog filled.
	waitTCP(t, s, "the backlog to fill", func(c tcp.Counters) bool { return c[tcp.SynCookiesSent] > 0 })
	errs := make(chan error, 1)
	go serveChecked(ln, 4<<20, errs)
	c := kernelDial(t, l.B, netip.AddrPortFrom(engineAddr.Addr(), 5208))
	if err := exchange(c, 4<<20); err != nil {
		t.Fatalf("during the flood: %v; tcp %v", err, s.TCPCounters().Map())
	}
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	if err := flood.Wait(); err != nil {
		t.Fatalf("scapy: %v\n%s", err, floodOut.String())
	}
	tc := s.TCPCounters()
	t.Logf("tcp %v", tc.Map())
	if tc[tcp.SynCookiesSent] == 0 {
		t.Errorf("no SYN cookies sent")
	}
}

// pollTCP reads counters until ok says yes or d has passed, and returns
// the last it read (the engines publish them every publishTick).
func pollTCP(read func() tcp.Counters, ok func(tcp.Counters) bool, d time.Duration) (tcp.Counters, bool) {
	for deadline := time.Now().Add(d); ; time.Sleep(20 * time.Millisecond) {
		c := read()
		if ok(c) {
			return c, true
		}
		if time.Now().After(deadline) {
			return c, false
		}
	}
}

// waitTCP polls the stack's TCP counters until ok, for 30 s (scapy's
// start alone takes seconds on a loaded machine).
func waitTCP(t *testing.T, s *Stack, what string, ok func(tcp.Counters) bool) tcp.Counters {
	t.Helper()
	c, good := pollTCP(s.TCPCounters, ok, 30*time.Second)
	if !good {
		t.Fatalf("waiting for %s: tcp %v", what, c.Map())
	}
	return c
}

// TestTCPTshark: tshark, with checksum validation, over a transfer both
// ways: no malformed segment, no bad checksum. The checksums come from the
// engine (engine), and from the kernel on the engine's request through TX
// metadata (kernel: XDP_UMEM_TX_SW_CSUM makes it compute them as it builds
// the skb, so the capture sees them; with a device's offload, as in auto
// mode on veth, the peer would see only the partial sums a real device
// completes on the wire).
func TestTCPTshark(t *testing.T) {
	testTCPTshark(t, false)
}

// testTCPTshark is TestTCPTshark in one family (IPv6 with ipv6), a
// subtest for each checksum mode.
func testTCPTshark(t *testing.T, ipv6 bool) {
	if _, err := exec.LookPath("tshark"); err != nil {
		lab.RequireKernel(t, "tshark (apt-get install tshark)")
	}
	// The engine's MSS: 1500 less the IP and TCP headers and the 12 bytes
	// of timestamps.
	mss := 1500 - 40 - 12
	if ipv6 {
		mss = 1500 - 60 - 12
	}
	for _, mode := range []ChecksumMode{ChecksumEngine, ChecksumKernel} {
		t.Run(mode.String(), func(t *testing.T) {
			l := lab.NewT(t, lab.Options{IPv6: ipv6})
			var ln *TCPListener
			s, engine, _ := tcpFamily(t, l, ipv6, func(c *Config) { c.TXChecksum = mode }, func(s *Stack) (err error) {
				ln, err = s.ListenTCP(5209, 0)
				return err
			})
			if got, want := s.Engines()[0].ChecksumOffload(), mode == ChecksumKernel; got != want {
				t.Fatalf("checksum mode %v: offload %v, want %v", mode, got, want)
			}
			defer ln.Close()
			// Small enough for the capture to keep up: tshark may miss
			// frames under load, never alter them.
			const n = 512 << 10
			// A capture that started late (dumpcap says "Capturing on" a
			// little early, and a loaded machine makes it later) sees too
			// little: the exchange goes again, up to three times. A bad
			// segment fails at once.
			var lines []string
			var data int
			errs := make(chan error, 1)
			go serveChecked(ln, n, errs)
			for try := 0; try < 3 && data < n/mss/4; try++ {
				lines, data = tsharkTCP(t, l, errs, n, engine)
			}
			if data < n/mss/4 {
				t.Fatalf("tshark saw %d data segments from the engine in three tries", data)
			}
			t.Logf("tshark checked %d segments from the engine at %v, %d with data", len(lines), engine, data)
		})
	}
}

// tsharkTCP captures on B's link while the kernel in B exchanges n bytes
// each way with the engine's listener on port 5209 at engine (IPv4 or
// IPv6; served by serveChecked, reporting on errs), and returns tshark's
// line for each of the engine's segments (every one with good checksums
// and well formed, or the test fails) and how many carried data.
func tsharkTCP(t *testing.T, l *lab.Lab, errs <-chan error, n int64, engine netip.Addr) ([]string, int) {
	t.Helper()
	pcap := filepath.Join(t.TempDir(), "tcp.pcap")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cap := l.B.Command(ctx, "tshark", "-q", "-i", l.B.Link, "-f", "tcp port 5209", "-a", "duration:50", "-w", pcap)
	stderr, err := cap.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cap.Start(); err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "Capturing on") {
				close(started)
			}
		}
	}()
	select {
	case <-started:
	case <-time.After(20 * time.Second):
		cap.Process.Kill()
		cap.Wait()
		t.Fatal("tshark did not start capturing")
	}
	time.Sleep(500 * time.Millisecond) // dumpcap says so a little early
	c := kernelDial(t, l.B, netip.AddrPortFrom(engine, 5209))
	if err := exchange(c, n); err != nil {
		t.Fatal(err)
	}
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	c.Close()
	time.Sleep(time.Second)
	cap.Process.Signal(os.Interrupt)
	cap.Wait()
	// Only the engine's segments (from A) are ours to judge. IPv6 has
	// no header checksum: its first field is the version, 6.
	ipFilter, ipField, ipGood := "ip.src == ", "ip.checksum.status", "1"
	if engine.Is6() {
		ipFilter, ipField, ipGood = "ipv6.src == ", "ipv6.version", "6"
	}
	out, err := exec.Command("tshark", "-r", pcap, "-o", "ip.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE",
		"-Y", ipFilter+engine.String(),
		"-T", "fields", "-e", ipField, "-e", "tcp.checksum.status", "-e", "_ws.malformed", "-e", "tcp.len").Output()
	if err != nil {
		t.Fatalf("tshark -r: %v\n%s", err, out)
	}
	var lines []string
	data := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if line == "" {
			continue // nothing captured
		}
		f := strings.Split(line, "\t")
		if len(f) < 4 || f[0] != ipGood || f[1] != "1" || f[2] != "" {
			t.Fatalf("tshark: %q (ip, tcp checksum status, malformed, len)", line)
		}
		if f[3] != "0" {
			data++
		}
		lines = append(lines, line)
	}
	return lines, data
}

// TestTCPTwoQueues: two engines, one per queue. The kernel's connections
// to the engine spread over both queues (each engine keeps the flows RSS
// gives it); connections the engines open take ports of their own share,
// and a reply that B's queue choice sends to the other engine is handed
// over to the owner.
func TestTCPTwoQueues(t *testing.T) {
	testTCPTwoQueues(t, false, 5210)
}

// testTCPTwoQueues is TestTCPTwoQueues in one family (IPv6 with ipv6):
// the engines listen on port, the kernel in B on port+1.
func testTCPTwoQueues(t *testing.T, ipv6 bool, port uint16) {
	l := lab.NewT(t, lab.Options{Queues: 2, IPv6: ipv6})
	var ln *TCPListener
	s, engine, peer := tcpFamily(t, l, ipv6, func(c *Config) { c.Queues = []int{0, 1} }, func(s *Stack) (err error) {
		ln, err = s.ListenTCP(port, 64)
		return err
	})
	defer ln.Close()
	if len(s.Engines()) != 2 {
		t.Fatalf("%d engines, want 2", len(s.Engines()))
	}
	const conns, n = 16, 256 << 10
	errs := make(chan error, conns)
	go serveChecked(ln, n, errs)
	for i := 0; i < conns; i++ {
		c := kernelDial(t, l.B, netip.AddrPortFrom(engine, port))
		if err := exchange(c, n); err != nil {
			t.Fatalf("kernel client %d: %v; tcp %v", i, err, s.TCPCounters().Map())
		}
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for _, e := range s.Engines() {
		if _, ok := pollTCP(e.TCPCounters, func(c tcp.Counters) bool { return c[tcp.PassiveOpens] > 0 }, 5*time.Second); !ok {
			t.Errorf("queue %d's engine accepted no connection of %d", e.Queue(), conns)
		}
	}
	// Active opens from both engines.
	kl := kernelListenAt(t, l.B, netip.AddrPortFrom(peer, port+1))
	kerrs := make(chan error, conns)
	go serveChecked(kl, n, kerrs)
	for i := 0; i < conns; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c, err := s.DialTCP(ctx, netip.AddrPortFrom(peer, port+1).String())
		cancel()
		if err != nil {
			t.Fatalf("dial %d: %v; tcp %v", i, err, s.TCPCounters().Map())
		}
		if err := exchange(c, n); err != nil {
			t.Fatalf("engine client %d: %v", i, err)
		}
		if err := <-kerrs; err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	var handed uint64
	for _, e := range s.Engines() {
		handed += e.Counters()[HandoverOut]
		if _, ok := pollTCP(e.TCPCounters, func(c tcp.Counters) bool { return c[tcp.ActiveOpens] > 0 }, 5*time.Second); !ok {
			t.Errorf("queue %d's engine opened no connection", e.Queue())
		}
	}
	t.Logf("port selection %q; segments handed over between engines: %d", s.PortSelection(), handed)
}
