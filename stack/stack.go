package stack

import (
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fastpathnet/fastpath/ether"
	"github.com/fastpathnet/fastpath/internal/rss"
	"github.com/fastpathnet/fastpath/ipv6"
	"github.com/fastpathnet/fastpath/port"
	"github.com/fastpathnet/fastpath/steering"
	"github.com/fastpathnet/fastpath/xsk"
	"github.com/vishvananda/netlink"
)

// Stack is the engines of one device and its steering program.
type Stack struct {
	cfg     Config
	port    *port.Port
	steer   *steering.Steering
	engines []*Engine
	bound   map[uint16][]steering.ID
	nqueues int
	// addrs are the addresses the engines use: Config.Addrs, or in
	// shared mode the kernel's when that is empty.
	addrs []netip.Prefix
	// ctl is the control plane, nil when the mode needs none; wake
	// carries the engines' tokens to it.
	ctl     *controlPlane
	groups  *groups // IPv6 groups joined on the device (groups.go)
	wake    chan struct{}
	stopped chan struct{} // closed when the first engine stops
	mtu     int           // the device's, at New
	// rss is the device's RSS configuration when it has several queues
	// and it can be computed (Toeplitz over the TCP 4-tuple); nil
	// otherwise.
	rss    *rss.Table
	rssWhy string // why rss is nil
	// portSelection: how EnableTCP split the ephemeral range.
	portSelection string
	tcpOn         bool          // EnableTCP ran
	dials         atomic.Uint64 // DialTCP's round robin over the engines
	started       bool
	closed        bool

	// partialSeen carries the engines' news of partial checksums
	// (engine_partial.go), on a veth; partialNotice is what Config.Notice
	// then gets. noticeQuit stops the goroutine that waits for it,
	// which closes noticeDone.
	partialSeen            chan struct{}
	partialNotice          Notice
	noticeQuit, noticeDone chan struct{}
}

// New sets the stack up on cfg.Device in the calling thread's network
// namespace: attaches the steering program, binds one AF_XDP socket per
// queue and registers it, and installs the rules that hand the engines ARP
// and ICMP for their addresses. Start runs it.
func New(cfg Config) (*Stack, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	lk, err := netlink.LinkByName(cfg.Device)
	if err != nil {
		return nil, fmt.Errorf("stack: device %q: %w", cfg.Device, err)
	}
	var mac ether.Addr
	copy(mac[:], lk.Attrs().HardwareAddr)
	s := &Stack{cfg: cfg, bound: map[uint16][]steering.ID{}, mtu: lk.Attrs().MTU, wake: make(chan struct{}, 1), stopped: make(chan struct{}),
		partialSeen: make(chan struct{}, 1)}
	if s.addrs, err = addresses(lk, &cfg); err != nil {
		return nil, err
	}
	if s.port, err = port.Open(portOptions(cfg)); err != nil {
		return nil, fmt.Errorf("stack: %w", err)
	}
	s.steer, s.nqueues = s.port.Steering(), s.port.Facts.RXQueues
	s.cfg.Queues = s.port.QueueIDs()
	s.rss, s.rssWhy = readRSS(cfg.Device, s.nqueues)
	for i, q := range s.port.Queues {
		offload, err := checksumOffload(cfg.TXChecksum, q.Sock, lk.Attrs().Index)
		if err != nil {
			s.Close()
			return nil, err
		}
		e, err := newEngine(&s.cfg, i, q.ID, q.Core, q.Sock, mac, s.addrs)
		if err != nil {
			s.Close()
			return nil, err
		}
		e.setChecksumOffload(offload)
		e.veth, e.partialSeen = s.port.Facts.Driver == "veth", s.partialSeen
		s.engines = append(s.engines, e)
	}
	if s.port.Facts.Driver == "veth" && cfg.Notice != nil && !cfg.AcceptPartialChecksum {
		s.partialNotice = partialNotice(cfg.Device)
	}
	s.connect()
	if err := s.startControl(lk.Attrs().Index); err != nil {
		s.Close()
		return nil, err
	}
	if cfg.Shared {
		// ARP and ICMP stay with the kernel.
		return s, nil
	}
	for _, r := range dedicatedRules(&cfg, s.addrs) {
		if _, err := s.steer.Add(r); err != nil {
			s.Close()
			return nil, err
		}
	}
	var six []netip.Addr
	for _, p := range s.addrs {
		if p.Addr().Is6() {
			six = append(six, p.Addr())
		}
	}
	if len(six) > 0 {
		if s.groups, err = joinGroups(lk.Attrs().Index, six); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// dedicatedRules are the steering rules of dedicated mode beyond the
// bound ports: ARP and ICMP to each IPv4 address; neighbour discovery
// for each IPv6 address (solicitations and advertisements whose target
// it is, DAD's included) and ICMPv6 to it (echo, the advertisements that
// answer the engines' solicitations); router advertisements to all
// nodes, when the engines take their default route from them.
func dedicatedRules(cfg *Config, addrs []netip.Prefix) []steering.Rule {
	var rules []steering.Rule
	ra := false
	for _, p := range addrs {
		a := p.Addr()
		if a.Is4() {
			rules = append(rules,
				steering.Rule{Name: "arp " + a.String(), Proto: steering.ProtoARP, Dst: host(a), Action: steering.Engine},
				steering.Rule{Name: "icmp " + a.String(), Proto: steering.ProtoICMP, Dst: host(a), Action: steering.Engine})
			continue
		}
		rules = append(rules,
			steering.Rule{Name: "nd " + a.String(), Proto: steering.ProtoND, Dst: host(a), Action: steering.Engine},
			steering.Rule{Name: "icmpv6 " + a.String(), Proto: steering.ProtoICMPv6, Dst: host(a), Action: steering.Engine})
		ra = ra || cfg.AcceptRA && !cfg.Gateway6.IsValid()
	}
	if ra {
		rules = append(rules, steering.Rule{Name: "nd router advertisements", Proto: steering.ProtoND,
			Dst: host(ipv6.AllNodes), Action: steering.Engine})
	}
	return rules
}

// host is a's prefix of its whole length: /32 or /128.
func host(a netip.Addr) netip.Prefix { return netip.PrefixFrom(a, a.BitLen()) }

// awaitDAD waits for the engines' duplicate address detection to end
// (Config.DADTransmits seconds), and fails if it found an address in use
// on the link, or if it does not end (an engine stopped).
func (s *Stack) awaitDAD() error {
	deadline := time.Now().Add(time.Duration(s.cfg.DADTransmits)*time.Second + 3*time.Second)
	for _, e := range s.engines {
		for {
			found, done := e.DAD()
			if done {
				if len(found) > 0 {
					c := found[0]
					return fmt.Errorf("stack: address %v is in use on %s by %v (%d duplicate): %w: duplicate address detection (RFC 4862) failed; use another address, or turn DAD off (Config.DADTransmits 0) if the link's hosts are known", c.Addr, s.cfg.Device, c.MAC, len(found), ErrDuplicateAddress)
				}
				break
			}
			select {
			case <-s.stopped:
				return fmt.Errorf("stack: an engine stopped during duplicate address detection: %w", s.Wait())
			case <-time.After(10 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("stack: duplicate address detection did not end within %v", time.Duration(s.cfg.DADTransmits)*time.Second+3*time.Second)
			}
		}
	}
	return nil
}

// portOptions opens cfg.Device for the engines: the steering program (Pass
// by default), and one socket per queue in use unless cfg.Queues names
// them; the queues in use are those RSS spreads flows over, and binding one
// beyond them fails (virtio-net with more queue pairs than CPUs, igb with
// channels turned down).
func portOptions(cfg Config) port.Options {
	po := port.Options{Device: cfg.Device, Queues: cfg.Queues, Cores: cfg.Cores, XSK: cfg.XSK,
		Program: port.SteeringProgram, Steering: cfg.Steering, TXMetadataOptional: cfg.TXChecksum == ChecksumAuto}
	po.Steering.Default = steering.Pass
	if po.XSK.TXBudget > po.XSK.TXSize {
		// The default budget on a smaller TX ring: the whole ring.
		po.XSK.TXBudget = po.XSK.TXSize
	}
	if po.XSK.TXBudget < 32 {
		po.XSK.TXBudget = 0
	}
	if cfg.TXChecksum != ChecksumEngine {
		// Room for TX metadata; an older kernel refuses it, and in auto
		// mode the engine then computes the checksums.
		po.XSK.UMEMOptions.TXMetadataLen = xsk.TXMetadataLen
		po.XSK.UMEMOptions.TXSoftwareChecksum = cfg.TXChecksum == ChecksumKernel
	}
	return po
}

// addresses returns the addresses the engines use, checked against the
// kernel's on the device: dedicated mode must not take one the kernel
// holds, shared mode must use only those.
func addresses(lk netlink.Link, cfg *Config) ([]netip.Prefix, error) {
	list, err := netlink.AddrList(lk, netlink.FAMILY_ALL)
	if err != nil {
		return nil, fmt.Errorf("stack: addresses of %q: %w", cfg.Device, err)
	}
	var kernel, kernel6 []netip.Prefix
	for _, a := range list {
		ip, ok := netip.AddrFromSlice(a.IP)
		ones, _ := a.Mask.Size()
		switch {
		case ok && ip.Unmap().Is4():
			kernel = append(kernel, netip.PrefixFrom(ip.Unmap(), ones))
		case ok:
			kernel6 = append(kernel6, netip.PrefixFrom(ip, ones))
		}
	}
	all := slices.Concat(kernel, kernel6)
	holds := func(ip netip.Addr) bool {
		return slices.ContainsFunc(all, func(k netip.Prefix) bool { return k.Addr() == ip })
	}
	if !cfg.Shared {
		for _, a := range cfg.Addrs {
			if holds(a.Addr()) {
				return nil, fmt.Errorf("stack: address %v: %w: the kernel holds it on %s; use shared mode for the kernel's addresses, or an address the kernel does not hold", a.Addr(), ErrConfig, cfg.Device)
			}
		}
		return cfg.Addrs, nil
	}
	if len(cfg.Addrs) == 0 {
		for _, a := range kernel6 {
			if !a.Addr().IsLinkLocalUnicast() {
				kernel = append(kernel, a)
			}
		}
		if len(kernel) == 0 {
			return nil, fmt.Errorf("stack: %w: shared mode: %s has no address (but link-local ones); add one (ip addr add) or use dedicated mode", ErrConfig, cfg.Device)
		}
		return kernel, nil
	}
	for _, a := range cfg.Addrs {
		if !holds(a.Addr()) {
			return nil, fmt.Errorf("stack: address %v: %w: shared mode uses the kernel's addresses, and %s has %v", a.Addr(), ErrConfig, cfg.Device, all)
		}
	}
	return cfg.Addrs, nil
}

// connect builds the message rings between every ordered pair of
// engines. The frame rings (a megabyte or more each) come with the uses
// of handover that need them (enableHandover).
func (s *Stack) connect() {
	n := len(s.engines)
	for _, e := range s.engines {
		e.wake = s.wake
		e.peers = s.engines
		e.peerIn, e.peerOut = make([]*spsc[control], n), make([]*spsc[control], n)
		e.framesIn, e.framesOut = make([]*spsc[handed], n), make([]*spsc[handed], n)
	}
	for _, to := range s.engines {
		for _, from := range s.engines {
			if from != to {
				c := newSPSC[control](256)
				to.peerIn[from.index], from.peerOut[to.index] = c, c
			}
		}
	}
}

// startControl starts the control plane when the mode needs one
// (ImportRoutes, or shared mode), handing it each engine's end of the
// rings between them and nothing else.
func (s *Stack) startControl(ifindex int) error {
	if !s.cfg.ImportRoutes && !s.cfg.Shared {
		return nil
	}
	links := make([]engineLink, len(s.engines))
	for i, e := range s.engines {
		links[i] = engineLink{in: e.ctlIn, out: e.resolveOut, done: e.done}
	}
	c, err := startControlPlane(ifindex, s.cfg.Shared, links, s.wake, s.cfg.Logf)
	if err != nil {
		return err
	}
	s.ctl = c
	return nil
}

// enableHandover builds the frame rings from every other engine into each
// engine of into, slots deep, unless one at least as deep is there. Call
// it before Start.
func (s *Stack) enableHandover(into []*Engine, slots int) {
	if len(s.engines) < 2 {
		return
	}
	frameSize := int(s.engines[0].sock.UMEM().RXCapacity())
	for _, to := range into {
		for _, from := range s.engines {
			if from == to || to.framesIn[from.index] != nil && len(to.framesIn[from.index].slots) >= slots {
				continue
			}
			f := newHandoverRing(slots, frameSize)
			to.framesIn[from.index], from.framesOut[to.index] = f, f
		}
	}
}

// Addrs returns the addresses the engines use.
func (s *Stack) Addrs() []netip.Prefix { return s.addrs }

// BindUDP calls h for every datagram to port on any of the stack's
// addresses, on the engine it arrives on. Bind before Start.
func (s *Stack) BindUDP(port uint16, h UDPHandler) error {
	if s.started {
		return errors.New("stack: BindUDP after Start: bind before starting the engines")
	}
	if h == nil {
		return fmt.Errorf("stack: BindUDP %d: %w: nil handler", port, ErrConfig)
	}
	if _, ok := s.bound[port]; !ok {
		// One rule per owned address: the kernel keeps the port on its
		// own addresses.
		var ids []steering.ID
		for _, a := range s.addrs {
			id, err := s.steer.Add(steering.Rule{Name: fmt.Sprintf("udp %s:%d", a.Addr(), port), Proto: steering.ProtoUDP,
				Dst: host(a.Addr()), DstPort: steering.Port(port), Action: steering.Engine})
			if err != nil {
				for _, id := range ids {
					s.steer.Remove(id)
				}
				return err
			}
			ids = append(ids, id)
		}
		s.bound[port] = ids
	}
	for _, e := range s.engines {
		e.udp[port] = h
	}
	return nil
}

// BindUDPOn is BindUDP with the port's handler on one engine only, the
// one running queue: datagrams that arrive on other queues are handed
// over to it (Engine.Handover). A handler that keeps state needs no lock.
func (s *Stack) BindUDPOn(port uint16, queue int, h UDPHandler) error {
	var owner *Engine
	for _, e := range s.engines {
		if e.queue == queue {
			owner = e
		}
	}
	if owner == nil {
		return fmt.Errorf("stack: BindUDPOn %d: %w: no engine runs queue %d", port, ErrConfig, queue)
	}
	if err := s.BindUDP(port, h); err != nil {
		return err
	}
	s.enableHandover([]*Engine{owner}, min(int(owner.sock.RX.Size()), ownerSlotsMax))
	for _, e := range s.engines {
		if e != owner {
			e.udp[port] = func(d *Datagram) { d.e.Handover(owner, d.frame) }
		}
	}
	return nil
}

// Start runs every engine on its own goroutine.
func (s *Stack) Start() error {
	if s.started || s.closed {
		return errors.New("stack: already started or closed")
	}
	s.started = true
	if s.partialNotice.Counter == PartialChecksum { // a veth, and someone to tell
		s.noticeQuit, s.noticeDone = make(chan struct{}), make(chan struct{})
		go s.watchNotices(s.noticeQuit, s.noticeDone)
	}
	var once sync.Once
	for _, e := range s.engines {
		e.running.Store(true)
		go e.run()
		go func() {
			<-e.done
			once.Do(func() { close(s.stopped) })
		}()
	}
	// IPv6 addresses are used once DAD has found no one else holds them.
	if err := s.awaitDAD(); err != nil {
		s.Stop()
		s.Wait()
		return err
	}
	return nil
}

// Done is closed when an engine stops, by Stop or on its own (an error:
// Wait returns it).
func (s *Stack) Done() <-chan struct{} { return s.stopped }

// Stop asks every engine to stop after its current round, sending what it
// has accepted. Wait waits for them.
func (s *Stack) Stop() {
	for _, e := range s.engines {
		e.stop.Store(true)
	}
}

// Wait waits for every started engine to stop, and returns the first
// error an engine stopped with.
func (s *Stack) Wait() error {
	var err error
	for _, e := range s.engines {
		if e.running.Load() {
			<-e.done
			if e.err != nil && err == nil {
				err = e.err
			}
		}
	}
	return err
}

// Engines returns the engines, one per queue.
func (s *Stack) Engines() []*Engine { return s.engines }

// Port returns the opened device: its facts and the modes obtained.
func (s *Stack) Port() *port.Port { return s.port }

// Steering returns the steering program.
func (s *Stack) Steering() *steering.Steering { return s.steer }

// Counters sums the engines' counters.
func (s *Stack) Counters() Counters {
	var sum Counters
	for _, e := range s.engines {
		c := e.Counters()
		for i := range sum {
			sum[i] += c[i]
		}
	}
	if s.ctl != nil {
		sum[ResolveErrors] += s.ctl.resolveErrors.Load()
		sum[SubscriptionsLost] += s.ctl.subscriptionsLost.Load()
		sum[UpdatesDropped] += s.ctl.updatesDropped.Load()
		sum[SubscriptionErrors] += s.ctl.subscriptionErrors.Load()
	}
	return sum
}

// ControlStatus returns the state of the control plane, which keeps the
// engines' routes (and in shared mode neighbours) in step with the
// kernel's. Safe from any goroutine.
func (s *Stack) ControlStatus() ControlStatus {
	if s.ctl == nil {
		return ControlStatus{State: ControlOff}
	}
	return s.ctl.state()
}

// Close stops the engines, waits for them, detaches the program (so no
// frame is steered to a closing socket) and closes the sockets, unmapping
// everything. It is safe to call twice. A Stack is driven by one goroutine
// (the control plane); only Counters may be called from others.
func (s *Stack) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	s.Stop()
	errs := []error{s.Wait()}
	if s.noticeQuit != nil {
		close(s.noticeQuit)
		<-s.noticeDone
	}
	if s.ctl != nil {
		s.ctl.stop()
	}
	if s.port != nil {
		// The program first: no frame is steered to a closing socket.
		errs = append(errs, s.port.Close())
	}
	s.groups.close()
	return errors.Join(errs...)
}

// Queues returns the queues the engines run on, in engine order: those
// of Config.Queues, or every queue in use when it was empty.
func (s *Stack) Queues() []int { return s.cfg.Queues }

// UnservedQueues returns the device's queues that have no engine: flows
// that RSS puts there reach the kernel, which does not hold the engines'
// addresses.
func (s *Stack) UnservedQueues() []int {
	var out []int
	for q := 0; q < s.nqueues; q++ {
		served := false
		for _, e := range s.engines {
			served = served || e.queue == q
		}
		if !served {
			out = append(out, q)
		}
	}
	return out
}

// checksumOffload decides whether an engine on sock requests its TCP
// checksums through TX metadata.
func checksumOffload(mode ChecksumMode, sock *xsk.Socket, ifindex int) (bool, error) {
	if mode == ChecksumEngine || sock.UMEM().TXMetadataLen() < xsk.TXMetadataLen {
		if mode == ChecksumOffload || mode == ChecksumKernel {
			return false, fmt.Errorf("stack: checksum mode %v: %w: the socket's UMEM has no room for TX metadata (umem.Options.TXMetadataLen %d)", mode, ErrConfig, xsk.TXMetadataLen)
		}
		return false, nil
	}
	info := sock.Info()
	if info.Mode != xsk.ModeZeroCopy {
		return true, nil
	}
	if mode == ChecksumKernel {
		return false, fmt.Errorf("stack: checksum mode kernel: %w: the kernel computes requested checksums only in copy mode; use offload or engine with zero-copy", ErrConfig)
	}
	f, err := xsk.Features(ifindex)
	switch {
	case err == nil && f.TXChecksum():
		return true, nil
	case mode == ChecksumOffload && err != nil:
		return false, fmt.Errorf("stack: checksum mode offload on %s in zero-copy mode: %w", info.Device, err)
	case mode == ChecksumOffload:
		return false, fmt.Errorf("stack: checksum mode offload: %w: %s's driver takes no checksum requests in zero-copy mode (no tx-checksum in its xsk-features); use auto or engine", ErrConfig, info.Device)
	}
	return false, nil
}
