package stack

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fastpathnet/fastpath/internal/lab"
	"github.com/vishvananda/netlink"
)

func shared(c *Config) { c.Shared, c.Addrs = true, nil }

// flushNeighbours empties h's kernel neighbour table on its link.
func flushNeighbours(t *testing.T, h *lab.Host) {
	t.Helper()
	err := h.Netlink(func(hd *netlink.Handle) error {
		lk, err := hd.LinkByName(h.Link)
		if err != nil {
			return err
		}
		list, err := hd.NeighList(lk.Attrs().Index, netlink.FAMILY_V4)
		if err != nil {
			return err
		}
		for _, n := range list {
			hd.NeighDel(&n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestShared: the engine on the kernel's own address takes UDP port 7 and
// nothing else. The kernel keeps answering ARP and ping for the address,
// and its own sockets on other ports keep working; the engine originates
// a datagram to a neighbour the kernel had not met (its table flushed),
// which the kernel resolves for it.
func TestShared(t *testing.T) {
	l := lab.NewT(t, lab.Options{})
	flushNeighbours(t, l.A)
	var conn *UDPConn
	s := startStack(t, l.A, shared, func(s *Stack) (err error) {
		if err = s.BindUDP(7, echo); err != nil {
			return err
		}
		conn, err = s.ListenUDP(4000, 64)
		return err
	})
	if got := s.Addrs(); len(got) != 1 || got[0] != l.A.Addr {
		t.Fatalf("shared mode took %v, want the kernel's %v", got, l.A.Addr)
	}
	// The engine speaks first, to B, whom A's kernel has never met.
	sink := listenUDP(t, l.B, 9000)
	if _, err := conn.WriteTo([]byte("first"), net.UDPAddrFromAddrPort(netip.AddrPortFrom(l.B.Addr.Addr(), 9000))); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2048)
	sink.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, from, err := sink.ReadFromUDPAddrPort(buf)
	if err != nil || string(buf[:n]) != "first" || from != netip.AddrPortFrom(l.A.Addr.Addr(), 4000) {
		t.Fatalf("B got %q from %v, %v; want \"first\" from the kernel's address; counters %v", buf[:n], from, err, nonZero(s.Counters()))
	}
	// UDP echo by the engine on the kernel's address.
	c := dialUDP(t, l.B, netip.AddrPortFrom(l.A.Addr.Addr(), 7))
	for i := range 20 {
		msg := bytes.Repeat([]byte{byte(i)}, 1+i*60)
		c.Write(msg)
		c.SetReadDeadline(time.Now().Add(3 * time.Second))
		n, err := c.Read(buf)
		if err != nil || !bytes.Equal(buf[:n], msg) {
			t.Fatalf("echo %d: %d bytes, %v", i, n, err)
		}
	}
	// The kernel's own socket on another port of the same address.
	kernel := listenUDP(t, l.A, 8)
	kc := dialUDP(t, l.B, netip.AddrPortFrom(l.A.Addr.Addr(), 8))
	kc.Write([]byte("to the kernel"))
	kernel.SetReadDeadline(time.Now().Add(3 * time.Second))
	if n, err := kernel.Read(buf); err != nil || string(buf[:n]) != "to the kernel" {
		t.Fatalf("kernel socket on port 8: %q, %v", buf[:n], err)
	}
	// The kernel answers ping for its address.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if out, err := l.B.Command(ctx, "ping", "-c", "3", "-i", "0.2", "-W", "2", l.A.Addr.Addr().String()).CombinedOutput(); err != nil {
		t.Fatalf("ping the kernel's address: %v\n%s", err, out)
	}
	c2 := waitCounters(t, s, "shared mode", func(c Counters) bool { return c[UDPDelivered] >= 20 })
	for _, k := range []Counter{ARPRequestsIn, ARPRepliesOut, ARPRequestsOut, ARPGratuitousOut, ICMPEchoIn, DropNoPort} {
		if c2[k] != 0 {
			t.Errorf("%v = %d: shared mode leaves ARP, ICMP and unbound ports to the kernel", k, c2[k])
		}
	}
	if c2[ResolveRequests] == 0 {
		t.Errorf("the engine never asked the kernel to resolve B: %v", nonZero(c2))
	}
	if c2.Drops() != 0 {
		t.Errorf("drops: %v", nonZero(c2))
	}
}

// TestSharedRouted: in shared mode the engine sends to a host behind a
// router, through the kernel's default route, to a gateway the kernel
// had not resolved; the reply comes back to the engine.
func TestSharedRouted(t *testing.T) {
	l := lab.NewT(t, lab.Options{Router: true})
	flushNeighbours(t, l.A)
	var conn *UDPConn
	s := startStack(t, l.A, shared, func(s *Stack) (err error) {
		conn, err = s.ListenUDP(4000, 64)
		return err
	})
	far := listenUDP(t, l.B, 9000)
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := far.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			far.WriteToUDPAddrPort(bytes.ToUpper(buf[:n]), from)
		}
	}()
	buf := make([]byte, 2048)
	dst := net.UDPAddrFromAddrPort(netip.AddrPortFrom(l.B.Addr.Addr(), 9000))
	for i := range 5 {
		msg := fmt.Sprintf("routed %d", i)
		if _, err := conn.WriteTo([]byte(msg), dst); err != nil {
			t.Fatal(err)
		}
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, _, err := conn.ReadFrom(buf)
		if err != nil || string(buf[:n]) != fmt.Sprintf("ROUTED %d", i) {
			t.Fatalf("reply %d: %q, %v; counters %v", i, buf[:n], err, nonZero(s.Counters()))
		}
	}
	s.Stop()
	s.Wait()
	gw := false
	for _, n := range s.Engines()[0].Neighbours() {
		gw = gw || n.IP == l.A.Gateway
	}
	if !gw {
		t.Errorf("the gateway %v is not in the engine's neighbours: %v", l.A.Gateway, s.Engines()[0].Neighbours())
	}
}

// TestSharedRefusesForeignAddress: shared mode uses only the kernel's
// addresses; dedicated mode refuses them.
func TestSharedAddressChecks(t *testing.T) {
	l := lab.NewT(t, lab.Options{})
	for _, tc := range []struct {
		shared bool
		addr   netip.Prefix
	}{
		{true, engineAddr}, // not the kernel's
		{false, l.A.Addr},  // the kernel's
	} {
		cfg := DefaultConfig()
		cfg.Device, cfg.Shared, cfg.Addrs = l.A.Link, tc.shared, []netip.Prefix{tc.addr}
		err := l.A.Do(func() error {
			s, err := New(cfg)
			if err == nil {
				s.Close()
			}
			return err
		})
		if err == nil {
			t.Errorf("shared=%v with %v: no error", tc.shared, tc.addr)
		} else {
			t.Logf("shared=%v with %v: %v", tc.shared, tc.addr, err)
		}
	}
}

// TestHandover: port 7's handler runs on queue 0's engine only; datagrams
// RSS puts on queue 1 are handed over to it, and all are echoed.
func TestHandover(t *testing.T) {
	l := lab.NewT(t, lab.Options{Queues: 2})
	var wrong, handled atomic.Int64
	stall := make(chan struct{})
	var owner *Engine
	s := startStack(t, l.A, func(c *Config) { c.Queues = []int{0, 1} }, func(s *Stack) error {
		owner = s.Engines()[0]
		return s.BindUDPOn(7, 0, func(d *Datagram) {
			if d.Engine() != owner {
				wrong.Add(1)
			}
			if string(d.Payload) == "stall" {
				<-stall
			}
			handled.Add(1)
			echo(d)
		})
	})
	if r := s.Engines()[0].framesIn[1]; r == nil || len(r.slots) != min(int(s.Engines()[0].sock.RX.Size()), ownerSlotsMax) || s.Engines()[1].framesIn[0] != nil {
		t.Errorf("the ring into the owner is not as deep as its RX ring, or a ring goes the other way")
	}
	buf := make([]byte, 64)
	conns := make([]*net.UDPConn, 32)
	for p := range conns {
		c := dialUDP(t, l.B, netip.AddrPortFrom(engineAddr.Addr(), 7))
		conns[p] = c
		msg := []byte(fmt.Sprintf("flow %d", p))
		c.Write(msg)
		c.SetReadDeadline(time.Now().Add(3 * time.Second))
		n, err := c.Read(buf)
		if err != nil || !bytes.Equal(buf[:n], msg) {
			t.Fatalf("flow %d: %q, %v; counters %v", p, buf[:n], err, nonZero(s.Counters()))
		}
	}
	if wrong.Load() != 0 {
		t.Errorf("%d datagrams handled off the owner's engine", wrong.Load())
	}
	// The owner stalls (a handler blocks it, as a descheduled thread
	// would) while the flows send 1,280 more, half or so through queue 1:
	// more than a 256-slot ring holds, as many as the owner's RX ring
	// does. None is lost between the engines. (What the veth pair drops
	// on a loaded machine, its 256-frame XDP ring full, never reaches
	// them: counted from its statistics and taken off.)
	linkDrops := func() uint64 {
		a, errA := l.A.LinkStats()
		b, errB := l.B.LinkStats()
		if errA != nil || errB != nil {
			t.Fatal(errA, errB)
		}
		return a.RxDropped + b.TxDropped
	}
	dropsBefore := linkDrops()
	conns[0].Write([]byte("stall"))
	for range 40 {
		for _, c := range conns {
			c.Write([]byte("burst"))
		}
	}
	time.Sleep(200 * time.Millisecond) // queue 1's engine hands the burst over meanwhile
	close(stall)
	want := int64(32 + 1 + 40*32)
	for i := 0; handled.Load() < want && i < 100; i++ {
		time.Sleep(20 * time.Millisecond)
	}
	if d := int64(linkDrops() - dropsBefore); d > 0 {
		t.Logf("the veth pair dropped %d of the burst", d)
		want -= d
	}
	if handled.Load() != want {
		t.Errorf("the owner handled %d datagrams, want %d; counters %v", handled.Load(), want, nonZero(s.Counters()))
	}
	// Stopped engines publish their final counts.
	s.Stop()
	s.Wait()
	e0, e1 := s.Engines()[0].Counters(), s.Engines()[1].Counters()
	t.Logf("queue 1 handed %d datagrams to queue 0 (which took %d)", e1[HandoverOut], e0[HandoverIn])
	if e1[HandoverOut] <= handoverSlots || e1[HandoverOut] != e0[HandoverIn] || e1[DropHandoverFull] != 0 {
		t.Errorf("handover: queue 1 out %d (want more than %d: a stalled owner), queue 0 in %d, full %d", e1[HandoverOut], handoverSlots, e0[HandoverIn], e1[DropHandoverFull])
	}
}
