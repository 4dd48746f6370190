package stack

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fastpathnet/fastpath/arp"
	"github.com/fastpathnet/fastpath/ether"
	"github.com/fastpathnet/fastpath/internal/lab"
	"github.com/fastpathnet/fastpath/ipv4"
	"github.com/fastpathnet/fastpath/tcp"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// TestBackoff: the waits after 1, 2, … failures in a row double from
// 100 ms and stop at 10 s.
func TestBackoff(t *testing.T) {
	want := []time.Duration{100, 200, 400, 800, 1600, 3200, 6400, 10000, 10000, 10000}
	for i, w := range want {
		if got := backoff(i + 1); got != w*time.Millisecond {
			t.Errorf("backoff(%d) = %v, want %v", i+1, got, w*time.Millisecond)
		}
	}
	if got := backoff(1000); got != backoffMax {
		t.Errorf("backoff(1000) = %v, want %v", got, backoffMax)
	}
}

// syncLab is a stack importing A's routes, with TCP on only so that the
// test can read an engine's table on its goroutine (Engine.Do), and the
// control plane's log lines.
type syncLab struct {
	l      *lab.Lab
	s      *Stack
	shared bool
	mu     sync.Mutex
	log    []string
}

func newSyncLab(t *testing.T) *syncLab { return newSyncLabMode(t, false) }

// newSyncLabMode is newSyncLab in shared mode (the kernel's address in A,
// and its neighbours) when shared.
func newSyncLabMode(t *testing.T, shared bool) *syncLab {
	sl := &syncLab{l: lab.NewT(t, lab.Options{}), shared: shared}
	sl.s = startStack(t, sl.l.A, func(c *Config) {
		c.ImportRoutes = true
		if shared {
			c.Shared, c.Addrs = true, nil
		}
		c.Logf = func(format string, args ...any) {
			sl.mu.Lock()
			defer sl.mu.Unlock()
			sl.log = append(sl.log, fmt.Sprintf(format, args...))
		}
	}, func(s *Stack) error { return s.EnableTCP(tcp.DefaultConfig()) })
	return sl
}

func (sl *syncLab) logged(sub string) bool {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	return slices.ContainsFunc(sl.log, func(l string) bool { return strings.Contains(l, sub) })
}

// engineTable reads engine 0's routes on its goroutine.
func (sl *syncLab) engineTable(t *testing.T) []ipv4.Route {
	t.Helper()
	c := make(chan []ipv4.Route, 1)
	if err := sl.s.Engines()[0].Do(func(e *Engine) { c <- e.routes.Routes() }); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-c:
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("the engine did not run the read of its table")
		return nil
	}
}

// kernelTable is what engine 0's table must be: its static routes, and
// over them the kernel's IPv4 routes through A's link in the main table.
func (sl *syncLab) kernelTable(t *testing.T) []ipv4.Route {
	t.Helper()
	var list []netlink.Route
	err := sl.l.A.Netlink(func(hd *netlink.Handle) (err error) {
		list, err = hd.RouteListFiltered(unix.AF_INET, &netlink.Route{Table: unix.RT_TABLE_MAIN, LinkIndex: sl.l.A.Index},
			netlink.RT_FILTER_TABLE|netlink.RT_FILTER_OIF)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	tb := ipv4.NewTable(64)
	for _, r := range sl.s.Engines()[0].static {
		tb.Add(r)
	}
	for _, kr := range list {
		if r, ok := kernelRoute(kr, sl.l.A.Index, sl.shared); ok {
			tb.Add(r)
		}
	}
	return tb.Routes()
}

// waitSynced waits until engine 0's table is the kernel's.
func (sl *syncLab) waitSynced(t *testing.T, what string) []ipv4.Route {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		got, want := sl.engineTable(t), sl.kernelTable(t)
		if slices.Equal(got, want) {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: the engine's table\n  %v\nis not the kernel's\n  %v\ncontrol plane %+v, counters %v", what, got, want, sl.s.ControlStatus(), nonZero(sl.s.Counters()))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitState waits for the control plane to reach state.
func (sl *syncLab) waitState(t *testing.T, state string) ControlStatus {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		st := sl.s.ControlStatus()
		if st.State == state {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("control plane %+v, want %s", st, state)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// route is a route through A's link: via B when gw, else on-link.
func (sl *syncLab) route(prefix string, gw bool, metric int) *netlink.Route {
	p := netip.MustParsePrefix(prefix)
	r := &netlink.Route{LinkIndex: sl.l.A.Index, Dst: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), 32)}, Priority: metric}
	if gw {
		r.Gw = sl.l.B.Addr.Addr().AsSlice()
	}
	return r
}

func (sl *syncLab) change(t *testing.T, fn func(hd *netlink.Handle) error) {
	t.Helper()
	if err := sl.l.A.Netlink(fn); err != nil {
		t.Fatal(err)
	}
}

func has(routes []ipv4.Route, prefix string, metric int) bool {
	p := netip.MustParsePrefix(prefix)
	return slices.ContainsFunc(routes, func(r ipv4.Route) bool { return r.Prefix == p && r.Metric == metric })
}

// TestResyncAfterLostSubscription: the control plane's subscriptions end
// (as when a burst overflows their sockets) and cannot be renewed for a
// while; the kernel's routes change meanwhile, and nothing tells the
// engines. Once it subscribes again, the engine's table is the kernel's:
// the routes deleted in the gap are gone, those added are there.
func TestResyncAfterLostSubscription(t *testing.T) {
	t.Run("dedicated", func(t *testing.T) { testResyncAfterLostSubscription(t, false) })
	t.Run("shared", func(t *testing.T) { testResyncAfterLostSubscription(t, true) })
}

func testResyncAfterLostSubscription(t *testing.T, shared bool) {
	sl := newSyncLabMode(t, shared)
	sl.change(t, func(hd *netlink.Handle) error {
		for _, r := range []*netlink.Route{sl.route("10.1.0.0/16", true, 0), sl.route("10.2.0.0/16", true, 0),
			sl.route("10.3.0.0/16", false, 5), sl.route("10.4.0.0/16", true, 0)} {
			if err := hd.RouteAdd(r); err != nil {
				return err
			}
		}
		return nil
	})
	sl.waitSynced(t, "before")

	ctl := sl.s.ctl
	if ctl.nsOpt == nil {
		// Resubscribing from another thread would land in the process's
		// namespace, following another device's routes.
		t.Fatal("a stack in a namespace not the process's subscribes without naming it")
	}
	ctl.failSubscribe.Store(1 << 20)
	ctl.kill <- struct{}{}
	st := sl.waitState(t, ControlFailing)
	if !strings.Contains(st.Error, errInjected.Error()) || st.Failures < 1 {
		t.Errorf("failing status %+v: want the error and the failures counted", st)
	}
	sl.change(t, func(hd *netlink.Handle) error {
		for _, r := range []*netlink.Route{sl.route("10.1.0.0/16", true, 0), sl.route("10.2.0.0/16", true, 0)} {
			if err := hd.RouteDel(r); err != nil {
				return err
			}
		}
		for _, r := range []*netlink.Route{sl.route("10.5.0.0/16", true, 0), sl.route("10.6.0.0/16", false, 7), sl.route("10.4.0.0/16", false, 0)} {
			if err := hd.RouteReplace(r); err != nil {
				return err
			}
		}
		return nil
	})
	// Shared mode: a neighbour the kernel learns in the gap.
	gapIP, gapMAC := netip.MustParseAddr("198.18.0.77"), net.HardwareAddr{2, 0, 0, 0, 0, 0x77}
	if shared {
		if err := sl.l.A.SetNeighbor(gapIP, gapMAC); err != nil {
			t.Fatal(err)
		}
	}
	// In the gap the engine still has what it had.
	time.Sleep(100 * time.Millisecond)
	if got := sl.engineTable(t); !has(got, "10.1.0.0/16", 0) || has(got, "10.5.0.0/16", 0) {
		t.Fatalf("the engine followed the kernel without a subscription: %v", got)
	}

	ctl.failSubscribe.Store(0)
	sl.waitState(t, ControlSubscribed)
	got := sl.waitSynced(t, "after the gap")
	if has(got, "10.1.0.0/16", 0) || has(got, "10.2.0.0/16", 0) || !has(got, "10.5.0.0/16", 0) || !has(got, "10.6.0.0/16", 7) {
		t.Errorf("after the gap: %v", got)
	}
	if shared {
		c := make(chan []arp.Entry, 1)
		sl.s.Engines()[0].Do(func(e *Engine) { c <- e.neigh.Entries() })
		entries := <-c
		if !slices.ContainsFunc(entries, func(n arp.Entry) bool { return n.IP == gapIP && n.MAC == ether.Addr(gapMAC) }) {
			t.Errorf("the neighbour the kernel learned in the gap is not in the engine's cache: %v", entries)
		}
	}
	// Engines publish their counters every 50 ms.
	waitCounters(t, sl.s, "subscriptions_lost, subscription_errors and two resyncs", func(c Counters) bool {
		return c[SubscriptionsLost] >= 1 && c[SubscriptionErrors] >= 1 && c[Resyncs] >= 2
	})
	if !sl.logged("subscription ended") || !sl.logged("subscribed again") {
		t.Errorf("log lines %q: want the loss and the recovery", sl.log)
	}

	// Changes after the recovery flow through the new subscription.
	sl.change(t, func(hd *netlink.Handle) error { return hd.RouteDel(sl.route("10.5.0.0/16", true, 0)) })
	if got := sl.waitSynced(t, "after a change on the new subscription"); has(got, "10.5.0.0/16", 0) {
		t.Errorf("10.5.0.0/16 deleted, still there: %v", got)
	}
}

// TestResubscribeBackoff: subscribing again fails three times; each
// failure is counted, logged and shown in the status, the attempts are
// spaced 100, 200 and 400 ms apart, and the fourth works.
func TestResubscribeBackoff(t *testing.T) {
	sl := newSyncLab(t)
	sl.waitSynced(t, "before")
	ctl := sl.s.ctl
	before := sl.s.Counters()
	ctl.failSubscribe.Store(3)
	start := time.Now()
	ctl.kill <- struct{}{}
	maxFailures := 0
	for deadline := time.Now().Add(15 * time.Second); ; {
		st := sl.s.ControlStatus()
		if st.State == ControlFailing {
			maxFailures = max(maxFailures, st.Failures)
			if !strings.Contains(st.Error, errInjected.Error()) || st.Retry.IsZero() {
				t.Errorf("failing status %+v: want the error and the next retry", st)
			}
		}
		if st.State == ControlSubscribed && ctl.failSubscribe.Load() == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not subscribed again: %+v", st)
		}
		time.Sleep(5 * time.Millisecond)
	}
	elapsed := time.Since(start)
	c := sl.s.Counters()
	if n := c[SubscriptionErrors] - before[SubscriptionErrors]; n != 3 {
		t.Errorf("%d subscription errors counted, want 3", n)
	}
	if elapsed < 700*time.Millisecond {
		t.Errorf("recovered in %v: the three waits (100+200+400 ms) were not kept", elapsed)
	}
	if maxFailures != 3 {
		t.Errorf("the status showed at most %d failures in a row, want 3", maxFailures)
	}
	if st := sl.s.ControlStatus(); !strings.Contains(st.Error, errInjected.Error()) || st.Failures != 0 {
		t.Errorf("recovered status %+v: want the last error kept and no failures", st)
	}
	for _, line := range []string{"retrying in 100ms", "retrying in 200ms", "retrying in 400ms", "subscribed again"} {
		if !sl.logged(line) {
			t.Errorf("no log line with %q in %q", line, sl.log)
		}
	}
	sl.change(t, func(hd *netlink.Handle) error { return hd.RouteAdd(sl.route("10.7.0.0/16", true, 0)) })
	if got := sl.waitSynced(t, "after recovery"); !has(got, "10.7.0.0/16", 0) {
		t.Errorf("10.7.0.0/16 added after recovery, not there: %v", got)
	}
}

// TestResyncAfterLinkFlap: the kernel flushes A's IPv4 routes when its
// link goes down, and tells no route subscriber; after a down and up and
// routes added again differently, the engine's table is the kernel's.
func TestResyncAfterLinkFlap(t *testing.T) {
	sl := newSyncLab(t)
	sl.change(t, func(hd *netlink.Handle) error {
		for _, r := range []*netlink.Route{sl.route("10.1.0.0/16", true, 0), sl.route("10.2.0.0/16", false, 3)} {
			if err := hd.RouteAdd(r); err != nil {
				return err
			}
		}
		return nil
	})
	sl.waitSynced(t, "before")
	resyncs := sl.s.Counters()[Resyncs]
	lk, err := sl.l.A.Handle().LinkByIndex(sl.l.A.Index)
	if err != nil {
		t.Fatal(err)
	}
	sl.change(t, func(hd *netlink.Handle) error { return hd.LinkSetDown(lk) })
	got := sl.waitSynced(t, "link down")
	if has(got, "10.1.0.0/16", 0) || has(got, "10.2.0.0/16", 3) {
		t.Errorf("link down: routes the kernel flushed are still there: %v", got)
	}
	sl.change(t, func(hd *netlink.Handle) error {
		if err := hd.LinkSetUp(lk); err != nil {
			return err
		}
		for _, r := range []*netlink.Route{sl.route("10.1.0.0/16", false, 4), sl.route("10.9.0.0/16", true, 0)} {
			if err := hd.RouteAdd(r); err != nil {
				return err
			}
		}
		return nil
	})
	got = sl.waitSynced(t, "link up")
	if !has(got, "10.1.0.0/16", 4) || !has(got, "10.9.0.0/16", 0) || has(got, "10.2.0.0/16", 3) {
		t.Errorf("link up: %v", got)
	}
	waitCounters(t, sl.s, "a resync", func(c Counters) bool { return c[Resyncs] > resyncs })
}

// TestResyncAfterOverflow: a burst of route changes overflows the route
// subscription's socket (ENOBUFS) while the control plane waits for
// engines that have not started; the deletions at the end of the burst
// never reach it. Once the engines run, the engine's table is the
// kernel's: the subscription was renewed and the table rebuilt.
func TestResyncAfterOverflow(t *testing.T) {
	l := lab.NewT(t, lab.Options{})
	defer func(n int) { subscriptionBuffer = n }(subscriptionBuffer)
	subscriptionBuffer = 64 << 10
	sl := &syncLab{l: l}
	for _, p := range []string{"10.1.0.0/16", "10.2.0.0/16", "10.3.0.0/16"} {
		sl.change(t, func(hd *netlink.Handle) error { return hd.RouteAdd(sl.route(p, true, 0)) })
	}
	cfg := DefaultConfig()
	cfg.Device, cfg.Addrs, cfg.ImportRoutes, cfg.Idle = l.A.Link, []netip.Prefix{engineAddr}, true, IdleAdaptive
	if err := l.A.Do(func() (err error) {
		if sl.s, err = New(cfg); err != nil {
			return err
		}
		return sl.s.EnableTCP(tcp.DefaultConfig())
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sl.s.Close() })
	// The engine's ring (1024 messages), the library's channel (256) and
	// the socket's 64 KiB take a few thousand; then the kernel drops.
	sl.change(t, func(hd *netlink.Handle) error {
		for i := range 4000 {
			r := sl.route(fmt.Sprintf("10.%d.%d.0/24", 100+i/250, i%250), true, 0)
			if err := hd.RouteAdd(r); err != nil {
				return err
			}
			if err := hd.RouteDel(r); err != nil {
				return err
			}
		}
		for _, p := range []string{"10.1.0.0/16", "10.2.0.0/16"} {
			if err := hd.RouteDel(sl.route(p, true, 0)); err != nil {
				return err
			}
		}
		return hd.RouteAdd(sl.route("10.4.0.0/16", false, 2))
	})
	if err := sl.s.Start(); err != nil {
		t.Fatal(err)
	}
	got := sl.waitSynced(t, "after the overflow")
	if has(got, "10.1.0.0/16", 0) || has(got, "10.2.0.0/16", 0) || !has(got, "10.3.0.0/16", 0) || !has(got, "10.4.0.0/16", 2) {
		t.Errorf("after the overflow: %v", got)
	}
	c := waitCounters(t, sl.s, "the subscription lost", func(c Counters) bool { return c[SubscriptionsLost] >= 1 && c[Resyncs] >= 2 })
	if c[SubscriptionErrors] < 1 || !strings.Contains(sl.s.ControlStatus().Error, "no buffer space") {
		t.Errorf("the overflow was not reported: %v, %+v", nonZero(c), sl.s.ControlStatus())
	}
}
