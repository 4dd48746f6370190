package rings

import "unsafe"

// TX is a socket's transmit ring as user space sees it: we produce
// descriptors of frames to send, the kernel consumes them.
//
// A TX view over an RX ring's memory is the kernel's side of that RX ring.
type TX struct {
	producer
	entries unsafe.Pointer
}

// NewTX returns the producer view of a descriptor ring of size entries in mem.
func NewTX(mem []byte, off Offsets, size uint32) (*TX, error) {
	c, entries, err := newCore(mem, off, size, DescSize)
	if err != nil {
		return nil, err
	}
	t := &TX{producer: producer{c}, entries: entries}
	t.init()
	return t, nil
}

// Set writes d into reserved entry idx.
func (t *TX) Set(idx uint32, d Desc) { *t.slot(idx) = d }

// Put reserves, writes and submits as many of descs as fit and returns how
// many it put.
func (t *TX) Put(descs []Desc) int {
	idx, n := t.Reserve(uint32(len(descs)))
	for i := uint32(0); i < n; i++ {
		*t.slot(idx + i) = descs[i]
	}
	if n > 0 {
		t.Submit(n)
	}
	return int(n)
}

// slot returns the address of entry idx. idx&mask is below the ring's size,
// so the entry lies inside the mapping checked at construction.
func (t *TX) slot(idx uint32) *Desc {
	return (*Desc)(unsafe.Add(t.entries, uintptr(idx&t.mask)*uintptr(DescSize)))
}
