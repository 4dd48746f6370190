package stack

import (
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fastpathnet/fastpath/ether"
	"github.com/fastpathnet/fastpath/internal/lab"
	"github.com/fastpathnet/fastpath/ipv4"
	"github.com/fastpathnet/fastpath/tcp"
)

// partialStack runs a stack with TCP on A's link of a lab whose kernels
// keep veth's TX checksum offload on, so that what B's kernel sends
// reaches the engine with partial checksums. It echoes UDP on 7, hands
// what comes to UDP 9 to got, listens on TCP 5201, and collects the
// notices.
func partialStack(t *testing.T, accept bool) (*lab.Lab, *Stack, *TCPListener, chan string, func() []Notice) {
	t.Helper()
	l := lab.NewT(t, lab.Options{TxChecksumOffload: true})
	var mu sync.Mutex
	var notices []Notice
	got := make(chan string, 64)
	var ln *TCPListener
	s := startStack(t, l.A, func(c *Config) {
		c.AcceptPartialChecksum = accept
		c.Notice = func(n Notice) {
			mu.Lock()
			notices = append(notices, n)
			mu.Unlock()
		}
	}, func(s *Stack) (err error) {
		if err := s.EnableTCP(tcp.DefaultConfig()); err != nil {
			return err
		}
		if err := s.BindUDP(7, echo); err != nil {
			return err
		}
		if err := s.BindUDP(9, func(d *Datagram) {
			select {
			case got <- string(d.Payload):
			default:
			}
		}); err != nil {
			return err
		}
		ln, err = s.ListenTCP(5201, 0)
		return err
	})
	t.Cleanup(func() { ln.Close() })
	return l, s, ln, got, func() []Notice {
		mu.Lock()
		defer mu.Unlock()
		return append([]Notice(nil), notices...)
	}
}

// sendCorrupted sends from B, through a packet socket, a UDP datagram and
// a TCP SYN to the engine whose checksums are complete but wrong; it
// returns once the engine counted both as bad checksums.
func sendCorrupted(t *testing.T, l *lab.Lab, s *Stack) {
	t.Helper()
	send := rawSender(t, l.B)
	src, dst := l.B.Addr.Addr(), engineAddr.Addr()
	frame := func(proto uint8, l4 int, fill func(seg []byte)) []byte {
		b := make([]byte, 14+20+l4)
		ether.Encode(b, ether.Addr(l.A.MAC), ether.Addr(l.B.MAC), ether.TypeIPv4)
		ipv4.Encode(b[14:], ipv4.Fields{TTL: 64, Protocol: proto, Src: src, Dst: dst, PayloadLen: l4})
		fill(b[34:])
		return b
	}
	udp := frame(ipv4.ProtoUDP, 8+10, func(seg []byte) {
		u, _ := ipv4.EncodeUDP(seg, 1000, 9, 10)
		copy(u[8:], "corrupted!")
		u.SetChecksum(src, dst)
		u[7] ^= 0x40
	})
	syn := frame(ipv4.ProtoTCP, tcp.HeaderLen, func(seg []byte) {
		tcp.Encode(seg, tcp.Fields{SrcPort: 1001, DstPort: 5201, Seq: 1, Flags: tcp.FlagSYN, Window: 1000}, nil)
		h := tcp.Header(seg)
		h.SetChecksum(src, dst)
		h[tcp.ChecksumOffset+1] ^= 0x40
	})
	// Quiet first: the kernel's own segments (delayed ACKs, a FIN) still
	// arrive with partial checksums for a moment after a test's exchange.
	before := s.Counters()
	deadline := time.Now().Add(5 * time.Second)
	for quiet := time.Now(); time.Since(quiet) < 300*time.Millisecond && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if c := s.Counters(); c[PartialChecksum] != before[PartialChecksum] {
			before, quiet = c, time.Now()
		}
	}
	tcpBefore := s.TCPCounters()
	send(padTo(udp))
	send(padTo(syn))
	c := waitCounters(t, s, "corrupted checksums", func(c Counters) bool {
		return c[DropUDPChecksum] > before[DropUDPChecksum] && s.TCPCounters()[tcp.DropChecksum] > tcpBefore[tcp.DropChecksum]
	})
	if c[PartialChecksum] != before[PartialChecksum] {
		t.Errorf("corrupted checksums counted as partial: %v", nonZero(c))
	}
}

// TestPartialChecksumDropped: by default, what the kernel in B sends
// through a veth with TX checksum offload on is dropped and counted as
// partial_checksum, not as a bad checksum, and the user is told once
// which command fixes it. Truly bad checksums are still bad checksums.
func TestPartialChecksumDropped(t *testing.T) {
	l, s, _, got, notices := partialStack(t, false)
	conn := dialUDP(t, l.B, netip.AddrPortFrom(engineAddr.Addr(), 9))
	const n = 10
	for i := 0; i < n; i++ {
		if _, err := conn.Write([]byte("partial")); err != nil {
			t.Fatal(err)
		}
	}
	waitCounters(t, s, "partial UDP checksums", func(c Counters) bool { return c[PartialChecksum] >= n })
	// The kernel's SYN, and its retransmission, are dropped too.
	err := l.B.Do(func() error {
		c, err := net.DialTimeout("tcp4", netip.AddrPortFrom(engineAddr.Addr(), 5201).String(), 1500*time.Millisecond)
		if err == nil {
			c.Close()
			t.Error("the kernel connected through partial checksums")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	c := waitCounters(t, s, "partial TCP checksums", func(c Counters) bool { return c[PartialChecksum] > n })
	if c[DropUDPChecksum] != 0 || c[UDPDelivered] != 0 || s.TCPCounters()[tcp.DropChecksum] != 0 {
		t.Errorf("partial checksums counted as bad, or delivered: %v; tcp %v", nonZero(c), s.TCPCounters().Map())
	}
	select {
	case p := <-got:
		t.Errorf("delivered %q", p)
	default:
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(notices()) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	sendCorrupted(t, l, s)
	time.Sleep(100 * time.Millisecond) // room for a second notice, which must not come
	ns := notices()
	if len(ns) != 1 {
		t.Fatalf("%d notices, want 1: %+v", len(ns), ns)
	}
	want := "ip netns exec " + l.B.Name + " ethtool -K " + l.B.Link + " tx off"
	if ns[0].Counter != PartialChecksum || ns[0].Fix != want || !strings.Contains(ns[0].Message, "partial_checksum") || !strings.Contains(ns[0].Message, l.B.Name) {
		t.Errorf("notice %+v, want the fix %q", ns[0], want)
	}
	t.Logf("notice: %s; fix: %s", ns[0].Message, ns[0].Fix)
}

// TestPartialChecksumAccepted: with AcceptPartialChecksum, the datagrams
// are delivered and echoed, and the kernel's TCP connection works; they
// are still counted. Truly bad checksums are still bad checksums.
func TestPartialChecksumAccepted(t *testing.T) {
	l, s, ln, got, notices := partialStack(t, true)
	conn := dialUDP(t, l.B, netip.AddrPortFrom(engineAddr.Addr(), 9))
	echoConn := dialUDP(t, l.B, netip.AddrPortFrom(engineAddr.Addr(), 7))
	buf := make([]byte, 256)
	for i := 0; i < 10; i++ {
		msg := strings.Repeat("partial", i+1)
		conn.Write([]byte(msg))
		select {
		case p := <-got:
			if p != msg {
				t.Fatalf("delivered %q, sent %q", p, msg)
			}
		case <-time.After(3 * time.Second):
			t.Fatalf("datagram %d not delivered: %v", i, nonZero(s.Counters()))
		}
		echoConn.Write([]byte(msg))
		echoConn.SetReadDeadline(time.Now().Add(3 * time.Second))
		if k, err := echoConn.Read(buf); err != nil || string(buf[:k]) != msg {
			t.Fatalf("echo %d: %q, %v", i, buf[:k], err)
		}
	}
	served := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			served <- err
			return
		}
		defer c.Close()
		b := make([]byte, 64)
		k, err := io.ReadFull(c, b[:len("hello, engine")])
		if err == nil {
			_, err = c.Write(append([]byte("echo: "), b[:k]...))
		}
		served <- err
	}()
	kc := kernelDial(t, l.B, netip.AddrPortFrom(engineAddr.Addr(), 5201))
	kc.Write([]byte("hello, engine"))
	kc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if b, err := io.ReadAll(io.LimitReader(kc, int64(len("echo: hello, engine")))); err != nil || string(b) != "echo: hello, engine" {
		t.Fatalf("TCP through partial checksums: %q, %v; tcp %v", b, err, s.TCPCounters().Map())
	}
	if err := <-served; err != nil {
		t.Fatalf("engine side: %v", err)
	}
	c := waitCounters(t, s, "partial checksums counted", func(c Counters) bool { return c[PartialChecksum] >= 20+3 })
	if c[DropUDPChecksum] != 0 || s.TCPCounters()[tcp.DropChecksum] != 0 {
		t.Errorf("partial checksums counted as bad: %v; tcp %v", nonZero(c), s.TCPCounters().Map())
	}
	sendCorrupted(t, l, s)
	if ns := notices(); len(ns) != 0 {
		t.Errorf("notices although accepted: %+v", ns)
	}
}

// TestPartialChecksumPing: the kernel computes ICMP checksums itself, so
// ping works through a veth with TX checksum offload on.
func TestPartialChecksumPing(t *testing.T) {
	l, s, _, _, _ := partialStack(t, false)
	var conn *net.IPConn
	if err := l.B.Do(func() (err error) {
		conn, err = net.ListenIP("ip4:icmp", &net.IPAddr{IP: l.B.Addr.Addr().AsSlice()})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.WriteTo(icmpEcho(7, 1, []byte("ping")), &net.IPAddr{IP: engineAddr.Addr().AsSlice()})
	conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 256)
	if _, _, err := conn.ReadFrom(buf); err != nil {
		t.Fatalf("no echo reply: %v; %v", err, nonZero(s.Counters()))
	}
	if c := s.Counters(); c[DropICMPChecksum] != 0 || c[PartialChecksum] != 0 {
		t.Errorf("%v", nonZero(c))
	}
}
