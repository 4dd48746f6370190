package tcpapp

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/fastpathnet/fastpath/tcp"
)

// Two tcp.Hosts joined in memory, the server's and a client's, to run the
// servers with per-connection state through whole connections on one
// goroutine: every step is deterministic and nothing in the harness
// allocates after newMemPair, so a test can count the servers' own
// allocations (noalloc_internal_test.go). The kernel as the client is in
// tcpapp_test.go.

// memFrame is a segment on its way from one Host to the other.
type memFrame struct {
	src, dst netip.Addr
	to, n    int
	b        [tcp.MaxHeaderLen + 2048]byte
}

// memPipe carries segments between two Hosts in order, through a fixed
// ring.
type memPipe struct {
	hosts   [2]*tcp.Host
	q       [512]memFrame
	head, n int
	dropped int
}

// memEnd is one Host's Link: it sends to the other.
type memEnd struct {
	p  *memPipe
	to int
}

func (e *memEnd) Send(local, remote netip.AddrPort, f *tcp.Fields, o *tcp.Options, p1, p2 []byte) bool {
	p := e.p
	if p.n == len(p.q) || tcp.MaxHeaderLen+len(p1)+len(p2) > len(p.q[0].b) {
		p.dropped++
		return false
	}
	fr := &p.q[(p.head+p.n)%len(p.q)]
	n, err := tcp.Encode(fr.b[:], *f, o)
	if err != nil {
		p.dropped++
		return false
	}
	n += copy(fr.b[n:], p1)
	n += copy(fr.b[n:], p2)
	tcp.Header(fr.b[:n]).SetChecksum(local.Addr(), remote.Addr())
	fr.src, fr.dst, fr.to, fr.n = local.Addr(), remote.Addr(), e.to, n
	p.n++
	return true
}

// deliver hands every segment in flight, and those they bring, to its
// Host.
func (p *memPipe) deliver(now int64) {
	for p.n > 0 {
		fr := &p.q[p.head]
		p.hosts[fr.to].Input(fr.src, fr.dst, tcp.Header(fr.b[:fr.n]), now)
		p.head = (p.head + 1) % len(p.q)
		p.n--
	}
}

// memPair is a server Host (0, listening on port 80) and a client Host (1)
// on a pipe, and the clock both run by.
type memPair struct {
	p      *memPipe
	server netip.AddrPort
	client netip.AddrPort
	now    int64
}

func (m *memPair) Now() int64 { return m.now }

// memConfig has small buffers, so that responses of tens of KiB stream,
// and short timers, so that connections end within a few steps.
func memConfig() tcp.Config {
	cfg := tcp.DefaultConfig()
	cfg.ISNKey = [16]byte{7, 7}
	cfg.SendBuffer, cfg.RecvBuffer = 16<<10, 16<<10
	cfg.TimeWait = 5 * int64(time.Millisecond)
	cfg.DelayedACK = int64(time.Millisecond)
	cfg.MaxConns = 64
	return cfg
}

// newMemPair joins two Hosts of cfg; listen gives the server its
// listener on port 80.
func newMemPair(tb testing.TB, cfg tcp.Config) *memPair {
	tb.Helper()
	m := &memPair{p: &memPipe{}, now: int64(time.Hour),
		server: netip.MustParseAddrPort("198.18.0.1:80"), client: netip.MustParseAddrPort("198.18.0.2:0")}
	for i := range 2 {
		h, err := tcp.NewHost(cfg, &memEnd{p: m.p, to: 1 - i})
		if err != nil {
			tb.Fatal(err)
		}
		m.p.hosts[i] = h
	}
	return m
}

func (m *memPair) listen(tb testing.TB, accept func(*tcp.Conn) tcp.Handler) {
	tb.Helper()
	if _, err := m.p.hosts[0].Listen(80, accept); err != nil {
		tb.Fatal(err)
	}
}

// run dials the server with h and steps the clock, a millisecond at a
// time, until both Hosts' tables are empty (the connection and its
// TIME-WAIT are over) or steps run out; it reports whether they emptied.
func (m *memPair) run(h tcp.Handler, steps int) bool {
	if _, err := m.p.hosts[1].Dial(m.client, m.server, h, m.now); err != nil {
		return false
	}
	for range steps {
		m.p.deliver(m.now)
		if len(m.p.hosts[0].Conns())+len(m.p.hosts[1].Conns()) == 0 {
			return true
		}
		m.now += int64(time.Millisecond)
		m.p.hosts[0].Tick(m.now)
		m.p.hosts[1].Tick(m.now)
	}
	return false
}

// memClient sends rounds requests, up to depth of them ahead of their
// responses, and checks every byte of every response: head (lastHead for
// the last response, if set) then body bytes of the pattern. It closes
// after the last response, or (closeEarly) right after the last request,
// or (waitFIN) after the server's FIN.
// It allocates nothing: a test reuses one for every connection (reset).
type memClient struct {
	m              *memPair
	req, lastReq   []byte
	head, lastHead []byte
	body           int
	rounds, depth  int
	closeEarly     bool
	waitFIN        bool

	sent, reqOff int // requests all written; bytes of the next one written
	got, respOff int // responses all read; bytes of the next one read
	bad          int // bytes that were not what they should be
	extra        int // bytes past the last response
	closed       bool
	err          error
}

func (k *memClient) reset() {
	k.sent, k.reqOff, k.got, k.respOff, k.bad, k.extra, k.closed, k.err = 0, 0, 0, 0, 0, 0, false, nil
}

// ok reports whether the connection went as it should have.
func (k *memClient) ok() bool {
	return k.closed && k.err == nil && k.got == k.rounds && k.bad == 0 && k.extra == 0
}

func (k *memClient) Established(c *tcp.Conn) { k.fill(c) }
func (k *memClient) Writable(c *tcp.Conn)    { k.fill(c) }
func (k *memClient) Closed(c *tcp.Conn, err error) {
	k.closed, k.err = true, err
}

func (k *memClient) fill(c *tcp.Conn) {
	if c.State() != tcp.StateEstablished && c.State() != tcp.StateCloseWait {
		return
	}
	for k.sent < k.rounds && k.sent-k.got < k.depth {
		req := k.req
		if k.sent == k.rounds-1 && k.lastReq != nil {
			req = k.lastReq
		}
		k.reqOff += c.Send.Write(req[k.reqOff:])
		if k.reqOff < len(req) {
			return
		}
		k.sent, k.reqOff = k.sent+1, 0
	}
	if k.sent == k.rounds && k.closeEarly {
		c.Close(k.m.now)
	}
}

func (k *memClient) Readable(c *tcp.Conn) {
	for {
		p1, _ := c.Recv.Peek(0, 1<<20)
		if len(p1) == 0 {
			break
		}
		for _, b := range p1 {
			if k.got == k.rounds {
				k.extra++
				continue
			}
			head := k.head
			if k.got == k.rounds-1 && k.lastHead != nil {
				head = k.lastHead
			}
			want := byte(0)
			if k.respOff < len(head) {
				want = head[k.respOff]
			} else {
				want = byte((k.respOff - len(head)) % 251)
			}
			if b != want {
				k.bad++
			}
			if k.respOff++; k.respOff == len(head)+k.body {
				k.got, k.respOff = k.got+1, 0
			}
		}
		c.Recv.Consume(len(p1))
	}
	if k.got == k.rounds && !k.closeEarly && !k.waitFIN || c.PeerClosed() {
		c.Close(k.m.now)
	}
	k.fill(c)
}

// newMemRR is an RR server on m's server Host, listening.
func newMemRR(tb testing.TB, m *memPair, cfg RRConfig) *RR {
	tb.Helper()
	s, err := newRR(m, m.p.hosts[0].Config().MaxConns, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	m.listen(tb, s.Accept)
	return s
}

// checkFree fails tb unless the server's free list holds every handler it
// allocated (all its connections are over), each once.
func checkFree[T any](tb testing.TB, l *freeList[T]) {
	tb.Helper()
	if uint64(len(l.free)) != l.allocs.Load() {
		tb.Errorf("%d handlers in the free list, %d allocated", len(l.free), l.allocs.Load())
	}
	seen := map[*T]bool{}
	for _, h := range l.free {
		if seen[h] {
			tb.Errorf("handler %p is in the free list twice", h)
		}
		seen[h] = true
	}
}

func (k *memClient) String() string {
	return fmt.Sprintf("requests %d of %d sent (%d bytes into the next), responses %d read (%d bytes into the next), %d bytes wrong, %d too many, closed %v with %v",
		k.sent, k.rounds, k.reqOff, k.got, k.respOff, k.bad, k.extra, k.closed, k.err)
}
