package rings

import "unsafe"

// Completion is the UMEM's completion ring as user space sees it: the kernel
// produces the addresses of frames it has finished transmitting, we consume
// them and reuse the frames.
//
// A Completion view over a fill ring's memory is the kernel's side of that
// fill ring, which is how tests play the kernel.
type Completion struct {
	consumer
	entries unsafe.Pointer
}

// NewCompletion returns the consumer view of an address ring of size entries
// in mem.
func NewCompletion(mem []byte, off Offsets, size uint32) (*Completion, error) {
	c, entries, err := newCore(mem, off, size, AddrSize)
	if err != nil {
		return nil, err
	}
	r := &Completion{consumer: consumer{c}, entries: entries}
	r.init()
	return r, nil
}

// Addr reads peeked entry idx.
func (r *Completion) Addr(idx uint32) uint64 { return *r.slot(idx) }

// Get peeks, copies into dst and releases as many addresses as are ready and
// fit, and returns how many it got.
func (r *Completion) Get(dst []uint64) int {
	idx, n := r.Peek(uint32(len(dst)))
	for i := uint32(0); i < n; i++ {
		dst[i] = *r.slot(idx + i)
	}
	if n > 0 {
		r.Release(n)
	}
	return int(n)
}

// slot returns the address of entry idx. idx&mask is below the ring's size,
// so the entry lies inside the mapping checked at construction.
func (r *Completion) slot(idx uint32) *uint64 {
	return (*uint64)(unsafe.Add(r.entries, uintptr(idx&r.mask)*AddrSize))
}
