package gen

import (
	"encoding/binary"
	"math"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// A stamp is the first StampLen bytes of a stamped payload; it fits the
// 18-byte payload of a 64-byte frame:
//
//	0       1        2                  8                     16
//	| magic | stream | sequence (48 bit) | send time (ns, 64 bit) |
//
// The stream is the sending queue's index: each has its own sequence.
// The send time is the wall clock (CLOCK_REALTIME) in nanoseconds, so
// one-way latency is meaningful when sender and sink share a host clock.
const (
	StampLen   = 16
	StampMagic = 0xf5
	seqMask    = 1<<48 - 1
)

// PutStamp writes a stamp into b.
func PutStamp(b []byte, stream uint8, seq uint64, now int64) {
	binary.BigEndian.PutUint64(b[0:8], uint64(StampMagic)<<56|uint64(stream)<<48|seq&seqMask)
	binary.BigEndian.PutUint64(b[8:16], uint64(now))
}

// ParseStamp reads a stamp from a payload; ok is false when the payload
// is too short or does not start with the magic byte.
func ParseStamp(p []byte) (stream uint8, seq uint64, sent int64, ok bool) {
	if len(p) < StampLen || p[0] != StampMagic {
		return 0, 0, 0, false
	}
	w := binary.BigEndian.Uint64(p[0:8])
	return uint8(w >> 48), w & seqMask, int64(binary.BigEndian.Uint64(p[8:16])), true
}

// RunGap is how much later than every frame seen a stream's frame must be
// sent, numbered at or below the highest, to start a new run of it (see
// Tracker.Record): more than two senders of one stream at once stamp
// apart, less than runs one after another are (a process's start).
const RunGap = 500 * time.Millisecond

// window is how far back (in sequence numbers) a Tracker remembers which
// frames it has seen, per stream.
const window = 1 << 16

// stream is a Tracker's state for one sender.
type stream struct {
	started  bool
	from     uint64 // Expect's first sequence number, when fromSet
	fromSet  bool
	base     uint64 // first sequence number seen (or expected)
	max      uint64 // highest seen
	seen     [window / 64]uint64
	unique   uint64
	dups     uint64
	reorder  uint64
	tooOld   uint64
	received uint64
	newest   int64 // the latest send time seen
}

// totals are a stream's counts, kept from its earlier runs.
type totals struct {
	lost, unique, dups, reorder, tooOld uint64
}

// add adds s's counts to t.
func (t *totals) add(s *stream) {
	if s.max-s.base+1 > s.unique {
		t.lost += s.max - s.base + 1 - s.unique
	}
	t.unique += s.unique
	t.dups += s.dups
	t.reorder += s.reorder
	t.tooOld += s.tooOld
}

// Tracker counts stamped frames as a sink receives them: per stream, the
// frames lost (sequence numbers never seen between the first and the
// highest), duplicated and reordered (arrived after a higher sequence
// number), and the one-way latency in a histogram. It is used by one
// goroutine and does not allocate per frame.
type Tracker struct {
	streams  [256]*stream
	hist     *hdrhistogram.Histogram
	negative uint64 // stamps from the future: clocks not shared
	stamped  uint64
	past     totals // the streams' earlier runs
	restarts uint64
}

// Latencies are recorded from 1 ns to 100 s with 3 significant digits.
const maxLatency = int64(100e9)

// NewTracker returns an empty Tracker.
func NewTracker() *Tracker {
	return &Tracker{hist: hdrhistogram.New(1, maxLatency, 3)}
}

// Expect tells the Tracker that stream id starts at sequence number
// first: frames from it on that arrive after a later one are counted
// (as reordered), not taken as too old. Call it before the stream's
// first frame.
func (t *Tracker) Expect(id uint8, first uint64) {
	if t.streams[id] == nil {
		t.streams[id] = &stream{}
	}
	t.streams[id].from, t.streams[id].fromSet = first, true
}

// Record counts one stamped frame received at now (wall-clock ns).
func (t *Tracker) Record(id uint8, seq uint64, sent, now int64) {
	t.stamped++
	s := t.streams[id]
	if s == nil {
		// One allocation per stream, at its first frame.
		s = &stream{}
		t.streams[id] = s
	}
	if s.started && seq <= s.max && sent > s.newest+int64(RunGap) {
		// Sent well after every frame seen, yet numbered at or below the
		// highest: a new run of the stream's sender (each run numbers
		// from 0, and one sender stamps its frames in order). A sink
		// that outlives its senders (a DaemonSet's, a fleet's runs one
		// after another) counts each run on its own. Two senders on one
		// stream at once (two unsharded gens to one sink) stamp within
		// nanoseconds of each other: no restart, their frames counted
		// as duplicates and too old, as always.
		t.past.add(s)
		t.restarts++
		*s = stream{}
	}
	s.received++
	s.newest = max(s.newest, sent)
	switch {
	case !s.started:
		s.started, s.base, s.max = true, seq, seq
		if s.fromSet && s.from < seq && seq-s.from < window {
			// Frames from the expected first on are counted, not
			// taken as too old, when a later one arrives first.
			s.base = s.from
		}
		s.mark(seq)
		s.unique++
	case seq > s.max:
		// Forget the slots between the old and the new highest, so the
		// window holds only the last `window` numbers.
		for n := s.max + 1; n < seq && n <= s.max+window; n++ {
			s.clear(n)
		}
		s.max = seq
		s.mark(seq)
		s.unique++
	case s.max-seq >= window || seq < s.base:
		s.tooOld++ // too far back to tell a late frame from a duplicate
	case s.isSet(seq):
		s.dups++
	default:
		s.mark(seq)
		s.unique++
		s.reorder++
	}
	d := now - sent
	if d < 0 {
		t.negative++
		d = 0
	}
	t.hist.RecordValue(min(max(d, 1), maxLatency))
}

func (s *stream) mark(n uint64)       { s.seen[(n/64)%(window/64)] |= 1 << (n % 64) }
func (s *stream) clear(n uint64)      { s.seen[(n/64)%(window/64)] &^= 1 << (n % 64) }
func (s *stream) isSet(n uint64) bool { return s.seen[(n/64)%(window/64)]&(1<<(n%64)) != 0 }

// TrackerResult sums a Tracker's streams.
type TrackerResult struct {
	Stamped uint64 `json:"stamped_packets"`
	// Unique is the stamped frames counted once each (no duplicate, none
	// too old to tell).
	Unique     uint64 `json:"unique_packets"`
	Lost       uint64 `json:"lost_packets"`
	Duplicates uint64 `json:"duplicate_packets"`
	Reordered  uint64 `json:"reordered_packets"`
	TooOld     uint64 `json:"too_old_packets"`
	Streams    int    `json:"streams"`
	// Restarts counts the streams that began again from a lower sequence
	// number, sent later: a sender's new run (see Record).
	Restarts uint64     `json:"restarted_streams"`
	Negative uint64     `json:"negative_latency_packets"`
	Latency  Percentile `json:"latency_us"`
}

// Percentile holds latency percentiles in microseconds.
type Percentile struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
}

// Negative counts the frames stamped after they were received: the
// sender's clock and the receiver's disagree.
func (t *Tracker) Negative() uint64 { return t.negative }

// Lost sums the frames lost so far (see Result); it is cheap enough to
// call every few thousand frames.
func (t *Tracker) Lost() uint64 {
	n := t.past.lost
	for _, s := range t.streams {
		if s != nil && s.started && s.max-s.base+1 > s.unique {
			n += s.max - s.base + 1 - s.unique
		}
	}
	return n
}

// Result sums the streams: a frame is lost when its sequence number lies
// between a stream's first and highest and was never seen (frames lost
// after the highest one received cannot be told from frames never sent).
func (t *Tracker) Result() TrackerResult {
	all := t.past
	r := TrackerResult{Stamped: t.stamped, Negative: t.negative, Restarts: t.restarts}
	for _, s := range t.streams {
		if s != nil && s.started {
			r.Streams++
			all.add(s)
		}
	}
	r.Lost, r.Unique, r.Duplicates, r.Reordered, r.TooOld = all.lost, all.unique, all.dups, all.reorder, all.tooOld
	us := func(q float64) float64 {
		if t.hist.TotalCount() == 0 {
			return 0
		}
		return math.Round(float64(t.hist.ValueAtQuantile(q))/10) / 100
	}
	r.Latency = Percentile{P50: us(50), P90: us(90), P99: us(99), P999: us(99.9), Max: us(100)}
	return r
}
