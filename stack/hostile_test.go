package stack

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/fastpathnet/fastpath/bpf"
	"github.com/fastpathnet/fastpath/ether"
	"github.com/fastpathnet/fastpath/internal/lab"
	"github.com/fastpathnet/fastpath/ipv4"
	"golang.org/x/sys/unix"
)

// rawSender sends whole Ethernet frames out of h's link through a packet
// socket.
func rawSender(t *testing.T, h *lab.Host) func([]byte) {
	t.Helper()
	var fd int
	if err := h.Do(func() (err error) {
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	sa := &unix.SockaddrLinklayer{Ifindex: h.Index, Halen: 6}
	return func(b []byte) {
		if err := unix.Sendto(fd, b, 0, sa); err != nil {
			t.Fatalf("send %d-byte frame: %v", len(b), err)
		}
	}
}

// TestHostileInput throws malformed and unwanted frames at the engine from
// B: truncations, bad checksums and lengths, fragments, options, VLAN tags
// and random bytes. Each is counted as a drop (by the engine, or by the
// steering program, which hands malformed frames to the kernel); the
// engine never panics, and still answers a good datagram afterwards.
func TestHostileInput(t *testing.T) {
	l := lab.NewT(t, lab.Options{})
	s := startStack(t, l.A, nil, func(s *Stack) error { return s.BindUDP(7, echo) })
	send := rawSender(t, l.B)
	src, dst := l.B.Addr.Addr(), engineAddr.Addr()
	amac, bmac := ether.Addr(l.A.MAC), ether.Addr(l.B.MAC)
	udp := func(payload int, mod func(b []byte)) []byte {
		b := make([]byte, 14+20+8+payload)
		ether.Encode(b, amac, bmac, ether.TypeIPv4)
		ipv4.Encode(b[14:], ipv4.Fields{TTL: 64, Protocol: ipv4.ProtoUDP, Src: src, Dst: dst, PayloadLen: 8 + payload})
		u, _ := ipv4.EncodeUDP(b[34:], 1000, 7, payload)
		u.SetChecksum(src, dst)
		if mod != nil {
			mod(b)
		}
		return b
	}
	fixIP := func(b []byte) { ipv4.Header(b[14:]).SetChecksum() }
	cases := map[string][]byte{
		"bad IPv4 checksum": udp(10, func(b []byte) { b[24] ^= 0xff }),
		"bad UDP checksum":  udp(10, func(b []byte) { b[len(b)-1] ^= 0xff }),
		"UDP length too long": udp(10, func(b []byte) {
			binary.BigEndian.PutUint16(b[38:], 200)
		}),
		"first fragment": udp(10, func(b []byte) { b[20] = 0x20; fixIP(b) }),
		"later fragment": udp(10, func(b []byte) { binary.BigEndian.PutUint16(b[20:], 0x0010); fixIP(b) }),
		"IPv4 total length past the frame": udp(10, func(b []byte) {
			binary.BigEndian.PutUint16(b[16:], 500)
			fixIP(b)
		}),
		"truncated UDP header": udp(10, nil)[:14+20+4],
		"not our MAC":          udp(10, func(b []byte) { b[5] ^= 1 }),
		"VLAN tagged": func() []byte {
			b := udp(10, nil)
			t := append(append(append([]byte{}, b[:12]...), 0x81, 0x00, 0x00, 0x64), b[12:]...)
			return t
		}(),
		"ICMP not echo": func() []byte {
			b := make([]byte, 14+20+8)
			ether.Encode(b, amac, bmac, ether.TypeIPv4)
			ipv4.Encode(b[14:], ipv4.Fields{TTL: 64, Protocol: ipv4.ProtoICMP, Src: src, Dst: dst, PayloadLen: 8})
			b[34] = 13 // timestamp request
			c := ipv4.Checksum(b[34:], 0)
			binary.BigEndian.PutUint16(b[36:], c)
			return b
		}(),
	}
	before := s.Counters()
	for _, b := range cases {
		send(padTo(b))
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for i := 0; i < 2000; i++ {
		b := udp(rng.IntN(200), nil)
		// Random bytes over random parts of a well-addressed frame.
		for k := rng.IntN(8); k >= 0; k-- {
			b[14+rng.IntN(len(b)-14)] = byte(rng.Uint32())
		}
		if rng.IntN(4) == 0 {
			b = b[:14+rng.IntN(len(b)-14)]
		}
		send(padTo(b))
	}
	// Still alive: a good datagram comes back.
	conn := dialUDP(t, l.B, netip.AddrPortFrom(dst, 7))
	conn.Write([]byte("still there?"))
	conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 64)
	if n, err := conn.Read(buf); err != nil || string(buf[:n]) != "still there?" {
		t.Fatalf("after the hostile frames: %q, %v; counters %v", buf[:n], err, nonZero(s.Counters()))
	}
	// The rounds really exercised: of this seed's 2,000 random frames,
	// 874 stay well formed enough for steering to hand them to the engine
	// (the rest it passes to the kernel, counted below); under 600 the
	// test would prove little.
	c := waitCounters(t, s, "hostile frames counted", func(c Counters) bool {
		return c[DropIPv4Checksum] > before[DropIPv4Checksum] && c[DropUDPChecksum] > before[DropUDPChecksum] &&
			c[RXFrames]-before[RXFrames] >= 600
	})
	for _, k := range []Counter{DropIPv4Checksum, DropUDPChecksum, DropICMPType} {
		if c[k] == before[k] {
			t.Errorf("%s not counted: %v", k, nonZero(c))
		}
	}
	st, _ := s.Steering().Stats()
	t.Logf("engine received %d frames, dropped %d: %v; steering passed %d malformed, %d fragments to the kernel",
		c[RXFrames]-before[RXFrames], c.Drops(), nonZero(c), st[bpf.CountMalformed].Packets, st[bpf.CountFragment].Packets)
	if st[bpf.CountMalformed].Packets == 0 || st[bpf.CountFragment].Packets == 0 {
		t.Errorf("steering counted %d malformed and %d fragments", st[bpf.CountMalformed].Packets, st[bpf.CountFragment].Packets)
	}
}

func padTo(b []byte) []byte {
	for len(b) < ether.MinFrame {
		b = append(b, 0)
	}
	return b
}

// TestIPOptions: datagrams and pings whose IPv4 header carries options
// (IHL 6: three NOPs and an end of list) are served like any other. The
// UDP echo keeps the options (the frame is turned around in place); the
// echo reply drops them.
func TestIPOptions(t *testing.T) {
	l := lab.NewT(t, lab.Options{})
	s := startStack(t, l.A, nil, func(s *Stack) error { return s.BindUDP(7, echo) })
	send := rawSender(t, l.B)
	src, dst := l.B.Addr.Addr(), engineAddr.Addr()
	amac, bmac := ether.Addr(l.A.MAC), ether.Addr(l.B.MAC)
	withOptions := func(proto uint8, l4 []byte) []byte {
		b := make([]byte, 14+24+len(l4))
		ether.Encode(b, amac, bmac, ether.TypeIPv4)
		ipv4.Encode(b[14:], ipv4.Fields{TTL: 64, Protocol: proto, Src: src, Dst: dst, PayloadLen: len(l4)})
		copy(b[34:], []byte{1, 1, 1, 0})
		copy(b[38:], l4)
		b[14] = 0x46
		binary.BigEndian.PutUint16(b[16:], uint16(24+len(l4)))
		ipv4.Header(b[14:]).SetChecksum()
		return b
	}
	sink := listenUDP(t, l.B, 1000)
	payload := []byte("options are fine")
	u := make([]byte, 8+len(payload))
	ipv4.EncodeUDP(u, 1000, 7, len(payload))
	copy(u[8:], payload)
	ipv4.UDP(u).SetChecksum(src, dst)
	send(padTo(withOptions(ipv4.ProtoUDP, u)))
	sink.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 64)
	if n, err := sink.Read(buf); err != nil || string(buf[:n]) != string(payload) {
		t.Fatalf("UDP echo with IP options: %q, %v; counters %v", buf[:n], err, nonZero(s.Counters()))
	}
	before, err := l.B.SNMP("Icmp")
	if err != nil {
		t.Fatal(err)
	}
	send(padTo(withOptions(ipv4.ProtoICMP, icmpEcho(9, 1, []byte("ping with options")))))
	waitCounters(t, s, "echo reply with IP options", func(c Counters) bool { return c[ICMPEchoOut] == 1 && c.Drops() == 0 })
	// B's kernel took the reply as a valid echo reply.
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		after, _ := l.B.SNMP("Icmp")
		if after["InEchoReps"] == before["InEchoReps"]+1 && after["InErrors"] == before["InErrors"] && after["InCsumErrors"] == before["InCsumErrors"] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("B's ICMP counters before %v, after %v", before, after)
		}
	}
}
