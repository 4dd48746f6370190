package stack

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/fastpathnet/fastpath/internal/lab"
	"github.com/fastpathnet/fastpath/steering"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// engineAddr and engineAddr6 are the addresses the engine owns in A's
// subnet; the kernel in A holds .1 and ::1, B .2 and ::2 (engineAddr6
// with lab.Options.IPv6).
var (
	engineAddr  = netip.MustParsePrefix("198.18.0.10/24")
	engineAddr6 = netip.MustParsePrefix("2001:db8::10/64")
)

// startStack runs a stack on h's link with cfg's other fields defaulted,
// with bind called before Start.
func startStack(t *testing.T, h *lab.Host, mod func(*Config), bind func(*Stack) error) *Stack {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Device = h.Link
	cfg.Addrs = []netip.Prefix{engineAddr}
	// Adaptive: busy engines would take the 2 vCPUs of this lab from the
	// kernel peers and clients the tests need.
	cfg.Idle = IdleAdaptive
	if mod != nil {
		mod(&cfg)
	}
	var s *Stack
	err := h.Do(func() (err error) {
		if s, err = New(cfg); err != nil {
			return err
		}
		if bind != nil {
			return bind(s)
		}
		return nil
	})
	if err != nil {
		if s != nil {
			s.Close()
		}
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Frame accounting: the allocator counts (and ignores) double
		// and foreign frees; a correct engine makes none.
		s.Stop()
		s.Wait()
		for _, e := range s.Engines() {
			if c := e.Socket().Counters(); c.DoubleFrees != 0 || c.ForeignCompletions != 0 {
				t.Errorf("queue %d: %d double frees, %d foreign completions", e.Queue(), c.DoubleFrees, c.ForeignCompletions)
			}
		}
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func echo(d *Datagram) { d.Reply(d.Payload) }

// waitCounters polls the published counters until ok says yes.
func waitCounters(t *testing.T, s *Stack, what string, ok func(Counters) bool) Counters {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		c := s.Counters()
		if ok(c) {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: counters %v", what, nonZero(c))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func nonZero(c Counters) map[string]uint64 {
	m := map[string]uint64{}
	for i, v := range c {
		if v != 0 {
			m[Counter(i).String()] = v
		}
	}
	return m
}

// icmpEcho builds an ICMP echo request.
func icmpEcho(id, seq uint16, data []byte) []byte {
	b := make([]byte, 8+len(data))
	b[0] = 8
	binary.BigEndian.PutUint16(b[4:], id)
	binary.BigEndian.PutUint16(b[6:], seq)
	copy(b[8:], data)
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	binary.BigEndian.PutUint16(b[2:], ^uint16(sum))
	return b
}

// TestPing: the kernel in B resolves the engine's address by ARP and pings
// it; replies carry the request's id, sequence and data.
func TestPing(t *testing.T) {
	l := lab.NewT(t, lab.Options{})
	s := startStack(t, l.A, nil, nil)
	var conn *net.IPConn
	if err := l.B.Do(func() (err error) {
		conn, err = net.ListenIP("ip4:icmp", &net.IPAddr{IP: l.B.Addr.Addr().AsSlice()})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const id = 0x4242
	buf := make([]byte, 2048)
	for seq := uint16(1); seq <= 20; seq++ {
		data := bytes.Repeat([]byte{byte(seq)}, int(seq)*50)
		if _, err := conn.WriteTo(icmpEcho(id, seq, data), &net.IPAddr{IP: engineAddr.Addr().AsSlice()}); err != nil {
			t.Fatal(err)
		}
		conn.SetReadDeadline(time.Now().Add(3 * time.Second))
		for {
			n, from, err := conn.ReadFrom(buf)
			if err != nil {
				t.Fatalf("echo %d: %v; engine counters %v", seq, err, nonZero(s.Counters()))
			}
			r := buf[:n]
			if n < 8 || r[0] != 0 || binary.BigEndian.Uint16(r[4:]) != id {
				continue // another ICMP message
			}
			if from.String() != engineAddr.Addr().String() || binary.BigEndian.Uint16(r[6:]) != seq || !bytes.Equal(r[8:], data) {
				t.Fatalf("echo %d: reply from %v, seq %d, %d bytes of data", seq, from, binary.BigEndian.Uint16(r[6:]), len(r)-8)
			}
			break
		}
	}
	waitCounters(t, s, "echo counters", func(c Counters) bool { return c[ICMPEchoOut] >= 20 })
	// B resolved the engine's address to A's MAC: by the engine's reply
	// to its request, or from the engine's gratuitous ARP when B's entry
	// was already waiting.
	var found bool
	if err := l.B.Netlink(func(hd *netlink.Handle) error {
		ns, err := hd.NeighList(l.B.Index, netlink.FAMILY_V4)
		for _, n := range ns {
			found = found || (n.IP.Equal(engineAddr.Addr().AsSlice()) && n.HardwareAddr.String() == l.A.MAC.String())
		}
		return err
	}); err != nil || !found {
		t.Errorf("B has no neighbour entry %v -> %v (%v)", engineAddr.Addr(), l.A.MAC, err)
	}
	// iputils ping, as a user would.
	if _, err := exec.LookPath("ping"); err != nil {
		lab.RequireKernel(t, "the ping command (apt-get install iputils-ping)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := l.B.Command(ctx, "ping", "-c", "3", "-i", "0.2", "-W", "2", engineAddr.Addr().String()).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "3 received") {
		t.Fatalf("ping: %v\n%s", err, out)
	}
}

// TestUDPEcho: datagrams of every size from 0 to 1472 bytes from a kernel
// socket in B come back intact; the kernel in A keeps its own address and
// sockets.
func TestUDPEcho(t *testing.T) {
	l := lab.NewT(t, lab.Options{})
	s := startStack(t, l.A, nil, func(s *Stack) error { return s.BindUDP(7, echo) })
	kernelConn := listenUDP(t, l.A, 7)
	conn := dialUDP(t, l.B, netip.AddrPortFrom(engineAddr.Addr(), 7))
	kconn := dialUDP(t, l.B, netip.AddrPortFrom(l.A.Addr.Addr(), 7))
	sent := echoSizes(t, s, conn, 1472, 7)
	buf := make([]byte, 2048)
	// The kernel's own address and socket are untouched.
	if _, err := kconn.Write([]byte("kernel")); err != nil {
		t.Fatal(err)
	}
	kernelConn.SetReadDeadline(time.Now().Add(3 * time.Second))
	if n, _, err := kernelConn.ReadFrom(buf); err != nil || string(buf[:n]) != "kernel" {
		t.Fatalf("kernel socket in A: %q, %v", buf[:n], err)
	}
	c := waitCounters(t, s, "udp counters", func(c Counters) bool { return c[UDPOut] >= uint64(sent) })
	if c.Drops() != 0 {
		t.Errorf("drops: %v", nonZero(c))
	}
}

// echoSizes sends on conn (to an echo of s's) a datagram of every size
// from 0 to largest in steps of step, and checks that each comes back
// intact; it returns how many it sent.
func echoSizes(t *testing.T, s *Stack, conn *net.UDPConn, largest, step int) int {
	t.Helper()
	buf := make([]byte, 2048)
	sent := 0
	for size := 0; size <= largest; size += step {
		msg := make([]byte, size)
		for i := range msg {
			msg[i] = byte(size + i)
		}
		if _, err := conn.Write(msg); err != nil {
			t.Fatal(err)
		}
		sent++
		conn.SetReadDeadline(time.Now().Add(3 * time.Second))
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("size %d: %v; counters %v", size, err, nonZero(s.Counters()))
		}
		if !bytes.Equal(buf[:n], msg) {
			t.Fatalf("size %d: echo of %d bytes differs", size, n)
		}
	}
	return sent
}

// TestPortUnreachable: a datagram to an unbound port gets ICMP port
// unreachable, which the kernel in B turns into ECONNREFUSED.
func TestPortUnreachable(t *testing.T) {
	l := lab.NewT(t, lab.Options{})
	s := startStack(t, l.A, nil, func(s *Stack) error { return s.BindUDP(7, echo) })
	// Steering hands the engine only bound ports: bind 9 without a
	// handler by removing it afterwards is not possible, so use the
	// engine's own port table: 8 is steered by a rule added here.
	if _, err := s.Steering().Add(steeringUDP(8)); err != nil {
		t.Fatal(err)
	}
	conn := dialUDP(t, l.B, netip.AddrPortFrom(engineAddr.Addr(), 8))
	conn.Write([]byte("anyone?"))
	conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	_, err := conn.Read(make([]byte, 64))
	if err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("read after a datagram to an unbound port: %v, want connection refused", err)
	}
	waitCounters(t, s, "unreachable", func(c Counters) bool { return c[ICMPUnreachOut] == 1 && c[DropNoPort] == 1 })
}

// TestRoutedThroughGateway: the engine in A answers a client in B's subnet
// through the router R, resolving R by ARP for a datagram it originates.
func TestRoutedThroughGateway(t *testing.T) {
	l := lab.NewT(t, lab.Options{Router: true})
	addr := netip.MustParsePrefix("198.18.1.10/24")
	upper := func(d *Datagram) {
		d.Engine().SendUDP(d.Dst, d.Src, bytes.ToUpper(d.Payload))
	}
	s := startStack(t, l.A, func(c *Config) {
		c.Addrs = []netip.Prefix{addr}
		c.Gateway = l.A.Gateway
	}, func(s *Stack) error { return s.BindUDP(5000, upper) })
	conn := dialUDP(t, l.B, netip.AddrPortFrom(addr.Addr(), 5000))
	buf := make([]byte, 256)
	for i := 0; i < 5; i++ {
		msg := fmt.Sprintf("hello %d", i)
		conn.Write([]byte(msg))
		conn.SetReadDeadline(time.Now().Add(3 * time.Second))
		n, err := conn.Read(buf)
		if err != nil || string(buf[:n]) != strings.ToUpper(msg) {
			t.Fatalf("via the router: %q, %v; counters %v", buf[:n], err, nonZero(s.Counters()))
		}
	}
	// The replies were built fresh and routed to the gateway, whose MAC
	// the engine had from ARP: R asked for the engine's address first
	// (RFC 826: the engine learns the sender of a request for it), or
	// the engine asked.
	waitCounters(t, s, "routing to the gateway", func(c Counters) bool {
		return c[UDPOut] == 5 && (c[ARPRequestsIn] > 0 || c[ARPRepliesIn] > 0) && c.Drops() == 0
	})
	var gw bool
	s.Stop()
	s.Wait()
	for _, n := range s.Engines()[0].Neighbours() {
		gw = gw || n.IP == l.A.Gateway
	}
	if !gw {
		t.Errorf("the gateway %v is not in the engine's neighbour cache", l.A.Gateway)
	}
}

func steeringUDP(port uint16) steering.Rule {
	return steering.Rule{Name: "test", Proto: steering.ProtoUDP, DstPort: steering.Port(port), Action: steering.Engine}
}

// TestTwoQueues runs one engine per queue; datagrams from 32 source ports
// spread over both queues (veth maps B's TX queue q to A's RX queue q),
// and every one is echoed by the engine of the queue it arrived on.
func TestTwoQueues(t *testing.T) {
	l := lab.NewT(t, lab.Options{Queues: 2})
	s := startStack(t, l.A, func(c *Config) { c.Queues = []int{0, 1} }, func(s *Stack) error { return s.BindUDP(7, echo) })
	buf := make([]byte, 64)
	for i := 0; i < 32; i++ {
		c := dialUDP(t, l.B, netip.AddrPortFrom(engineAddr.Addr(), 7))
		msg := fmt.Sprintf("flow %d", i)
		c.Write([]byte(msg))
		c.SetReadDeadline(time.Now().Add(3 * time.Second))
		n, err := c.Read(buf)
		c.Close()
		if err != nil || string(buf[:n]) != msg {
			t.Fatalf("flow %d: %q, %v", i, buf[:n], err)
		}
	}
	waitCounters(t, s, "32 echoes", func(c Counters) bool { return c[UDPOut] >= 32 })
	for _, e := range s.Engines() {
		n := e.Counters()[UDPIn]
		t.Logf("queue %d: %d datagrams", e.Queue(), n)
		// 32 flows hashed over two queues all land on one with
		// probability 2^-31.
		if n == 0 {
			t.Errorf("queue %d's engine got no datagram", e.Queue())
		}
	}
}

// TestBindUDPKeepsKernelPort: with two engine addresses, binding port 7
// takes it on those addresses only; the kernel's socket on its own
// address keeps getting its datagrams.
func TestBindUDPKeepsKernelPort(t *testing.T) {
	l := lab.NewT(t, lab.Options{})
	second := netip.MustParsePrefix("198.18.7.10/24")
	startStack(t, l.A, func(c *Config) { c.Addrs = append(c.Addrs, second) }, func(s *Stack) error { return s.BindUDP(7, echo) })
	kernelConn := listenUDP(t, l.A, 7)
	kconn := dialUDP(t, l.B, netip.AddrPortFrom(l.A.Addr.Addr(), 7))
	kconn.Write([]byte("kernel"))
	kernelConn.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 64)
	if n, _, err := kernelConn.ReadFrom(buf); err != nil || string(buf[:n]) != "kernel" {
		t.Fatalf("kernel socket on A's own address, port 7: %q, %v", buf[:n], err)
	}
}

// dialUDP opens a kernel UDP socket in h connected to dst (dst's
// family); listenUDPAt one bound to addr, listenUDP to port on h's own
// IPv4 address. All close with the test.
func dialUDP(t testing.TB, h *lab.Host, dst netip.AddrPort) *net.UDPConn {
	t.Helper()
	var c *net.UDPConn
	if err := h.Do(func() (err error) {
		c, err = net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(dst))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func listenUDPAt(t testing.TB, h *lab.Host, addr netip.AddrPort) *net.UDPConn {
	t.Helper()
	var c *net.UDPConn
	if err := h.Do(func() (err error) {
		c, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(addr))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func listenUDP(t testing.TB, h *lab.Host, port uint16) *net.UDPConn {
	t.Helper()
	return listenUDPAt(t, h, netip.AddrPortFrom(h.Addr.Addr(), port))
}

// TestConn serves UDP echo through the net.PacketConn adapter from a plain
// goroutine, with deadlines, to a kernel client in B.
func TestConn(t *testing.T) {
	l := lab.NewT(t, lab.Options{})
	var conn *UDPConn
	startStack(t, l.A, nil, func(s *Stack) (err error) {
		conn, err = s.ListenUDP(4000, 64)
		return err
	})
	var pc net.PacketConn = conn
	done := make(chan error, 1)
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				done <- err
				return
			}
			if _, err := pc.WriteTo(buf[:n], from); err != nil {
				done <- err
				return
			}
		}
	}()
	c := dialUDP(t, l.B, netip.AddrPortFrom(engineAddr.Addr(), 4000))
	buf := make([]byte, 2048)
	for i := 0; i < 200; i++ {
		msg := bytes.Repeat([]byte{byte(i)}, i*7)
		c.Write(msg)
		c.SetReadDeadline(time.Now().Add(3 * time.Second))
		n, err := c.Read(buf)
		if err != nil || !bytes.Equal(buf[:n], msg) {
			t.Fatalf("datagram %d: %d bytes, %v", i, n, err)
		}
	}
	// A read deadline in the past fails at once; Close ends the server.
	conn.SetReadDeadline(time.Now().Add(-time.Second))
	conn.Close()
	if err := <-done; !errors.Is(err, net.ErrClosed) && !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("server ended with %v", err)
	}
	if _, _, err := conn.ReadFrom(buf); !errors.Is(err, os.ErrDeadlineExceeded) && !errors.Is(err, net.ErrClosed) {
		t.Fatalf("ReadFrom after the deadline and Close: %v", err)
	}
	if _, err := conn.WriteTo([]byte("x"), &net.UDPAddr{IP: net.IPv4(1, 2, 3, 4), Port: 1}); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("WriteTo after Close: %v", err)
	}
	if conn.Drops() != 0 {
		t.Errorf("%d datagrams dropped", conn.Drops())
	}
}

// TestImportRoutes: a route the kernel in A gets while the stack runs
// reaches the engine's table; the engine routes through it (to B, the
// gateway, resolved by ARP), and stops when the kernel's route goes.
func TestImportRoutes(t *testing.T) {
	l := lab.NewT(t, lab.Options{})
	far := netip.MustParseAddrPort("198.51.100.7:9")
	trigger := func(d *Datagram) { d.Engine().SendUDP(d.Dst, far, d.Payload) }
	s := startStack(t, l.A, func(c *Config) { c.ImportRoutes = true }, func(s *Stack) error { return s.BindUDP(6000, trigger) })
	// A packet socket in B sees what the engine sends to B's MAC.
	var fd int
	if err := l.B.Do(func() (err error) {
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_IP)))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_IP), Ifindex: l.B.Index})
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Usec: 200000})
	seen := func() bool {
		buf := make([]byte, 2048)
		for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); {
			n, _, err := unix.Recvfrom(fd, buf, 0)
			if err != nil || n < 34 {
				continue
			}
			if netip.AddrFrom4([4]byte(buf[30:34])) == far.Addr() && bytes.Equal(buf[0:6], l.B.MAC) {
				return true
			}
		}
		return false
	}
	c := dialUDP(t, l.B, netip.AddrPortFrom(engineAddr.Addr(), 6000))
	// No route yet: the engine drops it.
	c.Write([]byte("1"))
	before := waitCounters(t, s, "no route", func(c Counters) bool { return c[DropNoRoute] == 1 })
	route := &netlink.Route{LinkIndex: l.A.Index, Dst: &net.IPNet{IP: net.IPv4(198, 51, 100, 0).To4(), Mask: net.CIDRMask(24, 32)},
		Gw: l.B.Addr.Addr().AsSlice()}
	if err := l.A.Netlink(func(hd *netlink.Handle) error { return hd.RouteAdd(route) }); err != nil {
		t.Fatal(err)
	}
	waitCounters(t, s, "route imported", func(c Counters) bool { return c[RoutesAdded] > before[RoutesAdded] })
	c.Write([]byte("2"))
	if !seen() {
		t.Fatalf("no frame for %v reached B through the imported route; counters %v", far, nonZero(s.Counters()))
	}
	if err := l.A.Netlink(func(hd *netlink.Handle) error { return hd.RouteDel(route) }); err != nil {
		t.Fatal(err)
	}
	waitCounters(t, s, "route withdrawn", func(c Counters) bool { return c[RoutesRemoved] > 0 })
	c.Write([]byte("3"))
	waitCounters(t, s, "no route again", func(c Counters) bool { return c[DropNoRoute] == 2 })
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// TestTwoQueuesResolve: two engines each build fresh replies (SendUDP, so
// each must resolve B by ARP). B's ARP reply reaches whichever queue its
// hash picks; the engines share what they learn, so every flow is
// answered without waiting for ARP to time out.
func TestTwoQueuesResolve(t *testing.T) {
	l := lab.NewT(t, lab.Options{Queues: 2})
	upper := func(d *Datagram) { d.Engine().SendUDP(d.Dst, d.Src, bytes.ToUpper(d.Payload)) }
	s := startStack(t, l.A, func(c *Config) { c.Queues = []int{0, 1} }, func(s *Stack) error { return s.BindUDP(7, upper) })
	buf := make([]byte, 64)
	for i := 0; i < 32; i++ {
		c := dialUDP(t, l.B, netip.AddrPortFrom(engineAddr.Addr(), 7))
		msg := fmt.Sprintf("flow %d", i)
		c.Write([]byte(msg))
		// Under the 3 s an unresolved neighbour waits before failing.
		c.SetReadDeadline(time.Now().Add(2500 * time.Millisecond))
		n, err := c.Read(buf)
		if err != nil || string(buf[:n]) != strings.ToUpper(msg) {
			t.Fatalf("flow %d: %q, %v; counters %v", i, buf[:n], err, nonZero(s.Counters()))
		}
	}
	c := waitCounters(t, s, "replies", func(c Counters) bool { return c[UDPOut] >= 32 })
	if c[DropARPFailed] != 0 {
		t.Errorf("frames lost waiting for ARP: %v", nonZero(c))
	}
	t.Logf("counters %v", nonZero(c))
}
