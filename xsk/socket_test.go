package xsk_test

import (
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cilium/ebpf/link"
	"github.com/fastpathnet/fastpath/bpf"
	"github.com/fastpathnet/fastpath/internal/lab"
	"github.com/fastpathnet/fastpath/rings"
	"github.com/fastpathnet/fastpath/umem"
	"github.com/fastpathnet/fastpath/xsk"
	"golang.org/x/sys/unix"
)

const testPort = 9000

// newSocket binds a socket inside h's namespace.
func newSocket(t testing.TB, h *lab.Host, queue int, opts xsk.Options) *xsk.Socket {
	t.Helper()
	var s *xsk.Socket
	err := h.Do(func() (err error) {
		s, err = xsk.New(h.Link, queue, opts)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// flowAB is UDP from lab host a to host b.
func flowAB(a, b *lab.Host) *flow {
	return &flow{
		srcMAC: a.MAC, dstMAC: b.MAC,
		src: a.Addr.Addr(), dst: b.Addr.Addr(),
		sport: 1024, dport: testPort,
	}
}

// udpListener opens a kernel UDP socket on h's address with a receive
// buffer large enough for the test's window.
func udpListener(t *testing.T, h *lab.Host, port int) *net.UDPConn {
	t.Helper()
	var c *net.UDPConn
	err := h.Do(func() (err error) {
		c, err = net.ListenUDP("udp4", &net.UDPAddr{IP: h.Addr.Addr().AsSlice(), Port: port})
		if err != nil {
			return err
		}
		raw, err := c.SyscallConn()
		if err != nil {
			return err
		}
		var serr error
		raw.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 64<<20)
		})
		return serr
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// snmp reads a counter of /proc/net/snmp in h's namespace, e.g. ("Udp",
// "InCsumErrors").
func snmp(t *testing.T, h *lab.Host, proto, field string) uint64 {
	t.Helper()
	m, err := h.SNMP(proto)
	if err != nil {
		t.Fatal(err)
	}
	v, ok := m[field]
	if !ok {
		t.Fatalf("no %s %s in /proc/net/snmp", proto, field)
	}
	return v
}

// seen records sequence numbers received, each at most once.
type seen struct {
	bits       []uint64
	count      atomic.Uint64
	duplicates atomic.Uint64
	bad        atomic.Uint64
	firstBad   atomic.Pointer[string]
}

func newSeen(n uint64) *seen { return &seen{bits: make([]uint64, (n+63)/64)} }

func (s *seen) mark(seq uint64) {
	if seq >= uint64(len(s.bits))*64 {
		s.fail(fmt.Sprintf("sequence number %d out of range", seq))
		return
	}
	w, b := seq/64, uint64(1)<<(seq%64)
	if s.bits[w]&b != 0 {
		s.duplicates.Add(1)
		return
	}
	s.bits[w] |= b
	s.count.Add(1)
}

func (s *seen) fail(msg string) {
	s.bad.Add(1)
	s.firstBad.CompareAndSwap(nil, &msg)
}

func (s *seen) missing(total uint64) []uint64 {
	var m []uint64
	for seq := uint64(0); seq < total && len(m) < 10; seq++ {
		if s.bits[seq/64]&(1<<(seq%64)) == 0 {
			m = append(m, seq)
		}
	}
	return m
}

// receiveKernel reads datagrams from c until total have arrived or c is
// closed, checking each payload's length and bytes.
func receiveKernel(c *net.UDPConn, s *seen, total uint64, first uint64) {
	buf := make([]byte, 2048)
	for s.count.Load()+s.duplicates.Load()+s.bad.Load() < total {
		n, err := c.Read(buf)
		if err != nil {
			return
		}
		seq, err := checkPayload(buf[:n])
		if err != nil {
			s.fail(fmt.Sprintf("datagram %d: %v", seq, err))
			continue
		}
		if want := frameSize(seq) - 42; n != want {
			s.fail(fmt.Sprintf("datagram %d has %d bytes, want %d", seq, n, want))
			continue
		}
		s.mark(seq - first)
	}
}

// sendFrames transmits datagrams first..first+total-1 on s, keeping at most
// window of them ahead of what the receiver has counted, so that no queue
// between the two (veth's 256-slot ring, the socket buffer) can overflow:
// every loss the test sees is a real one. It returns once every frame has
// completed and is back in the allocator.
func sendFrames(s *xsk.Socket, f *flow, first, total uint64, received func() uint64, window uint64) error {
	const batch = 64
	descs := make([]rings.Desc, batch)
	addrs := make([]uint64, batch)
	u := s.UMEM()
	var sent uint64
	last, lastProgress := uint64(0), time.Now()
	for sent < total || s.Outstanding() > 0 {
		s.Complete()
		n := min(batch, total-sent)
		if ahead := sent - received(); ahead+n > window {
			n = window - min(window, ahead)
		}
		n = uint64(s.Frames.AllocN(addrs[:n]))
		for i := uint64(0); i < n; i++ {
			seq := first + sent + i
			l := buildUDP(u.Frame(addrs[i]), f, seq, frameSize(seq))
			descs[i] = rings.Desc{Addr: addrs[i], Len: uint32(l)}
		}
		put := s.Transmit(descs[:n])
		s.Frames.FreeN(addrs[put:n])
		sent += uint64(put)
		s.KickTX()
		if done := received() + uint64(s.Counters().Completed); done != last {
			last, lastProgress = done, time.Now()
		} else if time.Since(lastProgress) > 10*time.Second {
			st, _ := s.Stats()
			return fmt.Errorf("no progress for 10s: sent %d of %d, received %d, outstanding %d, stats %+v",
				sent, total, received(), s.Outstanding(), st)
		}
	}
	if s.Frames.Len() != s.Frames.Cap() {
		return fmt.Errorf("after every completion %d of %d frames are back in the allocator", s.Frames.Len(), s.Frames.Cap())
	}
	return nil
}

// TestTransmitToKernel sends a million UDP frames of every size from 60 to
// 1514 bytes from an XSK in A to a kernel UDP socket in B. The kernel
// checks every IPv4 and UDP checksum (a bad one is dropped and counted in
// InCsumErrors); the test checks every payload byte, that each datagram
// arrives exactly once, and that completions bring back every frame.
func TestTransmitToKernel(t *testing.T) {
	total := uint64(1_000_000)
	if testing.Short() {
		total = 50_000
	}
	l := lab.NewT(t, lab.Options{})
	if err := l.B.AttachPass(); err != nil {
		t.Fatal(err)
	}
	conn := udpListener(t, l.B, testPort)
	opts := xsk.DefaultOptions()
	opts.RXSize = 0
	s := newSocket(t, l.A, 0, opts)
	if info := s.Info(); info.Mode != xsk.ModeCopy {
		t.Fatalf("veth gave mode %v, want copy", info.Mode)
	}
	csumBefore := snmp(t, l.B, "Udp", "InCsumErrors")

	got := newSeen(total)
	done := make(chan struct{})
	go func() { defer close(done); receiveKernel(conn, got, total, 0) }()
	start := time.Now()
	err := sendFrames(s, flowAB(l.A, l.B), 0, total, func() uint64 { return got.count.Load() + got.duplicates.Load() + got.bad.Load() }, 2048)
	if err != nil {
		t.Error(err)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		conn.Close()
		<-done
	}
	elapsed := time.Since(start)

	if p := got.firstBad.Load(); p != nil {
		t.Errorf("%d bad datagrams, first: %s", got.bad.Load(), *p)
	}
	if d := got.duplicates.Load(); d != 0 {
		t.Errorf("%d datagrams arrived twice", d)
	}
	if n := got.count.Load(); n != total {
		t.Errorf("received %d of %d datagrams; first missing %v", n, total, got.missing(total))
	}
	if n := snmp(t, l.B, "Udp", "InCsumErrors") - csumBefore; n != 0 {
		t.Errorf("the kernel counted %d UDP checksum errors", n)
	}
	st, err := s.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.TXInvalidDescs != 0 || st.KickErrors != 0 || st.Completed != total {
		t.Errorf("stats: %+v", st)
	}
	t.Logf("%d frames in %v (%.0f frames/s, windowed, not a benchmark); %d kicks, %d again",
		total, elapsed.Round(time.Millisecond), float64(total)/elapsed.Seconds(), st.Kicks, st.KicksAgain)
}

// attachRedirect loads the minimal redirect program on h's link (native
// mode) and registers the sockets at their queues.
func attachRedirect(t *testing.T, h *lab.Host, queues int, socks map[int]*xsk.Socket) {
	t.Helper()
	r, err := bpf.NewRedirect(queues)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	for q, s := range socks {
		if err := r.Register(q, s.FD()); err != nil {
			t.Fatal(err)
		}
	}
	err = h.Do(func() error {
		lk, err := link.AttachXDP(link.XDPOptions{Program: r.Program, Interface: h.Index, Flags: link.XDPDriverMode})
		if err != nil {
			return err
		}
		t.Cleanup(func() { lk.Close() })
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// receiveXSK takes frames off s until stop is closed, checks each as a
// datagram of f and marks it in got (offset by first).
func receiveXSK(s *xsk.Socket, f *flow, got *seen, first uint64, stop <-chan struct{}) {
	descs := make([]rings.Desc, 64)
	u := s.UMEM()
	for {
		s.Refill()
		s.WakeRX()
		n := s.Receive(descs)
		for _, d := range descs[:n] {
			p, err := parseUDP(u.Packet(d.Addr, d.Len), f)
			if err == nil {
				var seq uint64
				seq, err = checkPayload(p)
				if err == nil && len(p) != frameSize(seq)-42 {
					err = fmt.Errorf("datagram %d has %d bytes, want %d", seq, len(p), frameSize(seq)-42)
				}
				if err == nil {
					got.mark(seq - first)
				}
			}
			if err != nil {
				got.fail(err.Error())
			}
			s.Frames.Free(d.Addr)
		}
		if n == 0 {
			select {
			case <-stop:
				return
			default:
				s.Wait(false, 1)
			}
		}
	}
}

// TestReceiveFromKernel: the kernel in B sends datagrams of every size to A,
// where the redirect program hands them to an XSK. Every one arrives intact
// (both checksums checked here), once, and every frame returns to the
// allocator.
func TestReceiveFromKernel(t *testing.T) {
	total := uint64(200_000)
	if testing.Short() {
		total = 20_000
	}
	l := lab.NewT(t, lab.Options{})
	s := newSocket(t, l.A, 0, xsk.DefaultOptions())
	attachRedirect(t, l.A, 1, map[int]*xsk.Socket{0: s})
	// The redirect program hands A's ARP to the socket too: give B a
	// permanent neighbour entry for A instead.
	if err := l.B.SetNeighbor(l.A.Addr.Addr(), l.A.MAC); err != nil {
		t.Fatal(err)
	}
	var conn *net.UDPConn
	err := l.B.Do(func() (err error) {
		conn, err = net.DialUDP("udp4",
			&net.UDPAddr{IP: l.B.Addr.Addr().AsSlice(), Port: 1024},
			&net.UDPAddr{IP: l.A.Addr.Addr().AsSlice(), Port: testPort})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	f := flowAB(l.B, l.A)
	got := newSeen(total)
	s.Refill() // before the first frame arrives
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { defer close(done); receiveXSK(s, f, got, 0, stop) }()
	payload := make([]byte, 1500)
	deadline := time.Now().Add(60 * time.Second)
	for seq := uint64(0); seq < total; seq++ {
		// At most 256 ahead: veth's ring, which a kernel sender can overflow.
		for seq-(got.count.Load()+got.bad.Load()+got.duplicates.Load()) >= 256 {
			if time.Now().After(deadline) {
				t.Fatalf("stalled at %d of %d datagrams", seq, total)
			}
			time.Sleep(50 * time.Microsecond)
		}
		p := payload[:frameSize(seq)-42]
		fillPayload(p, seq)
		if _, err := conn.Write(p); err != nil {
			t.Fatalf("datagram %d: %v", seq, err)
		}
	}
	for got.count.Load()+got.bad.Load()+got.duplicates.Load() < total && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	close(stop)
	<-done

	if p := got.firstBad.Load(); p != nil {
		t.Errorf("%d bad frames, first: %s", got.bad.Load(), *p)
	}
	if n := got.count.Load(); n != total || got.duplicates.Load() != 0 {
		st, _ := s.Stats()
		t.Errorf("received %d of %d (%d twice); first missing %v; stats %+v", n, total, got.duplicates.Load(), got.missing(total), st)
	}
	// Every frame is in the allocator or on the fill ring.
	idle := s.Frames.Len() + int(s.Fill.Size()-s.Fill.Free(s.Fill.Size()))
	if idle != s.Frames.Cap() {
		t.Errorf("%d of %d frames accounted for after receiving", idle, s.Frames.Cap())
	}
}

// TestTwoQueues binds one socket to each of two queues of A, with separate
// UMEMs and with one shared UMEM, and receives with one socket per queue in
// B: frames A sends on TX queue q must arrive, all and intact, on B's RX
// queue q.
func TestTwoQueues(t *testing.T) {
	const perQueue = 50_000
	for _, shared := range []bool{false, true} {
		t.Run(fmt.Sprintf("shared=%v", shared), func(t *testing.T) {
			l := lab.NewT(t, lab.Options{Queues: 2})
			var tx [2]*xsk.Socket
			if shared {
				u, err := umem.New(umem.DefaultOptions())
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { u.Close() })
				for q := range tx {
					o := xsk.DefaultOptions()
					o.RXSize, o.UMEM = 0, u
					if o.Frames, err = u.Allocator(uint32(q)*2048, 2048); err != nil {
						t.Fatal(err)
					}
					tx[q] = newSocket(t, l.A, q, o)
				}
				if tx[0].Info().SharedUMEM || !tx[1].Info().SharedUMEM {
					t.Fatalf("SharedUMEM = %v, %v; want false, true", tx[0].Info().SharedUMEM, tx[1].Info().SharedUMEM)
				}
			} else {
				for q := range tx {
					o := xsk.DefaultOptions()
					o.RXSize = 0
					tx[q] = newSocket(t, l.A, q, o)
				}
			}
			var rx [2]*xsk.Socket
			for q := range rx {
				o := xsk.DefaultOptions()
				o.TXSize = 0
				rx[q] = newSocket(t, l.B, q, o)
				if got := rx[q].Info().Queue; got != q {
					t.Fatalf("socket bound to queue %d", got)
				}
			}
			attachRedirect(t, l.B, 2, map[int]*xsk.Socket{0: rx[0], 1: rx[1]})

			f := flowAB(l.A, l.B)
			var got [2]*seen
			stop := make(chan struct{})
			var done [2]chan struct{}
			for q := range rx {
				rx[q].Refill() // before the first frame arrives
				got[q] = newSeen(perQueue)
				done[q] = make(chan struct{})
				go func() { defer close(done[q]); receiveXSK(rx[q], f, got[q], uint64(q)*perQueue, stop) }()
			}
			sendDone := make(chan struct{}, 2)
			for q := range tx {
				// Each queue's frames carry their own range of numbers;
				// a frame on the wrong queue falls outside the range.
				go func() {
					defer func() { sendDone <- struct{}{} }()
					recv := func() uint64 { return got[q].count.Load() + got[q].bad.Load() + got[q].duplicates.Load() }
					if err := sendFrames(tx[q], f, uint64(q)*perQueue, perQueue, recv, 512); err != nil {
						t.Errorf("queue %d: %v", q, err)
					}
				}()
			}
			<-sendDone
			<-sendDone
			deadline := time.Now().Add(10 * time.Second)
			for (got[0].count.Load() < perQueue || got[1].count.Load() < perQueue) && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			close(stop)
			for q := range rx {
				<-done[q]
				if p := got[q].firstBad.Load(); p != nil {
					t.Errorf("queue %d: %d bad frames, first: %s", q, got[q].bad.Load(), *p)
				}
				if n := got[q].count.Load(); n != perQueue || got[q].duplicates.Load() != 0 {
					rs, _ := rx[q].Stats()
					ts, _ := tx[q].Stats()
					t.Errorf("queue %d: received %d of %d (%d twice); first missing %v\nreceiver %+v\nsender %+v",
						q, n, perQueue, got[q].duplicates.Load(), got[q].missing(perQueue), rs, ts)
				}
			}
		})
	}
}

// TestModeAndClose: auto mode on veth reports copy mode, read back from the
// kernel; Close is safe twice, and the queue can be bound again at once.
func TestModeAndClose(t *testing.T) {
	l := lab.NewT(t, lab.Options{})
	s := newSocket(t, l.A, 0, xsk.DefaultOptions())
	info := s.Info()
	if info.Mode != xsk.ModeCopy || info.Device != "veth0" || info.Queue != 0 || !info.NeedWakeup {
		t.Fatalf("info %+v", info)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := s.Stats(); !errors.Is(err, xsk.ErrClosed) {
		t.Fatalf("Stats after Close: %v, want ErrClosed", err)
	}
	s2 := newSocket(t, l.A, 0, xsk.DefaultOptions())
	s2.Close()
}

// TestTXBudget sets XDP_MAX_TX_SKB_BUDGET, which Linux 6.18 has.
func TestTXBudget(t *testing.T) {
	l := lab.NewT(t, lab.Options{})
	o := xsk.DefaultOptions()
	o.TXBudget = 128
	s := newSocket(t, l.A, 0, o)
	if info := s.Info(); !info.TXBudgetSupported || info.TXBudget != 128 {
		t.Fatalf("TX budget not applied: %+v", info)
	}
}
