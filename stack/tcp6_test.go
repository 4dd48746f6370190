package stack

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"testing"
	"time"

	"github.com/fastpathnet/fastpath/internal/lab"
	"github.com/fastpathnet/fastpath/tcp"
	"golang.org/x/sys/unix"
)

// TCP over IPv6 against the kernel's, in the lab with lab.Options.IPv6:
// both directions, through a lossy router, and through a router whose
// link towards B is narrower than the engine's (a real Packet Too Big).

// tcpBytes6 is the size of the IPv6 bulk transfers: 64 MiB each way,
// less under the race detector or -short (FASTPATH_TCP_BYTES sets both
// families').
func tcpBytes6() int64 {
	return min(tcpBytes(), 64<<20)
}

// tcpStack6 starts a dual-stack engine with TCP on A (engineAddr and
// engineAddr6 unless mod changes the addresses).
func tcpStack6(t *testing.T, l *lab.Lab, mod func(*Config), tmod func(*tcp.Config), bind func(*Stack) error) *Stack {
	t.Helper()
	return tcpStack(t, l.A, func(c *Config) {
		c.Addrs = []netip.Prefix{engineAddr, engineAddr6}
		if mod != nil {
			mod(c)
		}
	}, tmod, bind)
}

// tcpFamily starts a TCP engine in l for a test of one family: with
// ipv6 (in a lab with lab.Options.IPv6), tcpStack6, on engineAddr and
// engineAddr6; else tcpStack, on engineAddr. It returns the engine's
// address and B's in that family.
func tcpFamily(t *testing.T, l *lab.Lab, ipv6 bool, mod func(*Config), bind func(*Stack) error) (s *Stack, engine, peer netip.Addr) {
	t.Helper()
	if ipv6 {
		return tcpStack6(t, l, mod, nil, bind), engineAddr6.Addr(), l.B.Addr6.Addr()
	}
	return tcpStack(t, l.A, mod, nil, bind), engineAddr.Addr(), l.B.Addr.Addr()
}

// TestTCP6KernelClient is TestTCPKernelClient over IPv6: the kernel in B
// connects to the engine's IPv6 address, sends the pattern, reads it back
// through the engine's net.Conn adapter; the engine's MSS is the IPv6
// one.
func TestTCP6KernelClient(t *testing.T) {
	s, c := testTCPKernelClient(t, true, 5221, tcpBytes6())
	// The kernel's view of the MSS it got: the engine's IPv6 MSS (1440
	// less the 12 bytes of timestamps).
	if m := kernelSendMSS(t, c); m != 1428 {
		t.Errorf("the kernel's send MSS is %d, want 1428 (1500 - 60 - 12)", m)
	}
	tc := s.TCPCounters()
	if tc[tcp.DropChecksum] != 0 || tc[tcp.DropAddress] != 0 {
		t.Errorf("drops: %v", tc.Map())
	}
}

// kernelSendMSS is the kernel's send MSS on c (TCP_INFO's tcpi_snd_mss).
func kernelSendMSS(t *testing.T, c *net.TCPConn) int {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var info *unix.TCPInfo
	var gerr error
	if err := rc.Control(func(fd uintptr) { info, gerr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO) }); err != nil || gerr != nil {
		t.Fatalf("TCP_INFO: %v %v", err, gerr)
	}
	return int(info.Snd_mss)
}

// TestTCP6EngineClient is TestTCPEngineClient over IPv6: the engine
// dials the kernel in B at [2001:db8::2] with the net.Conn adapter, from
// engineAddr6, resolving B by neighbour discovery.
func TestTCP6EngineClient(t *testing.T) {
	testTCPEngineClient(t, true, 5222, tcpBytes6())
}

// TestTCP6DialErrors: the adapter's Dial takes IPv6 literals and refuses
// what it cannot dial.
func TestTCP6DialErrors(t *testing.T) {
	l := lab.NewT(t, lab.Options{IPv6: true})
	s := tcpStack6(t, l, nil, nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, a := range []string{"[ff02::1]:80", "[::]:80", "[fe80::1%veth0]:80", "2001:db8::2:80"} {
		if _, err := s.DialTCP(ctx, a); err == nil {
			t.Errorf("DialTCP(%q) accepted", a)
		}
	}
	// Nobody listens on B's port: refused, by the kernel's RST.
	if _, err := s.DialTCP(ctx, netip.AddrPortFrom(l.B.Addr6.Addr(), 5299).String()); !errors.Is(err, tcp.ErrRefused) {
		t.Errorf("dial to a closed port: %v, want %v", err, tcp.ErrRefused)
	}
}

// routed6 starts an engine in A's routed subnets (198.18.1.10 and
// 2001:db8:1::10, through R), listening on port when it is not 0.
func routed6(t *testing.T, l *lab.Lab, port uint16) (*Stack, *TCPListener) {
	t.Helper()
	var ln *TCPListener
	s := tcpStack(t, l.A, func(c *Config) {
		c.Addrs = []netip.Prefix{netip.MustParsePrefix("198.18.1.10/24"), netip.MustParsePrefix("2001:db8:1::10/64")}
		c.Gateway, c.Gateway6 = l.A.Gateway, l.A.Gateway6
	}, nil, func(s *Stack) (err error) {
		if port != 0 {
			ln, err = s.ListenTCP(port, 0)
		}
		return err
	})
	return s, ln
}

// TestTCP6Loss: through a router dropping 1% of the IPv6 frames it
// forwards, both ways, at random (ip6tables statistic).
func TestTCP6Loss(t *testing.T) {
	if _, err := exec.LookPath("ip6tables"); err != nil {
		lab.RequireKernel(t, "ip6tables (apt-get install iptables)")
	}
	l := lab.NewT(t, lab.Options{Router: true, IPv6: true})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if out, err := l.R.Command(ctx, "ip6tables", "-A", "FORWARD", "-m", "statistic", "--mode", "random", "--probability", "0.01", "-j", "DROP").CombinedOutput(); err != nil {
		lab.RequireKernel(t, fmt.Sprintf("ip6tables in the router: %v: %s (install iptables)", err, out))
	}
	n := int64(32 << 20)
	if raceEnabled || testing.Short() {
		n /= 8
	}
	s, ln := routed6(t, l, 5224)
	errs := make(chan error, 1)
	go serveChecked(ln, n, errs)
	defer ln.Close()
	c := kernelDial(t, l.B, netip.MustParseAddrPort("[2001:db8:1::10]:5224"))
	start := time.Now()
	if err := exchange(c, n); err != nil {
		t.Fatalf("IPv6, 1%% loss: %v; tcp %v", err, s.TCPCounters().Map())
	}
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	tc := waitTCP(t, s, "the transfer's counters", func(c tcp.Counters) bool { return c[tcp.BytesIn] >= uint64(n) })
	if tc[tcp.Retransmits] == 0 {
		t.Error("no retransmissions at 1% loss: is the router dropping IPv6?")
	}
	t.Logf("IPv6, 1%% loss: %d MiB each way in %v; tcp %v", n>>20, time.Since(start), tc.Map())
}

// TestTCP6PacketTooBig: R's link towards B has an MTU of 1280, the
// engine's and B's 1500. The engine dials B and sends; its first
// full-size segments reach R, which answers with a real ICMPv6 Packet
// Too Big: the engine's MSS comes down to 1280 - 60 - 12 and the
// transfer completes, checked byte for byte in B. Only the engine
// sends: B's segments of 1500 bytes would not enter R's narrow link
// (veth drops what exceeds the receiver's MTU without a word), so B
// only acknowledges.
func TestTCP6PacketTooBig(t *testing.T) {
	l := lab.NewT(t, lab.Options{Router: true, IPv6: true})
	run(t, l.R, 5*time.Second, "ip", "link", "set", "dev", l.R.Links[1].Name, "mtu", "1280")
	n := int64(16 << 20)
	if raceEnabled || testing.Short() {
		n /= 4
	}
	s, _ := routed6(t, l, 0)
	kl := kernelListenAt(t, l.B, netip.AddrPortFrom(l.B.Addr6.Addr(), 5225))
	errs := make(chan error, 1)
	go func() {
		c, err := kl.Accept()
		if err != nil {
			errs <- err
			return
		}
		defer c.Close()
		got, err := readPattern(c)
		if err == nil && got != n {
			err = fmt.Errorf("received %d bytes, want %d", got, n)
		}
		errs <- err
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := s.DialTCP(ctx, netip.AddrPortFrom(l.B.Addr6.Addr(), 5225).String())
	if err != nil {
		t.Fatalf("dial: %v; tcp %v", err, s.TCPCounters().Map())
	}
	defer c.Close()
	start := time.Now()
	// Without the PTB taken, every full-size segment dies at R: the
	// write stalls until the deadline.
	c.SetWriteDeadline(start.Add(30 * time.Second))
	werr := writePattern(c, n)
	if werr == nil {
		werr = c.CloseWrite()
	}
	if werr != nil {
		t.Fatalf("write: %v; tcp %v", werr, s.TCPCounters().Map())
	}
	select {
	case err := <-errs:
		if err != nil {
			t.Fatalf("kernel server: %v; tcp %v", err, s.TCPCounters().Map())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("the transfer did not complete; tcp %v", s.TCPCounters().Map())
	}
	tc := waitTCP(t, s, "the PMTU reduction", func(c tcp.Counters) bool { return c[tcp.PMTUReductions] > 0 })
	var mss int
	done := make(chan struct{})
	s.Engines()[0].Do(func(e *Engine) {
		for _, cn := range e.TCP().Conns() {
			if cn.RemoteAddr().Port() == 5225 {
				mss = cn.MSS()
			}
		}
		close(done)
	})
	<-done
	if mss != 0 && mss != 1280-60-12 {
		t.Errorf("MSS after the PTB %d, want %d", mss, 1280-60-12)
	}
	t.Logf("%d MiB through a 1280-byte link in %v, MSS %d; tcp %v", n>>20, time.Since(start), mss, tc.Map())
}

// TestTCP6Tshark is TestTCPTshark over IPv6: tshark, reading a capture
// in B, finds every IPv6 segment of the engine well formed with a good
// TCP checksum, computed by the engine or by the kernel (the offload's
// L4 offset after the 40-byte header).
func TestTCP6Tshark(t *testing.T) {
	testTCPTshark(t, true)
}

// TestTCP6TwoQueues is TestTCPTwoQueues over IPv6: two engines, one per
// queue; the kernel's connections to the engine's IPv6 address spread
// over both, the engines' own IPv6 connections take ports of their
// share, and a reply on the other queue is handed over (inputTCP6).
func TestTCP6TwoQueues(t *testing.T) {
	testTCPTwoQueues(t, true, 5226)
}
