package port_test

import (
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fastpathnet/fastpath/internal/lab"
	"github.com/fastpathnet/fastpath/port"
	"github.com/fastpathnet/fastpath/rings"
	"github.com/fastpathnet/fastpath/steering"
	"github.com/fastpathnet/fastpath/umem"
	"github.com/fastpathnet/fastpath/xsk"
	"golang.org/x/sys/unix"
)

// attached reports whether h's device carries an XDP program.
func attached(t *testing.T, h *lab.Host) bool {
	t.Helper()
	lk, err := h.Handle().LinkByName(h.Link)
	if err != nil {
		t.Fatal(err)
	}
	x := lk.Attrs().Xdp
	return x != nil && x.Attached
}

// TestOpenReceives opens every queue in use of a two-queue veth with the
// redirect program, from outside its namespace (Options.Netns), and counts
// what the kernel on the other side sends: every datagram reaches a
// socket, so each fill ring was stocked and each socket registered.
func TestOpenReceives(t *testing.T) {
	for _, shared := range []bool{false, true} {
		t.Run(map[bool]string{false: "own UMEMs", true: "shared UMEM"}[shared], func(t *testing.T) {
			l := lab.NewT(t, lab.Options{Queues: 2})
			o := port.DefaultOptions(l.A.Link)
			o.Netns, o.Program, o.SharedUMEM, o.Cores = l.A.Name, port.RedirectProgram, shared, []int{0}
			o.XSK.TXSize = 0
			p, err := port.Open(o)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			f := p.Facts
			if f.RXQueues != 2 || f.Driver != "veth" || f.LinkMbps != 10000 || f.MAC.String() != l.A.MAC.String() || f.Ifindex != l.A.Index || f.Kernel == "" {
				t.Errorf("facts %+v", f)
			}
			if ids := p.QueueIDs(); len(ids) != 2 || ids[0] != 0 || ids[1] != 1 {
				t.Fatalf("queues %v, want every queue in use, [0 1]", ids)
			}
			m := p.Modes()
			if m.AFXDP != port.ModeCopy || m.XDP != "native" || m.Program != port.RedirectProgram || m.SharedUMEM != shared {
				t.Errorf("modes %+v", m)
			}
			if shared && !p.Queues[1].Sock.Info().SharedUMEM {
				t.Errorf("queue 1 does not share the UMEM: %+v", p.Queues[1].Sock.Info())
			}
			if err := l.B.SetNeighbor(l.A.Addr.Addr(), l.A.MAC); err != nil {
				t.Fatal(err)
			}
			var got atomic.Uint64
			var stop atomic.Bool
			p.Go(func(q *port.Queue) error {
				var set unix.CPUSet
				if err := unix.SchedGetaffinity(0, &set); err != nil || set.Count() != 1 || !set.IsSet(0) {
					return errors.New("not pinned to core 0")
				}
				descs := make([]rings.Desc, 64)
				for !stop.Load() {
					n := q.Sock.Receive(descs)
					for _, d := range descs[:n] {
						q.Sock.Frames.Free(d.Addr)
					}
					got.Add(uint64(n))
					q.Sock.Refill()
					q.Sock.WakeRX()
				}
				return nil
			})
			const total = 2000
			err = l.B.Do(func() error {
				c, err := net.Dial("udp4", net.JoinHostPort(l.A.Addr.Addr().String(), "9"))
				if err != nil {
					return err
				}
				defer c.Close()
				for i := range total {
					if _, err := c.Write([]byte("fastpath")); err != nil {
						return err
					}
					if i%128 == 127 {
						time.Sleep(time.Millisecond)
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			for deadline := time.Now().Add(10 * time.Second); got.Load() < total && time.Now().Before(deadline); {
				time.Sleep(10 * time.Millisecond)
			}
			stop.Store(true)
			if err := p.Wait(); err != nil {
				t.Fatal(err)
			}
			if n := got.Load(); n != total {
				t.Errorf("the sockets received %d of %d datagrams", n, total)
			}
			if err := p.Close(); err != nil {
				t.Fatal(err)
			}
			if err := p.Close(); err != nil {
				t.Fatalf("second Close: %v", err)
			}
			if attached(t, l.A) {
				t.Fatal("the program is still attached after Close")
			}
		})
	}
}

// TestGoErrors: a queue's error reaches Wait with its queue; Done closes.
func TestGoErrors(t *testing.T) {
	l := lab.NewT(t, lab.Options{Queues: 2})
	o := port.DefaultOptions(l.A.Link)
	o.Netns, o.XSK.RXSize = l.A.Name, 0 // TX only: every TX queue in use
	p, err := port.Open(o)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if len(p.Queues) != 2 || p.Modes().XDP != "none" || attached(t, l.A) {
		t.Fatalf("TX-only port: %d queues, modes %+v", len(p.Queues), p.Modes())
	}
	boom := errors.New("boom")
	p.Go(func(q *port.Queue) error {
		if q.ID == 1 {
			return boom
		}
		return nil
	})
	select {
	case <-p.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done not closed")
	}
	if err := p.Wait(); !errors.Is(err, boom) || !strings.Contains(err.Error(), "queue 1") {
		t.Fatalf("Wait: %v", err)
	}
}

// TestOpenFails: a failed Open says why and leaves nothing behind.
func TestOpenFails(t *testing.T) {
	l := lab.NewT(t, lab.Options{})
	for name, c := range map[string]struct {
		mod  func(*port.Options)
		want error
	}{
		"no device":      {func(o *port.Options) { o.Device = "nosuchdev0" }, xsk.ErrNoDevice},
		"queue range":    {func(o *port.Options) { o.Queues = []int{0, 7} }, xsk.ErrQueueRange},
		"negative queue": {func(o *port.Options) { o.Queues = []int{-1} }, port.ErrOptions},
		"queue twice":    {func(o *port.Options) { o.Queues = []int{0, 0} }, port.ErrOptions},
		"negative core":  {func(o *port.Options) { o.Cores = []int{-2} }, port.ErrOptions},
		"given UMEM":     {func(o *port.Options) { o.XSK.Frames = &umem.Allocator{} }, port.ErrOptions},
		"bad ring":       {func(o *port.Options) { o.XSK.RXSize = 100 }, xsk.ErrOptions},
		"no namespace":   {func(o *port.Options) { o.Netns = "fastpath-no-such-ns" }, nil},
	} {
		t.Run(name, func(t *testing.T) {
			o := port.DefaultOptions(l.A.Link)
			o.Netns, o.Program, o.Steering = l.A.Name, port.SteeringProgram, steering.Options{Default: steering.Pass}
			c.mod(&o)
			p, err := port.Open(o)
			if err == nil {
				p.Close()
				t.Fatal("Open succeeded")
			}
			if c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("Open: %v, want %v", err, c.want)
			}
			if attached(t, l.A) {
				t.Fatalf("a failed Open (%v) left its program attached", err)
			}
		})
	}
}
