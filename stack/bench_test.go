package stack

import (
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/fastpathnet/fastpath/internal/lab"
	"golang.org/x/sys/unix"
)

// pingPong runs a UDP request/response client in h against dst for d with
// window requests in flight, and returns responses per second.
func pingPong(b *testing.B, h *lab.Host, dst netip.AddrPort, d time.Duration, window int) float64 {
	b.Helper()
	fd := socketIn(b, h, unix.SOCK_DGRAM, unix.IPPROTO_UDP)
	defer unix.Close(fd)
	if err := unix.Connect(fd, &unix.SockaddrInet4{Addr: dst.Addr().As4(), Port: int(dst.Port())}); err != nil {
		b.Fatal(err)
	}
	req := make([]byte, 32)
	return batchPingPong(b, fd, func([]byte) []byte { return req }, func([]byte) bool { return true }, d, window)
}

// socketIn opens a socket in h's namespace.
func socketIn(b *testing.B, h *lab.Host, typ, proto int) int {
	b.Helper()
	var fd int
	if err := h.Do(func() (err error) {
		fd, err = unix.Socket(unix.AF_INET, typ, proto)
		return err
	}); err != nil {
		b.Fatal(err)
	}
	tv := unix.NsecToTimeval(int64(50 * time.Millisecond))
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 4<<20)
	return fd
}

// batchPingPong keeps window requests in flight on the connected socket
// fd for d: it receives replies in batches (recvmmsg) and sends as many new
// requests (sendmmsg), so the client spends few system calls per request
// and the server, not the client, sets the rate. next builds a request
// into a buffer; match says whether a received message is a reply. It
// returns replies per second.
func batchPingPong(b *testing.B, fd int, next func([]byte) []byte, match func([]byte) bool, d time.Duration, window int) float64 {
	const batch = 64
	var (
		rbufs, sbufs = make([][]byte, batch), make([][]byte, batch)
		riov, siov   = make([]unix.Iovec, batch), make([]unix.Iovec, batch)
		rmsg, smsg   = make([]unix.Mmsghdr, batch), make([]unix.Mmsghdr, batch)
	)
	for i := range batch {
		rbufs[i], sbufs[i] = make([]byte, 2048), make([]byte, 2048)
		riov[i].Base, riov[i].Len = &rbufs[i][0], 2048
		rmsg[i].Hdr.Iov, rmsg[i].Hdr.Iovlen = &riov[i], 1
		smsg[i].Hdr.Iov, smsg[i].Hdr.Iovlen = &siov[i], 1
	}
	send := func(n int) {
		for n > 0 {
			k := min(n, batch)
			for i := range k {
				req := next(sbufs[i])
				siov[i].Base, siov[i].Len = &req[0], uint64(len(req))
			}
			unix.Syscall6(unix.SYS_SENDMMSG, uintptr(fd), uintptr(unsafe.Pointer(&smsg[0])), uintptr(k), 0, 0, 0)
			n -= k
		}
	}
	send(window)
	var got int
	start := time.Now()
	for end := start.Add(d); time.Now().Before(end); {
		r, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, uintptr(fd), uintptr(unsafe.Pointer(&rmsg[0])), batch, unix.MSG_WAITFORONE, 0, 0)
		if errno != 0 {
			send(1) // a loss, or a timeout: keep the window full
			continue
		}
		replies := 0
		for i := range int(r) {
			if match(rbufs[i][:rmsg[i].Len]) {
				replies++
			}
		}
		got += replies
		send(replies)
	}
	return float64(got) / time.Since(start).Seconds()
}

// BenchmarkUDPEcho compares the engine's UDP echo (RFC 862, answered in
// place on the engine goroutine) with the kernel's: a Go server on a
// kernel UDP socket in the same namespace. The same client in B drives
// both, alternating within one run, with 32 and then 256 requests in
// flight (a batching client: recvmmsg/sendmmsg); it reports the median
// rates and their ratio. Kernel 6.18, veth, copy-mode AF_XDP,
// native XDP, one queue; the two vCPUs are shared by client, server and
// softirq, so this is a lab figure, not a NIC's.
func BenchmarkUDPEcho(b *testing.B) {
	if testing.Short() {
		b.Skip("lab benchmark")
	}
	l := lab.NewT(b, lab.Options{})
	benchStack(b, l, func(s *Stack) error { return s.BindUDP(7, echo) })
	kconn := listenUDP(b, l.A, 7)
	var stop atomic.Bool
	go func() {
		buf := make([]byte, 2048)
		for !stop.Load() {
			n, from, err := kconn.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			kconn.WriteToUDPAddrPort(buf[:n], from)
		}
	}()
	defer func() { stop.Store(true); kconn.Close() }()
	engine := netip.AddrPortFrom(engineAddr.Addr(), 7)
	kernel := netip.AddrPortFrom(l.A.Addr.Addr(), 7)
	alternate(b, func(b *testing.B, w int) (float64, float64) {
		return pingPong(b, l.B, engine, time.Second, w), pingPong(b, l.B, kernel, time.Second, w)
	})
}

// benchStack runs a stack owning engineAddr on A's link, with bind (if
// set) called before Start, until the benchmark ends. Adaptive idle: a
// spinning engine would take one of the two vCPUs from the kernel server
// and the client while they are measured.
func benchStack(b *testing.B, l *lab.Lab, bind func(*Stack) error) {
	benchStackWith(b, l, nil, bind)
}

// benchStackWith is benchStack with mod (if set) applied to the
// configuration first (more addresses, say).
func benchStackWith(b *testing.B, l *lab.Lab, mod func(*Config), bind func(*Stack) error) {
	cfg := DefaultConfig()
	cfg.Device, cfg.Addrs, cfg.Idle = l.A.Link, []netip.Prefix{engineAddr}, IdleAdaptive
	if os.Getenv("FASTPATH_BENCH_IDLE") == "busy" {
		cfg.Idle = IdleBusy
	}
	if v := os.Getenv("FASTPATH_BENCH_CHECKSUM"); v != "" {
		m, err := ParseChecksumMode(v)
		if err != nil {
			b.Fatal(err)
		}
		cfg.TXChecksum = m
	}
	if v := os.Getenv("FASTPATH_BENCH_TXBUDGET"); v != "" {
		n, _ := strconv.Atoi(v)
		cfg.XSK.TXBudget = uint32(n)
	}
	if mod != nil {
		mod(&cfg)
	}
	var s *Stack
	if err := l.A.Do(func() (err error) {
		if s, err = New(cfg); err != nil || bind == nil {
			return err
		}
		return bind(s)
	}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	if err := s.Start(); err != nil {
		b.Fatal(err)
	}
}

// alternate runs one sub-benchmark per window in inflight; each round
// measures the engine, then the kernel (round returns both rates), and
// the medians and their ratio are reported.
func alternate(b *testing.B, round func(b *testing.B, window int) (engine, kernel float64)) {
	for _, w := range inflight {
		b.Run(fmt.Sprintf("inflight=%d", w), func(b *testing.B) {
			var er, kr []float64
			for i := 0; i < b.N; i++ {
				e, k := round(b, w)
				er, kr = append(er, e), append(kr, k)
			}
			reportRatio(b, er, kr)
		})
	}
}

// inflight are the client windows the echo benchmarks run: light load
// (latency-bound) and heavy load (throughput-bound).
var inflight = []int{32, 256}

// reportRatio reports the medians of the engine's and the kernel's rates
// and their ratio.
func reportRatio(b *testing.B, er, kr []float64) {
	slices.Sort(er)
	slices.Sort(kr)
	em, km := er[len(er)/2], kr[len(kr)/2]
	b.ReportMetric(em, "engine-req/s")
	b.ReportMetric(km, "kernel-req/s")
	b.ReportMetric(em/km, "ratio")
}

// echoPingPong pings dst from a raw socket in h for d with window
// requests in flight, and returns replies per second.
func echoPingPong(b *testing.B, h *lab.Host, dst netip.Addr, d time.Duration, window int) float64 {
	b.Helper()
	fd := socketIn(b, h, unix.SOCK_RAW, unix.IPPROTO_ICMP)
	defer unix.Close(fd)
	if err := unix.Connect(fd, &unix.SockaddrInet4{Addr: dst.As4()}); err != nil {
		b.Fatal(err)
	}
	id := uint16(time.Now().UnixNano())
	var seq uint16
	next := func(buf []byte) []byte {
		seq++
		return icmpEcho(id, seq, make([]byte, 32))
	}
	// A raw socket sees every ICMP message: count echo replies (type 0)
	// to our identifier, after the IPv4 header.
	match := func(m []byte) bool {
		if len(m) < 28 || m[0]>>4 != 4 {
			return false
		}
		icmp := m[int(m[0]&0xf)*4:]
		return len(icmp) >= 8 && icmp[0] == 0 && uint16(icmp[4])<<8|uint16(icmp[5]) == id
	}
	return batchPingPong(b, fd, next, match, d, window)
}

// BenchmarkICMPEcho compares the engine's echo replies with the kernel's:
// one raw-socket client in B pings the engine's address and the kernel's,
// alternating within one run, 32 and then 256 requests in flight, and
// reports the median rates and their ratio. Same lab and caveats as BenchmarkUDPEcho.
func BenchmarkICMPEcho(b *testing.B) {
	if testing.Short() {
		b.Skip("lab benchmark")
	}
	l := lab.NewT(b, lab.Options{})
	benchStack(b, l, nil)
	// The kernel in A rate-limits nothing here: icmp_ratelimit covers
	// errors, not echo replies.
	alternate(b, func(b *testing.B, w int) (float64, float64) {
		return echoPingPong(b, l.B, engineAddr.Addr(), time.Second, w), echoPingPong(b, l.B, l.A.Addr.Addr(), time.Second, w)
	})
}
