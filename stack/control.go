package stack

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fastpathnet/fastpath/ether"
	"github.com/fastpathnet/fastpath/ipv4"
	"github.com/fastpathnet/fastpath/ipv6"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// The control plane is one goroutine per stack, off the engines' hot
// path. It forwards the kernel's route changes (ImportRoutes, and always
// in shared mode) and, in shared mode, the kernel's neighbours to every
// engine, and asks the kernel to resolve the neighbours engines miss.
// It holds no engine, only each engine's end of the rings between them
// (engineLink): messages to an engine go through its ctlIn ring (this
// goroutine is the only producer); engines' requests come back through
// their resolveOut rings, with a token on wake.
//
// Each session subscribes first (routes, the device's link, and in shared
// mode neighbours), then lists what the kernel has and hands every engine
// one snapshot that replaces all it learned from the kernel; the changes
// that follow come through the subscriptions. A change made between the
// subscription and the listing comes twice, which is harmless: a change
// sets a route to what it became. A session ends when a subscription
// does (its socket overflowed: ENOBUFS; or failed); the next one starts
// at once, and while subscribing or listing fails it is retried after a
// backoff (backoffMin doubling to backoffMax) until it works or the stack
// stops. Linux flushes a device's IPv4 routes when it goes down without
// a word on the route subscription, so a change of the device's link
// state brings a new snapshot too (after linkSettle).
type controlPlane struct {
	ifindex int
	shared  bool // shared mode: neighbours too, and the kernel's sources
	engines []engineLink
	wake    <-chan struct{}
	ns      netns.NsHandle // the stack's namespace, for (re)subscribing
	// nsOpt is the subscriptions' Namespace option: &ns where the stack's
	// namespace is not the process's (--netns), so that a subscription
	// made from any thread lands in it, which takes setns and
	// CAP_SYS_ADMIN; nil where it is the process's (hostNetwork pods, a
	// device of the process's own namespace), as any thread's already is.
	nsOpt *netns.NsHandle
	nl    *netlink.Handle
	logf  func(format string, args ...any)
	sub   *session // nil between sessions
	done  chan struct{}
	wait  chan struct{}

	// Test hooks: a token on kill ends the session as a lost
	// subscription would; failSubscribe makes that many subscription
	// attempts fail.
	kill          chan struct{}
	failSubscribe atomic.Int32

	// Counts, read by Stack.Counters from any goroutine.
	resolveErrors      atomic.Uint64
	subscriptionsLost  atomic.Uint64
	subscriptionErrors atomic.Uint64
	updatesDropped     atomic.Uint64

	mu     sync.Mutex
	status ControlStatus
}

// session is one set of subscriptions; closing done ends them all (the
// library closes their channels).
type session struct {
	done   chan struct{}
	routes chan netlink.RouteUpdate
	neighs chan netlink.NeighUpdate // nil in dedicated mode: never ready
	links  chan netlink.LinkUpdate
}

// engineLink is the control plane's end of one engine's rings: it is the
// only producer on in and the only consumer of out; done is closed when
// the engine stops.
type engineLink struct {
	in   *spsc[control]
	out  *spsc[netip.Addr]
	done <-chan struct{}
}

// subscriptionBuffer is the receive buffer asked for each netlink
// subscription: a burst of changes larger than it overflows the socket,
// which ends the session (the control plane then subscribes again and
// resynchronises, and counts it in SubscriptionsLost). A variable for
// the tests, which overflow a smaller one.
var subscriptionBuffer = 4 << 20

const (
	backoffMin = 100 * time.Millisecond
	backoffMax = 10 * time.Second
	// linkSettle is how long after the device's last link change the
	// snapshot is taken: the kernel announces a device going down
	// before it flushes its routes.
	linkSettle = 100 * time.Millisecond
)

// errInjected is what a subscription fails with under failSubscribe.
var errInjected = errors.New("failure injected by a test")

// Control plane states (ControlStatus.State).
const (
	ControlOff        = "off"        // no control plane: neither ImportRoutes nor shared mode
	ControlSubscribed = "subscribed" // following the kernel's changes
	ControlResyncing  = "resyncing"  // a subscription ended: subscribing and listing again
	ControlFailing    = "failing"    // subscribing or listing failed: retrying after a backoff
	ControlStopped    = "stopped"
)

// ControlStatus is the state of a stack's control plane: whether the
// engines follow the kernel's routes (and neighbours), and if not, since
// when and why.
type ControlStatus struct {
	State string    `json:"state"`
	Since time.Time `json:"since"` // when State began
	// Error is the last error, kept after the control plane recovers;
	// ErrorAt when it happened.
	Error   string    `json:"error,omitempty"`
	ErrorAt time.Time `json:"error_at,omitzero"`
	// Failures counts the attempts that failed in a row (failing).
	Failures int `json:"failures,omitempty"`
	// Retry is when the next attempt is due (failing).
	Retry time.Time `json:"retry,omitzero"`
	// Snapshots counts the kernel's tables handed to the engines.
	Snapshots uint64 `json:"snapshots"`
}

// backoff returns the wait before attempt n+1 after n ≥ 1 failures in a
// row: backoffMin, doubling, at most backoffMax.
func backoff(n int) time.Duration {
	d := backoffMin
	for i := 1; i < n && d < backoffMax; i++ {
		d *= 2
	}
	return min(d, backoffMax)
}

// processNetns names the network namespace the process started in
// (net:[inode]), read while the package initializes, on the main thread
// before anything could move a thread: the namespace of every thread that
// no goroutine holds in another. (/proc/self/ns/net is the main thread's
// now, which a goroutine locked to it, as nsexec.Run's can be, may have
// moved.)
var processNetns, _ = os.Readlink("/proc/thread-self/ns/net")

// startControlPlane subscribes, in the calling thread's network
// namespace, to the kernel's routes through ifindex (and in shared mode
// its neighbours), hands the engines a snapshot of them, and starts the
// control plane. logf may be nil.
func startControlPlane(ifindex int, shared bool, engines []engineLink, wake <-chan struct{}, logf func(string, ...any)) (*controlPlane, error) {
	c := &controlPlane{ifindex: ifindex, shared: shared, engines: engines, wake: wake, logf: logf,
		done: make(chan struct{}), wait: make(chan struct{}), kill: make(chan struct{}, 1)}
	if c.logf == nil {
		c.logf = func(string, ...any) {}
	}
	var err error
	if c.ns, err = netns.GetFromPath("/proc/thread-self/ns/net"); err != nil {
		return nil, fmt.Errorf("stack: current network namespace: %w", err)
	}
	c.nsOpt = &c.ns
	if here, err := os.Readlink("/proc/thread-self/ns/net"); err == nil && processNetns != "" && here == processNetns {
		c.nsOpt = nil
	}
	if c.nl, err = netlink.NewHandle(unix.NETLINK_ROUTE); err != nil {
		c.ns.Close()
		return nil, fmt.Errorf("stack: netlink: %w", err)
	}
	if err := c.startSession(); err != nil {
		close(c.done)
		c.ns.Close()
		c.nl.Close()
		return nil, err
	}
	c.setState(ControlSubscribed)
	go c.run()
	return c, nil
}

// startSession subscribes, then lists and hands the engines the
// snapshot. On failure nothing is left open.
func (c *controlPlane) startSession() error {
	if c.failSubscribe.Load() > 0 {
		c.failSubscribe.Add(-1)
		return fmt.Errorf("stack: subscribe to the kernel's routes: %w", errInjected)
	}
	s := &session{done: make(chan struct{}), routes: make(chan netlink.RouteUpdate, 256), links: make(chan netlink.LinkUpdate, 16)}
	fail := func(err error) error {
		close(s.done)
		s.drain()
		return err
	}
	// An error the library reports on a subscription that goes on (a
	// message it could not parse) is counted and logged; one that ends
	// it closes its channel, which ends the session. Once the session is
	// ended on purpose, its sockets' errors are ours.
	onError := func(what string) func(error) {
		return func(err error) {
			select {
			case <-s.done:
				return
			default:
			}
			c.subscriptionErrors.Add(1)
			c.noteError(fmt.Errorf("stack: %s subscription: %w", what, err))
		}
	}
	err := netlink.RouteSubscribeWithOptions(s.routes, s.done, netlink.RouteSubscribeOptions{
		Namespace: c.nsOpt, ReceiveBufferSize: subscriptionBuffer, ErrorCallback: onError("route")})
	if err != nil {
		s.routes = nil
		return fail(fmt.Errorf("stack: subscribe to the kernel's routes: %w", err))
	}
	err = netlink.LinkSubscribeWithOptions(s.links, s.done, netlink.LinkSubscribeOptions{
		Namespace: c.nsOpt, ReceiveBufferSize: 1 << 20, ErrorCallback: onError("link")})
	if err != nil {
		s.links = nil
		return fail(fmt.Errorf("stack: subscribe to the kernel's links: %w", err))
	}
	if c.shared {
		s.neighs = make(chan netlink.NeighUpdate, 256)
		err := netlink.NeighSubscribeWithOptions(s.neighs, s.done, netlink.NeighSubscribeOptions{
			Namespace: c.nsOpt, ReceiveBufferSize: subscriptionBuffer, ErrorCallback: onError("neighbour")})
		if err != nil {
			s.neighs = nil
			return fail(fmt.Errorf("stack: subscribe to the kernel's neighbours: %w", err))
		}
	}
	if err := c.resync(); err != nil {
		return fail(err)
	}
	c.sub = s
	return nil
}

// resync lists the kernel's routes through the device (and in shared
// mode its neighbours) and hands every engine the snapshot, one message
// each.
func (c *controlPlane) resync() error {
	list, err := c.nl.RouteListFiltered(unix.AF_INET, &netlink.Route{Table: unix.RT_TABLE_MAIN, LinkIndex: c.ifindex},
		netlink.RT_FILTER_TABLE|netlink.RT_FILTER_OIF)
	if err != nil {
		return fmt.Errorf("stack: list the kernel's routes: %w", err)
	}
	snap := &snapshot{}
	for _, kr := range list {
		if r, ok := kernelRoute(kr, c.ifindex, c.shared); ok {
			snap.routes = append(snap.routes, r)
		}
	}
	list6, err := c.nl.RouteListFiltered(unix.AF_INET6, &netlink.Route{Table: unix.RT_TABLE_MAIN, LinkIndex: c.ifindex},
		netlink.RT_FILTER_TABLE|netlink.RT_FILTER_OIF)
	if err != nil {
		return fmt.Errorf("stack: list the kernel's IPv6 routes: %w", err)
	}
	for _, kr := range list6 {
		if r, ok := kernelRoute6(kr, c.ifindex, c.shared); ok {
			snap.routes6 = append(snap.routes6, r)
		}
	}
	if c.shared {
		neighs, err := c.nl.NeighList(c.ifindex, unix.AF_UNSPEC)
		if err != nil {
			return fmt.Errorf("stack: list the kernel's neighbours: %w", err)
		}
		for _, n := range neighs {
			if ip, mac, ok := kernelNeighbour(n, c.ifindex); ok {
				snap.neighbours = append(snap.neighbours, neighbour{ip: ip, mac: mac})
			}
		}
	}
	c.broadcast(control{snapshot: snap})
	c.mu.Lock()
	c.status.Snapshots++
	c.mu.Unlock()
	return nil
}

// drain empties the session's channels in the background until the
// library closes them (it does once done is closed), so that its
// goroutines, blocked on a full channel, can return.
func (s *session) drain() {
	if ch := s.routes; ch != nil {
		go func() {
			for range ch {
			}
		}()
	}
	if ch := s.neighs; ch != nil {
		go func() {
			for range ch {
			}
		}()
	}
	if ch := s.links; ch != nil {
		go func() {
			for range ch {
			}
		}()
	}
}

// end ends the current session.
func (c *controlPlane) end() {
	if c.sub != nil {
		close(c.sub.done)
		c.sub.drain()
		c.sub = nil
	}
}

// stop ends the control plane and waits for it.
func (c *controlPlane) stop() {
	close(c.done)
	<-c.wait
	c.ns.Close()
	c.nl.Close()
}

func (c *controlPlane) run() {
	defer close(c.wait)
	defer c.end()
	var (
		settle   = time.NewTimer(time.Hour)
		settling bool
		failures int
	)
	settle.Stop()
	defer settle.Stop()
	for {
		if c.sub == nil {
			err := c.startSession()
			if err == nil {
				failures = 0
				c.setState(ControlSubscribed)
				c.logf("stack: control plane: subscribed again; the engines have the kernel's tables")
				continue
			}
			failures++
			c.subscriptionErrors.Add(1)
			wait := backoff(failures)
			c.failed(err, failures, wait)
			if !c.sleep(wait) {
				return
			}
			continue
		}
		select {
		case u, ok := <-c.sub.routes:
			if !ok {
				c.lost("route")
				continue
			}
			if u.Route.Family == unix.AF_INET6 {
				if r, ok := kernelRoute6(u.Route, c.ifindex, c.shared); ok {
					c.broadcast(control{add: u.Type == unix.RTM_NEWROUTE, v6: true, route6: r})
				}
			} else if r, ok := kernelRoute(u.Route, c.ifindex, c.shared); ok {
				c.broadcast(control{add: u.Type == unix.RTM_NEWROUTE, route: r})
			}
		case u, ok := <-c.sub.neighs:
			if !ok {
				c.lost("neighbour")
				continue
			}
			if ip, mac, ok := kernelNeighbour(u.Neigh, c.ifindex); ok && u.Type == unix.RTM_NEWNEIGH {
				c.broadcast(control{neighbour: true, ip: ip, mac: mac})
			}
		case u, ok := <-c.sub.links:
			if !ok {
				c.lost("link")
				continue
			}
			if int(u.Index) == c.ifindex {
				// The device's state changed: take a snapshot once
				// the kernel is done with it.
				settle.Reset(linkSettle)
				settling = true
			}
		case <-settle.C:
			if !settling {
				continue
			}
			settling = false
			if err := c.resync(); err != nil {
				c.subscriptionErrors.Add(1)
				c.noteError(err)
				c.end()
			}
		case <-c.kill:
			c.lost("every")
		case <-c.wake:
			c.resolve()
		case <-c.done:
			c.setState(ControlStopped)
			return
		}
	}
}

// lost ends the session whose what subscription ended; the loop starts
// the next one.
func (c *controlPlane) lost(what string) {
	c.subscriptionsLost.Add(1)
	c.end()
	c.setState(ControlResyncing)
	c.logf("stack: control plane: the kernel's %s subscription ended (socket overflow or error); subscribing again and resynchronising", what)
}

// failed records a failed session start: n in a row, the next in wait.
func (c *controlPlane) failed(err error, n int, wait time.Duration) {
	now := time.Now()
	c.mu.Lock()
	if c.status.State != ControlFailing {
		c.status.State, c.status.Since = ControlFailing, now
	}
	c.status.Error, c.status.ErrorAt, c.status.Failures, c.status.Retry = err.Error(), now, n, now.Add(wait)
	c.mu.Unlock()
	c.logf("stack: control plane: %v (attempt %d failed; retrying in %v; the engines keep the routes they have)", err, n, wait)
}

// noteError records and logs an error that did not end the session.
func (c *controlPlane) noteError(err error) {
	c.mu.Lock()
	c.status.Error, c.status.ErrorAt = err.Error(), time.Now()
	c.mu.Unlock()
	c.logf("%v", err)
}

func (c *controlPlane) setState(state string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.status.State != state {
		c.status.State, c.status.Since = state, time.Now()
	}
	if state != ControlFailing {
		c.status.Failures, c.status.Retry = 0, time.Time{}
	}
}

// state returns the status; any goroutine.
func (c *controlPlane) state() ControlStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status
}

// sleep waits for d, answering the engines' requests meanwhile; false
// when the control plane stops.
func (c *controlPlane) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			return true
		case <-c.wake:
			c.resolve()
		case <-c.kill:
		case <-c.done:
			c.setState(ControlStopped)
			return false
		}
	}
}

// broadcast hands m to every running engine, waiting while an engine's
// ring is full (engines drain it every poll). An engine that has stopped
// is skipped, so one that died cannot stall the others' updates.
func (c *controlPlane) broadcast(m control) {
	var t *time.Timer
	for _, e := range c.engines {
		for !e.in.push(m) {
			if t == nil {
				t = time.NewTimer(100 * time.Microsecond)
				defer t.Stop()
			} else {
				t.Reset(100 * time.Microsecond)
			}
			select {
			case <-c.done:
				return
			case <-e.done:
				c.updatesDropped.Add(1)
				goto next
			case <-t.C:
			}
		}
	next:
	}
}

// resolve answers the engines' requests for neighbours (shared mode):
// with the kernel's entry when it has a usable one, and in every case by
// asking the kernel to resolve, or re-confirm, it (NTF_USE: the kernel
// sends its ARP request as if it had a packet to send there). The answer
// arrives as a neighbour update.
func (c *controlPlane) resolve() {
	for _, e := range c.engines {
		for {
			ip, ok := e.out.pop()
			if !ok {
				break
			}
			if mac, ok := c.lookup(ip); ok {
				c.broadcast(control{neighbour: true, ip: ip, mac: mac})
			}
			n := &netlink.Neigh{LinkIndex: c.ifindex, Family: family(ip), IP: net.IP(ip.AsSlice()), Flags: netlink.NTF_USE}
			if err := c.nl.NeighSet(n); err != nil {
				c.resolveErrors.Add(1)
			}
		}
	}
}

// lookup returns the kernel's usable entry for ip.
func (c *controlPlane) lookup(ip netip.Addr) (ether.Addr, bool) {
	list, err := c.nl.NeighList(c.ifindex, family(ip))
	if err != nil {
		return ether.Addr{}, false
	}
	for _, n := range list {
		if a, mac, ok := kernelNeighbour(n, c.ifindex); ok && a == ip {
			return mac, true
		}
	}
	return ether.Addr{}, false
}

// family is ip's address family for netlink.
func family(ip netip.Addr) int {
	if ip.Is6() {
		return unix.AF_INET6
	}
	return unix.AF_INET
}

// kernelNeighbour converts a kernel neighbour entry (of either family) on
// ifindex with a usable link-layer address.
func kernelNeighbour(n netlink.Neigh, ifindex int) (netip.Addr, ether.Addr, bool) {
	const usable = unix.NUD_REACHABLE | unix.NUD_STALE | unix.NUD_DELAY | unix.NUD_PROBE | unix.NUD_PERMANENT | unix.NUD_NOARP
	if n.LinkIndex != ifindex || n.State&usable == 0 || len(n.HardwareAddr) != 6 {
		return netip.Addr{}, ether.Addr{}, false
	}
	ip, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Addr{}, ether.Addr{}, false
	}
	var mac ether.Addr
	copy(mac[:], n.HardwareAddr)
	if mac == (ether.Addr{}) {
		return netip.Addr{}, ether.Addr{}, false
	}
	return ip.Unmap(), mac, true
}

// kernelRoute converts a kernel route through ifindex in the main table.
// In dedicated mode the engine sends from its own addresses, so the
// kernel's preferred source is dropped; in shared mode it is kept.
func kernelRoute(kr netlink.Route, ifindex int, shared bool) (ipv4.Route, bool) {
	if kr.LinkIndex != ifindex || kr.Table != unix.RT_TABLE_MAIN || kr.Type != unix.RTN_UNICAST || len(kr.MultiPath) > 0 {
		return ipv4.Route{}, false
	}
	r := ipv4.Route{Prefix: netip.PrefixFrom(netip.IPv4Unspecified(), 0), Metric: kr.Priority}
	if kr.Dst != nil {
		a, ok := netip.AddrFromSlice(kr.Dst.IP)
		ones, bits := kr.Dst.Mask.Size()
		if !ok || !a.Unmap().Is4() || bits != 32 {
			return ipv4.Route{}, false
		}
		r.Prefix = netip.PrefixFrom(a.Unmap(), ones).Masked()
	}
	if kr.Gw != nil {
		gw, ok := netip.AddrFromSlice(kr.Gw)
		if !ok || !gw.Unmap().Is4() {
			return ipv4.Route{}, false
		}
		r.Gateway = gw.Unmap()
	}
	if shared && kr.Src != nil {
		if src, ok := netip.AddrFromSlice(kr.Src); ok && src.Unmap().Is4() {
			r.Src = src.Unmap()
		}
	}
	return r, true
}

// kernelRoute6 is kernelRoute for IPv6: a unicast route through ifindex
// in the main table, but fe80::/64, which every engine has.
func kernelRoute6(kr netlink.Route, ifindex int, shared bool) (ipv6.Route, bool) {
	if kr.LinkIndex != ifindex || kr.Table != unix.RT_TABLE_MAIN || kr.Type != unix.RTN_UNICAST || len(kr.MultiPath) > 0 {
		return ipv6.Route{}, false
	}
	r := ipv6.Route{Prefix: netip.PrefixFrom(netip.IPv6Unspecified(), 0), Metric: kr.Priority}
	if kr.Dst != nil {
		a, ok := netip.AddrFromSlice(kr.Dst.IP)
		ones, bits := kr.Dst.Mask.Size()
		if !ok || !a.Is6() || a.Is4In6() || bits != 128 {
			return ipv6.Route{}, false
		}
		r.Prefix = netip.PrefixFrom(a, ones).Masked()
	}
	if r.Prefix == linkLocal {
		return ipv6.Route{}, false
	}
	if kr.Gw != nil {
		gw, ok := netip.AddrFromSlice(kr.Gw)
		if !ok || !gw.Is6() || gw.Is4In6() {
			return ipv6.Route{}, false
		}
		r.Gateway = gw
	}
	if shared && kr.Src != nil {
		if src, ok := netip.AddrFromSlice(kr.Src); ok && src.Is6() && !src.Is4In6() {
			r.Src = src
		}
	}
	return r, true
}
