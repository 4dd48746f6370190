package stack

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync/atomic"
	"time"

	"github.com/fastpathnet/fastpath/arp"
	"github.com/fastpathnet/fastpath/ether"
	"github.com/fastpathnet/fastpath/ipv4"
	"github.com/fastpathnet/fastpath/ipv6"
	"github.com/fastpathnet/fastpath/port"
	"github.com/fastpathnet/fastpath/rings"
	"github.com/fastpathnet/fastpath/tcp"
	"github.com/fastpathnet/fastpath/xsk"
)

// Engine runs one device queue to completion on one goroutine locked to
// one OS thread (pinned to a core when configured): refill, receive a
// batch, demultiplex, run the handlers, transmit a batch, reclaim
// completions, fire due timers. It owns its socket, UMEM, neighbour cache,
// routes and counters; nothing on its hot path is shared or locked.
type Engine struct {
	queue int
	core  int   // -1: not pinned
	wall  int64 // the wall clock at monotonic 0, in ns (anchorWall)
	cfg   *Config
	sock  *xsk.Socket
	mac   ether.Addr
	// txOff is where the engine's own frames start in their UMEM frame:
	// after the TX metadata space, when the UMEM has one. frameMask is
	// FrameSize-1. csumOffload: TCP checksums are requested through TX
	// metadata (Config.TXChecksum).
	txOff       uint64
	frameMask   uint64
	csumOffload bool
	// veth: the device is a veth, whose peer may leave TCP and UDP
	// checksums partial (engine_partial.go). partialNoted: this engine
	// has told the stack, on partialSeen (shared by its engines,
	// capacity 1), that it met one.
	veth, partialNoted bool
	partialSeen        chan struct{}
	// owned lists the engine's addresses; routes holds their prefixes
	// (on-link) and the default route, which static lists (from Config:
	// a snapshot of the kernel's routes keeps them), and the kernel's
	// routes (ImportRoutes, shared mode).
	owned []netip.Addr
	// ownedSet holds owned as a set when there are many (a load
	// generator's client addresses), for owns.
	ownedSet map[netip.Addr]struct{}
	static   []ipv4.Route
	routes   *ipv4.Table
	// IPv6 (engine_ipv6.go): its routes, the addresses still under
	// duplicate address detection (not in owned until it ends, at
	// dadUntil), and the solicited-node groups of both, which the
	// engine listens to.
	routes6   *ipv6.Table
	static6   []ipv6.Route
	tentative []netip.Addr
	dadUntil  int64
	dadSent   int
	dad       atomic.Pointer[[]DADConflict] // set when DAD ends: what it found
	conflicts []DADConflict
	groups    []netip.Addr
	raUntil   int64 // the default route from a router advertisement, raRoute, ends; 0: none
	raRoute   ipv6.Route
	// neigh is the neighbour cache of both families: ARP's and NDP's.
	neigh   *arp.Cache
	unreach *ipv4.RateLimiter
	udp     []UDPHandler  // by destination port; nil: unbound
	tcpHost *tcp.Host     // EnableTCP; nil: TCP is dropped (DropProtocol)
	tcpCmds chan tcpCmd   // work for the TCP host from other goroutines
	peers   []*Engine     // every engine of the stack, by index
	outbox  chan outbound // datagrams Conns ask this engine to send

	// index is the engine's place in the stack. The rings to and from
	// the other engines are indexed by theirs (nil at index).
	index     int
	ctlIn     *spsc[control] // from the control plane
	peerIn    []*spsc[control]
	peerOut   []*spsc[control]
	framesIn  []*spsc[handed]
	framesOut []*spsc[handed]
	// resolveOut carries neighbours to resolve to the control plane
	// (shared mode), with a token on wake.
	resolveOut *spsc[netip.Addr]
	wake       chan struct{}

	counters  Counters
	pub       published
	tcpPub    [tcp.NumCounters]atomic.Uint64 // the TCP host's, published with the others
	onPublish func()                         // OnPublish's, run with each publication
	onRound   func(now int64) bool           // OnRound's, run every round

	rxd      []rings.Desc
	tx       []rings.Desc // frames waiting for room on the TX ring
	ready    []uint64
	requests []netip.Addr
	dropped  []uint64
	wheel    *wheel
	ipID     uint16
	now      int64
	dgram    Datagram
	// waiting counts frames held by the neighbour cache; maxWaiting caps
	// them so that unresolvable destinations cannot take every frame.
	waiting, maxWaiting int
	// starved: the last refill emptied the allocator; refill every round
	// until frames come back.
	starved bool

	stop    atomic.Bool
	running atomic.Bool
	done    chan struct{}
	err     error
}

// Timer kinds.
const (
	timerARP = iota
	timerPublish
	timerTCP
)

const (
	arpTick     = int64(100 * time.Millisecond)
	publishTick = int64(50 * time.Millisecond)
	spinBefore  = 2000 // empty polls before an adaptive engine sleeps
)

// epoch makes engine time a monotonic nanosecond count.
var epoch = time.Now()

func monotonic() int64 { return int64(time.Since(epoch)) }

// epochWall is the wall clock at epoch, in nanoseconds.
var epochWall = epoch.UnixNano()

// Clock returns the wall-clock time (Unix nanoseconds) of the engine's
// current round, read once per round: handlers timestamp with it at no
// cost. Call it on the engine goroutine.
func (e *Engine) Clock() int64 { return e.wall + e.now }

// anchorWall reads the wall clock against the engine's monotonic one, at
// every publication tick: a clock NTP or PTP stepped or slewed since the
// process started (a DaemonSet's sink outlives many runs) moves Clock
// with it within 50 ms, as it moves the senders' stamps.
func (e *Engine) anchorWall() {
	now := time.Now() // one reading of both clocks
	e.wall = now.UnixNano() - int64(now.Sub(epoch))
}

func newEngine(cfg *Config, index, queue, core int, sock *xsk.Socket, mac ether.Addr, owned []netip.Prefix) (*Engine, error) {
	ac := cfg.ARP
	// Our own MAC tells our looped-back ARP from a conflict; a random seed
	// keeps the neighbour table's hashing unpredictable to senders.
	ac.MAC, ac.HashSeed = mac, rand.Uint64()
	e := &Engine{
		index: index, queue: queue, core: core, cfg: cfg, sock: sock, mac: mac,
		routes:     ipv4.NewTable(64),
		routes6:    ipv6.NewTable(64),
		neigh:      arp.NewCache(ac),
		unreach:    ipv4.NewRateLimiter(cfg.UnreachRate, cfg.UnreachBurst),
		udp:        make([]UDPHandler, 65536),
		rxd:        make([]rings.Desc, cfg.Batch),
		tx:         make([]rings.Desc, 0, int(sock.Info().TXSize)),
		ready:      make([]uint64, 0, 256),
		requests:   make([]netip.Addr, 0, 256),
		dropped:    make([]uint64, 0, 4096),
		done:       make(chan struct{}),
		outbox:     make(chan outbound, 1024),
		ctlIn:      newSPSC[control](1024),
		resolveOut: newSPSC[netip.Addr](256),
	}
	e.anchorWall()
	e.maxWaiting = max(int(sock.Frames.Cap())/8, 1)
	e.txOff, e.frameMask = uint64(sock.UMEM().TXMetadataLen()), uint64(sock.UMEM().FrameSize()-1)
	for i, p := range owned {
		if p.Addr().Is6() {
			if err := e.addIPv6(p, owned[:i]); err != nil {
				return nil, err
			}
			continue
		}
		e.owned = append(e.owned, p.Addr())
		if cfg.Shared {
			continue // the kernel's on-link routes come with the import
		}
		if slices.ContainsFunc(owned[:i], func(o netip.Prefix) bool { return o.Masked() == p.Masked() }) {
			continue // the prefix's route is there, with the first address as its source
		}
		r := ipv4.Route{Prefix: p.Masked(), Src: p.Addr()}
		if err := e.routes.Add(r); err != nil {
			return nil, fmt.Errorf("stack: route %v: %w", p.Masked(), err)
		}
		e.static = append(e.static, r)
	}
	e.indexOwned()
	if cfg.Gateway.IsValid() {
		r := ipv4.Route{Prefix: netip.PrefixFrom(netip.IPv4Unspecified(), 0), Gateway: cfg.Gateway, Src: e.first(false)}
		if err := e.routes.Add(r); err != nil {
			return nil, fmt.Errorf("stack: default route via %v: %w", cfg.Gateway, err)
		}
		e.static = append(e.static, r)
	}
	if err := e.gateway6(); err != nil {
		return nil, err
	}
	return e, nil
}

// indexOwned builds ownedSet, when the engine owns many addresses.
func (e *Engine) indexOwned() {
	e.ownedSet = nil
	if len(e.owned) > 8 {
		e.ownedSet = make(map[netip.Addr]struct{}, len(e.owned))
		for _, a := range e.owned {
			e.ownedSet[a] = struct{}{}
		}
	}
}

// first returns the first owned address of the family (IPv6 if v6), or
// the zero Addr.
func (e *Engine) first(v6 bool) netip.Addr {
	for _, a := range e.owned {
		if a.Is6() == v6 {
			return a
		}
	}
	return netip.Addr{}
}

// Queue is the device queue the engine runs.
func (e *Engine) Queue() int { return e.queue }

// Socket is the engine's AF_XDP socket.
func (e *Engine) Socket() *xsk.Socket { return e.sock }

// Counters returns the engine's counters as last published (every 50 ms
// while it runs, and when it stops). Safe from any goroutine.
func (e *Engine) Counters() Counters { return e.pub.load() }

// Neighbours returns the engine's neighbour cache entries. Call it only
// while the engine is stopped, or from its own goroutine (a handler).
func (e *Engine) Neighbours() []arp.Entry { return e.neigh.Entries() }

// owns reports whether a is one of the engine's addresses.
func (e *Engine) owns(a netip.Addr) bool {
	if e.ownedSet != nil {
		_, ok := e.ownedSet[a]
		return ok
	}
	for _, o := range e.owned {
		if o == a {
			return true
		}
	}
	return false
}

// run is the poll loop.
func (e *Engine) run() {
	defer close(e.done)
	// On its own goroutine (Start): the thread stays pinned and dies
	// with it.
	if err := port.Pin(e.core); err != nil {
		e.err = fmt.Errorf("stack: queue %d's engine: %w", e.queue, err)
		return
	}
	e.anchorWall()
	e.now = monotonic()
	e.wheel = newWheel(int64(time.Millisecond), 256, 8, e.now)
	e.wheel.schedule(timerARP, e.now+arpTick)
	e.wheel.schedule(timerPublish, e.now+publishTick)
	if e.tcpHost != nil {
		e.wheel.schedule(timerTCP, e.now+tcpTick)
	}
	if !e.cfg.Shared {
		for _, a := range e.owned {
			if a.Is4() {
				e.sendARP(gratuitous, a, a)
				e.counters[ARPGratuitousOut]++
			}
		}
	}
	e.startDAD()
	idle := 0
	for !e.stop.Load() {
		e.now = monotonic()
		work := e.poll()
		e.wheel.advance(e.now, e.fire)
		if work {
			idle = 0
			continue
		}
		if e.cfg.Idle == IdleAdaptive {
			if idle++; idle >= spinBefore && len(e.tx) == 0 && e.sock.Outstanding() == 0 && len(e.outbox) == 0 && len(e.tcpCmds) == 0 && e.inboxEmpty() {
				// 1 ms at most: a UDPConn's WriteTo waits no longer.
				e.sock.Wait(false, 1)
				idle = 0
			}
		}
	}
	// A clean stop: everything accepted for sending is sent.
	for deadline := monotonic() + int64(time.Second); (len(e.tx) > 0 || e.sock.Outstanding() > 0) && monotonic() < deadline; {
		e.flush()
		e.sock.KickTX()
		e.sock.Complete()
	}
	e.pub.store(&e.counters)
	if e.tcpHost != nil {
		for i, v := range e.tcpHost.Counters() {
			e.tcpPub[i].Store(v)
		}
	}
	if e.onPublish != nil {
		e.onPublish()
	}
}

// OnPublish runs fn on the engine goroutine each time the engine
// publishes its counters (every 50 ms, and when it stops), so that a
// handler can keep its own counts in plain variables and publish them
// then, instead of paying an atomic store per packet. Set it before Start.
func (e *Engine) OnPublish(fn func()) { e.onPublish = fn }

// OnRound runs fn on the engine goroutine once every round, after the
// round's frames and commands are handled and before its output is
// flushed, with the round's clock (Now): the place for an application
// that acts on time rather than on packets, such as a load generator
// opening connections at a paced rate. fn reports whether it did work; an
// adaptive engine sleeps (1 ms at most) only after rounds in which
// nothing did. fn must not block. Set it before Start.
func (e *Engine) OnRound(fn func(now int64) bool) { e.onRound = fn }

// inboxEmpty reports whether nothing waits in the engine's rings from the
// control plane and its peers; an adaptive engine sleeps only then (and
// at most 1 ms: producers do not wake it).
func (e *Engine) inboxEmpty() bool {
	if !e.ctlIn.empty() {
		return false
	}
	for i := range e.peerIn {
		if e.peerIn[i] != nil && !e.peerIn[i].empty() || e.framesIn[i] != nil && !e.framesIn[i].empty() {
			return false
		}
	}
	return true
}

// poll does one round: refill, receive and handle a batch, transmit,
// reclaim. It reports whether there was anything to do.
func (e *Engine) poll() bool {
	s := e.sock
	s.WakeRX()
	n := s.Receive(e.rxd)
	for i := range n {
		e.input(e.rxd[i])
	}
	e.applyControl()
	handed := e.receiveHandovers(len(e.rxd))
	out := e.drainOutbox()
	if e.drainTCP() {
		out = true
	}
	if e.onRound != nil && e.onRound(e.now) {
		out = true
	}
	sent := e.flush()
	s.KickTX()
	done := 0
	if s.Outstanding() > 0 {
		// The completion ring's producer index is the kernel's line: read
		// it only while frames are in flight.
		done = s.Complete()
	}
	// The kernel takes fill entries only to receive into, so the fill
	// ring needs topping up only after a receive, or while the allocator
	// ran dry last time (frames come back from TX completions). Refilling
	// on every empty round would read the fill ring's consumer index, a
	// line the kernel writes on the receiving core, for nothing.
	if n > 0 || e.starved {
		s.Refill()
		e.starved = s.Frames.Len() == 0
	}
	return n > 0 || handed > 0 || sent > 0 || done > 0 || out
}

func (e *Engine) fire(kind int, now int64) {
	switch kind {
	case timerARP:
		// Both slices are stored back: grown once, reused from then on.
		e.tickDAD(now)
		e.expireRA(now)
		e.requests, e.dropped = e.neigh.Tick(now, e.requests[:0], e.dropped[:0])
		for _, ip := range e.requests {
			e.resolve(ip)
		}
		for _, h := range e.dropped {
			e.counters[DropARPFailed]++
			e.waiting--
			e.sock.Frames.Free(handleAddr(h))
		}
		e.wheel.schedule(timerARP, now+arpTick)
	case timerPublish:
		// A device that went away unbinds the socket without a word on
		// the rings: the engine stops with the kernel's error (Stack.Done
		// closes, Stack.Wait returns it).
		if err := e.sock.Err(); err != nil {
			e.err = fmt.Errorf("stack: queue %d: %w", e.queue, err)
			e.stop.Store(true)
		}
		e.anchorWall()
		e.pub.store(&e.counters)
		if e.onPublish != nil {
			e.onPublish()
		}
		if e.tcpHost != nil {
			for i, v := range e.tcpHost.Counters() {
				e.tcpPub[i].Store(v)
			}
		}
		e.wheel.schedule(timerPublish, now+publishTick)
	case timerTCP:
		e.tcpHost.Tick(now)
		e.wheel.schedule(timerTCP, now+tcpTick)
	}
}

// NextHopKnown reports whether the engine knows the link-layer address
// of the next hop towards dst (its neighbour entry is reachable, or stale
// and still used). An application about to send a burst to a new
// destination sends one frame first and the rest once this holds: while
// the neighbour is being resolved only arp.Config.QueueLen frames wait
// for it, and the others are dropped (DropARPQueueFull).
func (e *Engine) NextHopKnown(dst netip.Addr) bool {
	hop, ok := e.nextHop(dst)
	if !ok {
		return false
	}
	_, st := e.neigh.Lookup(hop, e.now)
	return st == arp.StateReachable || st == arp.StateStale || st == arp.StateProbe
}

// sourceFor is the owned address to use towards ip: the route's preferred
// source, else the first address.
func (e *Engine) sourceFor(ip netip.Addr) netip.Addr {
	if ip.Is6() {
		if r, ok := e.routes6.Lookup(ip); ok && r.Src.IsValid() {
			return r.Src
		}
		return e.first(true)
	}
	if r, ok := e.routes.Lookup(ip); ok && r.Src.IsValid() {
		return r.Src
	}
	return e.first(false)
}

// gratuitous has arp.Request's shape for sendARP.
func gratuitous(b []byte, mac ether.Addr, ip, _ netip.Addr) (int, error) {
	return arp.Gratuitous(b, mac, ip)
}

// A handle names a frame waiting for ARP: its UMEM address and length.
func handle(addr uint64, n int) uint64 { return addr | uint64(n)<<48 }
func handleAddr(h uint64) uint64       { return h & (1<<48 - 1) }
func handleLen(h uint64) uint32        { return uint32(h >> 48) }

// transmit queues the frame at addr, n bytes long, for the TX ring.
func (e *Engine) transmit(addr uint64, n int) {
	if len(e.tx) == cap(e.tx) {
		e.counters[DropTXFull]++
		e.sock.Frames.Free(addr)
		return
	}
	var opt uint32
	if e.csumOffload && addr&e.frameMask == e.txOff {
		// A frame of the engine's own (received frames start after the
		// kernel's headroom): its metadata is in front of it.
		opt = xsk.OptionTXMetadata
	}
	e.tx = append(e.tx, rings.Desc{Addr: addr, Len: uint32(n), Options: opt})
	e.counters[TXFrames]++
	e.counters[TXBytes] += uint64(n)
}

// flush moves queued frames onto the TX ring; what does not fit waits.
func (e *Engine) flush() int {
	if len(e.tx) == 0 {
		return 0
	}
	n := e.sock.Transmit(e.tx)
	e.tx = e.tx[:copy(e.tx, e.tx[n:])]
	return n
}

// frame allocates a frame and returns the address and bytes of the space
// for a packet in it (after the TX metadata, if any), or false (counted)
// when none is free.
func (e *Engine) frame() (uint64, []byte, bool) {
	addr, ok := e.sock.Frames.Alloc()
	if !ok {
		e.counters[DropNoFrame]++
		return 0, nil, false
	}
	if e.csumOffload {
		xsk.ClearMetadata(e.sock.UMEM().Frame(addr))
	}
	addr += e.txOff
	return addr, e.sock.UMEM().Frame(addr), true
}

// frameRoom is the most bytes a packet in a frame from frame may have.
func (e *Engine) frameRoom() int { return int(e.frameMask + 1 - e.txOff) }

// setChecksumOffload turns the requests of TCP checksums through TX
// metadata on or off (New, from Config.TXChecksum).
func (e *Engine) setChecksumOffload(on bool) { e.csumOffload = on && e.txOff >= xsk.TXMetadataLen }

// ChecksumOffload reports whether the engine requests its TCP checksums
// through TX metadata instead of computing them.
func (e *Engine) ChecksumOffload() bool { return e.csumOffload }

// sendARP builds an ARP frame with build (arp.Request or arp.Gratuitous)
// and transmits it.
func (e *Engine) sendARP(build func([]byte, ether.Addr, netip.Addr, netip.Addr) (int, error), src, target netip.Addr) {
	addr, b, ok := e.frame()
	if !ok {
		return
	}
	n, err := build(b, e.mac, src, target)
	if err != nil {
		e.sock.Frames.Free(addr)
		return
	}
	e.transmit(addr, n)
}

// route sends a finished IPv4 or IPv6 frame (Ethernet header's
// destination still to fill) to the next hop for dst, resolving it
// through ARP or neighbour discovery; the frame waits in the neighbour
// cache while the address resolves. It takes the
// frame in every case; errors are counted.
func (e *Engine) route(addr uint64, n int, dst netip.Addr) error {
	hop, ok := e.nextHop(dst)
	if !ok {
		e.counters[DropNoRoute]++
		e.sock.Frames.Free(addr)
		return ErrNoRoute
	}
	if e.waiting >= e.maxWaiting {
		// Too many frames already wait: send only to known neighbours.
		if mac, st := e.neigh.Lookup(hop, e.now); st == arp.StateReachable || st == arp.StateStale || st == arp.StateProbe {
			ether.Header(e.sock.UMEM().Frame(addr)).SetDst(mac)
			e.transmit(addr, n)
			return nil
		}
		e.counters[DropARPQueueFull]++
		e.sock.Frames.Free(addr)
		return nil
	}
	res := e.neigh.Resolve(hop, handle(addr, n), e.now)
	switch {
	case res.OK:
		ether.Header(e.sock.UMEM().Frame(addr)).SetDst(res.MAC)
		e.transmit(addr, n)
	case res.Queued:
		e.waiting++
	case res.Dropped:
		e.counters[DropARPQueueFull]++
		e.sock.Frames.Free(addr)
	}
	if res.SendRequest {
		e.resolve(hop)
	}
	return nil
}

// resolve asks for ip's link-layer address: by ARP or a neighbour
// solicitation in dedicated mode, from the kernel in shared mode (the
// kernel owns ARP for its addresses).
func (e *Engine) resolve(ip netip.Addr) {
	if ip.Is6() && !e.cfg.Shared {
		e.solicit(ip)
		return
	}
	if e.cfg.Shared {
		e.askKernel(ip)
		return
	}
	e.sendARP(arp.Request, e.sourceFor(ip), ip)
	e.counters[ARPRequestsOut]++
}

// release sends the frames that waited for mac.
func (e *Engine) release(handles []uint64, mac ether.Addr) {
	e.waiting -= len(handles)
	for _, h := range handles {
		addr := handleAddr(h)
		ether.Header(e.sock.UMEM().Frame(addr)).SetDst(mac)
		e.transmit(addr, int(handleLen(h)))
	}
}
