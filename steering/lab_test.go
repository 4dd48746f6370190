package steering

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/fastpathnet/fastpath/bpf"
	"github.com/fastpathnet/fastpath/internal/lab"
	"github.com/fastpathnet/fastpath/rings"
	"github.com/fastpathnet/fastpath/xsk"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// drain takes frames off sock until stop closes, calling fn with each.
func drain(sock *xsk.Socket, stop <-chan struct{}, fn func([]byte)) {
	descs := make([]rings.Desc, 64)
	for {
		sock.Refill()
		n := sock.Receive(descs)
		for _, d := range descs[:n] {
			fn(sock.UMEM().Packet(d.Addr, d.Len))
			sock.Frames.Free(d.Addr)
		}
		if n == 0 {
			select {
			case <-stop:
				return
			default:
				sock.Wait(false, 1)
			}
		}
	}
}

// TestKernelKeepsItsTraffic: while the engine takes UDP port P, a kernel
// UDP socket on port Q in the same namespace receives everything sent to
// it, and ARP (not steered) still works: B resolves A through the kernel.
func TestKernelKeepsItsTraffic(t *testing.T) {
	const perPort = 5000
	l, s, sock := attachLab(t, Options{})
	if _, err := s.Add(Rule{Name: "engine port", Proto: ProtoUDP, DstPort: Port(9000), Action: Engine}); err != nil {
		t.Fatal(err)
	}
	sock.Refill()
	var kconn *net.UDPConn
	if err := l.A.Do(func() (err error) {
		kconn, err = net.ListenUDP("udp4", &net.UDPAddr{IP: l.A.Addr.Addr().AsSlice(), Port: 9001})
		if err != nil {
			return err
		}
		// Room for the window whatever the skb truesize (up to a page
		// each after XDP_PASS on veth): the default buffer is ~200 KiB.
		raw, err := kconn.SyscallConn()
		if err != nil {
			return err
		}
		var serr error
		raw.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 16<<20) })
		return serr
	}); err != nil {
		t.Fatal(err)
	}
	defer kconn.Close()
	var engineGot, kernelGot atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{}, 2)
	go func() {
		defer func() { done <- struct{}{} }()
		drain(sock, stop, func(b []byte) {
			if len(b) >= 42 && binary.BigEndian.Uint16(b[12:]) == 0x0800 && binary.BigEndian.Uint16(b[36:]) == 9000 {
				engineGot.Add(1)
			}
		})
	}()
	go func() {
		defer func() { done <- struct{}{} }()
		buf := make([]byte, 2048)
		for {
			if _, err := kconn.Read(buf); err != nil {
				return
			}
			kernelGot.Add(1)
		}
	}()
	var conns [2]*net.UDPConn
	if err := l.B.Do(func() error {
		for i, port := range []int{9000, 9001} {
			c, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: l.A.Addr.Addr().AsSlice(), Port: port})
			if err != nil {
				return err
			}
			conns[i] = c
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	payload := []byte("steered?")
	deadline := time.Now().Add(30 * time.Second)
	for i := int64(0); i < perPort; i++ {
		// Stay within a window of what has arrived, so no queue overflows:
		// two ports of 100 each fit veth's 256-slot ring (two of 200 lost
		// about 1.4% on a 5.10 guest under TCG in the VM lab).
		for i-min(engineGot.Load(), kernelGot.Load()) > 100 && time.Now().Before(deadline) {
			time.Sleep(100 * time.Microsecond)
		}
		for _, c := range conns {
			if _, err := c.Write(payload); err != nil {
				t.Fatal(err)
			}
		}
	}
	for (engineGot.Load() < perPort || kernelGot.Load() < perPort) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	close(stop)
	kconn.Close()
	<-done
	<-done
	if engineGot.Load() != perPort || kernelGot.Load() != perPort {
		st, _ := s.Stats()
		t.Fatalf("engine got %d, kernel socket got %d, of %d each; stats %v", engineGot.Load(), kernelGot.Load(), perPort, st)
	}
	rules, _ := s.Rules()
	if rules[0].Packets != perPort {
		t.Errorf("rule counted %d packets, want %d", rules[0].Packets, perPort)
	}
}

// TestARPToEngine: with a rule for ARP to A's address, B's ARP request
// reaches the engine's socket (and so the kernel never answers it).
func TestARPToEngine(t *testing.T) {
	l, s, sock := attachLab(t, Options{})
	if _, err := s.Add(Rule{Proto: ProtoARP, Dst: netip.PrefixFrom(l.A.Addr.Addr(), 32), Action: Engine}); err != nil {
		t.Fatal(err)
	}
	sock.Refill()
	got := make(chan []byte, 1)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		drain(sock, stop, func(b []byte) {
			if len(b) >= 42 && binary.BigEndian.Uint16(b[12:]) == 0x0806 {
				select {
				case got <- append([]byte(nil), b...):
				default:
				}
			}
		})
	}()
	// The socket is closed by a cleanup: stop using it first.
	defer func() { close(stop); <-done }()
	// Any datagram from B to A makes B's kernel ARP for A.
	if err := l.B.Do(func() error {
		c, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: l.A.Addr.Addr().AsSlice(), Port: 7})
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Write([]byte("x"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	select {
	case b := <-got:
		tpa := [4]byte(b[38:42])
		if tpa != l.A.Addr.Addr().As4() || binary.BigEndian.Uint16(b[20:]) != 1 {
			t.Fatalf("engine got ARP op %d for %v, want a request for %s", binary.BigEndian.Uint16(b[20:]), tpa, l.A.Addr.Addr())
		}
	case <-time.After(5 * time.Second):
		st, _ := s.Stats()
		t.Fatalf("no ARP request reached the engine; stats %v", st)
	}
}

func TestModes(t *testing.T) {
	for _, mode := range []Mode{ModeAuto, ModeNative, ModeGeneric} {
		t.Run(mode.String(), func(t *testing.T) {
			l := lab.NewT(t, lab.Options{})
			var s *Steering
			if err := l.A.Do(func() (err error) { s, err = Attach(l.A.Link, Options{Mode: mode}); return err }); err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			want := map[Mode]Mode{ModeAuto: ModeNative, ModeNative: ModeNative, ModeGeneric: ModeGeneric}[mode]
			if s.Mode() != want {
				t.Fatalf("mode %v, want %v", s.Mode(), want)
			}
			lk, _ := l.A.Handle().LinkByName(l.A.Link)
			wantAttach := map[Mode]uint32{ModeNative: 1, ModeGeneric: 2}[want]
			if x := lk.Attrs().Xdp; x == nil || !x.Attached || x.AttachMode != wantAttach {
				t.Fatalf("link shows XDP %+v, want attach mode %d", x, wantAttach)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatalf("second Close: %v", err)
			}
			lk, _ = l.A.Handle().LinkByName(l.A.Link)
			if x := lk.Attrs().Xdp; x != nil && x.Attached {
				t.Fatalf("program still attached after Close: %+v", x)
			}
		})
	}
}

// TestRefuseAttached: a program attached with netlink (as `ip link set dev
// X xdp obj ...` does) is refused with a message naming it, replaced with
// Replace; a program held by another bpf_link cannot be replaced.
func TestRefuseAttached(t *testing.T) {
	l := lab.NewT(t, lab.Options{})
	pass, err := bpf.NewPass()
	if err != nil {
		t.Fatal(err)
	}
	defer pass.Close()
	// As `ip link set dev veth0 xdpdrv ...` does: netlink, no bpf_link.
	if err := l.A.Do(func() error {
		lk, err := netlink.LinkByName(l.A.Link)
		if err != nil {
			return err
		}
		return netlink.LinkSetXdpFdWithFlags(lk, pass.FD(), 1<<2 /* XDP_FLAGS_DRV_MODE */)
	}); err != nil {
		t.Fatal(err)
	}
	attach := func(o Options) (s *Steering, err error) {
		err = l.A.Do(func() (err error) { s, err = Attach(l.A.Link, o); return err })
		return s, err
	}
	_, err = attach(Options{})
	if !errors.Is(err, ErrAttached) || !strings.Contains(err.Error(), "fastpath_pass") || !strings.Contains(err.Error(), "xdp off") {
		t.Fatalf("attach over a netlink program: %v", err)
	}
	s, err := attach(Options{Replace: true})
	if err != nil {
		t.Fatalf("Replace: %v", err)
	}
	defer s.Close()
	// Now ours is held by a bpf_link: a second Attach, even with Replace,
	// is refused.
	_, err = attach(Options{Replace: true})
	if err == nil || !strings.Contains(err.Error(), "bpf_link") {
		t.Fatalf("replace a bpf_link program: %v", err)
	}
	if _, err := attach(Options{}); !errors.Is(err, ErrAttached) || !strings.Contains(err.Error(), bpf.ProgramName) {
		t.Fatalf("attach over ours: %v", err)
	}
}

func TestAttachErrors(t *testing.T) {
	l := lab.NewT(t, lab.Options{})
	err := l.A.Do(func() error { _, err := Attach("nosuch0", Options{}); return err })
	if !errors.Is(err, ErrNoDevice) {
		t.Fatalf("no device: %v", err)
	}
	if _, err := ParseMode("turbo"); !errors.Is(err, ErrOptions) {
		t.Fatalf("ParseMode: %v", err)
	}
	err = l.A.Do(func() error { _, err := Attach(l.A.Link, Options{Default: 7}); return err })
	if !errors.Is(err, ErrOptions) {
		t.Fatalf("bad default: %v", err)
	}
}

// TestSIGKILLDetaches runs Attach in a child process, kills it with
// SIGKILL and checks that the device carries no XDP program: the bpf_link
// dies with its process.
func TestSIGKILLDetaches(t *testing.T) {
	if ns := os.Getenv("FASTPATH_STEER_CHILD"); ns != "" {
		t.Skip("child mode runs from TestMain")
	}
	l := lab.NewT(t, lab.Options{})
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "FASTPATH_STEER_CHILD="+l.A.Name, "FASTPATH_STEER_DEV="+l.A.Link)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "attached") {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child: %q, %v", line, err)
	}
	lk, _ := l.A.Handle().LinkByName(l.A.Link)
	if x := lk.Attrs().Xdp; x == nil || !x.Attached {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatal("child reported attached, but the device has no program")
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	// Closing the link's file descriptor detaches synchronously; give
	// the process teardown a moment.
	deadline := time.Now().Add(2 * time.Second)
	for {
		lk, _ = l.A.Handle().LinkByName(l.A.Link)
		if x := lk.Attrs().Xdp; x == nil || !x.Attached {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("device still carries program %d after SIGKILL", lk.Attrs().Xdp.ProgId)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestMain runs the SIGKILL test's child when asked to.
func TestMain(m *testing.M) {
	if name := os.Getenv("FASTPATH_STEER_CHILD"); name != "" {
		os.Exit(steerChild(name, os.Getenv("FASTPATH_STEER_DEV")))
	}
	os.Exit(m.Run())
}

func steerChild(nsName, dev string) int {
	runtime.LockOSThread()
	ns, err := netns.GetFromName(nsName)
	if err == nil {
		err = netns.Set(ns)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	s, err := Attach(dev, Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	_ = s
	fmt.Println("attached")
	time.Sleep(time.Minute) // killed long before
	return 0
}

// TestRedirectModes: the redirect program attaches with the same fallback
// as the steering program, refuses a device that has one, and detaches on
// Close.
func TestRedirectModes(t *testing.T) {
	for _, mode := range []Mode{ModeAuto, ModeNative, ModeGeneric} {
		t.Run(mode.String(), func(t *testing.T) {
			l := lab.NewT(t, lab.Options{})
			var r *Redirect
			if err := l.A.Do(func() (err error) { r, err = AttachRedirect(l.A.Link, Options{Mode: mode}); return err }); err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			want := map[Mode]Mode{ModeAuto: ModeNative, ModeNative: ModeNative, ModeGeneric: ModeGeneric}[mode]
			if r.Mode() != want {
				t.Fatalf("mode %v, want %v", r.Mode(), want)
			}
			lk, _ := l.A.Handle().LinkByName(l.A.Link)
			wantAttach := map[Mode]uint32{ModeNative: 1, ModeGeneric: 2}[want]
			if x := lk.Attrs().Xdp; x == nil || !x.Attached || x.AttachMode != wantAttach {
				t.Fatalf("link shows XDP %+v, want attach mode %d", x, wantAttach)
			}
			err := l.A.Do(func() error { _, err := AttachRedirect(l.A.Link, Options{Mode: mode}); return err })
			if !errors.Is(err, ErrAttached) {
				t.Fatalf("second AttachRedirect: %v, want ErrAttached", err)
			}
			if err := r.Register(0, -1); err == nil {
				t.Fatal("Register of fd -1 succeeded")
			}
			if err := r.Close(); err != nil {
				t.Fatal(err)
			}
			if err := r.Close(); err != nil {
				t.Fatalf("second Close: %v", err)
			}
			lk, _ = l.A.Handle().LinkByName(l.A.Link)
			if x := lk.Attrs().Xdp; x != nil && x.Attached {
				t.Fatalf("program still attached after Close: %+v", x)
			}
		})
	}
	if _, err := AttachRedirect("nosuchdev0", Options{}); !errors.Is(err, ErrNoDevice) {
		t.Fatalf("missing device: %v", err)
	}
}

// enableIPv6 turns IPv6 back on for h's veth (the lab turns it off) and
// gives it addrs without duplicate address detection, so that they are
// usable at once.
func enableIPv6(t *testing.T, h *lab.Host, addrs ...netip.Addr) {
	t.Helper()
	err := h.Do(func() error {
		for _, key := range []string{"accept_dad", "disable_ipv6"} {
			if err := os.WriteFile("/proc/sys/net/ipv6/conf/"+h.Link+"/"+key, []byte("0"), 0); err != nil {
				return err
			}
		}
		return nil
	})
	if errors.Is(err, os.ErrNotExist) {
		t.Skip("this kernel has no IPv6 (CONFIG_IPV6)")
	}
	if err != nil {
		t.Fatalf("enable IPv6 on %s in %s: %v", h.Link, h.Name, err)
	}
	lk, err := h.Handle().LinkByName(h.Link)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		addr := &netlink.Addr{IPNet: &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(64, 128)}, Flags: unix.IFA_F_NODAD}
		if err := h.Handle().AddrAdd(lk, addr); err != nil {
			t.Fatalf("add %s to %s in %s: %v", a, h.Link, h.Name, err)
		}
	}
}

// TestIPv6ToEngine: with IPv6 on in the lab, B's kernel sends real IPv6.
// A rule for UDP to one of A's addresses on port 9000 takes those
// datagrams while A's kernel keeps port 9001 and answers the neighbour
// solicitations for that address (passed); an ND rule for A's other
// address takes the solicitations for it, so A's kernel never answers
// them.
func TestIPv6ToEngine(t *testing.T) {
	l, s, sock := attachLab(t, Options{})
	kernelAddr, engineAddr, bAddr := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::3"), netip.MustParseAddr("2001:db8::2")
	enableIPv6(t, l.A, kernelAddr, engineAddr)
	enableIPv6(t, l.B, bAddr)
	if _, err := s.SetRules([]Rule{
		{Name: "nd engine", Proto: ProtoND, Dst: netip.PrefixFrom(engineAddr, 128), Action: Engine},
		{Name: "udp6 9000", Proto: ProtoUDP, Dst: netip.PrefixFrom(kernelAddr, 128), DstPort: Port(9000), Action: Engine},
	}); err != nil {
		t.Fatal(err)
	}
	sock.Refill()
	var kconn *net.UDPConn
	if err := l.A.Do(func() (err error) {
		kconn, err = net.ListenUDP("udp6", &net.UDPAddr{IP: kernelAddr.AsSlice(), Port: 9001})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer kconn.Close()
	kernelGot := make(chan struct{}, 1)
	go func() {
		buf := make([]byte, 2048)
		if _, err := kconn.Read(buf); err == nil {
			kernelGot <- struct{}{}
		}
	}()
	var udpGot, nsGot atomic.Bool
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		drain(sock, stop, func(b []byte) {
			if len(b) < 14+40+8 || binary.BigEndian.Uint16(b[12:]) != 0x86dd {
				return
			}
			l4 := b[14+40:]
			switch b[14+6] {
			case 17:
				if netip.AddrFrom16([16]byte(b[14+24:])) == kernelAddr && binary.BigEndian.Uint16(l4[2:]) == 9000 {
					udpGot.Store(true)
				}
			case 58:
				if len(l4) >= 24 && l4[0] == 135 && netip.AddrFrom16([16]byte(l4[8:24])) == engineAddr {
					nsGot.Store(true)
				}
			}
		})
	}()
	// The socket is closed by a cleanup: stop using it first.
	defer func() { close(stop); <-done }()
	// B's kernel resolves kernelAddr through A's kernel, and sends its
	// solicitations for engineAddr until it gives up.
	var conns []*net.UDPConn
	if err := l.B.Do(func() error {
		for _, to := range []net.UDPAddr{{IP: kernelAddr.AsSlice(), Port: 9000}, {IP: kernelAddr.AsSlice(), Port: 9001}, {IP: engineAddr.AsSlice(), Port: 7}} {
			c, err := net.DialUDP("udp6", nil, &to)
			if err != nil {
				return err
			}
			conns = append(conns, c)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	kernel := false
	deadline := time.Now().Add(10 * time.Second)
	for !(udpGot.Load() && nsGot.Load() && kernel) && time.Now().Before(deadline) {
		for _, c := range conns {
			c.Write([]byte("v6?")) // an unresolved neighbour may refuse some
		}
		select {
		case <-kernelGot:
			kernel = true
		case <-time.After(100 * time.Millisecond):
		}
	}
	st, _ := s.Stats()
	rules, _ := s.Rules()
	if !udpGot.Load() || !nsGot.Load() || !kernel {
		t.Fatalf("engine got UDP to [%s]:9000: %v, a solicitation for %s: %v; A's kernel got UDP to port 9001: %v; stats %v, rules %+v",
			kernelAddr, udpGot.Load(), engineAddr, nsGot.Load(), kernel, st, rules)
	}
	if st[bpf.CountIPv6].Packets == 0 || rules[0].Packets == 0 || rules[1].Packets == 0 {
		t.Errorf("counters: ipv6 %d, rules %+v", st[bpf.CountIPv6].Packets, rules)
	}
	// A's kernel never answered for engineAddr: B has no usable entry.
	var neighs []netlink.Neigh
	if err := l.B.Netlink(func(hd *netlink.Handle) (err error) {
		neighs, err = hd.NeighList(l.B.Index, unix.AF_INET6)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	for _, n := range neighs {
		if n.IP.Equal(engineAddr.AsSlice()) && n.State&(netlink.NUD_REACHABLE|netlink.NUD_STALE|netlink.NUD_DELAY|netlink.NUD_PROBE) != 0 {
			t.Errorf("B resolved %s (state %#x): A's kernel answered a solicitation the engine should have taken", engineAddr, n.State)
		}
	}
}
