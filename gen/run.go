package gen

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fastpathnet/fastpath/ether"
	"github.com/fastpathnet/fastpath/port"
	"github.com/fastpathnet/fastpath/stack"
	"github.com/vishvananda/netlink"
)

// Config is a generator run on a device: where, what, how fast, how much.
type Config struct {
	// Port says which device, namespace, queues and cores, and how to
	// open them (rings, copy mode, the program if any). The sockets get
	// no RX ring. Queues nil: every TX queue in use.
	Port port.Options
	// Spec is what to send. A zero Spec.Src is the device's first address
	// of the destination's family (IPv6: global, not link-local), port
	// 1024; a zero Spec.DstMAC is resolved through the
	// kernel's routes and neighbours (ResolveTimeout); SrcMAC and MaxSize
	// come from the device.
	Spec Spec
	// Rate is the total rate, split evenly over the queues.
	Rate Rate
	// Count is the number of frames to send in all, split exactly over the
	// queues (the first Count%n send one more); 0: no limit.
	Count uint64
	// Batch is the frames per TX round, 1 to the TX ring's size.
	Batch int
	// StartAt, when set, is the wall-clock time the senders start at:
	// generators on several hosts given the same time start together,
	// to their clocks' accuracy. A time already past (or passed while the
	// queues were being opened) is an error (ErrStartPassed).
	StartAt time.Time
}

// ErrStartPassed: Config.StartAt was already past.
var ErrStartPassed = errors.New("gen: the start time has passed")

// spinBefore is how long before a start time WaitUntil stops sleeping and
// spins on the clock: more than a timer's slack.
const spinBefore = 2 * time.Millisecond

// WaitUntil returns when the wall clock reads at: hosts given the same
// time start within their clocks' agreement (NTP's milliseconds, PTP's
// microseconds), not within their timers' slack. It sleeps in steps of at
// most 100 ms, reading the wall clock again after each (a clock stepped
// meanwhile moves the start with it), then spins the last spinBefore. A
// time already past is ErrStartPassed, saying by how much; ctx ending
// first, ctx's error.
func WaitUntil(ctx context.Context, at time.Time) error {
	at = at.Round(0) // the wall clock's reading only
	if d := at.Sub(time.Now().Round(0)); d <= 0 {
		return fmt.Errorf("%w: %s was %v ago: give a later time, far enough for every host to open its queues", ErrStartPassed, at.Format(time.RFC3339Nano), (-d).Round(time.Millisecond))
	}
	for {
		d := at.Sub(time.Now().Round(0))
		switch {
		case d <= 0:
			return nil // woken late: at once
		case d <= spinBefore:
			for time.Now().Round(0).Before(at) {
			}
			return nil
		}
		t := time.NewTimer(min(d-spinBefore, 100*time.Millisecond))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
}

// ResolveTimeout bounds the resolution of the destination's MAC.
const ResolveTimeout = 3 * time.Second

// Info is what a run was set up with, resolved: for its summary.
type Info struct {
	Device, Netns string
	Queues        []int
	Cores         []int
	Modes         port.Modes
	Flows         uint64
	DstMAC        ether.Addr
	// ResolvedThrough is the next hop whose MAC DstMAC is ("" when it was
	// given): the destination, or its gateway.
	ResolvedThrough netip.Addr
	LinkMbps        int
	Kernel          string
	Spec            Spec
}

// Run is a running generator: one pinned Sender per queue.
type Run struct {
	info    Info
	port    *port.Port
	senders []*Sender            // senders[i] drives port.Queues[i]; nil: no share of Count
	weights []float64            // senders[i]'s part of the rate (Spec.queue)
	rate    atomic.Pointer[Rate] // the total rate asked, last set
	stop    atomic.Bool
	start   atomic.Pointer[time.Time] // when the senders started (Open's time until Release)
	closed  bool
	gate    chan struct{} // closed by Release (or Stop): the senders go
	opened  sync.Once     // closes gate
	startAt time.Time     // Config.StartAt
}

// Start opens the queues, resolves what c leaves out and starts the
// senders, one goroutine each, pinned to c.Port.Cores: Open, then
// Release.
func Start(ctx context.Context, c Config) (*Run, error) {
	r, err := Open(ctx, c)
	if err != nil {
		return nil, err
	}
	if err := r.Release(ctx); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// Open opens the queues, resolves what c leaves out and starts the
// senders, held at a gate until Release: a command serves its metrics
// and readiness meanwhile, while a fleet waits for its start time.
func Open(ctx context.Context, c Config) (*Run, error) {
	if c.Batch < 1 {
		return nil, fmt.Errorf("gen: batch %d: %w", c.Batch, ErrSpec)
	}
	if !c.StartAt.IsZero() && !time.Now().Before(c.StartAt) {
		return nil, fmt.Errorf("%w: %v is %v ago; give a time ahead, far enough for every host to open its queues (a few seconds)", ErrStartPassed, c.StartAt.Format(time.RFC3339Nano), time.Since(c.StartAt).Round(time.Millisecond))
	}
	c.Port.XSK.RXSize = 0 // TX only
	r := &Run{}
	r.rate.Store(&c.Rate)
	err := port.InNetns(c.Port.Netns, func() error { return r.resolve(ctx, &c) })
	if err != nil {
		return nil, err
	}
	if r.port, err = port.Open(c.Port); err != nil {
		return nil, fmt.Errorf("gen: %w", err)
	}
	if err := r.setup(c); err != nil {
		r.port.Close()
		return nil, err
	}
	// The senders start together: each, once pinned, waits until all
	// are (a second at most: a queue that failed to pin does not hold
	// up the others), so that the run's queues offer their rates over
	// the same time.
	ready, gate := make(chan struct{}, len(r.port.Queues)), make(chan struct{})
	r.gate, r.startAt = gate, c.StartAt
	r.port.Go(func(q *port.Queue) error {
		s := r.senders[r.index(q)]
		ready <- struct{}{}
		<-gate
		if s == nil {
			return nil
		}
		err := s.Run(&r.stop)
		if err != nil {
			r.stop.Store(true) // one sender failed: the run ends
		}
		return err
	})
	timeout := time.NewTimer(time.Second)
	defer timeout.Stop()
wait:
	for range r.port.Queues {
		select {
		case <-ready:
		case <-timeout.C:
			break wait
		}
	}
	now := time.Now()
	r.start.Store(&now)
	return r, nil
}

// Release starts the senders Open holds: at Config.StartAt when set
// (ErrStartPassed if it passed), at once otherwise; never once ctx is
// done. A Release that fails, or that ctx cancels before or while it
// waits, ends the senders, none having sent; the queues stay open for
// what reads their statistics until Close.
func (r *Run) Release(ctx context.Context) error {
	fail := func(err error) error {
		r.Stop()
		return err
	}
	if err := ctx.Err(); err != nil {
		return fail(err) // stopped while opening: nothing goes out
	}
	if !r.startAt.IsZero() {
		if err := WaitUntil(ctx, r.startAt); err != nil {
			return fail(err)
		}
	}
	now := time.Now()
	r.start.Store(&now)
	r.opened.Do(func() { close(r.gate) })
	return nil
}

// resolve fills in what the Spec leaves to the device: its MAC, its MTU,
// its address, and the destination's MAC.
func (r *Run) resolve(ctx context.Context, c *Config) error {
	dev := c.Port.Device
	lk, err := netlink.LinkByName(dev)
	if err != nil {
		return fmt.Errorf("gen: device %s: %w", dev, err)
	}
	copy(c.Spec.SrcMAC[:], lk.Attrs().HardwareAddr)
	c.Spec.MaxSize = lk.Attrs().MTU + ether.HeaderLen + FCSLen
	if !c.Spec.Src.IsValid() {
		family, name := netlink.FAMILY_V4, "IPv4"
		if c.Spec.Dst.Addr().Is6() {
			family, name = netlink.FAMILY_V6, "IPv6"
		}
		addrs, err := netlink.AddrList(lk, family)
		if err != nil {
			return fmt.Errorf("gen: addresses of %s: %w", dev, err)
		}
		for _, ad := range addrs {
			a, ok := netip.AddrFromSlice(ad.IP)
			if ok && (a.Unmap().Is4() || !a.IsLinkLocalUnicast() || c.Spec.Dst.Addr().IsLinkLocalUnicast()) {
				c.Spec.Src = netip.AddrPortFrom(a.Unmap(), 1024)
				break
			}
		}
		if !c.Spec.Src.IsValid() {
			return fmt.Errorf("gen: %s has no %s address to send from: give a source address (--src)", dev, name)
		}
	}
	if c.Spec.DstMAC == (ether.Addr{}) {
		rctx, cancel := context.WithTimeout(ctx, ResolveTimeout)
		defer cancel()
		p, err := stack.Resolve(rctx, dev, c.Spec.Dst.Addr())
		if err != nil {
			return fmt.Errorf("gen: %w; or give the destination MAC (--dst-mac)", err)
		}
		c.Spec.DstMAC = p.MAC
		r.info.ResolvedThrough = p.NextHop
	}
	return nil
}

// setup builds a sender for every queue with a share of the count.
func (r *Run) setup(c Config) error {
	n := len(r.port.Queues)
	// Each sender stamps a stream of its own, across shards too: queue i
	// of shard I of N stamps i*N+I, so that hosts of any queue counts
	// never share one, and a sink that takes every shard's frames tells
	// their sequences apart.
	shards := max(c.Spec.Shards, 1)
	if last := int(c.Spec.Stream) + (n-1)*shards + c.Spec.Shard; last > 255 {
		return fmt.Errorf("gen: %w: shard %d of %d's %d queues would stamp streams up to %d; streams go to 255 (fewer shards or queues, or a lower first stream)", ErrSpec, c.Spec.Shard, shards, n, last)
	}
	r.info.Flows = c.Spec.shardFlows()
	for i, q := range r.port.Queues {
		spec, part, per := c.Spec.queue(i, n, Rate{Value: 1}, c.Count)
		r.weights = append(r.weights, part.Value)
		if c.Count > 0 && per == 0 {
			r.senders = append(r.senders, nil)
			continue
		}
		b, err := NewBuilder(spec, i*shards+c.Spec.Shard)
		if err != nil {
			return err
		}
		tq, err := TXQueueOf(q.Sock)
		if err != nil {
			return err
		}
		s, err := NewSender(tq, b, c.Rate.Scale(part.Value), c.Batch, per)
		if err != nil {
			return err
		}
		r.senders = append(r.senders, s)
	}
	f := r.port.Facts
	r.info.Device, r.info.Netns, r.info.Queues, r.info.Cores = f.Device, f.Netns, r.port.QueueIDs(), c.Port.Cores
	r.info.Modes, r.info.DstMAC, r.info.LinkMbps, r.info.Kernel, r.info.Spec = r.port.Modes(), c.Spec.DstMAC, f.LinkMbps, f.Kernel, c.Spec
	return nil
}

// index is q's position among the port's queues.
func (r *Run) index(q *port.Queue) int {
	for i, x := range r.port.Queues {
		if x == q {
			return i
		}
	}
	return -1
}

// Rate is the total rate asked, as last set.
func (r *Run) Rate() Rate { return *r.rate.Load() }

// Info describes the run.
func (r *Run) Info() Info { return r.info }

// Started is when the senders started.
func (r *Run) Started() time.Time { return *r.start.Load() }

// Queues returns the run's queues, for their sockets' statistics.
func (r *Run) Queues() []*port.Queue { return r.port.Queues }

// Senders returns the senders, one per queue; nil for a queue that had no
// share of Config.Count.
func (r *Run) Senders() []*Sender { return r.senders }

// Stats sums the senders' published counts.
func (r *Run) Stats() Stats {
	var t Stats
	for _, s := range r.senders {
		if s == nil {
			continue
		}
		st := s.Stats()
		t.Sent += st.Sent
		t.Bytes += st.Bytes
		t.Completed += st.Completed
		t.RingFull += st.RingFull
		t.NoFrame += st.NoFrame
		t.Kicks += st.Kicks
		t.Behind += st.Behind
		if st.Sent > 0 && (t.First == 0 || st.First < t.First) {
			t.First = st.First
		}
		t.Last = max(t.Last, st.Last)
	}
	return t
}

// active is the number of senders.
func (r *Run) active() int {
	n := 0
	for _, s := range r.senders {
		if s != nil {
			n++
		}
	}
	return n
}

// Behind is the senders' mean time behind their schedules, in seconds.
func (r *Run) Behind(st Stats) float64 {
	n := r.active()
	if n == 0 {
		return 0
	}
	return float64(st.Behind) / 1e9 / float64(n)
}

// SetRate changes the total rate, split over the senders as at the start
// (in proportion to their flows).
func (r *Run) SetRate(rate Rate) {
	r.rate.Store(&rate)
	for i, s := range r.senders {
		if s != nil {
			s.SetRate(rate.Scale(r.weights[i]))
		}
	}
}

// Pause pauses (true) or resumes the senders.
func (r *Run) Pause(p bool) {
	for _, s := range r.senders {
		if s != nil {
			s.Pause(p)
		}
	}
}

// Paused reports whether the senders are paused.
func (r *Run) Paused() bool {
	for _, s := range r.senders {
		if s != nil {
			return s.Paused()
		}
	}
	return false
}

// Done is closed when every sender has returned: the count sent, an
// error, or Stop.
func (r *Run) Done() <-chan struct{} { return r.port.Done() }

// Stop stops the senders and waits for them (each waits up to a second for
// its frames in flight); it returns the first sender's error. The queues
// stay open for their statistics until Close.
func (r *Run) Stop() error {
	r.stop.Store(true)
	// Senders Open holds go, see the stop and return.
	r.opened.Do(func() { close(r.gate) })
	return r.port.Wait()
}

// Close stops the run if it still runs and closes the queues. It is safe
// to call twice.
func (r *Run) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	err := r.Stop()
	return errors.Join(err, r.port.Close())
}

// Sizes formats the Spec's sizes and weights as --imix takes them.
func (s Spec) SizesString() string {
	var out []string
	for _, sw := range s.Sizes {
		out = append(out, fmt.Sprintf("%d:%d", sw.Size, sw.Weight))
	}
	return strings.Join(out, ",")
}
