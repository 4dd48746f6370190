package umem

import "math/bits"

// Allocator hands out the frames of one part of a UMEM to the one goroutine
// (core) that owns it. It is a LIFO stack, so the most recently freed frame,
// likely still in cache, goes out first. No locks: an Allocator belongs to
// one engine.
//
// A bitmap records which frames are in the stack, so a frame is never handed
// out twice: freeing a frame that is already free, or one outside this
// allocator's range, is counted and ignored rather than corrupting the stack.
type Allocator struct {
	stack []uint64 // free frames' base addresses; the top is stack[len-1]
	free  []uint64 // bit i set: frame first+i is in the stack

	base  uint64 // address of the first frame
	limit uint64 // address just past the last frame
	shift uint   // log2(frame size)
	mask  uint64 // frame size - 1

	// DoubleFrees counts frames freed while already free.
	DoubleFrees uint64
	// Foreign counts addresses freed that are not in this allocator's range.
	Foreign uint64
}

// NewAllocator returns an allocator owning count frames of frameSize bytes
// (a power of two) starting at UMEM offset base, all of them free.
func NewAllocator(base uint64, count, frameSize uint32) *Allocator {
	a := &Allocator{
		stack: make([]uint64, 0, count),
		free:  make([]uint64, (count+63)/64),
		base:  base,
		limit: base + uint64(count)*uint64(frameSize),
		shift: uint(bits.TrailingZeros32(frameSize)),
		mask:  uint64(frameSize) - 1,
	}
	// Push the highest address first so that Alloc returns frames in
	// ascending order from a fresh allocator.
	for i := int(count) - 1; i >= 0; i-- {
		a.stack = append(a.stack, base+uint64(i)<<a.shift)
		a.free[i/64] |= 1 << (i % 64)
	}
	return a
}

// Len is the number of free frames.
func (a *Allocator) Len() int { return len(a.stack) }

// Cap is the number of frames the allocator owns.
func (a *Allocator) Cap() int { return cap(a.stack) }

// Alloc takes one free frame and returns its address, or false when none is
// free.
func (a *Allocator) Alloc() (uint64, bool) {
	n := len(a.stack)
	if n == 0 {
		return 0, false
	}
	addr := a.stack[n-1]
	a.stack = a.stack[:n-1]
	i := (addr - a.base) >> a.shift
	a.free[i/64] &^= 1 << (i % 64)
	return addr, true
}

// AllocN fills dst with free frames and returns how many it took.
func (a *Allocator) AllocN(dst []uint64) int {
	n := min(len(dst), len(a.stack))
	top := len(a.stack)
	for j := 0; j < n; j++ {
		addr := a.stack[top-1-j]
		dst[j] = addr
		i := (addr - a.base) >> a.shift
		a.free[i/64] &^= 1 << (i % 64)
	}
	a.stack = a.stack[:top-n]
	return n
}

// Free returns the frame holding addr. addr may point anywhere inside the
// frame (an RX descriptor's address includes headroom); it is rounded down.
func (a *Allocator) Free(addr uint64) {
	addr &^= a.mask
	if addr < a.base || addr >= a.limit {
		a.Foreign++
		return
	}
	i := (addr - a.base) >> a.shift
	w, bit := i/64, uint64(1)<<(i%64)
	if a.free[w]&bit != 0 {
		a.DoubleFrees++
		return
	}
	a.free[w] |= bit
	a.stack = append(a.stack, addr) // never grows: at most Cap frames are free
}

// FreeN returns every frame in addrs.
func (a *Allocator) FreeN(addrs []uint64) {
	for _, addr := range addrs {
		a.Free(addr)
	}
}

// Owns reports whether addr lies in one of this allocator's frames.
func (a *Allocator) Owns(addr uint64) bool {
	addr &^= a.mask
	return addr >= a.base && addr < a.limit
}
