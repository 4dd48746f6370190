// Package rings implements the four single-producer, single-consumer rings
// that an AF_XDP socket shares with the kernel: the fill and completion rings
// of a UMEM, which carry frame addresses, and the RX and TX rings of a
// socket, which carry descriptors.
//
// A ring is a power-of-two array of entries plus a producer index, a consumer
// index and a flags word, all inside memory mapped from the socket (see
// XDP_MMAP_OFFSETS in include/uapi/linux/if_xdp.h). The indices are free
// running uint32 counters; an entry's slot is index & (size-1). Each side
// keeps cached copies of both indices so that it touches the shared words only
// once per batch, as libxdp's xsk.h and the kernel's xsk_queue.h do.
//
// Verbs follow libxdp: a producer Reserves entries, writes them and Submits
// them; a consumer Peeks entries, reads them and Releases them (or Cancels
// the ones it peeked but does not want yet).
//
// # Memory ordering
//
// The kernel side is documented in net/xdp/xsk_queue.h (barriers A-D). Here:
//
//   - Producer: the entries are written with plain stores, then the producer
//     index is published with atomic.StoreUint32 (a release store; on amd64 an
//     XCHG, a full barrier). Pairs with the consumer's atomic load of the
//     producer index (kernel barrier C, smp_load_acquire in xskq_cons_peek).
//   - Producer: before reusing slots it reads the consumer index with
//     atomic.LoadUint32 (acquire). Pairs with the consumer's release store of
//     the consumer index after it has read the entries (kernel barrier B in
//     __xskq_cons_release), so a slot is never overwritten while the peer
//     still reads it.
//   - Consumer: reads the producer index with atomic.LoadUint32 (acquire)
//     before reading entries; publishes the consumer index with
//     atomic.StoreUint32 (release) after it has finished reading them.
//
// Go's sync/atomic operations are sequentially consistent, which is at least
// as strong as the acquire/release pairs the protocol needs.
//
// The rings work over any []byte, so tests can back them with make and let a
// goroutine play the kernel.
//
// Nothing here allocates, locks or makes a system call after construction;
// one ring is used by one goroutine (one core) at a time.
package rings
