package gen

import (
	"math"
	"testing"
)

// feed records seqs on stream id, each sent at 0 and received 1 µs later.
func feed(tr *Tracker, id uint8, seqs ...uint64) {
	for _, s := range seqs {
		tr.Record(id, s, 0, 1000)
	}
}

func seqRange(lo, hi uint64) []uint64 {
	var out []uint64
	for s := lo; s < hi; s++ {
		out = append(out, s)
	}
	return out
}

func TestTrackerCounts(t *testing.T) {
	for _, tc := range []struct {
		name string
		seqs []uint64
		want TrackerResult // Stamped, Lost, Duplicates, Reordered, TooOld
	}{
		{"in order", seqRange(0, 100000), TrackerResult{Stamped: 100000}},
		{"in order from 1000", seqRange(1000, 2000), TrackerResult{Stamped: 1000}},
		{"one frame", []uint64{7}, TrackerResult{Stamped: 1}},
		{"gaps", []uint64{0, 1, 2, 5, 6, 10}, TrackerResult{Stamped: 6, Lost: 5}},
		{"loss after the highest is not seen", []uint64{0, 1, 2}, TrackerResult{Stamped: 3}},
		{"duplicate", []uint64{0, 1, 1, 2, 2, 2}, TrackerResult{Stamped: 6, Duplicates: 3}},
		{"duplicate of the first", []uint64{5, 5, 6}, TrackerResult{Stamped: 3, Duplicates: 1}},
		{"late frame", []uint64{0, 1, 3, 2, 4}, TrackerResult{Stamped: 5, Reordered: 1}},
		{"late frames fill gaps", []uint64{0, 4, 3, 2, 1, 5}, TrackerResult{Stamped: 6, Reordered: 3}},
		{"late and lost", []uint64{0, 10, 5}, TrackerResult{Stamped: 3, Lost: 8, Reordered: 1}},
		{"late then duplicated", []uint64{0, 2, 1, 1}, TrackerResult{Stamped: 4, Reordered: 1, Duplicates: 1}},
		{"before the first", []uint64{10, 11, 9}, TrackerResult{Stamped: 3, TooOld: 1}},
		{"a jump within the window", []uint64{0, 65535, 1, 65534}, TrackerResult{Stamped: 4, Lost: 65532, Reordered: 2}},
		{"a jump beyond the window", []uint64{0, 100000, 50, 99999, 100000 - 65536, 100000 - 65535},
			TrackerResult{Stamped: 6, Lost: 99997, Reordered: 2, TooOld: 2}},
		{"a late frame beyond the window", append(seqRange(0, 70000), 3), TrackerResult{Stamped: 70001, TooOld: 1}},
		{"a late frame at the window's edge", append(append(seqRange(0, 100), seqRange(101, 65636)...), 100),
			TrackerResult{Stamped: 65636, Reordered: 1}},
		{"duplicates far apart", append(seqRange(0, 200000), seqRange(199990, 200000)...),
			TrackerResult{Stamped: 200010, Duplicates: 10}},
		{"jumps reuse the window", []uint64{0, 70000, 140000, 140000 - 65536 + 1, 70000 + 1},
			TrackerResult{Stamped: 5, Lost: 140001 - 4, Reordered: 1, TooOld: 1}},
		{"48-bit sequence numbers", []uint64{seqMask - 2, seqMask, seqMask - 1}, TrackerResult{Stamped: 3, Reordered: 1}},
	} {
		tr := NewTracker()
		feed(tr, 4, tc.seqs...)
		got := tr.Result()
		tc.want.Streams = 1
		tc.want.Unique = tc.want.Stamped - tc.want.Duplicates - tc.want.TooOld
		got.Latency = Percentile{}
		if got != tc.want {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.name, got, tc.want)
		}
	}
}

// TestTrackerWindowSlots goes round the window many times with loss and
// reordering in each round: slots reused from earlier rounds must not
// make late frames look like duplicates, nor duplicates like late frames.
func TestTrackerWindowSlots(t *testing.T) {
	tr := NewTracker()
	var want TrackerResult
	seq := uint64(0)
	for round := range 40 {
		// 30000 frames, with every 7th missing, every 11th delivered late
		// (after the next 3) and every 13th duplicated at once; the last
		// 10 all arrive, in order.
		var held []uint64
		for i := range 30000 {
			s := seq + uint64(i)
			switch {
			case i >= 29990:
			case s%7 == 3:
				want.Lost++
				continue
			case s%11 == 5:
				held = append(held, s)
				continue
			}
			feed(tr, 0, s)
			want.Stamped++
			if s%13 == 1 && i < 29990 {
				feed(tr, 0, s)
				want.Stamped++
				want.Duplicates++
			}
			if len(held) > 0 && s > held[0]+3 {
				feed(tr, 0, held[0])
				held = held[1:]
				want.Stamped++
				want.Reordered++
			}
		}
		for _, s := range held {
			feed(tr, 0, s)
			want.Stamped++
			want.Reordered++
		}
		seq += 30000 + uint64(round)*1000 // and a gap between rounds
		want.Lost += uint64(round) * 1000
	}
	want.Lost -= 39 * 1000 // the last round's gap is after the highest
	want.Streams = 1
	want.Unique = want.Stamped - want.Duplicates - want.TooOld
	got := tr.Result()
	got.Latency = Percentile{}
	if got != want {
		t.Errorf("\n got %+v\nwant %+v", got, want)
	}
}

func TestTrackerStreams(t *testing.T) {
	tr := NewTracker()
	// Stream 0 in order, stream 1 with a gap, stream 255 reordered,
	// interleaved: the sequences are independent.
	for i := range uint64(1000) {
		feed(tr, 0, i)
		if i != 500 {
			feed(tr, 1, i)
		}
		switch i {
		case 10:
			feed(tr, 255, 11)
		case 11:
			feed(tr, 255, 10)
		default:
			feed(tr, 255, i)
		}
	}
	got := tr.Result()
	want := TrackerResult{Stamped: 2999, Unique: 2999, Lost: 1, Reordered: 1, Streams: 3}
	got.Latency = Percentile{}
	if got != want {
		t.Errorf("\n got %+v\nwant %+v", got, want)
	}
}

func TestTrackerLatency(t *testing.T) {
	tr := NewTracker()
	if r := tr.Result(); r.Latency != (Percentile{}) || r.Streams != 0 {
		t.Errorf("empty tracker: %+v", r)
	}
	// 1..1000 µs, sent at a wall clock in 2026, in shuffled order of
	// sequence numbers (latency does not depend on it).
	const sent = int64(1_780_000_000_000_000_000)
	for i := range int64(1000) {
		us := (i*389)%1000 + 1
		tr.Record(0, uint64(i), sent, sent+us*1000)
	}
	r := tr.Result()
	for _, q := range []struct {
		name      string
		got, want float64
	}{
		{"p50", r.Latency.P50, 500}, {"p90", r.Latency.P90, 900}, {"p99", r.Latency.P99, 990},
		{"p99.9", r.Latency.P999, 999}, {"max", r.Latency.Max, 1000},
	} {
		// HDR with 3 significant digits: 0.1%, and the result's 0.01 µs.
		if math.Abs(q.got-q.want) > q.want/1000+0.01 {
			t.Errorf("%s = %v µs, want %v", q.name, q.got, q.want)
		}
	}
	if r.Negative != 0 {
		t.Errorf("Negative = %d", r.Negative)
	}

	// Stamps from the future are counted, and recorded as the least
	// latency; latencies above 100 s are recorded as 100 s.
	tr = NewTracker()
	tr.Record(0, 0, 2000, 1000)
	tr.Record(0, 1, 0, 1e3)
	tr.Record(0, 2, 0, 1e3)
	tr.Record(0, 3, 0, 500e9)
	r = tr.Result()
	if r.Negative != 1 {
		t.Errorf("Negative = %d, want 1", r.Negative)
	}
	if r.Latency.P50 != 1 {
		t.Errorf("p50 = %v µs, want 1", r.Latency.P50)
	}
	if math.Abs(r.Latency.Max-100e6) > 100e6/1000 {
		t.Errorf("max = %v µs, want 100 s", r.Latency.Max)
	}
	if r.Stamped != 4 || r.Lost != 0 {
		t.Errorf("%+v", r)
	}
}

// TestTrackerSink runs frames from a Builder through ParseStamp into a
// Tracker, as a sink does, with loss, duplication and reordering applied
// to the frames.
func TestTrackerSink(t *testing.T) {
	spec := baseSpec()
	spec.Stamp = true
	spec.Sizes = imix(t, "64:7,594:4,1518:1")
	builders := []*Builder{mustBuilder(t, spec, 0), mustBuilder(t, spec, 1)}
	tr := NewTracker()
	frames := make([][]byte, 8)
	for i := range frames {
		frames[i] = make([]byte, 2048)
	}
	const sent = int64(1_780_000_000_000_000_000)
	receive := func(f []byte) {
		stream, seq, at, ok := ParseStamp(f[HeaderLen:])
		if !ok {
			t.Fatal("no stamp")
		}
		tr.Record(stream, seq, at, at+int64(seq%100+1)*1000)
	}
	for i := range 10000 {
		for s, b := range builders {
			f := frames[(i*2+s)%len(frames)]
			b.Next(f, sent+int64(i))
			switch {
			case s == 1 && i%100 == 50: // lost
			case s == 0 && i%1000 == 1:
				receive(f)
				receive(f)
			default:
				receive(f)
			}
		}
	}
	r := tr.Result()
	want := TrackerResult{Stamped: 20000 - 100 + 10, Unique: 20000 - 100, Lost: 100, Duplicates: 10, Streams: 2}
	got := r
	got.Latency = Percentile{}
	if got != want {
		t.Errorf("\n got %+v\nwant %+v", got, want)
	}
	if math.Abs(r.Latency.P50-50) > 0.1 || math.Abs(r.Latency.Max-100) > 0.1 {
		t.Errorf("latency %+v, want p50 50 µs, max 100 µs", r.Latency)
	}
}

// TestTrackerExpect: with the first sequence number known, frames that
// arrive after a later one at the start are counted (as reordered), not
// taken as too old; a stream expected but never seen counts nothing.
func TestTrackerExpect(t *testing.T) {
	tr := NewTracker()
	tr.Expect(4, 0)
	tr.Expect(5, 0)
	feed(tr, 4, 1, 0, 3, 2, 4)
	got := tr.Result()
	got.Latency = Percentile{}
	want := TrackerResult{Stamped: 5, Unique: 5, Reordered: 2, Streams: 1}
	if got != want {
		t.Errorf("\n got %+v\nwant %+v", got, want)
	}
	// Without Expect, the first frame is the base: 0 is too old.
	tr = NewTracker()
	feed(tr, 4, 1, 0)
	if r := tr.Result(); r.Unique != 1 || r.TooOld != 1 {
		t.Errorf("without Expect: %+v", r)
	}
}

// TestTrackerRuns: a sink that outlives its senders sees each stream
// start again from 0 at every run, sent later than the last run's
// frames: each run is counted on its own (its losses, none of its frames
// taken as duplicates or too old), and the restarts are counted. A late
// or duplicated frame of one run, sent no later than what was seen, is
// not a restart.
func TestTrackerRuns(t *testing.T) {
	tr := NewTracker()
	sent := int64(1e9)
	run := func(n uint64, skip map[uint64]bool) {
		for seq := range n {
			if !skip[seq] {
				tr.Record(3, seq, sent, sent+1000)
			}
			sent += 10
		}
	}
	run(200_000, nil)
	sent += int64(2 * RunGap) // the next run, a process started later
	run(200_000, map[uint64]bool{7: true, 150_000: true})
	tr.Record(3, 199_995, sent-50, sent+1000) // a duplicate of the second run's, late
	sent += int64(2 * RunGap)
	run(1_000, map[uint64]bool{0: true, 500: true})
	r := tr.Result()
	want := TrackerResult{Stamped: 400_997, Unique: 400_996, Lost: 3, Duplicates: 1, Streams: 1, Restarts: 2}
	r.Latency = Percentile{}
	if r != want {
		t.Errorf("three runs of one stream: %+v, want %+v", r, want)
	}
	if tr.Lost() != 3 {
		t.Errorf("Lost() = %d, want 3", tr.Lost())
	}
}

// TestTrackerTwoSenders: two senders stamping one stream at once (two
// unsharded gens to one sink) are not taken for new runs: the frames
// interleaved are counted as duplicates and too old, no loss invented,
// and fast.
func TestTrackerTwoSenders(t *testing.T) {
	tr := NewTracker()
	sent := int64(1e9)
	for seq := range uint64(20_000) {
		for range 2 {
			tr.Record(0, seq, sent, sent+1000)
			sent += 10
		}
	}
	r := tr.Result()
	if r.Restarts != 0 || r.Lost != 0 || r.Unique != 20_000 || r.Duplicates != 20_000 {
		t.Errorf("two senders on one stream: %+v", r)
	}
}
