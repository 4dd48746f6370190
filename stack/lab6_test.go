package stack

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/fastpathnet/fastpath/bpf"
	"github.com/fastpathnet/fastpath/ether"
	"github.com/fastpathnet/fastpath/internal/lab"
	"github.com/fastpathnet/fastpath/ipv4"
	"github.com/fastpathnet/fastpath/ipv6"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// startStack6 runs a dual-stack engine on A: engineAddr and engineAddr6.
func startStack6(t *testing.T, l *lab.Lab, mod func(*Config), bind func(*Stack) error) *Stack {
	t.Helper()
	return startStack(t, l.A, func(c *Config) {
		c.Addrs = []netip.Prefix{engineAddr, engineAddr6}
		if mod != nil {
			mod(c)
		}
	}, bind)
}

func run(t *testing.T, h *lab.Host, timeout time.Duration, name string, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		lab.RequireKernel(t, "the "+name+" command")
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, err := h.Command(ctx, name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// neighbour returns h's kernel's neighbour entry for ip on its link.
func labNeighbour(t *testing.T, h *lab.Host, ip netip.Addr) (mac string, state int) {
	t.Helper()
	if err := h.Netlink(func(hd *netlink.Handle) error {
		ns, err := hd.NeighList(h.Index, netlink.FAMILY_V6)
		for _, n := range ns {
			if n.IP.Equal(ip.AsSlice()) {
				mac, state = n.HardwareAddr.String(), n.State
			}
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return mac, state
}

// TestPing6: the kernel in B resolves the engine's IPv6 address by
// neighbour discovery and pings it with iputils' ping; the engine's
// address passed DAD first, and it announced itself.
func TestPing6(t *testing.T) {
	l := lab.NewT(t, lab.Options{IPv6: true})
	s := startStack6(t, l, nil, nil)
	out := run(t, l.B, 15*time.Second, "ping", "-6", "-c", "5", "-i", "0.2", "-W", "2", "-s", "1000", engineAddr6.Addr().String())
	if !strings.Contains(out, "5 received") {
		t.Fatalf("ping -6:\n%s", out)
	}
	c := waitCounters(t, s, "echo", func(c Counters) bool { return c[ICMPv6EchoOut] >= 5 })
	if c[NDSolicitsOut] < 1 || c[NDAdvertsOut] < 1 || c[DADDuplicates] != 0 {
		t.Errorf("no DAD probe or advertisement: %v", nonZero(c))
	}
	if mac, _ := labNeighbour(t, l.B, engineAddr6.Addr()); mac != l.A.MAC.String() {
		t.Errorf("B's neighbour entry for %v: %q, want %v", engineAddr6.Addr(), mac, l.A.MAC)
	}
	// IPv4 still works beside it.
	if out := run(t, l.B, 10*time.Second, "ping", "-4", "-c", "2", "-i", "0.2", "-W", "2", engineAddr.Addr().String()); !strings.Contains(out, "2 received") {
		t.Fatalf("ping -4:\n%s", out)
	}
	if c := s.Counters(); c.Drops() != 0 {
		t.Errorf("drops: %v", nonZero(c))
	}
}

// TestUDP6Echo: datagrams of every size up to 1452 bytes (a 1500-byte
// IPv6 packet) from a kernel socket in B come back intact through the
// engine's echo; and the engine, through a UDPConn, sends to a kernel
// socket in B, resolving B by a solicitation of its own.
func TestUDP6Echo(t *testing.T) {
	l := lab.NewT(t, lab.Options{IPv6: true})
	var conn *UDPConn
	s := startStack6(t, l, nil, func(s *Stack) (err error) {
		if err = s.BindUDP(7, echo); err != nil {
			return err
		}
		conn, err = s.ListenUDP(4000, 64)
		return err
	})
	sent := echoSizes(t, s, dialUDP(t, l.B, netip.AddrPortFrom(engineAddr6.Addr(), 7)), 1452, 11)
	// The engine to B: its own solicitation resolves B.
	b6 := listenUDPAt(t, l.B, netip.AddrPortFrom(l.B.Addr6.Addr(), 9000))
	buf := make([]byte, 2048)
	for i := range 10 {
		if _, err := conn.WriteToUDPAddrPort([]byte{byte(i), 'v', '6'}, netip.AddrPortFrom(l.B.Addr6.Addr(), 9000)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 10 {
		b6.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, from, err := b6.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatalf("datagram %d from the engine: %v; counters %v", i, err, nonZero(s.Counters()))
		}
		if from != netip.AddrPortFrom(engineAddr6.Addr(), 4000) || n != 3 || string(buf[1:3]) != "v6" {
			t.Fatalf("datagram %d: %q from %v", i, buf[:n], from)
		}
	}
	c := waitCounters(t, s, "udp", func(c Counters) bool { return c[UDPOut] >= uint64(sent+10) })
	if c[NDAdvertsIn] < 1 || c.Drops() != 0 {
		t.Errorf("the engine resolved B without an advertisement, or dropped: %v", nonZero(c))
	}
	// A port nobody bound (steered by a rule of the test's: a bound
	// port would have a handler): B's kernel gets a port unreachable
	// (ECONNREFUSED on its connected socket).
	if _, err := s.Steering().Add(steeringUDP(9)); err != nil {
		t.Fatal(err)
	}
	closed := dialUDP(t, l.B, netip.AddrPortFrom(engineAddr6.Addr(), 9))
	closed.Write([]byte("anyone?"))
	closed.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := closed.Read(buf); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("to an unbound port: %v, want connection refused", err)
	}
	waitCounters(t, s, "unreachable", func(c Counters) bool { return c[ICMPv6UnreachOut] == 1 && c[DropNoPort] == 1 })
}

// TestDAD: both ways. The engine refuses an address B's kernel holds
// (its probe is answered), saying what to do; and B's kernel, adding the
// engine's address, finds it duplicate (the engine defends it).
func TestDAD(t *testing.T) {
	l := lab.NewT(t, lab.Options{IPv6: true})
	// B's kernel answers probes once it has joined its address's
	// solicited-node group (a lab just made: within a few seconds), as a
	// host up for a while has: A's kernel resolving B tells.
	run(t, l.A, 10*time.Second, "ping", "-6", "-c", "1", "-W", "5", l.B.Addr6.Addr().String())
	cfg := DefaultConfig()
	cfg.Device = l.A.Link
	cfg.Addrs = []netip.Prefix{l.B.Addr6}
	var s *Stack
	if err := l.A.Do(func() (err error) { s, err = New(cfg); return err }); err != nil {
		t.Fatal(err)
	}
	err := s.Start()
	s.Close()
	if !errors.Is(err, ErrDuplicateAddress) || !strings.Contains(err.Error(), l.B.MAC.String()) {
		t.Fatalf("Start with B's address: %v, want ErrDuplicateAddress naming B's MAC", err)
	}
	t.Log(err)

	s = startStack6(t, l, nil, nil)
	lk, err := netlinkLink(l.B)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.B.Netlink(func(hd *netlink.Handle) error {
		return hd.AddrAdd(lk, &netlink.Addr{IPNet: &net.IPNet{IP: engineAddr6.Addr().AsSlice(), Mask: net.CIDRMask(64, 128)}})
	}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var flags int
		l.B.Netlink(func(hd *netlink.Handle) error {
			as, err := hd.AddrList(lk, netlink.FAMILY_V6)
			for _, a := range as {
				if a.IP.Equal(engineAddr6.Addr().AsSlice()) {
					flags = a.Flags
				}
			}
			return err
		})
		if flags&0x08 != 0 { // IFA_F_DADFAILED
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("B's kernel did not find %v duplicate: flags %#x; engine counters %v", engineAddr6.Addr(), flags, nonZero(s.Counters()))
		}
		time.Sleep(50 * time.Millisecond)
	}
	waitCounters(t, s, "B's probe", func(c Counters) bool { return c[NDSolicitsIn] > 0 && c[NDAdvertsOut] >= 2 })
}

func netlinkLink(h *lab.Host) (lk netlink.Link, err error) {
	err = h.Netlink(func(hd *netlink.Handle) error {
		lk, err = hd.LinkByName(h.Link)
		return err
	})
	return lk, err
}

// TestRouterAdvert: with no IPv6 gateway configured, the engine takes its
// default route from a router advertisement (sent from B by a packet
// socket, as radvd would), then answers a datagram from beyond the link
// through that router; a lifetime of 0 withdraws the route.
func TestRouterAdvert(t *testing.T) {
	l := lab.NewT(t, lab.Options{IPv6: true})
	// Not an echo in place, which goes back to the link-layer source:
	// a new datagram, which the route sends.
	s := startStack6(t, l, nil, func(s *Stack) error {
		return s.BindUDP(7, func(d *Datagram) { d.Reply(append([]byte("re:"), d.Payload...)) })
	})
	send := rawSender(t, l.B)
	routerLL := ipv6.LinkLocal(ether.Addr(l.B.MAC))
	raFrom := func(router netip.Addr, lifetime uint16) []byte {
		b := make([]byte, 14+40+16+8)
		ether.Encode(b, ipv6.MulticastMAC(ipv6.AllNodes), ether.Addr(l.B.MAC), ether.TypeIPv6)
		h, _ := ipv6.Encode(b[14:], ipv6.Fields{NextHeader: ipv6.ProtoICMPv6, HopLimit: 255, Src: router, Dst: ipv6.AllNodes, PayloadLen: 24})
		m := h.Payload()
		m[0] = ipv6.ICMPRouterAdvertisement
		m[6], m[7] = byte(lifetime>>8), byte(lifetime)
		m[16], m[17] = ipv6.OptSourceLinkAddr, 1
		copy(m[18:24], l.B.MAC)
		ipv6.ICMP(m).SetChecksum(router, ipv6.AllNodes)
		return b
	}
	ra := func(lifetime uint16) []byte { return raFrom(routerLL, lifetime) }
	// Another router's advertisements: they change nothing while B's
	// route lasts (RFC 4861 6.3.4).
	otherLL := netip.MustParseAddr("fe80::99")
	// A host beyond the router: B's kernel holds it, the engine must
	// send its reply to the router (B's MAC) to reach it.
	far := netip.MustParseAddr("2001:db8:99::1")
	if err := l.B.Netlink(func(hd *netlink.Handle) error {
		lk, err := hd.LinkByName(l.B.Link)
		if err != nil {
			return err
		}
		return hd.AddrAdd(lk, &netlink.Addr{IPNet: &net.IPNet{IP: far.AsSlice(), Mask: net.CIDRMask(128, 128)}, Flags: unix.IFA_F_NODAD})
	}); err != nil {
		t.Fatal(err)
	}
	// B routes the engine's prefix on its link already; the engine has no
	// route to far until the advertisement.
	var c6 *net.UDPConn
	if err := l.B.Do(func() (err error) {
		c6, err = net.DialUDP("udp6", net.UDPAddrFromAddrPort(netip.AddrPortFrom(far, 0)), net.UDPAddrFromAddrPort(netip.AddrPortFrom(engineAddr6.Addr(), 7)))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer c6.Close()
	buf := make([]byte, 64)
	try := func() error {
		c6.Write([]byte("far"))
		c6.SetReadDeadline(time.Now().Add(time.Second))
		_, err := c6.Read(buf)
		return err
	}
	if err := try(); err == nil {
		t.Fatal("an answer to a host off-link before any route")
	}
	waitCounters(t, s, "no route", func(c Counters) bool { return c[DropNoRoute] >= 1 })
	send(ra(1800))
	waitCounters(t, s, "advertisement", func(c Counters) bool { return c[RouterAdverts] >= 1 })
	if err := try(); err != nil {
		t.Fatalf("through the advertised router: %v; counters %v", err, nonZero(s.Counters()))
	}
	send(raFrom(otherLL, 0))
	send(raFrom(otherLL, 600))
	waitCounters(t, s, "another router", func(c Counters) bool { return c[RouterAdverts] >= 3 })
	if err := try(); err != nil {
		t.Fatalf("after another router's advertisements: %v; counters %v", err, nonZero(s.Counters()))
	}
	send(ra(0))
	waitCounters(t, s, "withdrawal", func(c Counters) bool { return c[RouterAdverts] >= 4 })
	before := s.Counters()[DropNoRoute]
	if err := try(); err == nil {
		t.Error("an answer after the router withdrew")
	}
	waitCounters(t, s, "no route again", func(c Counters) bool { return c[DropNoRoute] > before })
}

// TestHostile6 throws malformed IPv6 at the engine from B: truncations,
// payload lengths past the frame, extension-header chains too long or
// out of order, fragments, bad checksums, a zero UDP checksum, ND that
// RFC 4861 says to drop. Each is counted as a drop (by the engine, or
// by the steering program, which hands malformed frames to the kernel);
// the engine still answers a good datagram and a ping afterwards.
func TestHostile6(t *testing.T) {
	l := lab.NewT(t, lab.Options{IPv6: true})
	s := startStack6(t, l, nil, func(s *Stack) error { return s.BindUDP(7, echo) })
	send := rawSender(t, l.B)
	src, dst := l.B.Addr6.Addr(), engineAddr6.Addr()
	amac, bmac := ether.Addr(l.A.MAC), ether.Addr(l.B.MAC)
	// udp builds a datagram behind ext extension headers (8 bytes each,
	// of the kinds given).
	udp := func(payload int, ext []uint8, mod func(b []byte)) []byte {
		n := 8 * len(ext)
		b := make([]byte, 14+40+n+8+payload)
		ether.Encode(b, amac, bmac, ether.TypeIPv6)
		next := uint8(ipv6.ProtoUDP)
		if len(ext) > 0 {
			next = ext[0]
		}
		ipv6.Encode(b[14:], ipv6.Fields{NextHeader: next, HopLimit: 64, Src: src, Dst: dst, PayloadLen: n + 8 + payload})
		for i, k := range ext {
			x := b[54+8*i:]
			x[0] = ipv6.ProtoUDP
			if i+1 < len(ext) {
				x[0] = ext[i+1]
			}
			if k == ipv6.ProtoAH {
				x[1] = 0 // (0+2)*4 = 8 bytes
			}
		}
		u, _ := ipv4.EncodeUDP(b[54+n:], 1000, 7, payload)
		ipv6.SetUDPChecksum(u, src, dst)
		if mod != nil {
			mod(b)
		}
		return b
	}
	dests := func(n int) []uint8 {
		e := make([]uint8, n)
		for i := range e {
			e[i] = ipv6.ProtoDestOpts
		}
		return e
	}
	cases := map[string][]byte{
		"bad UDP checksum":              udp(10, nil, func(b []byte) { b[len(b)-1] ^= 0xff }),
		"zero UDP checksum":             udp(10, nil, func(b []byte) { b[54+6], b[54+7] = 0, 0 }),
		"UDP length too long":           udp(10, nil, func(b []byte) { b[54+4], b[54+5] = 0, 200 }),
		"payload length past the frame": udp(10, nil, func(b []byte) { b[18], b[19] = 2, 0 }),
		"truncated UDP header":          udp(10, nil, nil)[:14+40+4],
		"truncated IPv6 header":         udp(10, nil, nil)[:14+30],
		"version 4 in an IPv6 frame":    udp(10, nil, func(b []byte) { b[14] = 0x40 }),
		"nine destination options":      udp(10, dests(9), nil),
		"hop-by-hop second":             udp(10, []uint8{ipv6.ProtoDestOpts, ipv6.ProtoHopByHop}, nil),
		"first fragment":                udp(10, []uint8{ipv6.ProtoFragment}, func(b []byte) { b[54+3] = 1 }),    // M
		"later fragment":                udp(10, []uint8{ipv6.ProtoFragment}, func(b []byte) { b[54+2] = 0x10 }), // offset 256
		"jumbogram":                     udp(10, []uint8{ipv6.ProtoHopByHop}, func(b []byte) { b[18], b[19] = 0, 0 }),
		"not our address":               udp(10, nil, func(b []byte) { b[14+39] ^= 1 }),
		"NS with hop limit 64": func() []byte {
			b := make([]byte, 14+40+32)
			ether.Encode(b, ipv6.MulticastMAC(ipv6.SolicitedNode(dst)), bmac, ether.TypeIPv6)
			n, _ := ipv6.Solicit(b[14:], src, dst, bmac)
			b[14+7] = 64
			return b[:14+n]
		}(),
		"NS with a bad checksum": func() []byte {
			b := make([]byte, 14+40+32)
			ether.Encode(b, ipv6.MulticastMAC(ipv6.SolicitedNode(dst)), bmac, ether.TypeIPv6)
			n, _ := ipv6.Solicit(b[14:], src, dst, bmac)
			b[14+40+2] ^= 0xff
			return b[:14+n]
		}(),
	}
	// UDP to port 7 on any address comes to the engine, so that the one
	// to another address is the engine's to drop.
	if _, err := s.Steering().Add(steeringUDP(7)); err != nil {
		t.Fatal(err)
	}
	// An unbound port (steered all the same) at a link-layer multicast
	// address: no port unreachable (RFC 4443 2.4 (e.3)).
	if _, err := s.Steering().Add(steeringUDP(8)); err != nil {
		t.Fatal(err)
	}
	cases["unbound port at a multicast MAC"] = udp(10, nil, func(b []byte) {
		b[0], b[1] = 0x33, 0x33
		b[14+40+2], b[14+40+3] = 0, 8
		ipv6.SetUDPChecksum(b[54:], src, dst)
	})
	c0 := s.Counters()
	before := c0.Drops()
	st, _ := s.Steering().Stats()
	for _, b := range cases {
		for range 3 {
			send(b)
		}
	}
	// Everything counted somewhere: the engine's drops, or the program's
	// malformed (which the kernel then drops) and fragments (which no
	// port rule takes: the kernel's, which holds no such address).
	want := uint64(3 * len(cases))
	deadline := time.Now().Add(10 * time.Second)
	for {
		after, _ := s.Steering().Stats()
		c := s.Counters()
		got := c.Drops() - before + after[bpf.CountMalformed].Packets - st[bpf.CountMalformed].Packets +
			after[bpf.CountFragment6].Packets - st[bpf.CountFragment6].Packets
		if got >= want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d hostile frames counted; engine %v", got, want, nonZero(s.Counters()))
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Still serving.
	if out := run(t, l.B, 10*time.Second, "ping", "-6", "-c", "2", "-i", "0.2", "-W", "2", dst.String()); !strings.Contains(out, "2 received") {
		t.Fatalf("ping after the hostile frames:\n%s", out)
	}
	if c := s.Counters(); c[UnreachSuppressed]-c0[UnreachSuppressed] != 3 || c[ICMPv6UnreachOut] != c0[ICMPv6UnreachOut] {
		t.Errorf("port unreachables at a multicast MAC: %d suppressed, %d sent; want 3, 0",
			c[UnreachSuppressed]-c0[UnreachSuppressed], c[ICMPv6UnreachOut]-c0[ICMPv6UnreachOut])
	}
	// Behind two extension headers, with bytes after the packet (the
	// frame runs on past its payload length): echoed to the right port.
	good := append(udp(5, []uint8{ipv6.ProtoDestOpts, ipv6.ProtoRouting}, nil), 0xde, 0xad, 0xbe, 0xef, 1, 2, 3)
	r := listenUDPAt(t, l.B, netip.AddrPortFrom(src, 1000))
	send(good)
	r.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 64)
	if n, _, err := r.ReadFrom(buf); err != nil || n != 5 {
		t.Fatalf("the echo of a datagram behind two extension headers: %d bytes, %v; %v", n, err, nonZero(s.Counters()))
	}
}

// TestSharedRouted6: in shared mode, over IPv6, the engine takes the
// kernel's IPv6 routes (its default route through R) and its neighbour
// discovery (it asks the kernel to resolve R), and a datagram to B beyond
// R comes back; a route the kernel gets later is imported as it comes,
// and its removal too.
func TestSharedRouted6(t *testing.T) {
	l := lab.NewT(t, lab.Options{Router: true, IPv6: true})
	var conn *UDPConn
	s := startStack(t, l.A, shared, func(s *Stack) (err error) {
		conn, err = s.ListenUDP(4000, 64)
		return err
	})
	far := listenUDPAt(t, l.B, netip.AddrPortFrom(l.B.Addr6.Addr(), 9000))
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
	dst := net.UDPAddrFromAddrPort(netip.AddrPortFrom(l.B.Addr6.Addr(), 9000))
	for i := range 5 {
		msg := []byte{'v', '6', byte('a' + i)}
		if _, err := conn.WriteTo(msg, dst); err != nil {
			t.Fatal(err)
		}
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, from, err := conn.ReadFrom(buf)
		if err != nil || string(buf[:n]) != strings.ToUpper(string(msg)) || from.String() != dst.String() {
			t.Fatalf("reply %d: %q from %v, %v; counters %v", i, buf[:n], from, err, nonZero(s.Counters()))
		}
	}
	if c := s.Counters(); c[ResolveRequests] == 0 {
		t.Errorf("the engine did not ask the kernel to resolve the router: %v", nonZero(c))
	}
	// A route added in A's kernel is the engine's; removed, it is gone.
	extra := netip.MustParsePrefix("2001:db8:77::/64")
	r := &netlink.Route{LinkIndex: l.A.Index, Dst: &net.IPNet{IP: extra.Addr().AsSlice(), Mask: net.CIDRMask(64, 128)}, Gw: l.A.Gateway6.AsSlice()}
	before := s.Counters()[RoutesAdded]
	if err := l.A.Netlink(func(hd *netlink.Handle) error { return hd.RouteAdd(r) }); err != nil {
		t.Fatal(err)
	}
	waitCounters(t, s, "route added", func(c Counters) bool { return c[RoutesAdded] > before })
	if err := l.A.Netlink(func(hd *netlink.Handle) error { return hd.RouteDel(r) }); err != nil {
		t.Fatal(err)
	}
	waitCounters(t, s, "route removed", func(c Counters) bool { return c[RoutesRemoved] > 0 })
	s.Stop()
	s.Wait()
	var hop bool
	for _, n := range s.Engines()[0].Neighbours() {
		hop = hop || n.IP == l.A.Gateway6 || n.IP.IsLinkLocalUnicast()
	}
	if !hop {
		t.Errorf("the router is not in the engine's neighbours: %v", s.Engines()[0].Neighbours())
	}
}

// TestGroups: the engines' IPv6 groups (all nodes, each address's
// solicited-node group) are on the device's multicast list while the
// stack lives, so a NIC's filter passes them: through the kernel's IPv6
// where the device has it, through packet-socket memberships where IPv6
// is off on it; and gone after Close.
func TestGroups(t *testing.T) {
	for _, v6 := range []bool{true, false} {
		l := lab.NewT(t, lab.Options{IPv6: v6})
		mcast := func() string {
			var b []byte
			l.A.Do(func() (err error) { b, err = os.ReadFile("/proc/thread-self/net/dev_mcast"); return err })
			return string(b)
		}
		want := []string{"333300000001", "3333ff000010", "3333ff000011"}
		for _, w := range want[1:] { // (all nodes may be the kernel's own)
			if strings.Contains(mcast(), w) {
				t.Fatalf("IPv6 %v: %s on the list before the stack:\n%s", v6, w, mcast())
			}
		}
		cfg := DefaultConfig()
		cfg.Device, cfg.DADTransmits = l.A.Link, 0
		cfg.Addrs = []netip.Prefix{netip.MustParsePrefix("2001:db8::10/64"), netip.MustParsePrefix("2001:db8::11/64")}
		var s *Stack
		if err := l.A.Do(func() (err error) { s, err = New(cfg); return err }); err != nil {
			t.Fatal(err)
		}
		for _, w := range want {
			if !strings.Contains(mcast(), w) {
				t.Errorf("IPv6 %v: %s not on the device's list:\n%s", v6, w, mcast())
			}
		}
		s.Close()
		for _, w := range want[1:] {
			if strings.Contains(mcast(), w) {
				t.Errorf("IPv6 %v: %s still on the list after Close:\n%s", v6, w, mcast())
			}
		}
	}
}
