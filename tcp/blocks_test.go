package tcp

import (
	"bytes"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
)

// streamAt returns n bytes of a stream that does not repeat with any
// power-of-two period, starting at stream offset pos.
func streamAt(pos uint64, n int) []byte {
	p := make([]byte, n)
	for i := range p {
		x := pos + uint64(i)
		p[i] = byte(x ^ x>>8 ^ x>>13*7)
	}
	return p
}

func TestNewBuffer(t *testing.T) {
	for _, tc := range []struct{ size, cap int }{
		{-1, 64}, {0, 64}, {1, 64}, {64, 64}, {65, 128}, {1000, 1024}, {4096, 4096}, {4097, 8192},
	} {
		b := NewBuffer(tc.size)
		if b.Cap() != tc.cap || b.Len() != 0 || b.Free() != tc.cap {
			t.Errorf("NewBuffer(%d): Cap %d Len %d Free %d, want Cap %d", tc.size, b.Cap(), b.Len(), b.Free(), tc.cap)
		}
	}
}

func TestBufferWrap(t *testing.T) {
	b := NewBuffer(64)
	var pos uint64 // stream offset of head
	// Chunk sizes prime to 64, so the ring wraps at every offset.
	for i := 0; i < 200; i++ {
		n := []int{1, 7, 13, 40, 63, 64}[i%6]
		in := streamAt(pos, n)
		if w := b.Write(in); w != n {
			t.Fatalf("round %d: Write(%d) = %d", i, n, w)
		}
		if b.Len() != n || b.Free() != 64-n {
			t.Fatalf("round %d: Len %d Free %d", i, b.Len(), b.Free())
		}
		out := make([]byte, 64)
		if r := b.Read(out); r != n || !bytes.Equal(out[:n], in) {
			t.Fatalf("round %d: Read %d % x, want % x", i, r, out[:r], in)
		}
		pos += uint64(n)
	}

	// Full: a Write takes what fits, then nothing.
	b = NewBuffer(64)
	if n := b.Write(streamAt(0, 100)); n != 64 || b.Free() != 0 {
		t.Fatalf("Write(100) into 64 = %d", n)
	}
	if n := b.Write([]byte{1}); n != 0 {
		t.Fatalf("Write into a full buffer = %d", n)
	}
	if n := b.Write(nil); n != 0 {
		t.Fatalf("Write(nil) = %d", n)
	}
	// Empty: Read and Peek give nothing.
	b.Consume(1000) // more than held: all of it
	if b.Len() != 0 {
		t.Fatalf("Consume(1000) left %d", b.Len())
	}
	if n := b.Read(make([]byte, 10)); n != 0 {
		t.Fatalf("Read from empty = %d", n)
	}
	if p1, p2 := b.Peek(0, 10); p1 != nil || p2 != nil {
		t.Fatalf("Peek on empty = %v %v", p1, p2)
	}
	b.Consume(0)
	b.Consume(-5)
	if b.Len() != 0 || b.Free() != 64 {
		t.Fatalf("Consume(0), Consume(-5): Len %d", b.Len())
	}
}

// TestBufferPeekWrap: views across the end of the ring come in two
// pieces, in order, and alias the ring (no copy).
func TestBufferPeekWrap(t *testing.T) {
	b := NewBuffer(64)
	b.Write(make([]byte, 50))
	b.Consume(50) // head and tail at 50
	in := streamAt(50, 40)
	b.Write(in) // ring bytes 50..63, then 0..25
	for _, tc := range []struct {
		off, n     int
		len1, len2 int
	}{
		{0, 40, 14, 26},
		{0, 1000, 14, 26}, // clipped to what is held
		{0, 14, 14, 0},    // up to the end exactly
		{0, 15, 14, 1},
		{13, 2, 1, 1},
		{14, 10, 10, 0}, // past the wrap: one piece
		{10, 30, 4, 26},
		{39, 5, 1, 0},
		{40, 5, 0, 0}, // at tail
		{100, 5, 0, 0},
		{5, 0, 0, 0},
		{5, -1, 0, 0},
	} {
		p1, p2 := b.Peek(tc.off, tc.n)
		if len(p1) != tc.len1 || len(p2) != tc.len2 {
			t.Errorf("Peek(%d, %d): %d + %d bytes, want %d + %d", tc.off, tc.n, len(p1), len(p2), tc.len1, tc.len2)
			continue
		}
		if got := append(bytes.Clone(p1), p2...); tc.len1 > 0 && !bytes.Equal(got, in[tc.off:tc.off+tc.len1+tc.len2]) {
			t.Errorf("Peek(%d, %d) = % x", tc.off, tc.n, got)
		}
		if len(p2) > 0 && &p2[0] != &b.buf[0] {
			t.Errorf("Peek(%d, %d): second view not at the ring's start", tc.off, tc.n)
		}
	}
	// A view is the ring itself: what Peek returns aliases the storage.
	p1, _ := b.Peek(0, 1)
	if &p1[0] != &b.buf[50] {
		t.Error("Peek copied")
	}
	// Peek does not consume; Consume does, across the wrap.
	b.Consume(20)
	p1, p2 := b.Peek(0, 100)
	if len(p1) != 20 || p2 != nil || !bytes.Equal(p1, in[20:]) {
		t.Errorf("after Consume(20): Peek = % x, % x", p1, p2)
	}
}

// TestBufferIndexWrap: the free-running indices wrap at 2^64 and nothing
// notices.
func TestBufferIndexWrap(t *testing.T) {
	b := NewBuffer(64)
	start := ^uint64(0) - 30
	b.head.Store(start)
	b.tail.Store(start)
	var pos uint64
	for i := 0; i < 20; i++ {
		in := streamAt(pos, 17)
		if n := b.Write(in); n != 17 {
			t.Fatalf("Write = %d", n)
		}
		if b.WriteAt(3, []byte{1, 2, 3}) != 3 {
			t.Fatal("WriteAt")
		}
		out := make([]byte, 17)
		if n := b.Read(out); n != 17 || !bytes.Equal(out, in) || b.Len() != 0 {
			t.Fatalf("round %d (head %#x): Read %d % x, want % x", i, b.head.Load(), n, out, in)
		}
		pos += 17
	}
	if b.head.Load() >= start {
		t.Fatal("the indices did not wrap")
	}
}

// TestBufferWriteAtCommit assembles a message from pieces stored out of
// order with WriteAt, across the end of the ring, then publishes it.
func TestBufferWriteAtCommit(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for round := 0; round < 300; round++ {
		b := NewBuffer(256)
		// Start anywhere in the ring, with some bytes already held.
		lead := rng.IntN(256)
		b.Write(make([]byte, lead))
		b.Consume(lead - rng.IntN(lead+1))
		held := b.Len()
		msg := streamAt(uint64(round)<<20, b.Free())
		// Cut msg into pieces and store them in a random order.
		var cuts []int
		for off := 0; off < len(msg); {
			cuts = append(cuts, off)
			off += 1 + rng.IntN(40)
		}
		order := rng.Perm(len(cuts))
		for k, i := range order {
			lo := cuts[i]
			hi := len(msg)
			if i+1 < len(cuts) {
				hi = cuts[i+1]
			}
			if n := b.WriteAt(lo, msg[lo:hi]); n != hi-lo {
				t.Fatalf("round %d: WriteAt(%d, %d bytes) = %d", round, lo, hi-lo, n)
			}
			if b.Len() != held {
				t.Fatalf("round %d: WriteAt published: Len %d", round, b.Len())
			}
			if k == len(order)/2 {
				// Part way, the reader sees only what was there.
				if p1, p2 := b.Peek(held, 10); p1 != nil || p2 != nil {
					t.Fatalf("round %d: unpublished bytes visible", round)
				}
			}
		}
		// No room past the end: WriteAt stores nothing, or only what fits.
		if n := b.WriteAt(len(msg), []byte{1}); n != 0 {
			t.Fatalf("round %d: WriteAt past the room = %d", round, n)
		}
		if n := b.WriteAt(len(msg)+10, []byte{1}); n != 0 {
			t.Fatalf("round %d: WriteAt far past the room = %d", round, n)
		}
		if len(msg) > 0 {
			if n := b.WriteAt(len(msg)-1, []byte{msg[len(msg)-1], 9, 9}); n != 1 {
				t.Fatalf("round %d: WriteAt at the last byte = %d, want 1", round, n)
			}
		}
		b.Commit(len(msg))
		if b.Len() != held+len(msg) || b.Free() != 0 {
			t.Fatalf("round %d: after Commit, Len %d", round, b.Len())
		}
		b.Consume(held)
		out := make([]byte, len(msg)+1)
		if n := b.Read(out); n != len(msg) || !bytes.Equal(out[:n], msg) {
			t.Fatalf("round %d: read back %d bytes, want %d", round, n, len(msg))
		}
	}
}

// TestBufferConcurrent moves 50 MB from a producer goroutine to a consumer
// goroutine, in chunks of random sizes through a small ring, and checks
// every byte. Under -race it also checks that the index stores order the
// byte copies.
func TestBufferConcurrent(t *testing.T) {
	total := uint64(50 << 20)
	if testing.Short() {
		total = 4 << 20
	}
	// A pattern whose length (a prime) is prime to the ring's, for the
	// bytes; the stream is the pattern repeated.
	const period = 65521
	pattern := streamAt(0, period)
	at := func(pos uint64, n int, f func(p []byte)) {
		for n > 0 {
			i := int(pos % period)
			k := min(n, period-i)
			f(pattern[i : i+k])
			pos += uint64(k)
			n -= k
		}
	}
	b := NewBuffer(4096)
	done := make(chan struct{})
	quit := make(chan struct{}) // the consumer gave up: stop producing
	// The producer.
	go func() {
		defer close(done)
		rng := rand.New(rand.NewPCG(7, 8))
		var pos uint64
		stopped := false
		for pos < total && !stopped {
			n := min(1+rng.IntN(3000), int(total-pos))
			at(pos, n, func(p []byte) {
				for len(p) > 0 && !stopped {
					w := b.Write(p)
					if w == 0 {
						select {
						case <-quit:
							stopped = true
						default:
							runtime.Gosched()
						}
					}
					p = p[w:]
				}
			})
			pos += uint64(n)
		}
	}()

	rng := rand.New(rand.NewPCG(9, 10))
	out := make([]byte, 4096)
	var pos uint64
	bad := false
	check := func(got []byte) {
		off := 0
		at(pos, len(got), func(want []byte) {
			if !bad && !bytes.Equal(got[off:off+len(want)], want) {
				t.Errorf("bytes at %d differ", pos+uint64(off))
				bad = true
			}
			off += len(want)
		})
		pos += uint64(len(got))
	}
	for pos < total && !bad {
		if b.Len() == 0 {
			runtime.Gosched()
			continue
		}
		n := 1 + rng.IntN(len(out))
		if rng.IntN(2) == 0 {
			k := b.Read(out[:n])
			check(out[:k])
		} else {
			// The views from head, then release them.
			p1, p2 := b.Peek(0, n)
			k := len(p1) + len(p2)
			check(p1)
			check(p2)
			b.Consume(k)
		}
	}
	close(quit)
	<-done
	if !bad && (pos != total || b.Len() != 0) {
		t.Errorf("consumed %d of %d bytes, %d left", pos, total, b.Len())
	}
}

func TestRanges(t *testing.T) {
	type blk = SACKBlock
	for _, tc := range []struct {
		name string
		cap  int
		add  [][2]Seq
		ok   []bool // per add; nil: all true
		want []blk
	}{
		{"one", 4, [][2]Seq{{10, 20}}, nil, []blk{{10, 20}}},
		{"sorted from any order", 4, [][2]Seq{{50, 60}, {10, 20}, {30, 40}}, nil, []blk{{10, 20}, {30, 40}, {50, 60}}},
		{"overlap", 4, [][2]Seq{{10, 20}, {15, 25}}, nil, []blk{{10, 25}}},
		{"inside", 4, [][2]Seq{{10, 20}, {12, 18}}, nil, []blk{{10, 20}}},
		{"around", 4, [][2]Seq{{12, 18}, {10, 20}}, nil, []blk{{10, 20}}},
		{"duplicate", 4, [][2]Seq{{10, 20}, {10, 20}}, nil, []blk{{10, 20}}},
		{"adjacent after", 4, [][2]Seq{{10, 20}, {20, 30}}, nil, []blk{{10, 30}}},
		{"adjacent before", 4, [][2]Seq{{20, 30}, {10, 20}}, nil, []blk{{10, 30}}},
		{"one apart", 4, [][2]Seq{{10, 20}, {21, 30}}, nil, []blk{{10, 20}, {21, 30}}},
		{"bridge", 4, [][2]Seq{{10, 20}, {30, 40}, {20, 30}}, nil, []blk{{10, 40}}},
		{"bridge overlapping", 4, [][2]Seq{{10, 20}, {30, 40}, {50, 60}, {15, 55}}, nil, []blk{{10, 60}}},
		{"swallow all", 4, [][2]Seq{{10, 20}, {30, 40}, {50, 60}, {0, 100}}, nil, []blk{{0, 100}}},
		{"merge middle two", 4, [][2]Seq{{10, 20}, {30, 40}, {50, 60}, {70, 80}, {40, 50}}, nil, []blk{{10, 20}, {30, 60}, {70, 80}}},
		{"empty range", 4, [][2]Seq{{10, 20}, {30, 30}}, nil, []blk{{10, 20}}},
		{"backwards range", 4, [][2]Seq{{10, 20}, {40, 30}}, nil, []blk{{10, 20}}},
		{"across the wrap", 4, [][2]Seq{{0xfffffff0, 0x10}, {0x10, 0x20}, {0xffffffe0, 0xfffffff0}}, nil, []blk{{0xffffffe0, 0x20}}},
		{"sorted across the wrap", 4, [][2]Seq{{0x10, 0x20}, {0xfffffff0, 0xfffffff8}}, nil, []blk{{0xfffffff0, 0xfffffff8}, {0x10, 0x20}}},
		{"full", 3, [][2]Seq{{10, 20}, {30, 40}, {50, 60}, {70, 80}, {0, 5}, {45, 46}},
			[]bool{true, true, true, false, false, false}, []blk{{10, 20}, {30, 40}, {50, 60}}},
		{"full but merges", 3, [][2]Seq{{10, 20}, {30, 40}, {50, 60}, {60, 70}, {5, 10}, {35, 45}},
			nil, []blk{{5, 20}, {30, 45}, {50, 70}}},
		{"full, bridge frees a slot", 3, [][2]Seq{{10, 20}, {30, 40}, {50, 60}, {20, 30}, {70, 80}},
			nil, []blk{{10, 40}, {50, 60}, {70, 80}}},
	} {
		rs := newRanges(tc.cap)
		for i, a := range tc.add {
			want := tc.ok == nil || tc.ok[i]
			if got := rs.add(a[0], a[1]); got != want {
				t.Errorf("%s: add(%d, %d) = %v, want %v", tc.name, a[0], a[1], got, want)
			}
		}
		if !slices.Equal(rs.r, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, rs.r, tc.want)
		}
		if cap(rs.r) != tc.cap {
			t.Errorf("%s: capacity %d, want %d (grew)", tc.name, cap(rs.r), tc.cap)
		}
	}
}

func TestRangesTrim(t *testing.T) {
	type blk = SACKBlock
	base := []blk{{10, 20}, {30, 40}, {50, 60}}
	for _, tc := range []struct {
		seq  Seq
		want []blk
	}{
		{0, base},
		{10, base},
		{15, []blk{{15, 20}, {30, 40}, {50, 60}}},
		{20, []blk{{30, 40}, {50, 60}}},
		{25, []blk{{30, 40}, {50, 60}}},
		{39, []blk{{39, 40}, {50, 60}}},
		{60, nil},
		{1000, nil},
		{0xfffffff0, base}, // before all of them, across the wrap
	} {
		rs := newRanges(4)
		for _, b := range base {
			rs.add(b.Start, b.End)
		}
		rs.trim(tc.seq)
		if !slices.Equal(rs.r, tc.want) {
			t.Errorf("trim(%d): %v, want %v", tc.seq, rs.r, tc.want)
		}
	}

	rs := newRanges(4)
	rs.add(0xfffffff0, 0x10)
	rs.add(0x20, 0x30)
	rs.trim(0xfffffffa)
	if want := []blk{{0xfffffffa, 0x10}, {0x20, 0x30}}; !slices.Equal(rs.r, want) {
		t.Errorf("trim across the wrap: %v, want %v", rs.r, want)
	}
	if rs.bytes() != 0x16+0x10 {
		t.Errorf("bytes %d, want %d", rs.bytes(), 0x16+0x10)
	}
	if h, ok := rs.highest(); !ok || h != 0x30 {
		t.Errorf("highest %d %v", h, ok)
	}
	rs.reset()
	if _, ok := rs.highest(); ok || len(rs.r) != 0 || rs.bytes() != 0 || cap(rs.r) != 4 {
		t.Errorf("after reset: %v", rs.r)
	}
}

// TestRangesModel adds random ranges near the wrap and compares with a
// bitmap: the list is the bitmap's runs, sorted, disjoint and never
// touching; a refused add changes nothing and touches no block.
func TestRangesModel(t *testing.T) {
	const span = 300
	rng := rand.New(rand.NewPCG(11, 12))
	var accepted, refused int // what the rounds really exercised
	for round := 0; round < 2000; round++ {
		base := Seq(0xffffff00 + rng.Uint32N(0x200)) // the wrap is in reach
		capacity := 1 + rng.IntN(6)
		rs := newRanges(capacity)
		var set [span]bool
		for i := 0; i < 12; i++ {
			lo := rng.IntN(span)
			hi := min(span, lo+rng.IntN(30))
			before := slices.Clone(rs.r)
			if !rs.add(base.Add(uint32(lo)), base.Add(uint32(hi))) {
				if !slices.Equal(rs.r, before) || len(rs.r) != capacity {
					t.Fatalf("round %d: refused add changed %v to %v", round, before, rs.r)
				}
				for _, b := range before {
					if int(b.Start.Sub(base)) <= hi && lo <= int(b.End.Sub(base)) {
						t.Fatalf("round %d: add [%d, %d) refused, but it touches %v", round, lo, hi, b)
					}
				}
				refused++
				continue
			}
			accepted++
			for k := lo; k < hi; k++ {
				set[k] = true
			}
			var want []SACKBlock
			for k := 0; k < span; {
				if !set[k] {
					k++
					continue
				}
				e := k
				for e < span && set[e] {
					e++
				}
				want = append(want, SACKBlock{base.Add(uint32(k)), base.Add(uint32(e))})
				k = e
			}
			if !slices.Equal(rs.r, want) {
				t.Fatalf("round %d: after add [%d, %d): %v, want %v", round, lo, hi, rs.r, want)
			}
		}
		// Trim at a random point: the model loses everything below it.
		cut := rng.IntN(span)
		rs.trim(base.Add(uint32(cut)))
		n := 0
		for k := cut; k < span; k++ {
			if set[k] {
				n++
			}
		}
		if rs.bytes() != n {
			t.Fatalf("round %d: after trim at %d, %d bytes, want %d", round, cut, rs.bytes(), n)
		}
	}
	if accepted < 2000*12/2 || refused < 2000*12/50 {
		t.Errorf("%d adds accepted, %d refused: too few of each exercised", accepted, refused)
	}
	t.Logf("%d adds accepted, %d refused", accepted, refused)
}
