package tcp

import (
	"net/netip"
	"reflect"
	"runtime"
	"testing"
	"time"
	"unsafe"
	"weak"
)

// usedConn runs a connection of r through a busy life and resets it: it
// is established with every option, holds data it sent (the RTO and TLP
// armed) and data it received out of order (SACK ranges), has been
// through recovery's records, has a handler and User; then it is aborted
// and a Tick reclaims it. It returns the Conn, now in the pool.
func usedConn(t *testing.T, r *rig) *Conn {
	t.Helper()
	r.dial(synOpts())
	c := r.conn
	c.User = "previous life"
	c.Send.Write(make([]byte, 3000))
	c.Update(r.now)
	_, _, rcv := c.Sequence()
	r.in(FlagACK, rcv+500, c.sndUna, 65535, &Options{HasTimestamps: true, TSVal: 6000, TSEcr: c.tsNow(r.now)}, []byte("out of order"))
	r.link.take()
	c.rack = append(c.rack, rackSent{start: 1, end: 2, at: 3})
	if len(c.ooo.r) == 0 || c.rtoAt == 0 || c.Send.Len() == 0 || c.Recv.Len() != 0 || len(c.rack) == 0 {
		t.Fatalf("the first life is not busy enough: ooo %v, rto %d, send %d, recv %d", c.ooo.r, c.rtoAt, c.Send.Len(), c.Recv.Len())
	}
	c.Abort()
	r.link.take()
	r.advance(time.Millisecond)
	if n := len(r.h.pool.conns); n != 1 || r.h.pool.conns[0] != c || len(r.h.pool.sends) != 1 {
		t.Fatalf("pool: %d conns, %d buffer pairs after the abort and a Tick; want the connection's", n, len(r.h.pool.sends))
	}
	return c
}

// connFields returns c's fields as a value to compare with another
// Host's connection: the Host itself and the pool's spare capacity
// aside.
func connFields(c *Conn) Conn {
	v := *c
	v.host = nil
	v.rackMem, v.sentMem = nil, nil
	return v
}

// TestConnReuse: a Conn the pool gives again carries nothing from its
// previous life. The new connection is compared, field by field and
// through its buffers and congestion control, with the same connection
// (same ISN key, clock, addresses and segments) on a Host whose pool
// keeps nothing, in SYN-SENT and again in ESTABLISHED.
func TestConnReuse(t *testing.T) {
	r := newRig(t, testConfig())
	old := usedConn(t, r)

	cfg := testConfig()
	cfg.PoolConns = 0
	fresh := newRig(t, cfg)
	fresh.now = r.now
	ev := &events{}
	a, err := r.h.Dial(hostAddr, peerAddr, ev, r.now)
	if err != nil {
		t.Fatal(err)
	}
	if a != old {
		t.Fatal("the Host did not reuse the pooled Conn")
	}
	b, err := fresh.h.Dial(hostAddr, peerAddr, ev, fresh.now)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := connFields(a), connFields(b); !reflect.DeepEqual(got, want) {
		t.Fatalf("SYN-SENT: reused Conn\n%+v\nwant, as a new one,\n%+v", got, want)
	}
	for _, rr := range []*rig{r, fresh} {
		syn := rr.expect(FlagSYN)[0]
		o := *synOpts()
		o.TSEcr = syn.o.TSVal
		rr.in(FlagSYN|FlagACK, peerISS, syn.f.Seq+1, 65535, &o, nil)
		rr.expect(FlagACK)
	}
	if a.State() != StateEstablished || a.Send.Cap() != b.Send.Cap() {
		t.Fatalf("reused connection %v with a %d-byte send buffer", a.State(), a.Send.Cap())
	}
	// DeepEqual follows the pointers: Send, Recv (every byte, both
	// indices) and the congestion controller are compared too.
	if got, want := connFields(a), connFields(b); !reflect.DeepEqual(got, want) {
		t.Fatalf("ESTABLISHED: reused Conn\n%+v\nwant, as a new one,\n%+v", got, want)
	}
	for name, zero := range map[string]bool{
		"ooo":    allZero(a.ooo.r[:cap(a.ooo.r)]),
		"sacked": allZero(a.sacked.r[:cap(a.sacked.r)]),
		"rack":   allZero(a.rackMem[:cap(a.rackMem)]),
	} {
		if !zero {
			t.Errorf("%s records of the previous life are still in the reused memory", name)
		}
	}
}

func allZero[T comparable](s []T) bool {
	var z T
	for _, v := range s {
		if v != z {
			return false
		}
	}
	return true
}

// TestConnKeep: a connection its user keeps (Conn.Keep) is not reused,
// and what it received stays readable after it is gone.
func TestConnKeep(t *testing.T) {
	r := newRig(t, testConfig())
	r.ev.consume = false
	r.dial(synOpts())
	c := r.conn
	c.Keep()
	_, _, rcv := c.Sequence()
	r.in(FlagACK|FlagPSH, rcv, c.sndUna, 65535, nil, []byte("left to read"))
	r.in(FlagRST, rcv+12, 0, 0, nil, nil)
	if c.State() != StateClosed || !r.ev.closed {
		t.Fatalf("state %v, closed %v: want the RST to end it", c.State(), r.ev.closed)
	}
	r.advance(time.Millisecond)
	if len(r.h.pool.conns) != 0 || len(r.h.pool.sends) != 0 {
		t.Fatalf("the pool took a kept connection: %d conns, %d buffers", len(r.h.pool.conns), len(r.h.pool.sends))
	}
	n, err := r.h.Dial(hostAddr, peerAddr, r.ev, r.now)
	if err != nil {
		t.Fatal(err)
	}
	if n == c {
		t.Fatal("a kept Conn was reused")
	}
	p := make([]byte, 64)
	if got := string(p[:c.Recv.Read(p)]); got != "left to read" || c.Err() != ErrReset {
		t.Fatalf("kept connection: read %q, err %v", got, c.Err())
	}
}

// TestPoolBounds: the pool keeps at most PoolConns connections, and
// Prealloc of them are there from the start.
func TestPoolBounds(t *testing.T) {
	cfg := churnConfig()
	cfg.MaxConns, cfg.PoolConns, cfg.Prealloc = 16, 4, 2
	pr := newPair(t, cfg)
	h := pr.p.hosts[0]
	if len(h.pool.conns) != 2 || len(h.pool.sends) != 2 {
		t.Fatalf("Prealloc 2: %d conns, %d buffer pairs in the pool", len(h.pool.conns), len(h.pool.sends))
	}
	// The first connections, one each way, allocate nothing.
	cfg.RACK = true
	first := newPair(t, cfg)
	first.cycle()
	first.cycle()
	first.check(t)
	// The pool's own counts of what it had to allocate (the process's
	// malloc count would also see the runtime's and the test framework's).
	for i, fh := range first.p.hosts {
		if c := fh.Counters(); c[ConnAllocs] != 0 || c[BufferAllocs] != 0 {
			t.Errorf("Prealloc 2: host %d's first connections allocated %d connections and %d buffer pairs", i, c[ConnAllocs], c[BufferAllocs])
		}
	}
	// Ten connections at once, then all gone: four stay in the pool.
	for range 10 {
		if _, err := h.Dial(netip.AddrPortFrom(pr.addrs[0].Addr(), 0), pr.addrs[1], &pr.clients[0], pr.now); err != nil {
			t.Fatal(err)
		}
	}
	pr.p.pump(pr.now)
	for len(h.Conns()) > 0 {
		h.Conns()[0].Abort()
	}
	pr.p.pump(pr.now)
	h.Tick(pr.now)
	if len(h.pool.conns) != 4 || len(h.pool.sends) != 4 {
		t.Fatalf("PoolConns 4: %d conns, %d buffer pairs in the pool", len(h.pool.conns), len(h.pool.sends))
	}
	if a := h.Counters()[ConnAllocs]; a != 8 {
		t.Errorf("%d connections allocated, want 8 (10 less the 2 preallocated)", a)
	}
	for _, bad := range []struct{ pool, prealloc, max int }{{-1, 0, 16}, {4, 5, 16}, {32, 20, 16}, {0, -1, 16}} {
		c := churnConfig()
		c.PoolConns, c.Prealloc, c.MaxConns = bad.pool, bad.prealloc, bad.max
		if _, err := NewHost(c, sinkLink{}); err == nil {
			t.Errorf("PoolConns %d, Prealloc %d, MaxConns %d: no error", bad.pool, bad.prealloc, bad.max)
		}
	}
}

// TestConnFixedBytes: BytesPerConn's constants are the sizes the
// compiler gives.
func TestConnFixedBytes(t *testing.T) {
	for _, tc := range []struct {
		name      string
		got, want uintptr
	}{
		{"Conn", connStructBytes, unsafe.Sizeof(Conn{})},
		{"congestion control", ccBytes, max(unsafe.Sizeof(Cubic{}), unsafe.Sizeof(NewReno{}))},
		{"SACK ranges", rangesBytes, 2 * 16 * unsafe.Sizeof(SACKBlock{})},
		{"RACK records", rackBytes, rackCap * unsafe.Sizeof(rackSent{})},
		{"RACK marks", sentBytes, sentCap * unsafe.Sizeof(sentMark{})},
		{"Buffer", bufferStructBytes, unsafe.Sizeof(Buffer{})},
		{"table slot", slotBytes, unsafe.Sizeof(slot{})},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: %d bytes counted, the compiler says %d: update pool.go", tc.name, tc.got, tc.want)
		}
	}
}

// TestBytesPerConn: what the heap grows by for established connections
// (their Hosts made for them) is BytesPerConn each, within 5%.
func TestBytesPerConn(t *testing.T) {
	for _, size := range []int{4 << 10, 64 << 10} {
		cfg := churnConfig()
		cfg.SendBuffer, cfg.RecvBuffer = size, size
		cfg.MaxConns, cfg.SynBacklog, cfg.PoolConns = 256, 256, 0
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		pr := newPair(t, cfg)
		h := pr.p.hosts[0]
		for range cfg.MaxConns {
			if _, err := h.Dial(netip.AddrPortFrom(pr.addrs[0].Addr(), 0), pr.addrs[1], nil, pr.now); err != nil {
				t.Fatal(err)
			}
			pr.p.pump(pr.now)
		}
		runtime.ReadMemStats(&after)
		if c := pr.p.hosts[1].Counters(); c[Established] != uint64(cfg.MaxConns) {
			t.Fatalf("%d connections established, want %d", c[Established], cfg.MaxConns)
		}
		grown := float64(after.TotalAlloc-before.TotalAlloc) - float64(unsafe.Sizeof(pipe{}))
		want := float64(2 * cfg.MaxConns * cfg.BytesPerConn())
		t.Logf("buffers %d: %d bytes per connection, heap %.0f", size, cfg.BytesPerConn(), grown/float64(2*cfg.MaxConns))
		if grown < 0.95*want || grown > 1.05*want {
			t.Errorf("buffers %d: the heap grew by %.0f bytes for %d connections, BytesPerConn says %.0f", size, grown, 2*cfg.MaxConns, want)
		}
	}
}

// TestBytesPerTimeWait: what the heap keeps for connections in TIME-WAIT
// (the client closed first; the server's connections are gone, its
// Host's table and lists stay) is BytesPerTimeWait each, within 5%,
// whatever the buffers' size.
func TestBytesPerTimeWait(t *testing.T) {
	for _, size := range []int{4 << 10, 64 << 10} {
		cfg := churnConfig()
		cfg.SendBuffer, cfg.RecvBuffer = size, size
		cfg.MaxConns, cfg.PoolConns = 1024, 0
		cfg.TimeWait = 60 * second
		cfg.MaxTimeWait = -1 // the whole table in TIME-WAIT
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		pr := newPair(t, cfg)
		client, server := pr.p.hosts[0], pr.p.hosts[1]
		for range cfg.MaxConns {
			c, err := client.Dial(netip.AddrPortFrom(pr.addrs[0].Addr(), 0), pr.addrs[1], nil, pr.now)
			if err != nil {
				t.Fatal(err)
			}
			pr.p.pump(pr.now)
			c.Close(pr.now)
			pr.p.pump(pr.now)
			if c.State() != StateTimeWait {
				t.Fatalf("client connection %v, want TIME-WAIT", c.State())
			}
			pr.now += millisecond
			client.Tick(pr.now)
			server.Tick(pr.now)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		runtime.KeepAlive(pr)
		if n := len(client.Conns()); n != cfg.MaxConns || len(server.Conns()) != 0 {
			t.Fatalf("%d client connections (want %d), %d server connections (want 0)", n, cfg.MaxConns, len(server.Conns()))
		}
		held := float64(after.HeapAlloc) - float64(before.HeapAlloc) - float64(unsafe.Sizeof(pipe{}))
		// The server's Host keeps its table and lists: its share of
		// them, per connection.
		share := cfg.BytesPerTimeWait() - (connStructBytes + ccBytes + rangesBytes + rackBytes)
		want := float64(cfg.MaxConns * (cfg.BytesPerTimeWait() + share))
		t.Logf("buffers %d: %d bytes per connection in TIME-WAIT (%d established), heap %.0f",
			size, cfg.BytesPerTimeWait(), cfg.BytesPerConn(), (held-float64(cfg.MaxConns*share))/float64(cfg.MaxConns))
		if held < 0.95*want || held > 1.05*want {
			t.Errorf("buffers %d: the heap holds %.0f bytes for %d connections in TIME-WAIT, BytesPerTimeWait says %.0f", size, held, cfg.MaxConns, want)
		}
	}
}

// TestBufferReset: whatever was written, in order or ahead of the tail,
// wrapped round or not, reset leaves every byte zero and the indices at
// zero.
func TestBufferReset(t *testing.T) {
	fill := func(n int) []byte {
		p := make([]byte, n)
		for i := range p {
			p[i] = byte(i | 1)
		}
		return p
	}
	for _, tc := range []struct {
		name string
		use  func(b *Buffer)
	}{
		{"nothing", func(b *Buffer) {}},
		{"written", func(b *Buffer) { b.Write(fill(100)) }},
		{"written and read", func(b *Buffer) { b.Write(fill(100)); b.Read(make([]byte, 60)) }},
		{"ahead of the tail", func(b *Buffer) { b.Write(fill(10)); b.WriteAt(200, fill(50)) }},
		{"ahead, committed", func(b *Buffer) { b.WriteAt(0, fill(30)); b.Commit(30); b.WriteAt(100, fill(20)) }},
		{"to the end", func(b *Buffer) { b.WriteAt(0, fill(b.Cap())) }},
		{"round", func(b *Buffer) {
			for range 5 {
				b.Write(fill(200))
				b.Consume(200)
			}
		}},
		{"ahead, round", func(b *Buffer) { b.Write(fill(900)); b.Consume(900); b.WriteAt(50, fill(300)) }},
	} {
		b := NewBuffer(1024)
		tc.use(b)
		b.reset()
		if b.Len() != 0 || b.head.Load() != 0 || b.tail.Load() != 0 || !allZero(b.buf) {
			t.Errorf("%s: after reset head %d tail %d, bytes zero %v", tc.name, b.head.Load(), b.tail.Load(), allZero(b.buf))
		}
	}
}

// TestGoneConnsCollected: with no room in the pool, gone connections
// (and their buffers) are the garbage collector's once a Tick has run:
// nothing of the Host's keeps them reachable. Before, Tick emptied its
// touched list without clearing it, and its array held on to the last
// Tick's connections until as many more were touched.
func TestGoneConnsCollected(t *testing.T) {
	cfg := churnConfig()
	cfg.MaxConns, cfg.PoolConns = 64, 0
	pr := newPair(t, cfg)
	h := pr.p.hosts[0]
	gone := make([]weak.Pointer[Conn], 0, 32)
	for range cap(gone) {
		c, err := h.Dial(netip.AddrPortFrom(pr.addrs[0].Addr(), 0), pr.addrs[1], nil, pr.now)
		if err != nil {
			t.Fatal(err)
		}
		gone = append(gone, weak.Make(c))
	}
	pr.p.pump(pr.now)
	for len(h.Conns()) > 0 {
		h.Conns()[0].Abort() // touched, then gone
	}
	h.Tick(pr.now)
	runtime.GC()
	n := 0
	for _, w := range gone {
		if w.Value() != nil {
			n++
		}
	}
	if n != 0 {
		t.Errorf("%d of %d gone connections still reachable after a Tick", n, len(gone))
	}
	runtime.KeepAlive(h) // the Host itself stays
}
