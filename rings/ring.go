package rings

import (
	"errors"
	"fmt"
	"math/bits"
	"sync/atomic"
	"unsafe"
)

// NeedWakeup is the XDP_RING_NEED_WAKEUP bit of a ring's flags word.
const NeedWakeup = 1

// Offsets locates a ring's parts inside its mapping, as the kernel reports
// them in struct xdp_ring_offset.
type Offsets struct {
	Producer uint64
	Consumer uint64
	Desc     uint64
	Flags    uint64
}

// Desc is an RX or TX descriptor: struct xdp_desc.
type Desc struct {
	// Addr is the offset of the packet's first byte in the UMEM.
	Addr uint64
	// Len is the packet's length in bytes.
	Len uint32
	// Options carries XDP_PKT_CONTD for multi-buffer frames and
	// XDP_TX_METADATA for TX metadata.
	Options uint32
}

// Entry sizes in bytes.
const (
	AddrSize = 8
	DescSize = int(unsafe.Sizeof(Desc{}))
)

// ErrLayout reports a mapping that cannot hold the ring described.
var ErrLayout = errors.New("rings: bad ring layout")

// Layout returns offsets for a ring of size entries of entrySize bytes, with
// the producer, consumer and flags words on separate cache lines as the kernel
// lays them out, and the number of bytes the ring needs. Tests and simulations
// use it to back a ring with ordinary memory.
func Layout(size uint32, entrySize int) (Offsets, int) {
	const line = 64
	off := Offsets{Producer: 0, Consumer: line, Flags: 2 * line, Desc: 3 * line}
	return off, int(off.Desc) + int(size)*entrySize
}

// core is the state both producers and consumers keep: the shared words and
// cached copies of the two indices.
type core struct {
	// producer is written only by the producing side, consumer only by the
	// consuming side; flags only by the kernel.
	producer *uint32
	consumer *uint32
	flags    *uint32

	// cachedProd and cachedCons are the owning side's copies, written only
	// by the goroutine that owns this view. For a producer, cachedCons holds
	// the peer's consumer index plus size (libxdp's convention), so that
	// cachedCons-cachedProd is the free space.
	cachedProd uint32
	cachedCons uint32
	// published is our own index as last stored to shared memory.
	published uint32

	mask uint32
	size uint32
}

func newCore(mem []byte, off Offsets, size uint32, entrySize int) (core, unsafe.Pointer, error) {
	if size == 0 || bits.OnesCount32(size) != 1 {
		return core{}, nil, fmt.Errorf("%w: size %d is not a power of two", ErrLayout, size)
	}
	n := uint64(len(mem))
	for _, w := range [...]struct {
		name string
		off  uint64
	}{{"producer", off.Producer}, {"consumer", off.Consumer}, {"flags", off.Flags}} {
		if w.off+4 > n || w.off%4 != 0 {
			return core{}, nil, fmt.Errorf("%w: %s word at %d in %d bytes", ErrLayout, w.name, w.off, n)
		}
	}
	if off.Desc%8 != 0 || off.Desc+uint64(size)*uint64(entrySize) > n {
		return core{}, nil, fmt.Errorf("%w: %d entries of %d bytes at %d do not fit %d bytes",
			ErrLayout, size, entrySize, off.Desc, n)
	}
	base := unsafe.Pointer(unsafe.SliceData(mem))
	if uintptr(base)%8 != 0 {
		return core{}, nil, fmt.Errorf("%w: memory not 8-byte aligned", ErrLayout)
	}
	c := core{
		producer: (*uint32)(unsafe.Add(base, off.Producer)),
		consumer: (*uint32)(unsafe.Add(base, off.Consumer)),
		flags:    (*uint32)(unsafe.Add(base, off.Flags)),
		mask:     size - 1,
		size:     size,
	}
	return c, unsafe.Add(base, off.Desc), nil
}

// Size is the number of entries the ring holds.
func (c *core) Size() uint32 { return c.size }

// NeedWakeup reports whether the kernel set XDP_RING_NEED_WAKEUP: it will not
// look at this ring again until it is woken by a system call.
func (c *core) NeedWakeup() bool {
	return atomic.LoadUint32(c.flags)&NeedWakeup != 0
}

// SetFlags stores the flags word. Only a side that plays the kernel (a test or
// simulation) uses it.
func (c *core) SetFlags(f uint32) { atomic.StoreUint32(c.flags, f) }

// producer is the producing side of a ring.
type producer struct{ core }

func (p *producer) init() {
	// Pick up where the shared indices are, so a view made over a ring in
	// use continues it.
	p.published = atomic.LoadUint32(p.producer)
	p.cachedProd = p.published
	p.cachedCons = atomic.LoadUint32(p.consumer) + p.size
}

// Free returns the number of entries that can be reserved now, reading the
// consumer's index only when the cached value does not show n free.
func (p *producer) Free(n uint32) uint32 {
	free := p.cachedCons - p.cachedProd
	if free >= n {
		return free
	}
	// Acquire: pairs with the consumer's release of the consumer index
	// after it read those entries (kernel barrier B).
	p.cachedCons = atomic.LoadUint32(p.consumer) + p.size
	return p.cachedCons - p.cachedProd
}

// Reserve claims up to n entries and returns the index of the first and the
// number claimed, which is 0 when the ring is full. Write the entries, then
// Submit them.
func (p *producer) Reserve(n uint32) (idx, got uint32) {
	if free := p.Free(n); free < n {
		n = free
	}
	idx = p.cachedProd
	p.cachedProd += n
	return idx, n
}

// Unreserve gives back the last n reserved entries that were not submitted.
func (p *producer) Unreserve(n uint32) { p.cachedProd -= n }

// Submit publishes the next n reserved entries to the consumer.
func (p *producer) Submit(n uint32) {
	p.published += n
	// Release: the entries' plain stores happen before the index store.
	// Pairs with the consumer's acquire load (kernel barrier C).
	atomic.StoreUint32(p.producer, p.published)
}

// Pending returns the number of submitted entries the consumer has not yet
// released, as of the last look at its index.
func (p *producer) Pending() uint32 {
	return p.size - (p.cachedCons - p.published)
}

// consumer is the consuming side of a ring.
type consumer struct{ core }

func (c *consumer) init() {
	c.published = atomic.LoadUint32(c.consumer)
	c.cachedCons = c.published
	c.cachedProd = atomic.LoadUint32(c.producer)
}

// Available returns the number of entries ready to peek, reading the
// producer's index only when the cached value shows fewer than n.
func (c *consumer) Available(n uint32) uint32 {
	avail := c.cachedProd - c.cachedCons
	if avail >= n {
		return avail
	}
	// Acquire: pairs with the producer's release of the producer index
	// after it wrote the entries (kernel barrier A/C).
	c.cachedProd = atomic.LoadUint32(c.producer)
	return c.cachedProd - c.cachedCons
}

// Peek claims up to n ready entries and returns the index of the first and
// the number claimed, 0 when the ring is empty. Read them, then Release them.
func (c *consumer) Peek(n uint32) (idx, got uint32) {
	if avail := c.Available(n); avail < n {
		n = avail
	}
	idx = c.cachedCons
	c.cachedCons += n
	return idx, n
}

// Cancel gives back the last n peeked entries that were not released; the
// next Peek returns them again.
func (c *consumer) Cancel(n uint32) { c.cachedCons -= n }

// Release hands the next n peeked entries back to the producer.
func (c *consumer) Release(n uint32) {
	c.published += n
	// Release: the entries' reads happen before the index store, so the
	// producer cannot overwrite a slot still being read. Pairs with the
	// producer's acquire load (kernel barrier B/D).
	atomic.StoreUint32(c.consumer, c.published)
}
