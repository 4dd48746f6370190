package stack

import (
	"testing"
)

// TestSPSC: one goroutine pushes 1,000,000 numbers through a small ring
// while another pops them; under -race this also checks that every slot
// handoff is ordered by the index stores. The consumer sees each number
// once, in order.
func TestSPSC(t *testing.T) {
	const n = 1_000_000
	r := newSPSC[uint64](64)
	go func() {
		for i := uint64(0); i < n; {
			if r.push(i) {
				i++
			}
		}
	}()
	for want := uint64(0); want < n; {
		v, ok := r.pop()
		if !ok {
			continue
		}
		if v != want {
			t.Fatalf("popped %d, want %d", v, want)
		}
		want++
	}
	if !r.empty() {
		t.Fatal("ring not empty after the last pop")
	}
}

// TestHandoverRing: frames filled in place on one goroutine arrive whole
// on another.
func TestHandoverRing(t *testing.T) {
	const n = 100_000
	r := newHandoverRing(handoverSlots, 128)
	go func() {
		for i := 0; i < n; {
			s := r.reserve()
			if s == nil {
				continue
			}
			s.n = 1 + i%len(s.buf)
			for j := range s.n {
				s.buf[j] = byte(i + j)
			}
			r.commit()
			i++
		}
	}()
	for i := 0; i < n; {
		s := r.front()
		if s == nil {
			continue
		}
		if s.n != 1+i%128 {
			t.Fatalf("frame %d: %d bytes", i, s.n)
		}
		for j := range s.n {
			if s.buf[j] != byte(i+j) {
				t.Fatalf("frame %d byte %d: %d", i, j, s.buf[j])
			}
		}
		r.advance()
		i++
	}
}

func TestSPSCFullEmpty(t *testing.T) {
	r := newSPSC[int](5) // rounds up to 8
	if _, ok := r.pop(); ok || !r.empty() {
		t.Fatal("new ring not empty")
	}
	for i := range 8 {
		if !r.push(i) {
			t.Fatalf("push %d refused", i)
		}
	}
	if r.push(8) || r.reserve() != nil {
		t.Fatal("a full ring took a ninth entry")
	}
	for i := range 8 {
		if v, ok := r.pop(); !ok || v != i {
			t.Fatalf("pop: %d, %v; want %d", v, ok, i)
		}
	}
	if r.front() != nil {
		t.Fatal("front of an empty ring")
	}
	if testing.AllocsPerRun(100, func() { r.push(1); r.pop() }) != 0 {
		t.Fatal("push and pop allocate")
	}
}

// BenchmarkSPSC: push and pop across two goroutines, per entry.
func BenchmarkSPSC(b *testing.B) {
	r := newSPSC[uint64](1024)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < b.N; {
			if _, ok := r.pop(); ok {
				i++
			}
		}
	}()
	for i := 0; i < b.N; {
		if r.push(uint64(i)) {
			i++
		}
	}
	<-done
}
