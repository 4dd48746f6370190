package tcp

import "sync/atomic"

// Buffer is a byte ring with one producer and one consumer, which may be
// on different goroutines: each side's index is written only by that side
// and published with an atomic store, as in the AF_XDP rings. A
// connection's send buffer is produced by its writer and consumed by
// acknowledgements (the bytes from SND.UNA are kept until acknowledged, so
// retransmissions read them again); its receive buffer is produced by the
// engine and consumed by the reader.
//
// The capacity is a power of two. The indices run freely and wrap at 2^64.
type Buffer struct {
	buf  []byte
	mask uint64
	// head is the consumer's index: only the consumer writes it.
	head atomic.Uint64
	// tail is the producer's index: only the producer writes it.
	tail atomic.Uint64
	// ahead is the highest index WriteAt stored at (plus one): with
	// tail, what reset must clear. Only the producer writes it.
	ahead uint64
}

// NewBuffer returns a Buffer of at least size bytes (rounded up to a power
// of two, at least 64).
func NewBuffer(size int) *Buffer {
	n := bufferCap(size)
	return &Buffer{buf: make([]byte, n), mask: uint64(n - 1)}
}

// bufferCap is the capacity NewBuffer(size) has.
func bufferCap(size int) int {
	n := 64
	for n < size {
		n <<= 1
	}
	return n
}

// Cap is the buffer's capacity.
func (b *Buffer) Cap() int { return len(b.buf) }

// Len is the number of bytes between head and tail.
func (b *Buffer) Len() int { return int(b.tail.Load() - b.head.Load()) }

// Free is the room left for the producer.
func (b *Buffer) Free() int { return len(b.buf) - b.Len() }

// Write copies as much of p as fits and publishes it; producer only.
func (b *Buffer) Write(p []byte) int {
	t := b.tail.Load()
	// Acquire: the consumer's release of head after it finished with
	// those bytes.
	n := min(len(p), len(b.buf)-int(t-b.head.Load()))
	if n <= 0 {
		return 0
	}
	off := int(t & b.mask)
	c := copy(b.buf[off:], p[:n])
	copy(b.buf, p[c:n])
	// Release: the bytes are in place before the tail says so.
	b.tail.Store(t + uint64(n))
	return n
}

// Peek returns the bytes from offset off past head, at most n of them, as
// up to two views (the ring wraps); consumer only. The views stay valid
// until the consumer advances past them.
func (b *Buffer) Peek(off, n int) (p1, p2 []byte) {
	h := b.head.Load()
	avail := int(b.tail.Load()-h) - off
	if avail <= 0 || n <= 0 {
		return nil, nil
	}
	n = min(n, avail)
	start := int((h + uint64(off)) & b.mask)
	if end := start + n; end <= len(b.buf) {
		return b.buf[start:end], nil
	}
	return b.buf[start:], b.buf[:n-(len(b.buf)-start)]
}

// Read copies up to len(p) bytes out and consumes them; consumer only.
func (b *Buffer) Read(p []byte) int {
	p1, p2 := b.Peek(0, len(p))
	n := copy(p, p1)
	n += copy(p[n:], p2)
	b.Consume(n)
	return n
}

// Consume releases n bytes at head to the producer; consumer only.
func (b *Buffer) Consume(n int) {
	if n = min(n, b.Len()); n <= 0 {
		return // nothing stored: the Host's empty Buffer is never written
	}
	b.head.Store(b.head.Load() + uint64(n))
}

// WriteAt copies p into the ring at off bytes past tail without publishing
// it (out-of-order data held until the gap fills), as far as it fits;
// producer only. It returns how many bytes it stored.
func (b *Buffer) WriteAt(off int, p []byte) int {
	t := b.tail.Load()
	room := len(b.buf) - int(t-b.head.Load()) - off
	n := min(len(p), room)
	if n <= 0 {
		return 0
	}
	start := int((t + uint64(off)) & b.mask)
	c := copy(b.buf[start:], p[:n])
	copy(b.buf, p[c:n])
	b.ahead = max(b.ahead, t+uint64(off+n))
	return n
}

// Commit publishes n bytes already stored past tail with WriteAt;
// producer only.
func (b *Buffer) Commit(n int) {
	b.tail.Store(b.tail.Load() + uint64(n))
}

// reset empties the buffer for another connection: indices at zero, every
// byte zero (nothing of the last connection's stream can be read back).
// Only when no producer or consumer uses it. Since the indices start at
// zero, a buffer whose indices never went round wrote only below them:
// a short connection's reset clears what it used, not the whole ring.
func (b *Buffer) reset() {
	if end := max(b.tail.Load(), b.ahead); end < uint64(len(b.buf)) {
		clear(b.buf[:end])
	} else {
		clear(b.buf)
	}
	b.head.Store(0)
	b.tail.Store(0)
	b.ahead = 0
}
