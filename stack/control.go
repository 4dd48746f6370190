package stack

import (
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/fastpathnet/fastpath/ether"
	"github.com/fastpathnet/fastpath/ipv4"
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
type controlPlane struct {
	ifindex int
	shared  bool // shared mode: neighbours too, and the kernel's sources
	engines []engineLink
	wake    <-chan struct{}
	ns      netns.NsHandle // the stack's namespace, for (re)subscribing
	nl      *netlink.Handle
	routes  chan netlink.RouteUpdate
	neighs  chan netlink.NeighUpdate
	done    chan struct{}
	wait    chan struct{}

	// Counts, read by Stack.Counters from any goroutine.
	resolveErrors     atomic.Uint64
	subscriptionsLost atomic.Uint64
	updatesDropped    atomic.Uint64
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
// which ends the subscription (the control plane then subscribes again,
// listing what exists, and counts it in SubscriptionsLost).
const subscriptionBuffer = 4 << 20

// startControlPlane subscribes, in the calling thread's network
// namespace, to the kernel's routes through ifindex (and in shared mode
// its neighbours), and starts the control plane for engines.
func startControlPlane(ifindex int, shared bool, engines []engineLink, wake <-chan struct{}) (*controlPlane, error) {
	c := &controlPlane{ifindex: ifindex, shared: shared, engines: engines, wake: wake, done: make(chan struct{}), wait: make(chan struct{})}
	var err error
	if c.ns, err = netns.GetFromPath("/proc/thread-self/ns/net"); err != nil {
		return nil, fmt.Errorf("stack: current network namespace: %w", err)
	}
	fail := func(err error) (*controlPlane, error) {
		close(c.done)
		c.drain()
		c.ns.Close()
		if c.nl != nil {
			c.nl.Close()
		}
		return nil, err
	}
	if err := c.subscribeRoutes(); err != nil {
		return fail(err)
	}
	if shared {
		if c.nl, err = netlink.NewHandle(unix.NETLINK_ROUTE); err != nil {
			return fail(fmt.Errorf("stack: netlink: %w", err))
		}
		if err := c.subscribeNeighbours(); err != nil {
			return fail(err)
		}
	}
	go c.run()
	return c, nil
}

func (c *controlPlane) subscribeRoutes() error {
	c.routes = make(chan netlink.RouteUpdate, 256)
	err := netlink.RouteSubscribeWithOptions(c.routes, c.done, netlink.RouteSubscribeOptions{
		Namespace: &c.ns, ListExisting: true, ReceiveBufferSize: subscriptionBuffer, ErrorCallback: func(error) {},
	})
	if err != nil {
		c.routes = nil
		return fmt.Errorf("stack: subscribe to the kernel's routes: %w", err)
	}
	return nil
}

func (c *controlPlane) subscribeNeighbours() error {
	c.neighs = make(chan netlink.NeighUpdate, 256)
	err := netlink.NeighSubscribeWithOptions(c.neighs, c.done, netlink.NeighSubscribeOptions{
		Namespace: &c.ns, ListExisting: true, ReceiveBufferSize: subscriptionBuffer, ErrorCallback: func(error) {},
	})
	if err != nil {
		c.neighs = nil
		return fmt.Errorf("stack: subscribe to the kernel's neighbours: %w", err)
	}
	return nil
}

// drain empties the subscription channels in the background until the
// library closes them (it does once done is closed), so that its
// goroutines, blocked on a full channel, can return.
func (c *controlPlane) drain() {
	if ch := c.routes; ch != nil {
		go func() {
			for range ch {
			}
		}()
	}
	if ch := c.neighs; ch != nil {
		go func() {
			for range ch {
			}
		}()
	}
}

// stop ends the control plane and waits for it.
func (c *controlPlane) stop() {
	close(c.done)
	<-c.wait
	c.drain()
	c.ns.Close()
	if c.nl != nil {
		c.nl.Close()
	}
}

func (c *controlPlane) run() {
	defer close(c.wait)
	for {
		select {
		case u, ok := <-c.routes:
			if !ok {
				// The socket overflowed or failed: subscribe again,
				// listing the routes that exist now.
				c.subscriptionsLost.Add(1)
				if c.subscribeRoutes() != nil {
					c.wait2(time.Second)
					c.subscribeRoutes()
				}
				continue
			}
			if r, ok := kernelRoute(u.Route, c.ifindex, c.shared); ok {
				c.broadcast(control{add: u.Type == unix.RTM_NEWROUTE, route: r})
			}
		case u, ok := <-c.neighs:
			if !ok {
				c.subscriptionsLost.Add(1)
				if c.subscribeNeighbours() != nil {
					c.wait2(time.Second)
					c.subscribeNeighbours()
				}
				continue
			}
			if ip, mac, ok := kernelNeighbour(u.Neigh, c.ifindex); ok && u.Type == unix.RTM_NEWNEIGH {
				c.broadcast(control{neighbour: true, ip: ip, mac: mac})
			}
		case <-c.wake:
			c.resolve()
		case <-c.done:
			return
		}
	}
}

// wait2 waits for d or the end of the control plane.
func (c *controlPlane) wait2(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-c.done:
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
			n := &netlink.Neigh{LinkIndex: c.ifindex, Family: unix.AF_INET, IP: net.IP(ip.AsSlice()), Flags: netlink.NTF_USE}
			if err := c.nl.NeighSet(n); err != nil {
				c.resolveErrors.Add(1)
			}
		}
	}
}

// lookup returns the kernel's usable entry for ip.
func (c *controlPlane) lookup(ip netip.Addr) (ether.Addr, bool) {
	list, err := c.nl.NeighList(c.ifindex, unix.AF_INET)
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

// kernelNeighbour converts a kernel neighbour entry on ifindex with a
// usable link-layer address.
func kernelNeighbour(n netlink.Neigh, ifindex int) (netip.Addr, ether.Addr, bool) {
	const usable = unix.NUD_REACHABLE | unix.NUD_STALE | unix.NUD_DELAY | unix.NUD_PROBE | unix.NUD_PERMANENT | unix.NUD_NOARP
	if n.LinkIndex != ifindex || n.State&usable == 0 || len(n.HardwareAddr) != 6 {
		return netip.Addr{}, ether.Addr{}, false
	}
	ip, ok := netip.AddrFromSlice(n.IP)
	if !ok || !ip.Unmap().Is4() {
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
