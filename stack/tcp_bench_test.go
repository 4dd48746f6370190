package stack

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net"
	"net/netip"
	"os/exec"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fastpathnet/fastpath/internal/lab"
	"github.com/fastpathnet/fastpath/tcp"
	"github.com/fastpathnet/fastpath/xsk"
)

// The engine's TCP against the kernel's, in the same run, alternating:
// bulk goodput of one connection, and connections per second. Kernel 6.18,
// veth, copy-mode AF_XDP, native XDP, one queue, two vCPUs shared by both
// ends; MSS 1448 on both (timestamps on).

// bulkSender is a callback-API sender: it fills the send buffer with
// zeros as room appears and closes after n bytes.
type bulkSender struct {
	e       *Engine
	n, sent int64
	buf     []byte
	done    chan error
}

func (s *bulkSender) Established(c *tcp.Conn) { s.fill(c) }
func (s *bulkSender) Readable(c *tcp.Conn)    { c.Recv.Consume(c.Recv.Len()) }
func (s *bulkSender) Writable(c *tcp.Conn)    { s.fill(c) }
func (s *bulkSender) Closed(c *tcp.Conn, err error) {
	s.done <- err
}

func (s *bulkSender) fill(c *tcp.Conn) {
	for s.sent < s.n {
		k := c.Send.Write(s.buf[:min(int64(len(s.buf)), s.n-s.sent)])
		if k == 0 {
			return
		}
		s.sent += int64(k)
	}
	c.Close(s.e.Now())
}

// sinkServer accepts on l and reads each connection to EOF, then closes
// it; done gets the byte count.
func sinkServer(l net.Listener, done chan<- int64) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			n, _ := io.Copy(io.Discard, c)
			c.Close()
			done <- n
		}()
	}
}

// offload turns TSO, GSO and GRO on or off on h's link.
func offload(b *testing.B, h *lab.Host, on bool) {
	v := "off"
	if on {
		v = "on"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if out, err := h.Command(ctx, "ethtool", "-K", h.Link, "tso", v, "gso", v, "gro", v).CombinedOutput(); err != nil {
		b.Skipf("ethtool -K: %v: %s", err, out)
	}
}

// BenchmarkTCPBulk: one connection from A to a kernel receiver in B moves
// 128 MiB, sent by the engine (callback API), then by the kernel (a Go
// net.Conn in A); goodput medians and their ratio. offload=off turns
// TSO/GSO/GRO off on both ends: one frame per segment, as the engine
// sends; offload=on is the kernel at its best on veth.
func BenchmarkTCPBulk(b *testing.B) { benchTCPBulk(b, false) }

// BenchmarkTCPBulk6 is BenchmarkTCPBulk over IPv6 (2001:db8::10 to
// 2001:db8::2; the kernel sends from 2001:db8::1): MSS 1428 on both ends
// (1500 - 60, less timestamps), as 1448 on both over IPv4.
func BenchmarkTCPBulk6(b *testing.B) { benchTCPBulk(b, true) }

func benchTCPBulk(b *testing.B, v6 bool) {
	if _, err := exec.LookPath("ethtool"); err != nil {
		b.Skip("ethtool is not installed")
	}
	for _, on := range []bool{false, true} {
		b.Run(fmt.Sprintf("offload=%v", on), func(b *testing.B) {
			l, err := lab.New(lab.Options{IPv6: v6})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			offload(b, l.A, on)
			offload(b, l.B, on)
			var s *Stack
			benchStackWith(b, l, func(c *Config) {
				if v6 {
					c.Addrs = []netip.Prefix{engineAddr, engineAddr6}
				}
			}, func(st *Stack) error {
				s = st
				tc := tcp.DefaultConfig()
				tc.SendBuffer = 4 << 20
				return st.EnableTCP(tc)
			})
			dst := netip.AddrPortFrom(l.B.Addr.Addr(), 5301)
			if v6 {
				dst = netip.AddrPortFrom(l.B.Addr6.Addr(), 5301)
			}
			kl := kernelListenAt(b, l.B, dst)
			received := make(chan int64, 4)
			go sinkServer(kl, received)
			const n = 128 << 20
			var er, kr []float64
			for i := 0; i < b.N; i++ {
				// The engine.
				snd := &bulkSender{n: n, buf: make([]byte, 1<<20), done: make(chan error, 1)}
				start := time.Now()
				e := s.Engines()[0]
				snd.e = e
				if err := e.Do(func(e *Engine) {
					if _, err := e.DialTCP(dst, snd); err != nil {
						snd.done <- err
					}
				}); err != nil {
					b.Fatal(err)
				}
				if err := <-snd.done; err != nil {
					b.Fatalf("engine: %v; tcp %v", err, s.TCPCounters().Map())
				}
				if got := <-received; got != n {
					b.Fatalf("engine: the receiver got %d bytes", got)
				}
				er = append(er, float64(n)*8/time.Since(start).Seconds())
				// The kernel, from the same namespace.
				start = time.Now()
				var c net.Conn
				if err := l.A.Do(func() (err error) {
					c, err = net.Dial("tcp", dst.String()) // dst's family
					return err
				}); err != nil {
					b.Fatal(err)
				}
				buf := make([]byte, 1<<20)
				for sent := 0; sent < n; sent += len(buf) {
					if _, err := c.Write(buf); err != nil {
						b.Fatal(err)
					}
				}
				c.(*net.TCPConn).CloseWrite()
				io.Copy(io.Discard, c) // the receiver's FIN
				c.Close()
				if got := <-received; got != n {
					b.Fatalf("kernel: the receiver got %d bytes", got)
				}
				kr = append(kr, float64(n)*8/time.Since(start).Seconds())
			}
			reportRates(b, er, kr, "bit/s")
			// How well the engine batches its system calls: frames put on
			// the TX ring per sendto.
			ch := make(chan xsk.Counters, 1)
			if err := s.Engines()[0].Do(func(e *Engine) { ch <- e.Socket().Counters() }); err != nil {
				b.Fatal(err)
			}
			if xc := <-ch; xc.Kicks > 0 {
				b.ReportMetric(float64(xc.Transmitted)/float64(xc.Kicks), "frames/kick")
			}
			tc := s.TCPCounters()
			b.ReportMetric(float64(tc[tcp.Retransmits]), "engine-retransmits")
			if tc[tcp.Retransmits] > 0 {
				// Where the losses were: the engine's drops and the
				// socket's XDP_STATISTICS.
				tm := tc.Map()
				maps.DeleteFunc(tm, func(_ string, v uint64) bool { return v == 0 })
				b.Logf("engine %v; tcp %v", nonZero(s.Counters()), tm)
			}
		})
	}
}

// reportRates reports the engine's and the kernel's medians and their
// ratio.
func reportRates(b *testing.B, er, kr []float64, unit string) {
	slices.Sort(er)
	slices.Sort(kr)
	em, km := er[len(er)/2], kr[len(kr)/2]
	b.ReportMetric(em, "engine-"+unit)
	b.ReportMetric(km, "kernel-"+unit)
	b.ReportMetric(em/km, "ratio")
}

// tcpEchoOnce is a callback-API server: it echoes what it reads and
// closes once the peer has.
type tcpEchoOnce struct{ e *Engine }

func (h tcpEchoOnce) Established(*tcp.Conn)   {}
func (h tcpEchoOnce) Writable(c *tcp.Conn)    { h.Readable(c) }
func (h tcpEchoOnce) Closed(*tcp.Conn, error) {}
func (h tcpEchoOnce) Readable(c *tcp.Conn) {
	for {
		p, _ := c.Recv.Peek(0, c.Send.Free())
		if len(p) == 0 {
			break
		}
		c.Recv.Consume(c.Send.Write(p))
	}
	if c.PeerClosed() && c.Recv.Len() == 0 {
		c.Close(h.e.Now())
	}
}

// BenchmarkTCPConnRate: a kernel client in B with 16 goroutines opens a
// connection, sends 32 bytes, reads them back and closes, for 2 s, against
// the engine's echo and then a Go echo server on a kernel socket in A;
// connections per second.
func BenchmarkTCPConnRate(b *testing.B) {
	l, err := lab.New(lab.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	// The clients close first: TIME-WAIT is theirs; let them reuse it.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	l.B.Command(ctx, "sysctl", "-qw", "net.ipv4.tcp_tw_reuse=1").Run()
	cancel()
	benchStack(b, l, func(st *Stack) error {
		tc := tcp.DefaultConfig()
		tc.SendBuffer, tc.RecvBuffer = 16<<10, 16<<10
		if err := st.EnableTCP(tc); err != nil {
			return err
		}
		return st.ListenTCPFunc(5302, func(e *Engine, c *tcp.Conn) tcp.Handler { return tcpEchoOnce{e} })
	})
	var kl net.Listener
	if err := l.A.Do(func() (err error) {
		kl, err = net.Listen("tcp4", netip.AddrPortFrom(l.A.Addr.Addr(), 5303).String())
		return err
	}); err != nil {
		b.Fatal(err)
	}
	defer kl.Close()
	go func() {
		for {
			c, err := kl.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	rate := func(dst netip.AddrPort) float64 {
		var n atomic.Int64
		var wg sync.WaitGroup
		end := time.Now().Add(2 * time.Second)
		for g := 0; g < 16; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				msg, buf := make([]byte, 32), make([]byte, 32)
				l.B.Do(func() error {
					for time.Now().Before(end) {
						c, err := net.DialTimeout("tcp4", dst.String(), time.Second)
						if err != nil {
							continue
						}
						c.Write(msg)
						if _, err := io.ReadFull(c, buf); err == nil {
							n.Add(1)
						}
						c.Close()
					}
					return nil
				})
			}()
		}
		wg.Wait()
		return float64(n.Load()) / 2
	}
	var er, kr []float64
	for i := 0; i < b.N; i++ {
		er = append(er, rate(netip.AddrPortFrom(engineAddr.Addr(), 5302)))
		kr = append(kr, rate(netip.AddrPortFrom(l.A.Addr.Addr(), 5303)))
	}
	reportRates(b, er, kr, "conn/s")
}
