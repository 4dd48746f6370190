// Package sink counts the UDP datagrams that reach one port of fastpath's
// engines, the receiving end of a gen run: packets and bytes, and for
// stamped datagrams (gen --stamp) loss, duplicates, reordering and one-way
// latency. It runs as a handler on one engine (the stack hands it the
// datagrams every other queue receives), so it needs no lock; it publishes
// its counts through atomics for live stats, metrics and the control API.
package sink

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"sync/atomic"
	"time"

	"github.com/fastpathnet/fastpath/gen"
	"github.com/fastpathnet/fastpath/internal/kernel"
	"github.com/fastpathnet/fastpath/port"
	"github.com/fastpathnet/fastpath/stack"
)

// Config is a sink: the stack it runs on and the port it counts.
type Config struct {
	// Stack opens the device (see stack.Config; a sink usually runs in
	// shared mode, on the kernel's addresses).
	Stack stack.Config
	// Netns names the device's network namespace; "" the caller's.
	Netns string
	// Port is the UDP port counted.
	Port uint16
	// Count, when above 0, makes Reached true once that many datagrams
	// were counted.
	Count uint64
}

// DefaultConfig returns a shared-mode sink on dev's port with deep rings,
// and frames for a full RX ring and a full fill ring at once and more in
// hand: a sink descheduled for 10 ms at 400k pps loses nothing to an empty
// fill ring.
func DefaultConfig(dev string, udpPort uint16) Config {
	c := stack.DefaultConfig()
	c.Device, c.Shared = dev, true
	c.XSK.RXSize, c.XSK.UMEMOptions.FillSize = 4096, 4096
	c.XSK.UMEMOptions.FrameSize, c.XSK.UMEMOptions.FrameCount = 2048, 16384
	return Config{Stack: c, Port: udpPort}
}

// Result is a sink's summary. Bytes count frames as received (no FCS);
// pps and bps are over the time from the first packet to the last.
type Result struct {
	Kernel    string  `json:"kernel"`
	Device    string  `json:"device"`
	Port      uint16  `json:"port"`
	Queues    []int   `json:"queues"`
	Mode      string  `json:"mode"`
	XDPMode   string  `json:"xdp_mode"`
	Packets   uint64  `json:"received_packets"`
	Bytes     uint64  `json:"received_bytes"`
	DurationS float64 `json:"duration_s"`
	ActiveS   float64 `json:"active_s"`
	PPS       float64 `json:"pps"`
	BPS       float64 `json:"bps"`
	Drops     uint64  `json:"engine_drops"`
	// The engines' drops by reason (stack's counter names), those not zero.
	DropReasons map[string]uint64 `json:"engine_drop_reasons,omitempty"`
	// What the kernel could not hand the sockets (XDP_STATISTICS): the
	// RX ring was full, or the fill ring had no frame.
	KernelRXRingFull uint64            `json:"kernel_rx_ring_full"`
	KernelFillEmpty  uint64            `json:"kernel_fill_ring_empty"`
	KernelRXDropped  uint64            `json:"kernel_rx_dropped"`
	Stamp            gen.TrackerResult `json:"stamp"`
	// The stamp's figures under flat names, for scripts.
	Lost        uint64         `json:"lost_packets"`
	Duplicates  uint64         `json:"duplicate_packets"`
	Reordered   uint64         `json:"reordered_packets"`
	Latency     gen.Percentile `json:"latency_us"`
	Interrupted bool           `json:"interrupted"`
}

// Run is a running sink. Its handler runs on the owning engine; it
// publishes its counts through atomics and keeps the tracker to itself
// until the engines stop.
type Run struct {
	cfg            Config
	st             *stack.Stack
	tracker        *gen.Tracker
	n, bytes       uint64 // engine-owned
	first, last    int64  // engine clock of the first and last packet
	pubN, pubBytes atomic.Uint64
	pubLost        atomic.Uint64
	lat            Latency // engine-owned
	pubLat         [NumLatencyBuckets + 1]atomic.Uint64
	pubLatSum      atomic.Uint64 // math.Float64bits of lat.Sum
	pubNegative    atomic.Uint64
	reached        atomic.Bool
	start          time.Time
	stopped        bool
}

// Start sets the stack up in c.Netns, binds the port on the first queue's
// engine and starts the engines.
func Start(c Config) (*Run, error) {
	s := &Run{cfg: c, tracker: gen.NewTracker()}
	err := port.InNetns(c.Netns, func() (err error) {
		if s.st, err = stack.New(c.Stack); err != nil {
			return err
		}
		owner := s.st.Queues()[0]
		if err := s.st.BindUDPOn(c.Port, owner, s.handle); err != nil {
			return err
		}
		for _, e := range s.st.Engines() {
			if e.Queue() == owner {
				e.OnPublish(s.publish)
			}
		}
		return nil
	})
	if err == nil {
		err = s.st.Start()
	}
	if err != nil {
		if s.st != nil {
			s.st.Close()
		}
		return nil, fmt.Errorf("sink: %w", err)
	}
	s.start = time.Now()
	return s, nil
}

// handle runs on the owning engine for every datagram to the port.
func (s *Run) handle(d *stack.Datagram) {
	now := d.Engine().Clock()
	if s.n == 0 {
		s.first = now
	}
	s.last = now
	s.n++
	s.bytes += uint64(d.FrameLen())
	if id, seq, sent, ok := gen.ParseStamp(d.Payload); ok {
		s.tracker.Record(id, seq, sent, now)
		s.lat.record(now - sent)
	}
	// Published every 1024 packets here, and by the engine's publication
	// tick (publish): an atomic store is a full barrier on x86, too dear
	// to pay twice a packet at line rate.
	if s.n&1023 == 0 {
		s.publish()
	}
	if s.cfg.Count > 0 && s.n == s.cfg.Count {
		// Once, at the count: publishing (the loss, the buckets) every
		// packet after it would cost the packets that follow.
		s.publish()
		s.reached.Store(true)
	}
}

// publish makes the counts visible to Counts, Latency and Negative; it
// runs on the owning engine.
func (s *Run) publish() {
	s.pubN.Store(s.n)
	s.pubBytes.Store(s.bytes)
	s.pubLost.Store(s.tracker.Lost())
	s.pubNegative.Store(s.tracker.Negative())
	s.lat.flush()
	for i, n := range s.lat.Counts {
		s.pubLat[i].Store(n)
	}
	s.pubLatSum.Store(math.Float64bits(s.lat.Sum))
}

// LatencyBuckets are the upper bounds of the sink's one-way latency
// histogram (Prometheus's le): 1 µs to 1 s, at 1, 2, 3, 5 and 7 of every
// decade, so that a quantile interpolated within a bucket is off by less
// than the bucket's ratio, 1.67 at most. Hosts' histograms summed bucket
// by bucket give the fleet's quantiles, which their percentiles averaged
// cannot.
var LatencyBuckets = func() (b [NumLatencyBuckets]time.Duration) {
	d := time.Microsecond
	for i := range NumLatencyBuckets - 1 {
		b[i] = d * time.Duration([]int{1, 2, 3, 5, 7}[i%5])
		if i%5 == 4 {
			d *= 10
		}
	}
	b[NumLatencyBuckets-1] = time.Second
	return b
}()

// NumLatencyBuckets is the number of LatencyBuckets.
const NumLatencyBuckets = 31

// Latency is a histogram of one-way latencies over LatencyBuckets.
type Latency struct {
	// Counts[i] counts the latencies above LatencyBuckets[i-1] up to
	// LatencyBuckets[i]; the last, those above the largest bound.
	Counts [NumLatencyBuckets + 1]uint64
	// Sum is the latencies' sum, in seconds. A stamp from the future (the
	// sender's clock ahead of the sink's) counts as 0, as the tracker's
	// does, and is counted apart (Run.Negative).
	Sum float64
	// pending sums in nanoseconds what record added since flush: an
	// integer add a packet, and no sum of a sink's life in nanoseconds,
	// which would overflow int64 within days at line rate.
	pending int64
}

// fromOctave[j] is the first bucket a latency of j binary digits of
// microseconds can fall in (bits.Len64 of it): record walks on from
// there, past at most two bounds, as an octave holds at most two.
var fromOctave = func() (f [65]uint8) {
	for j := range f {
		lo := time.Duration(0)
		if j > 0 {
			lo = time.Duration(min(uint64(1)<<(j-1), 1<<40)) * time.Microsecond
		}
		i := 0
		for i < NumLatencyBuckets && lo > LatencyBuckets[i] {
			i++
		}
		f[j] = uint8(i)
	}
	return f
}()

// maxLatency caps what one latency adds to the sum, as the tracker caps
// its histogram: a stray stamp (a payload that only looks stamped) must
// not wrap the sum.
const maxLatency = int64(100 * time.Second)

// record counts one latency of d ns.
func (l *Latency) record(d int64) {
	d = min(max(d, 0), maxLatency)
	i := int(fromOctave[bits.Len64(uint64(d)/1000)])
	for i < NumLatencyBuckets && time.Duration(d) > LatencyBuckets[i] {
		i++
	}
	l.Counts[i]++
	l.pending += d
}

// flush adds the pending nanoseconds to Sum.
func (l *Latency) flush() {
	l.Sum += float64(l.pending) / 1e9
	l.pending = 0
}

// Latency returns the histogram of the stamped packets' one-way latency so
// far, as last published (every 1,024 packets and at the engine's
// publication tick). Safe from any goroutine.
func (s *Run) Latency() Latency {
	var l Latency
	for i := range l.Counts {
		l.Counts[i] = s.pubLat[i].Load()
	}
	l.Sum = math.Float64frombits(s.pubLatSum.Load())
	return l
}

// Negative returns the stamped packets sent, by their stamp, after the
// sink received them: the sender's clock and the sink's disagree by more
// than the path's latency, and the latency figures mean nothing (they
// count as 0). Safe from any goroutine.
func (s *Run) Negative() uint64 { return s.pubNegative.Load() }

// Counts returns the packets, bytes and stamped packets missing so far
// (a gauge: late arrivals lower it). Safe from any goroutine.
func (s *Run) Counts() (packets, bytes, lost uint64) {
	return s.pubN.Load(), s.pubBytes.Load(), s.pubLost.Load()
}

// Drain waits for frames still in flight once the sender has stopped: they
// reach the sink within microseconds, unless it was descheduled with its
// ring full of them. It waits while the count still moves, every 100 ms,
// for at most limit.
func (s *Run) Drain(limit time.Duration) {
	time.Sleep(min(200*time.Millisecond, limit))
	last, _, _ := s.Counts()
	for end := time.Now().Add(limit); time.Now().Before(end); {
		time.Sleep(100 * time.Millisecond)
		n, _, _ := s.Counts()
		if n == last {
			return
		}
		last = n
	}
}

// Reached reports whether Config.Count datagrams were counted.
func (s *Run) Reached() bool { return s.reached.Load() }

// Started is when the engines started.
func (s *Run) Started() time.Time { return s.start }

// Stack is the stack the sink runs on, for its engines' counters.
func (s *Run) Stack() *stack.Stack { return s.st }

// Stop stops the engines, builds the summary and closes the stack.
func (s *Run) Stop(interrupted bool) (Result, error) {
	if s.stopped {
		return Result{}, errors.New("sink: stopped already")
	}
	s.stopped = true
	s.st.Stop()
	werr := s.st.Wait()
	c := s.st.Counters()
	e := s.st.Engines()[0]
	r := Result{
		Device: s.cfg.Stack.Device, Port: s.cfg.Port, Queues: s.st.Queues(),
		Mode: e.Socket().Info().Mode.String(), XDPMode: s.st.Steering().Mode().String(),
		Packets: s.n, Bytes: s.bytes, DurationS: time.Since(s.start).Seconds(), Drops: c.Drops(),
		DropReasons: c.DropReasons(), Interrupted: interrupted,
	}
	r.Kernel = kernel.Release()
	if s.n > 1 && s.last > s.first {
		r.ActiveS = float64(s.last-s.first) / 1e9
		r.PPS = float64(s.n-1) / r.ActiveS
		r.BPS = float64(s.bytes+gen.FCSLen*s.n) * 8 / r.ActiveS
	}
	for _, e := range s.st.Engines() {
		if x, err := e.Socket().KernelStats(); err == nil {
			r.KernelRXRingFull += x.RXRingFull
			r.KernelFillEmpty += x.RXFillRingEmpty
			r.KernelRXDropped += x.RXDropped
		}
	}
	r.Stamp = s.tracker.Result()
	r.Lost, r.Duplicates, r.Reordered, r.Latency = r.Stamp.Lost, r.Stamp.Duplicates, r.Stamp.Reordered, r.Stamp.Latency
	return r, errors.Join(werr, s.st.Close())
}
