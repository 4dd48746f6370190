package xsk_test

import (
	"testing"
	"time"

	"github.com/fastpathnet/fastpath/internal/lab"
	"github.com/fastpathnet/fastpath/rings"
	"github.com/fastpathnet/fastpath/xsk"
	"golang.org/x/sys/unix"
)

// TestOptionVariants sends to the kernel with need_wakeup off and with busy
// polling on: every frame arrives either way, and the options are applied
// (read back from the socket).
func TestOptionVariants(t *testing.T) {
	const total = 20_000
	for name, mod := range map[string]func(*xsk.Options){
		"need_wakeup off": func(o *xsk.Options) { o.NeedWakeup = false },
		"busy poll": func(o *xsk.Options) {
			o.BusyPoll = xsk.BusyPoll{Enable: true, Timeout: 50 * time.Microsecond, Budget: 16}
		},
		"2048-byte frames, copy mode, small rings": func(o *xsk.Options) {
			o.UMEMOptions.FrameSize, o.Mode, o.TXSize, o.UMEMOptions.CompletionSize = 2048, xsk.ModeCopy, 64, 64
		},
	} {
		t.Run(name, func(t *testing.T) {
			l := lab.NewT(t, lab.Options{})
			if err := l.B.AttachPass(); err != nil {
				t.Fatal(err)
			}
			conn := udpListener(t, l.B, testPort)
			o := xsk.DefaultOptions()
			mod(&o)
			s := newSocket(t, l.A, 0, o)
			info := s.Info()
			if info.NeedWakeup != o.NeedWakeup || info.BusyPoll != o.BusyPoll.Enable || info.FrameSize != o.UMEMOptions.FrameSize {
				t.Fatalf("info %+v does not reflect options %+v", info, o)
			}
			// need_wakeup is not visible on veth: the kernel flags a new
			// TX ring either way (xp_assign_dev), and copy mode never
			// flags the fill ring. What differs is NeedsKick, exercised
			// by the sending below.
			if o.BusyPoll.Enable {
				// SO_BUSY_POLL_BUDGET has no getsockopt; New fails if setting it fails.
				for opt, want := range map[int]int{unix.SO_PREFER_BUSY_POLL: 1, unix.SO_BUSY_POLL: 50} {
					if v, err := unix.GetsockoptInt(s.FD(), unix.SOL_SOCKET, opt); err != nil || v != want {
						t.Errorf("socket option %d = %d (%v), want %d", opt, v, err, want)
					}
				}
				before := s.Counters().RXWakeups
				s.WakeRX()
				if s.Counters().RXWakeups != before+1 {
					t.Error("WakeRX made no system call with busy polling on")
				}
			}
			got := newSeen(total)
			done := make(chan struct{})
			go func() { defer close(done); receiveKernel(conn, got, total, 0) }()
			recv := func() uint64 { return got.count.Load() + got.duplicates.Load() + got.bad.Load() }
			if err := sendFrames(s, flowAB(l.A, l.B), 0, total, recv, 1024); err != nil {
				t.Fatal(err)
			}
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				conn.Close()
				<-done
			}
			if n := got.count.Load(); n != total || got.bad.Load() != 0 {
				t.Errorf("received %d of %d, %d bad", n, total, got.bad.Load())
			}
		})
	}
}

// TestCounters: a TX ring with no room counts TXRingFull, the frames the
// ring did not take stay the caller's, and a fill ring larger than the
// allocator counts FillShort.
func TestCounters(t *testing.T) {
	l := lab.NewT(t, lab.Options{})
	o := xsk.DefaultOptions()
	o.TXSize = 64
	o.UMEMOptions.FrameCount = 128 // fewer frames than the 2048-entry fill ring
	s := newSocket(t, l.A, 0, o)
	descs := make([]rings.Desc, 100)
	for i := range descs {
		addr, ok := s.Frames.Alloc()
		if !ok {
			t.Fatal("allocator empty")
		}
		descs[i] = rings.Desc{Addr: addr, Len: 60}
	}
	if n := s.Transmit(descs); n != 64 {
		t.Fatalf("Transmit put %d on a 64-entry ring", n)
	}
	c := s.Counters()
	if c.TXRingFull != 1 || c.Transmitted != 64 || s.Outstanding() != 64 {
		t.Fatalf("counters %+v, outstanding %d", c, s.Outstanding())
	}
	s.Frames.FreeN(addrsOf(descs[64:]))
	if n := s.Refill(); n != 128-64 {
		t.Fatalf("Refill put %d frames, want the %d free", n, 128-64)
	}
	if c := s.Counters(); c.FillShort != 1 || c.Filled != 64 {
		t.Fatalf("counters after Refill %+v", c)
	}
}

func addrsOf(ds []rings.Desc) []uint64 {
	a := make([]uint64, len(ds))
	for i, d := range ds {
		a[i] = d.Addr
	}
	return a
}
