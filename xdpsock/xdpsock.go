package xdpsock

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/fastpathnet/fastpath/ether"
	"github.com/fastpathnet/fastpath/gen"
	"github.com/fastpathnet/fastpath/port"
	"github.com/fastpathnet/fastpath/rings"
	"github.com/fastpathnet/fastpath/steering"
)

// Bench is one of xdpsock's modes.
type Bench string

// The modes.
const (
	TXOnly Bench = "txonly"
	RXDrop Bench = "rxdrop"
	L2Fwd  Bench = "l2fwd"
)

// ErrConfig: a Config field is out of range.
var ErrConfig = errors.New("invalid bench configuration")

// Config is a benchmark run.
type Config struct {
	Bench Bench
	// Port is the device, namespace, queues, cores and socket options.
	// For rxdrop and l2fwd, Port.Program is RedirectProgram (the minimal
	// program, as xdpsock's) or SteeringProgram (the engine's, every frame
	// parsed: Open's Default is set to Engine). txonly opens no RX ring and
	// no program.
	Port port.Options
	// Batch is the descriptors per ring operation.
	Batch int
	// Size (txonly) is the Ethernet frame length with its FCS.
	Size int
	// Dst (txonly) is the destination; DstMAC, when zero, is resolved.
	Dst    netip.AddrPort
	DstMAC ether.Addr
}

// QueueResult is one queue's figures.
type QueueResult struct {
	Queue int `json:"queue"`
	// Packets and Bytes: rxdrop and l2fwd count frames received; txonly
	// counts frames completed (left the queue).
	Packets uint64 `json:"packets"`
	Bytes   uint64 `json:"bytes"`
	// Sent (l2fwd) is the frames sent back that the kernel completed.
	Sent        uint64  `json:"sent,omitempty"`
	PPS         float64 `json:"pps"`
	BPS         float64 `json:"bps"`
	RXDropped   uint64  `json:"rx_dropped"`
	RXRingFull  uint64  `json:"rx_ring_full"`
	FillEmpty   uint64  `json:"rx_fill_ring_empty"`
	TXInvalid   uint64  `json:"tx_invalid_descs"`
	TXRingEmpty uint64  `json:"tx_ring_empty"`
	Kicks       uint64  `json:"kicks,omitempty"`
}

// Result is a run's summary.
type Result struct {
	Kernel     string  `json:"kernel"`
	Bench      Bench   `json:"bench"`
	Device     string  `json:"device"`
	Mode       string  `json:"mode"`
	XDPMode    string  `json:"xdp_mode"`
	NeedWakeup bool    `json:"need_wakeup"`
	BusyPoll   bool    `json:"busy_poll"`
	Batch      int     `json:"batch"`
	Size       int     `json:"size,omitempty"`
	Cores      []int   `json:"cores,omitempty"`
	DurationS  float64 `json:"duration_s"`
	Packets    uint64  `json:"packets"`
	Bytes      uint64  `json:"bytes"`
	// Sent (l2fwd) is the frames sent back and completed, of Packets
	// received.
	Sent         uint64        `json:"sent,omitempty"`
	PPS          float64       `json:"pps"`
	BPS          float64       `json:"bps"`
	L1BPS        float64       `json:"l1_bps"`
	LinkMbps     int           `json:"link_mbps"`
	LineRateFrac float64       `json:"line_rate_fraction"`
	Queues       []QueueResult `json:"queues"`
	Interrupted  bool          `json:"interrupted"`
}

// Run is a running benchmark.
type Run struct {
	cfg    Config
	port   *port.Port // rxdrop, l2fwd
	gen    *gen.Run   // txonly
	loops  []*loop
	stats0 []port.Stats
	stop   atomic.Bool
	start  time.Time
	closed bool
}

func (c *Config) check() error {
	switch c.Bench {
	case TXOnly, RXDrop, L2Fwd:
	default:
		return fmt.Errorf("xdpsock: bench %q: %w: use txonly, rxdrop or l2fwd", c.Bench, ErrConfig)
	}
	ring := max(c.Port.XSK.RXSize, c.Port.XSK.TXSize)
	if c.Batch < 1 || uint32(c.Batch) > ring {
		return fmt.Errorf("xdpsock: batch %d: %w: use 1 to the ring size (%d)", c.Batch, ErrConfig, ring)
	}
	if c.Bench != TXOnly && c.Port.Program == port.NoProgram {
		return fmt.Errorf("xdpsock: %s: %w: it needs a program (redirect or steer)", c.Bench, ErrConfig)
	}
	return nil
}

// Start opens the queues and starts one pinned loop per queue.
func Start(ctx context.Context, c Config) (*Run, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	r := &Run{cfg: c}
	if c.Bench == TXOnly {
		return r, r.startTX(ctx)
	}
	if c.Bench == RXDrop {
		c.Port.XSK.TXSize = 0
	}
	c.Port.Steering.Default = steering.Engine
	var err error
	if r.port, err = port.Open(c.Port); err != nil {
		return nil, fmt.Errorf("xdpsock: %w", err)
	}
	for _, q := range r.port.Queues {
		st, _ := q.Stats()
		r.stats0 = append(r.stats0, st)
		r.loops = append(r.loops, &loop{q: q, fwd: c.Bench == L2Fwd, batch: c.Batch})
	}
	r.start = time.Now()
	r.port.Go(func(q *port.Queue) error {
		for _, l := range r.loops {
			if l.q == q {
				l.run(&r.stop)
			}
		}
		return nil
	})
	return r, nil
}

// startTX starts txonly: gen's senders, one flow, unpaced.
func (r *Run) startTX(ctx context.Context) error {
	c := r.cfg
	spec := gen.Spec{Dst: c.Dst, DstMAC: c.DstMAC, Sizes: []gen.SizeWeight{{Size: c.Size, Weight: 1}}}
	g, err := gen.Start(ctx, gen.Config{Port: c.Port, Spec: spec, Batch: c.Batch})
	if err != nil {
		return err
	}
	r.gen = g
	for _, q := range g.Queues() {
		st, _ := q.KernelStats() // the senders run: the kernel's part only
		r.stats0 = append(r.stats0, st)
	}
	r.start = g.Started()
	return nil
}

// Modes are what the queues were opened with.
func (r *Run) Modes() port.Modes {
	if r.gen != nil {
		return r.gen.Info().Modes
	}
	return r.port.Modes()
}

// Started is when the loops started.
func (r *Run) Started() time.Time { return r.start }

// Queues are the run's queues.
func (r *Run) Queues() []*port.Queue {
	if r.gen != nil {
		return r.gen.Queues()
	}
	return r.port.Queues
}

// Done is closed when every loop has returned.
func (r *Run) Done() <-chan struct{} {
	if r.gen != nil {
		return r.gen.Done()
	}
	return r.port.Done()
}

// Totals returns the packets and bytes counted so far, from any goroutine.
func (r *Run) Totals() (pkts, bytes uint64) {
	if r.gen != nil {
		st := r.gen.Stats()
		return st.Completed, st.Completed * uint64(r.cfg.Size-gen.FCSLen)
	}
	for _, l := range r.loops {
		pkts += l.pkts.Load()
		bytes += l.bytes.Load()
	}
	return pkts, bytes
}

// QueueTotals returns queue i's packets and bytes so far.
func (r *Run) QueueTotals(i int) (pkts, bytes uint64) {
	if r.gen != nil {
		st := r.gen.Senders()[i].Stats()
		return st.Completed, st.Completed * uint64(r.cfg.Size-gen.FCSLen)
	}
	return r.loops[i].pkts.Load(), r.loops[i].bytes.Load()
}

// Pause pauses or resumes txonly's senders; the receive loops cannot be.
func (r *Run) Pause(p bool) error {
	if r.gen == nil {
		return fmt.Errorf("xdpsock: %s cannot pause: only txonly can", r.cfg.Bench)
	}
	r.gen.Pause(p)
	return nil
}

// Stop stops the loops, waits for them, closes the queues and returns the
// summary.
func (r *Run) Stop(interrupted bool) (Result, error) {
	if r.closed {
		return Result{}, errors.New("xdpsock: stopped already")
	}
	r.closed = true
	r.stop.Store(true)
	var err error
	var modes port.Modes
	var facts port.Facts
	if r.gen != nil {
		err = r.gen.Stop()
		in := r.gen.Info()
		modes, facts.Kernel, facts.LinkMbps = in.Modes, in.Kernel, in.LinkMbps
		modes.XDP = "none (TX only)"
	} else {
		err = r.port.Wait()
		modes, facts = r.port.Modes(), r.port.Facts
	}
	d := time.Since(r.start)
	c := r.cfg
	res := Result{Kernel: facts.Kernel, Bench: c.Bench, Device: c.Port.Device, Mode: modes.AFXDP.String(), XDPMode: modes.XDP,
		NeedWakeup: modes.NeedWakeup, BusyPoll: c.Port.XSK.BusyPoll.Enable, Batch: c.Batch, Cores: c.Port.Cores,
		DurationS: d.Seconds(), LinkMbps: facts.LinkMbps}
	if c.Bench == TXOnly {
		res.Size = c.Size
	}
	for i, q := range r.Queues() {
		res.Queues = append(res.Queues, r.queueResult(i, q, res.DurationS))
	}
	res.finish()
	res.Interrupted = interrupted
	if r.gen != nil {
		err = errors.Join(err, r.gen.Close())
	} else {
		err = errors.Join(err, r.port.Close())
	}
	return res, err
}

// queueResult is queue i's figures over d seconds.
func (r *Run) queueResult(i int, q *port.Queue, d float64) QueueResult {
	x, _ := q.Stats()
	s0 := r.stats0[i]
	qr := QueueResult{Queue: q.ID,
		RXDropped: x.RXDropped - s0.RXDropped, RXRingFull: x.RXRingFull - s0.RXRingFull,
		FillEmpty: x.RXFillRingEmpty - s0.RXFillRingEmpty, TXInvalid: x.TXInvalidDescs - s0.TXInvalidDescs,
		TXRingEmpty: x.TXRingEmpty - s0.TXRingEmpty}
	qr.Packets, qr.Bytes = r.QueueTotals(i)
	if r.gen != nil {
		qr.Kicks = r.gen.Senders()[i].Stats().Kicks
	} else if r.loops[i].fwd {
		qr.Sent = r.loops[i].sent.Load()
	}
	qr.PPS = float64(qr.Packets) / d
	qr.BPS = float64(qr.Bytes+gen.FCSLen*qr.Packets) * 8 / d
	return qr
}

// finish sums the queues and computes the rates.
func (r *Result) finish() {
	for _, q := range r.Queues {
		r.Packets += q.Packets
		r.Bytes += q.Bytes
		r.Sent += q.Sent
	}
	r.PPS = float64(r.Packets) / r.DurationS
	r.BPS = float64(r.Bytes+gen.FCSLen*r.Packets) * 8 / r.DurationS
	r.L1BPS = float64(r.Bytes+(gen.FCSLen+gen.L1Overhead)*r.Packets) * 8 / r.DurationS
	if r.LinkMbps > 0 {
		r.LineRateFrac = r.L1BPS / (float64(r.LinkMbps) * 1e6)
	}
}

// loop is one queue's receive loop (rxdrop, l2fwd).
type loop struct {
	q                 *port.Queue
	fwd               bool
	batch             int
	pkts, bytes, sent atomic.Uint64
}

func (b *loop) run(stop *atomic.Bool) {
	s := b.q.Sock
	descs := make([]rings.Desc, b.batch)
	addrs := make([]uint64, b.batch)
	area := s.UMEM()
	frameMask := ^uint64(area.FrameSize() - 1)
	var pkts, bytes uint64
	s.Refill()
	for i := 0; !stop.Load(); i++ {
		n := s.Receive(descs)
		if n == 0 {
			// Touch only what the kernel needs from us: a wakeup when it
			// asks for one, and (l2fwd) the TX side. Reading the fill
			// ring's consumer index here on every empty pass would pull
			// a cache line the kernel writes on the other core.
			s.WakeRX()
			if b.fwd {
				s.KickTX()
				s.Complete()
				s.Refill()
			}
			if i&1023 == 0 {
				b.publish(pkts, bytes) // idle: the last frames show
			}
			continue
		}
		for j := range n {
			bytes += uint64(descs[j].Len)
		}
		pkts += uint64(n)
		if b.fwd {
			b.forward(descs[:n])
		} else {
			// Hand the frames straight back to the fill ring, as xdpsock
			// does; what does not fit goes to the allocator.
			for j := range n {
				addrs[j] = descs[j].Addr & frameMask
			}
			if put := s.Fill.Put(addrs[:n]); put < n {
				s.Frames.FreeN(addrs[put:n])
				s.Refill()
			}
		}
		if i&63 == 0 {
			b.publish(pkts, bytes)
		}
	}
	b.publish(pkts, bytes)
}

// forward swaps the MACs of the received frames in place and sends them
// back; what the TX ring cannot take is freed.
func (b *loop) forward(descs []rings.Desc) {
	s := b.q.Sock
	area := s.UMEM()
	for j := range descs {
		h := ether.Header(area.Packet(descs[j].Addr, descs[j].Len))
		dst, src := h.Dst(), h.Src()
		h.SetDst(src)
		h.SetSrc(dst)
	}
	put := s.Transmit(descs)
	for j := put; j < len(descs); j++ {
		s.Frames.Free(descs[j].Addr)
	}
	s.KickTX()
	s.Complete()
	s.Refill()
}

func (b *loop) publish(pkts, bytes uint64) {
	b.pkts.Store(pkts)
	b.bytes.Store(bytes)
	if b.fwd {
		b.sent.Store(b.q.Sock.Counters().Completed)
	}
}
