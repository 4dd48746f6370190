package rings

import "unsafe"

// RX is a socket's receive ring as user space sees it: the kernel produces
// descriptors of received frames, we consume them.
//
// An RX view over a TX ring's memory is the kernel's side of that TX ring.
type RX struct {
	consumer
	entries unsafe.Pointer
}

// NewRX returns the consumer view of a descriptor ring of size entries in mem.
func NewRX(mem []byte, off Offsets, size uint32) (*RX, error) {
	c, entries, err := newCore(mem, off, size, DescSize)
	if err != nil {
		return nil, err
	}
	r := &RX{consumer: consumer{c}, entries: entries}
	r.init()
	return r, nil
}

// Desc reads peeked entry idx.
func (r *RX) Desc(idx uint32) Desc { return *r.slot(idx) }

// Get peeks, copies into dst and releases as many descriptors as are ready
// and fit, and returns how many it got.
func (r *RX) Get(dst []Desc) int {
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
func (r *RX) slot(idx uint32) *Desc {
	return (*Desc)(unsafe.Add(r.entries, uintptr(idx&r.mask)*uintptr(DescSize)))
}
