//go:build !race

package stack

import (
	"net/netip"
	"testing"
	"time"

	"github.com/fastpathnet/fastpath/internal/lab"
)

// TestARPTickNoAllocs: the ARP tick's retries for more neighbours than
// its request slice first held (300 unresolved next hops, 256 slots) grow
// the slice once and reuse it from then on (issue 15, item 9: the tick did
// not store the grown slice back, so every tick allocated again).
func TestARPTickNoAllocs(t *testing.T) {
	l := lab.NewT(t, lab.Options{})
	cfg := DefaultConfig()
	cfg.Device, cfg.Addrs = l.A.Link, []netip.Prefix{engineAddr}
	var s *Stack
	if err := l.A.Do(func() (err error) { s, err = New(cfg); return err }); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	e := s.engines[0]
	e.now = monotonic()
	e.wheel = newWheel(int64(time.Millisecond), 256, 8, e.now)
	e.sock.Refill()
	if c := cap(e.requests); c >= 300 {
		t.Fatalf("the request slice starts with %d slots: the test needs more neighbours than that", c)
	}
	base := netip.MustParseAddr("198.18.0.0").As4()
	for i := range 300 {
		ip := netip.AddrFrom4([4]byte{base[0], base[1], byte(1 + i/250), byte(1 + i%250)})
		if r := e.neigh.Resolve(ip, uint64(i), e.now); !r.Queued {
			t.Fatalf("resolve %v: %+v", ip, r)
		}
	}
	step := e.neigh.Config().RetryInterval
	now := e.now
	tick := func() {
		now += step
		e.now = now
		e.fire(timerARP, now)
		e.sock.Complete()
	}
	// AllocsPerRun runs tick once to warm up (the slice grows), then once
	// measured: two retries each, within MaxRetries.
	if n := testing.AllocsPerRun(1, tick); n != 0 {
		t.Errorf("the ARP tick allocated %.0f times on its second round", n)
	}
	if got := e.counters[ARPRequestsOut]; got < 600 {
		t.Errorf("%d ARP requests out, want 2 x 300", got)
	}
}
