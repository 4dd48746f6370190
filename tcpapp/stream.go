package tcpapp

import (
	"sync/atomic"

	"github.com/fastpathnet/fastpath/tcp"
)

// What the servers with per-connection state (RR, HTTPPattern) share:
// their handlers' free list, and a response written as the send buffer
// makes room.

// MaxMessage is the largest request or response, in bytes, RR and
// HTTPPattern take (RRConfig's sizes, HTTPPattern's body): past it a
// transfer is a bulk one (Sender, StartBulk), not a request/response
// exchange.
const MaxMessage = 1 << 20

// clock is the engine's clock (*stack.Engine; a test's in memory).
type clock interface{ Now() int64 }

// freeList is a server's per-connection handlers on one engine, for
// reuse: a handler goes back when its connection is Closed and the next
// connection takes it. It never holds more handlers than connections were
// open at once, at most the Host's MaxConns, which is its room from the
// start: at steady state, churn included, nothing allocates. Engine
// goroutine only, but for allocs.
type freeList[T any] struct {
	free   []*T
	allocs atomic.Uint64 // handlers allocated
}

func (l *freeList[T]) init(maxConns int) { l.free = make([]*T, 0, maxConns) }

// get returns a handler from the list, or a new one (zero).
func (l *freeList[T]) get() *T {
	if n := len(l.free); n > 0 {
		x := l.free[n-1]
		l.free[n-1] = nil
		l.free = l.free[:n-1]
		return x
	}
	l.allocs.Add(1)
	return new(T)
}

func (l *freeList[T]) put(x *T) { l.free = append(l.free, x) }

// response is one response a connection owes: its first bytes from pre
// (a head, and the start of the body), the rest of the body from pattern
// (body byte i is i mod 251).
type response struct {
	pre  []byte
	head int // bytes of head in pre
	size int // head and body
	off  int // written so far
}

// write copies as much of the response as b takes; it reports whether the
// response is all written.
func (r *response) write(b *tcp.Buffer) bool {
	for r.off < r.size {
		var p []byte
		if r.off < len(r.pre) {
			p = r.pre[r.off:]
		} else {
			p = pattern[(r.off-r.head)%251:]
		}
		p = p[:min(len(p), r.size-r.off)]
		n := b.Write(p)
		r.off += n
		if n < len(p) {
			return false // Writable brings the writer back
		}
	}
	return true
}
