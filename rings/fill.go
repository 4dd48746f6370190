package rings

import "unsafe"

// Fill is the UMEM's fill ring as user space sees it: we produce the
// addresses of empty frames, the kernel consumes them to receive into.
type Fill struct {
	producer
	entries unsafe.Pointer
}

// NewFill returns the producer view of an address ring of size entries in mem.
func NewFill(mem []byte, off Offsets, size uint32) (*Fill, error) {
	c, entries, err := newCore(mem, off, size, AddrSize)
	if err != nil {
		return nil, err
	}
	f := &Fill{producer: producer{c}, entries: entries}
	f.init()
	return f, nil
}

// Set writes addr into reserved entry idx.
func (f *Fill) Set(idx uint32, addr uint64) { *f.slot(idx) = addr }

// Put reserves, writes and submits as many of addrs as fit and returns how
// many it put.
func (f *Fill) Put(addrs []uint64) int {
	idx, n := f.Reserve(uint32(len(addrs)))
	for i := uint32(0); i < n; i++ {
		*f.slot(idx + i) = addrs[i]
	}
	if n > 0 {
		f.Submit(n)
	}
	return int(n)
}

// slot returns the address of entry idx. idx&mask is below the ring's size,
// so the entry lies inside the mapping checked at construction.
func (f *Fill) slot(idx uint32) *uint64 {
	return (*uint64)(unsafe.Add(f.entries, uintptr(idx&f.mask)*AddrSize))
}
