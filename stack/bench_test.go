package stack

import (
	"net/netip"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fastpathnet/fastpath/internal/lab"
)

// pingPong runs a UDP request/response client in h against dst for d with
// window requests in flight, and returns responses per second.
func pingPong(b *testing.B, h *lab.Host, dst netip.AddrPort, d time.Duration, window int) float64 {
	b.Helper()
	c := dialUDP(b, h, dst)
	defer c.Close()
	c.SetReadBuffer(4 << 20)
	req := make([]byte, 32)
	for i := 0; i < window; i++ {
		c.Write(req)
	}
	buf := make([]byte, 64)
	var got int
	start := time.Now()
	end := start.Add(d)
	for time.Now().Before(end) {
		c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		if _, err := c.Read(buf); err != nil {
			c.Write(req) // a loss: keep the window full
			continue
		}
		got++
		c.Write(req)
	}
	return float64(got) / time.Since(start).Seconds()
}

// BenchmarkUDPEcho compares the engine's UDP echo (RFC 862, answered in
// place on the engine goroutine) with the kernel's: a Go server on a
// kernel UDP socket in the same namespace. The same client in B drives
// both, alternating within one run, 32 requests in flight; it reports
// the median rates and their ratio. Kernel 6.18, veth, copy-mode AF_XDP,
// native XDP, one queue; the two vCPUs are shared by client, server and
// softirq, so this is a lab figure, not a NIC's.
func BenchmarkUDPEcho(b *testing.B) {
	if testing.Short() {
		b.Skip("lab benchmark")
	}
	l := lab.NewT(b, lab.Options{})
	cfg := DefaultConfig()
	// Adaptive: a spinning engine would take one of the two vCPUs from the
	// kernel server while it is measured.
	cfg.Device, cfg.Addrs, cfg.Idle = l.A.Link, []netip.Prefix{engineAddr}, IdleAdaptive
	var s *Stack
	if err := l.A.Do(func() (err error) {
		if s, err = New(cfg); err != nil {
			return err
		}
		return s.BindUDP(7, echo)
	}); err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if err := s.Start(); err != nil {
		b.Fatal(err)
	}
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
	var er, kr []float64
	for i := 0; i < b.N; i++ {
		er = append(er, pingPong(b, l.B, engine, time.Second, 32))
		kr = append(kr, pingPong(b, l.B, kernel, time.Second, 32))
	}
	slices.Sort(er)
	slices.Sort(kr)
	em, km := er[len(er)/2], kr[len(kr)/2]
	b.ReportMetric(em, "engine-req/s")
	b.ReportMetric(km, "kernel-req/s")
	b.ReportMetric(em/km, "ratio")
}
