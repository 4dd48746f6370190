package stack

import (
	"sync/atomic"
)

// cacheLine separates the producer's and the consumer's fields, so that
// neither's writes invalidate the line the other reads.
type cacheLine [64]byte

// spsc is a bounded, lock-free queue with exactly one producer goroutine
// and one consumer goroutine: the rings between engines, and from the
// control plane to an engine. Like the AF_XDP rings, each side publishes
// its index with an atomic store after touching the slots, and reads the
// other's with an atomic load; each caches the other's index and reloads
// it only when the cached value says the ring is full (or empty).
//
// Slots are reached through pointers (reserve/commit, front/advance), so a
// slot can be large (a frame) and is filled in place, not copied.
type spsc[T any] struct {
	_    cacheLine
	head atomic.Uint64 // next slot to consume; written by the consumer
	_    cacheLine
	tail atomic.Uint64 // next slot to fill; written by the producer
	_    cacheLine
	// The producer's cache of head, and the consumer's of tail.
	headCache uint64
	_         cacheLine
	tailCache uint64
	_         cacheLine
	mask      uint64
	slots     []T
}

// newSPSC returns a ring of size slots, rounded up to a power of two.
func newSPSC[T any](size int) *spsc[T] {
	n := 1
	for n < size {
		n <<= 1
	}
	return &spsc[T]{mask: uint64(n - 1), slots: make([]T, n)}
}

// reserve returns the next free slot to fill, or nil when the ring is
// full. Producer only; commit publishes it.
func (r *spsc[T]) reserve() *T {
	t := r.tail.Load() // our own index: no other writer
	if t-r.headCache > r.mask {
		r.headCache = r.head.Load()
		if t-r.headCache > r.mask {
			return nil
		}
	}
	return &r.slots[t&r.mask]
}

// commit publishes the slot reserve returned.
func (r *spsc[T]) commit() { r.tail.Store(r.tail.Load() + 1) }

// push copies v into the ring; false when it is full. Producer only.
func (r *spsc[T]) push(v T) bool {
	p := r.reserve()
	if p == nil {
		return false
	}
	*p = v
	r.commit()
	return true
}

// front returns the oldest filled slot, or nil when the ring is empty.
// Consumer only; advance releases it.
func (r *spsc[T]) front() *T {
	h := r.head.Load()
	if h == r.tailCache {
		r.tailCache = r.tail.Load()
		if h == r.tailCache {
			return nil
		}
	}
	return &r.slots[h&r.mask]
}

// advance releases the slot front returned to the producer.
func (r *spsc[T]) advance() { r.head.Store(r.head.Load() + 1) }

// pop removes and returns the oldest entry. Consumer only.
func (r *spsc[T]) pop() (T, bool) {
	p := r.front()
	if p == nil {
		var zero T
		return zero, false
	}
	v := *p
	var zero T
	*p = zero // drop references the slot holds
	r.advance()
	return v, true
}

// empty reports whether the ring looks empty; either side may ask.
func (r *spsc[T]) empty() bool { return r.head.Load() == r.tail.Load() }
