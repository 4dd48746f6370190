package lab

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// TestHandleSealable fails when a netlink release changes netlink.Handle
// so that the lab can no longer seal its handles (see nlhandle.go).
func TestHandleSealable(t *testing.T) {
	if !sealable {
		t.Fatal("netlink.Handle has no field sockets of type map[int]*nl.SocketHandle any more: Close cannot seal handles; see nlhandle.go")
	}
}

// TestHandleAfterClose: a handle obtained from Handle before Close must not
// work after it. A closed netlink.Handle would run the request in the
// calling thread's namespace, which here is the host's own: LinkByName("lo")
// would succeed there. (Harmless to try: it only reads.)
func TestHandleAfterClose(t *testing.T) {
	t.Parallel()
	l := NewT(t, Options{})
	hd := l.A.Handle()
	if hd == nil {
		t.Fatal("Handle is nil")
	}
	if _, err := hd.LinkByName(l.A.Link); err != nil {
		t.Fatalf("LinkByName(%s) before Close: %v", l.A.Link, err)
	}
	// Families the handle has no socket for would go to the calling
	// thread's namespace too; they must fail instead.
	if _, err := hd.GenlFamilyList(); err == nil {
		t.Error("GenlFamilyList through the handle succeeded, want an error (it has only NETLINK_ROUTE)")
	}

	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := hd.LinkByName("lo"); !closedFile(err) {
		t.Errorf("LinkByName(lo) through a handle kept past Close = %v, want use of closed file", err)
	}
	if h2 := l.A.Handle(); h2 != hd {
		t.Errorf("Handle after Close = %p, want the same sealed handle %p", h2, hd)
	}
	if _, err := l.B.Handle().LinkList(); !closedFile(err) {
		t.Errorf("LinkList through Handle after Close = %v, want use of closed file", err)
	}
}

// closedFile reports whether err is internal/poll's ErrFileClosing, "use
// of closed file", which os.File's methods return for a closed file.
func closedFile(err error) bool {
	return err != nil && strings.Contains(err.Error(), "use of closed file")
}

// TestClosedLab checks that every method fails with ErrClosed after Close
// without reaching any namespace.
func TestClosedLab(t *testing.T) {
	t.Parallel()
	l := NewT(t, Options{Router: true})
	ns := l.A.NS
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	called := false
	if err := l.A.Netlink(func(*netlink.Handle) error { called = true; return nil }); !errors.Is(err, ErrClosed) || called {
		t.Errorf("Netlink after Close = %v (fn called: %v), want ErrClosed without calling fn", err, called)
	}
	if err := l.A.Do(func() error { called = true; return nil }); !errors.Is(err, ErrClosed) || called {
		t.Errorf("Do after Close = %v (fn called: %v), want ErrClosed without calling fn", err, called)
	}
	if err := l.R.SetNeighbor(l.B.Addr.Addr(), macB); !errors.Is(err, ErrClosed) {
		t.Errorf("SetNeighbor after Close = %v, want ErrClosed", err)
	}
	if err := l.B.AttachPass(); !errors.Is(err, ErrClosed) {
		t.Errorf("AttachPass after Close = %v, want ErrClosed", err)
	}
	if _, err := l.B.SNMP("Udp"); !errors.Is(err, ErrClosed) {
		t.Errorf("SNMP after Close = %v, want ErrClosed", err)
	}
	if err := l.R.writeSysctl("net/ipv4/ip_forward", "1", false); !errors.Is(err, ErrClosed) {
		t.Errorf("writeSysctl after Close = %v, want ErrClosed", err)
	}
	for _, h := range l.Hosts() {
		if h.NS.IsOpen() {
			t.Errorf("%s: NS = %d after Close, want -1", h.Name, h.NS)
		}
	}

	// A copy of NS kept past Close must not name a namespace: its number
	// could otherwise be reused, say for the host's namespace.
	errc := make(chan error)
	go func() {
		runtime.LockOSThread() // never unlocked: should setns succeed, the thread dies with the goroutine
		errc <- netns.Set(ns)
	}()
	if err := <-errc; err == nil {
		t.Errorf("setns to a copy of NS (%d) kept past Close succeeded", ns)
	}
}

// TestWriteSysctlNetOnly: only per-namespace keys are written.
func TestWriteSysctlNetOnly(t *testing.T) {
	for _, key := range []string{"kernel/hostname", "vm/swappiness", "net/../kernel/hostname"} {
		if err := writeSysctl(key, "x", false); err == nil {
			t.Errorf("writeSysctl(%s) succeeded", key)
		}
	}
}

// TestNetlink uses a handle through Netlink, and checks that Close waits
// for fn, and that whatever fn starts on the lab after Close began fails
// instead of blocking.
func TestNetlink(t *testing.T) {
	t.Parallel()
	l := NewT(t, Options{})
	err := l.A.Netlink(func(hd *netlink.Handle) error {
		lk, err := hd.LinkByName(l.A.Link)
		if err != nil {
			return err
		}
		if err := hd.LinkSetDown(lk); err != nil {
			return err
		}
		if lk, err = hd.LinkByName(l.A.Link); err != nil {
			return err
		}
		if lk.Attrs().Flags&net.FlagUp != 0 {
			return fmt.Errorf("%s still up after LinkSetDown", l.A.Link)
		}
		return hd.LinkSetUp(lk)
	})
	if err != nil {
		t.Fatal(err)
	}

	entered, release := make(chan struct{}), make(chan struct{})
	fnErr := make(chan error, 1)
	go func() {
		fnErr <- l.A.Netlink(func(hd *netlink.Handle) error {
			close(entered)
			<-release
			// Close has begun, and waits for this fn.
			if _, err := hd.LinkByName(l.A.Link); err != nil {
				return fmt.Errorf("handle inside fn while Close waits: %w", err)
			}
			if err := l.A.Do(func() error { return nil }); !errors.Is(err, ErrClosed) {
				return fmt.Errorf("Do inside fn while Close waits = %v, want ErrClosed", err)
			}
			if err := l.B.Netlink(func(*netlink.Handle) error { return nil }); !errors.Is(err, ErrClosed) {
				return fmt.Errorf("nested Netlink while Close waits = %v, want ErrClosed", err)
			}
			return nil
		})
	}()
	<-entered
	closed := make(chan error, 1)
	go func() { closed <- l.Close() }()
	// Wait until Close has marked the lab closed.
	for deadline := time.Now().Add(5 * time.Second); ; {
		l.mu.Lock()
		c := l.closed
		l.mu.Unlock()
		if c {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Close did not start")
		}
		time.Sleep(time.Millisecond)
	}
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) while a Netlink fn was running", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	if err := <-fnErr; err != nil {
		t.Error(err)
	}
	if err := <-closed; err != nil {
		t.Error(err)
	}
}

// inSentinel runs fn on a locked thread that has moved into a new, empty
// network namespace of its own and never leaves it: a netlink request
// that falls back to the calling thread's namespace lands there, not in
// the host's. Afterwards it checks that the sentinel is still untouched:
// only lo, down, and no addresses, routes or neighbours.
func inSentinel(t *testing.T, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		// Never unlocked: the thread dies with this goroutine.
		runtime.LockOSThread()
		home, err := threadNS()
		if err != nil {
			t.Error(err)
			return
		}
		defer home.Close()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			t.Errorf("unshare: %v", err)
			return
		}
		if in, err := inNS(home); err != nil || in {
			t.Errorf("sentinel thread still in its original namespace (%v)", err)
			return
		}
		fn()
		if err := untouched(); err != nil {
			t.Errorf("the calling thread's namespace was changed: %v", err)
		}
	}()
	<-done
}

// untouched checks the calling thread's namespace, a new one.
func untouched() error {
	links, err := netlink.LinkList()
	if err != nil {
		return err
	}
	if len(links) != 1 || links[0].Attrs().Name != "lo" || links[0].Attrs().Flags&net.FlagUp != 0 {
		var s []string
		for _, lk := range links {
			s = append(s, fmt.Sprintf("%s %v", lk.Attrs().Name, lk.Attrs().Flags))
		}
		return fmt.Errorf("links %v, want only lo, down", s)
	}
	addrs, err := netlink.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil || len(addrs) != 0 {
		return fmt.Errorf("addresses %v (%v), want none", addrs, err)
	}
	routes, err := netlink.RouteList(nil, netlink.FAMILY_ALL)
	if err != nil || len(routes) != 0 {
		return fmt.Errorf("routes %v (%v), want none", routes, err)
	}
	neighs, err := netlink.NeighList(0, netlink.FAMILY_ALL)
	if err != nil || len(neighs) != 0 {
		return fmt.Errorf("neighbours %v (%v), want none", neighs, err)
	}
	return nil
}

// leftovers returns the namespaces under /run/netns whose names start
// with prefix and this process's identity.
func leftovers(t *testing.T, prefix string) []string {
	t.Helper()
	me, err := self()
	if err != nil {
		t.Fatal(err)
	}
	start := strings.TrimSuffix(nsName(prefix, me, 0, ""), "0-")
	entries, err := os.ReadDir(nsDir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), start) {
			names = append(names, e.Name())
			deleteNamed(e.Name())
		}
	}
	return names
}

// TestCloseDuringBuild closes the lab at every step of New in turn, as
// NewT's signal handler may, from a thread in a sentinel namespace: New
// must fail with ErrClosed, leave no namespace behind and not touch the
// calling thread's namespace. It sets testHook, so it is not parallel.
func TestCloseDuringBuild(t *testing.T) {
	RequireRoot(t)
	const prefix = "fpclose"
	defer func() { testHook = nil }()
	for _, router := range []bool{false, true} {
		for k := 1; ; k++ {
			var steps int
			var at string
			testHook = func(l *Lab, step string) {
				if steps++; steps == k {
					at = step
					if err := l.Close(); err != nil {
						t.Errorf("Close at %s: %v", step, err)
					}
				}
			}
			var l *Lab
			var err error
			inSentinel(t, func() { l, err = New(Options{Prefix: prefix, Router: router}) })
			if t.Failed() {
				if l != nil {
					l.Close()
				}
				leftovers(t, prefix)
				t.FailNow()
			}
			if at == "" {
				// k is past the last step: New ran to the end.
				if err != nil {
					t.Fatal(err)
				}
				l.Close()
				t.Logf("router %v: closed at each of %d steps", router, k-1)
				if k < 10 {
					t.Errorf("router %v: only %d steps", router, k-1)
				}
				break
			}
			if !errors.Is(err, ErrClosed) || l != nil {
				t.Errorf("router %v, closed at %s: New = %v, %v; want ErrClosed", router, at, l, err)
			}
			if names := leftovers(t, prefix); len(names) != 0 {
				t.Errorf("router %v, closed at %s: namespaces left: %v", router, at, names)
			}
		}
	}
}

// TestCloseConcurrently closes labs from another goroutine at random
// times while New builds them, from a thread in a sentinel namespace.
func TestCloseConcurrently(t *testing.T) {
	RequireRoot(t)
	const prefix = "fpconc"
	defer func() { testHook = nil }()
	var wg sync.WaitGroup
	testHook = func(l *Lab, step string) {
		if step != "host a" {
			return
		}
		d := time.Duration(rand.IntN(10000)) * time.Microsecond
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(d)
			if err := l.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		}()
	}
	closed := 0
	for i := range 40 {
		router := i%2 == 1
		var l *Lab
		var err error
		inSentinel(t, func() { l, err = New(Options{Prefix: prefix, Router: router}) })
		wg.Wait()
		if t.Failed() {
			if l != nil {
				l.Close()
			}
			leftovers(t, prefix)
			t.FailNow()
		}
		switch {
		case err == nil:
			l.Close()
		case errors.Is(err, ErrClosed):
			closed++
		default:
			t.Errorf("New = %v, want nil or ErrClosed", err)
		}
		if names := leftovers(t, prefix); len(names) != 0 {
			t.Errorf("namespaces left: %v", names)
		}
	}
	t.Logf("%d of 40 labs closed while New built them", closed)
}
