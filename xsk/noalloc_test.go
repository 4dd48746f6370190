//go:build !race

package xsk_test

import (
	"testing"

	"github.com/fastpathnet/fastpath/internal/lab"
	"github.com/fastpathnet/fastpath/rings"
	"github.com/fastpathnet/fastpath/xsk"
)

// TestNoAllocs has a row per datapath entry point of a bound socket,
// including the ones that make system calls (kick, RX wakeup, poll).
func TestNoAllocs(t *testing.T) {
	l := lab.NewT(t, lab.Options{})
	if err := l.B.AttachPass(); err != nil {
		t.Fatal(err)
	}
	s := newSocket(t, l.A, 0, xsk.DefaultOptions())
	bo := xsk.DefaultOptions()
	bo.BusyPoll.Enable = true
	busy := newSocket(t, l.B, 0, bo) // WakeRX makes its system call
	f := flowAB(l.A, l.B)
	descs := make([]rings.Desc, 8)
	before := busy.Counters().RXWakeups
	defer func() {
		if busy.Counters().RXWakeups == before {
			t.Error("the busy-poll WakeRX row made no system call")
		}
	}()
	for _, tc := range []struct {
		name string
		fn   func()
	}{
		{"Transmit+KickTX+Complete", func() {
			for i := range descs {
				addr, _ := s.Frames.Alloc()
				descs[i] = rings.Desc{Addr: addr, Len: uint32(buildUDP(s.UMEM().Frame(addr), f, uint64(i), 64))}
			}
			n := s.Transmit(descs)
			for _, d := range descs[n:] {
				s.Frames.Free(d.Addr)
			}
			for s.Outstanding() > 0 {
				s.KickTX()
				s.Complete()
			}
		}},
		{"Kick", s.Kick},
		{"Refill", func() { s.Refill() }},
		{"WakeRX (busy poll: recvfrom)", busy.WakeRX},
		{"KickTX (busy poll)", busy.KickTX},
		{"Receive", func() { s.Receive(descs) }},
		{"Wait", func() { s.Wait(true, 0) }},
		{"Counters", func() { _ = s.Counters() }},
	} {
		if n := testing.AllocsPerRun(50, tc.fn); n != 0 {
			t.Errorf("%s: %v allocations per run, want 0", tc.name, n)
		}
	}
}
