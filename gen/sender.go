package gen

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/fastpathnet/fastpath/rings"
	"github.com/fastpathnet/fastpath/xsk"
)

// TXQueue is what a Sender drives: a TX ring and its completion ring, the
// memory their descriptors point into, and the frames of it the sender
// owns for the whole run. TXQueueOf makes one from an AF_XDP socket; the
// benchmarks make one from rings in Go memory.
type TXQueue struct {
	TX         *rings.TX
	Completion *rings.Completion
	Area       []byte
	FrameSize  int
	Frames     []uint64
	// Kick is called after every round with the frames submitted and
	// completed in it: it does the accounting and the system call the
	// kernel needs, and reports whether it made one. Nil: nothing to kick
	// (a goroutine plays the kernel).
	Kick func(submitted, completed uint32) bool
	// Err, called by Run every ErrEvery on the sender's goroutine,
	// returns an error that ends the run: the device went away, or the
	// driver refuses every kick. Nil: never.
	Err func() error
}

// ErrEvery is how often Run calls TXQueue.Err.
const ErrEvery = 100 * time.Millisecond

// TXQueueOf takes every free frame of sock for a sender. The sender recycles
// them itself: completions go straight back to its free list, not through
// sock.Frames, and sock.Account keeps the socket's counts right.
func TXQueueOf(sock *xsk.Socket) (TXQueue, error) {
	if sock.TX == nil {
		return TXQueue{}, fmt.Errorf("gen: the socket has no TX ring")
	}
	frames := make([]uint64, sock.Frames.Len())
	frames = frames[:sock.Frames.AllocN(frames)]
	u := sock.UMEM()
	return TXQueue{
		TX: sock.TX, Completion: sock.Completion, Area: u.Area(), FrameSize: int(u.FrameSize()), Frames: frames,
		Kick: func(submitted, completed uint32) bool {
			sock.Account(submitted, completed)
			if sock.NeedsKick() {
				sock.Kick()
				return true
			}
			return false
		},
		Err: func() error {
			if err := sock.Err(); err != nil {
				return err
			}
			return sock.KickErr()
		},
	}, nil
}

// Stats are a sender's counts. Sent frames were put on the TX ring;
// Completed ones came back from the kernel (sent on the wire, in copy
// mode, or dropped by the driver). RingFull counts rounds the TX ring
// had less room than the batch; NoFrame rounds every frame was in flight;
// Kicks the system calls made to wake the kernel. Behind is the time, in
// nanoseconds, of a paced sender's schedule it missed (stalls longer than
// BurstTime, or a queue slower than the rate): the rate times Behind is
// what it fell short by. First and Last are when the first and the last
// frame were submitted (the sender's monotonic clock, ns; 0 before the
// first): Sent over Last-First is the rate the sender actually offered.
type Stats struct {
	Sent, Bytes, Completed, RingFull, NoFrame, Kicks, Behind uint64
	First, Last                                              int64
}

// Sender builds frames and puts them on one queue's TX ring, a batch per
// round, paced by a Bucket, recycling completed frames. Poll is its hot
// path: no allocation, no lock, nothing shared.
type Sender struct {
	port   TXQueue
	b      *Builder
	bucket *Bucket
	batch  uint32
	limit  uint64 // frames to send in all; 0: no limit
	stamp  bool
	// static: every frame is the same and was written at NewSender;
	// sends only move descriptors (as xdpsock's txonly does).
	static    bool
	staticLen uint32
	drain     bool // send nothing more; reclaim what is in flight
	free      []uint64
	stats     Stats
	pub       [9]atomic.Uint64

	// Control from other goroutines (SetRate, Pause), looked at once per
	// round through ctlGen: a plain atomic load while nothing changes.
	ctlGen  atomic.Uint64
	seenGen uint64
	newRate atomic.Pointer[Rate]
	paused  atomic.Bool
}

// NewSender returns a sender of b's frames on port, batch frames per
// round, at rate (zero: as fast as the ring takes them), stopping after
// limit frames (0: never).
func NewSender(port TXQueue, b *Builder, rate Rate, batch int, limit uint64) (*Sender, error) {
	if batch < 1 || batch > int(port.TX.Size()) {
		return nil, fmt.Errorf("gen: batch %d: use 1 to the TX ring size, %d", batch, port.TX.Size())
	}
	if len(port.Frames) == 0 {
		return nil, fmt.Errorf("gen: no frames to send from")
	}
	for _, sw := range b.spec.Sizes {
		if sw.Size-FCSLen > port.FrameSize {
			return nil, fmt.Errorf("gen: frame size %d does not fit the UMEM's %d-byte frames", sw.Size, port.FrameSize)
		}
	}
	s := &Sender{
		port: port, b: b, batch: uint32(batch), limit: limit, stamp: b.spec.Stamp,
		bucket: NewBucket(rate, batch, b.MaxBits(), monotonic()),
		free:   append(make([]uint64, 0, len(port.Frames)), port.Frames...),
	}
	if b.Static() {
		s.static = true
		size := uint64(port.FrameSize)
		for _, addr := range port.Frames {
			s.staticLen = uint32(b.Next(port.Area[addr:addr+size:addr+size], 0))
		}
	}
	return s, nil
}

// epoch makes sender time a monotonic nanosecond count.
var epoch = time.Now()

func monotonic() int64 { return int64(time.Since(epoch)) }

// Poll does one round at time now (monotonic ns): reclaim completed
// frames, then build and submit up to a batch, as the bucket allows. It
// returns the frames submitted.
func (s *Sender) Poll(now int64) int {
	c := s.port.Completion
	idx, done := c.Peek(c.Size())
	for i := range done {
		s.free = append(s.free, c.Addr(idx+i))
	}
	if done > 0 {
		c.Release(done)
		s.stats.Completed += uint64(done)
	}
	if g := s.ctlGen.Load(); g != s.seenGen {
		s.seenGen = g
		if r := s.newRate.Swap(nil); r != nil {
			s.bucket.Reset(*r, int(s.batch), s.b.MaxBits(), now)
		}
	}
	want := min(s.batch, uint32(len(s.free)))
	if s.drain || s.paused.Load() || s.limit > 0 && s.stats.Sent == s.limit {
		want = 0
		s.bucket.Skip(now)
	} else if s.limit > 0 {
		want = uint32(min(uint64(want), s.limit-s.stats.Sent))
	}
	sent := uint32(0)
	if want > 0 {
		sent = s.fill(now, want)
	} else if len(s.free) == 0 && !s.drain {
		s.stats.NoFrame++
	}
	if s.port.Kick != nil && s.port.Kick(sent, done) {
		s.stats.Kicks++
	}
	return int(sent)
}

func (s *Sender) fill(now int64, want uint32) uint32 {
	tx := s.port.TX
	idx, got := tx.Reserve(want)
	if got < s.batch && got < want {
		s.stats.RingFull++
	}
	var wall int64
	if s.stamp {
		wall = time.Now().UnixNano()
	}
	paced := !s.bucket.Unlimited()
	if paced {
		s.bucket.Refill(now)
	}
	area, size := s.port.Area, uint64(s.port.FrameSize)
	k := uint32(0)
	for ; k < got; k++ {
		if paced {
			if _, bits := s.b.NextLen(); !s.bucket.Take(bits) {
				break
			}
		}
		addr := s.free[len(s.free)-1]
		s.free = s.free[:len(s.free)-1]
		n := s.staticLen
		if !s.static {
			n = uint32(s.b.Next(area[addr:addr+size:addr+size], wall))
		}
		tx.Set(idx+k, rings.Desc{Addr: addr, Len: n})
		s.stats.Bytes += uint64(n)
	}
	tx.Unreserve(got - k)
	if k > 0 {
		tx.Submit(k)
		if s.stats.Sent == 0 {
			s.stats.First = now
		}
		s.stats.Sent += uint64(k)
		s.stats.Last = now
	}
	return k
}

// SetRate changes the sender's rate from its next round (zero Value: as
// fast as the ring takes frames). Safe from any goroutine.
func (s *Sender) SetRate(r Rate) {
	s.newRate.Store(&r)
	s.ctlGen.Add(1)
}

// Pause stops (true) or resumes (false) sending; frames in flight are
// still reclaimed. Safe from any goroutine.
func (s *Sender) Pause(p bool) { s.paused.Store(p) }

// Paused reports whether the sender is paused.
func (s *Sender) Paused() bool { return s.paused.Load() }

// Done reports whether a limited sender has sent all its frames and had
// them completed.
func (s *Sender) Done() bool {
	return s.limit > 0 && s.stats.Sent == s.limit && s.Outstanding() == 0
}

// Outstanding is the number of frames submitted and not yet completed.
func (s *Sender) Outstanding() int { return len(s.port.Frames) - len(s.free) }

// Stats returns the counts as of the last publish. Safe from any goroutine.
func (s *Sender) Stats() Stats {
	return Stats{s.pub[0].Load(), s.pub[1].Load(), s.pub[2].Load(), s.pub[3].Load(), s.pub[4].Load(), s.pub[5].Load(), s.pub[6].Load(),
		int64(s.pub[7].Load()), int64(s.pub[8].Load())}
}

func (s *Sender) publish() {
	s.pub[0].Store(s.stats.Sent)
	s.pub[1].Store(s.stats.Bytes)
	s.pub[2].Store(s.stats.Completed)
	s.pub[3].Store(s.stats.RingFull)
	s.pub[4].Store(s.stats.NoFrame)
	s.pub[5].Store(s.stats.Kicks)
	s.pub[6].Store(uint64(s.bucket.Behind()))
	s.pub[7].Store(uint64(s.stats.First))
	s.pub[8].Store(uint64(s.stats.Last))
}

// Run polls until stop is set, the limit is sent and completed, or an
// error. Then it waits up to a second for the frames in flight. Run it on a
// goroutine of its own, pinned (port.Port.Go does both).
func (s *Sender) Run(stop *atomic.Bool) error {
	defer s.publish()
	s.bucket.Skip(monotonic()) // set-up time is not the schedule's
	check := monotonic() + int64(ErrEvery)
	for i := 0; !stop.Load() && !s.Done(); i++ {
		now := monotonic()
		if now >= check && s.port.Err != nil {
			if err := s.port.Err(); err != nil {
				return fmt.Errorf("gen: %w", err)
			}
			check = now + int64(ErrEvery)
		}
		n := s.Poll(now)
		if n == 0 && s.paused.Load() && s.Outstanding() == 0 {
			time.Sleep(time.Millisecond) // paused: wake now and then for Resume
		} else if n == 0 && !s.bucket.Unlimited() && s.Outstanding() == 0 {
			// Nothing in flight and no tokens: sleep until the next
			// frame is due (short waits spin: sleeping overshoots).
			_, bits := s.b.NextLen()
			if w := s.bucket.Wait(bits); w > int64(200*time.Microsecond) {
				time.Sleep(time.Duration(min(w, int64(time.Millisecond))) - 100*time.Microsecond)
			}
		}
		if i&15 == 0 {
			s.publish()
		}
	}
	s.drain = true
	for deadline := monotonic() + int64(time.Second); s.Outstanding() > 0 && monotonic() < deadline; {
		s.Poll(monotonic())
	}
	return nil
}
