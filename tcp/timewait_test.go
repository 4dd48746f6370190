package tcp

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"
)

// Connections that follow one another on a 4-tuple: the timestamp clock,
// and what a connection in TIME-WAIT keeps.

// synTSVal dials from local to remote and returns the SYN's TSval; the
// connection is aborted (our RST) and left to the next Tick.
func (r *rig) synTSVal(local, remote netip.AddrPort) uint32 {
	r.t.Helper()
	c, err := r.h.Dial(local, remote, &events{}, r.now)
	if err != nil {
		r.t.Fatal(err)
	}
	syn := r.expect(FlagSYN)[0]
	if !syn.o.HasTimestamps {
		r.t.Fatalf("SYN %v without timestamps", syn)
	}
	c.Abort()
	r.link.take()
	return syn.o.TSVal
}

// TestTimestampClockPerAddressPair: TSval is one clock per address pair
// (ISNGenerator.TSOffset), as Linux's: the next connection on a 4-tuple,
// or from another port, sends TSvals that went on from the last one's by
// the time between them; another address pair's clock has another
// offset. A per-connection offset fails it: a peer holding the previous
// incarnation in TIME-WAIT drops a SYN whose TSval went back (PAWS).
func TestTimestampClockPerAddressPair(t *testing.T) {
	r := newRig(t, testConfig())
	first := r.synTSVal(hostAddr, peerAddr)
	for i, next := range []netip.AddrPort{hostAddr, hostAddr, netip.MustParseAddrPort("198.18.0.1:81")} {
		r.advance(time.Duration(10*(i+1)) * time.Millisecond)
		want := first + uint32((r.now-int64(time.Hour))/millisecond)
		if got := r.synTSVal(next, peerAddr); got != want {
			t.Fatalf("connection %d from %v: TSval %d, want %d (the first connection's %d, %d ms later)",
				i+2, next, got, want, first, (r.now-int64(time.Hour))/millisecond)
		}
	}
	base := uint32(r.now / millisecond)
	offset := r.synTSVal(hostAddr, peerAddr) - base
	for _, pair := range [][2]netip.AddrPort{
		{hostAddr, netip.MustParseAddrPort("198.18.0.3:40000")},
		{netip.MustParseAddrPort("198.18.0.4:80"), peerAddr},
	} {
		if got := r.synTSVal(pair[0], pair[1]) - base; got == offset {
			t.Errorf("%v -> %v: the timestamp offset of %v -> %v", pair[0], pair[1], hostAddr, peerAddr)
		}
	}
}

// TestTimestampClockAcrossHosts: two Hosts with the same TSKey, the
// second made later with TSEpoch that much further on and its own now
// starting again (a second run of a process), give a four-tuple rising
// TSvals, as a peer still in TIME-WAIT from the first needs; with
// different ISN keys (each run draws one) and no TSKey, the clock would
// start again at a random point.
func TestTimestampClockAcrossHosts(t *testing.T) {
	cfg := testConfig()
	cfg.TSKey, cfg.TSEpoch = [16]byte{9}, int64(100*time.Hour)
	first := newRig(t, cfg).synTSVal(hostAddr, peerAddr)
	cfg.ISNKey = [16]byte{4, 5, 6} // another run, another ISN key
	cfg.TSEpoch += int64(30 * time.Second)
	second := newRig(t, cfg).synTSVal(hostAddr, peerAddr)
	if d := int32(second - first); d != 30000 {
		t.Errorf("TSval %d, then %d 30 s later in another Host: %d ms on, want 30000", first, second, d)
	}
}

// strict is a Handler that records its calls, reads Recv on Readable,
// and fails the test on a call after Closed: once Closed has returned,
// the Conn is the Host's (and in TIME-WAIT its buffers are gone).
type strict struct {
	t      *testing.T
	calls  []string
	data   []byte
	closed bool
	abort  bool // Abort in Established
}

func (s *strict) call(name string) {
	s.t.Helper()
	if s.closed {
		s.t.Errorf("%s after Closed (calls so far %v)", name, s.calls)
	}
	s.calls = append(s.calls, name)
}

func (s *strict) Established(c *Conn) {
	s.call("Established")
	if s.abort {
		c.Abort()
	}
}

func (s *strict) Readable(c *Conn) {
	s.call("Readable")
	p := make([]byte, c.Recv.Len())
	s.data = append(s.data, p[:c.Recv.Read(p)]...)
	if c.PeerClosed() {
		s.calls[len(s.calls)-1] = "Readable(end)"
	}
}

func (s *strict) Writable(c *Conn) { s.call("Writable") }

func (s *strict) Closed(c *Conn, err error) {
	s.call("Closed")
	s.closed = true
}

// dialWith runs an active open with hd for a peer answering with opts
// (SYN-ACK payload payload) and returns our ISS.
func (r *rig) dialWith(hd Handler, opts *Options, payload []byte) Seq {
	r.t.Helper()
	c, err := r.h.Dial(hostAddr, peerAddr, hd, r.now)
	if err != nil {
		r.t.Fatal(err)
	}
	r.conn = c
	syn := r.expect(FlagSYN)[0]
	var o *Options
	if opts != nil {
		oo := *opts
		oo.TSEcr = syn.o.TSVal
		o = &oo
	}
	r.in(FlagSYN|FlagACK, peerISS, syn.f.Seq+1, 65535, o, payload)
	return syn.f.Seq
}

// TestNothingAfterClosed: Closed is the last call a handler gets. When
// the peer's FIN ends the connection (TIME-WAIT), the handler hears the
// end of the stream (Readable) first; the ACK that moves CLOSING to
// TIME-WAIT brings no Writable after Closed; a handler that aborts in
// Established hears nothing of the SYN-ACK's data. Before, Readable came
// after Closed in TIME-WAIT, twice when the FIN had come out of order.
func TestNothingAfterClosed(t *testing.T) {
	for _, tc := range []struct {
		name string
		run  func(r *rig, s *strict)
		want []string
		data string
	}{
		{"data and FIN in FIN-WAIT-2", func(r *rig, s *strict) {
			iss := r.dialWith(s, nil, nil)
			r.conn.Close(r.now)
			r.link.take()
			r.in(FlagACK, peerISS+1, iss+2, 65535, nil, nil)
			r.in(FlagACK|FlagFIN, peerISS+1, iss+2, 65535, nil, []byte("last"))
		}, []string{"Established", "Readable", "Readable(end)", "Closed"}, "last"},
		{"FIN out of order in FIN-WAIT-2", func(r *rig, s *strict) {
			iss := r.dialWith(s, nil, nil)
			r.conn.Close(r.now)
			r.link.take()
			r.in(FlagACK, peerISS+1, iss+2, 65535, nil, nil)
			r.in(FlagACK|FlagFIN, peerISS+5, iss+2, 65535, nil, []byte("tail"))
			r.in(FlagACK, peerISS+1, iss+2, 65535, nil, []byte("head"))
		}, []string{"Established", "Readable(end)", "Closed"}, "headtail"},
		{"data and FIN acknowledged in CLOSING", func(r *rig, s *strict) {
			iss := r.dialWith(s, nil, nil)
			r.conn.Send.Write([]byte("data"))
			r.conn.Close(r.now)
			r.link.take()
			r.in(FlagACK|FlagFIN, peerISS+1, iss+1, 65535, nil, nil)
			if r.conn.State() != StateClosing {
				t.Fatalf("state %v, want CLOSING", r.conn.State())
			}
			r.in(FlagACK, peerISS+2, iss+6, 65535, nil, nil)
		}, []string{"Established", "Readable(end)", "Closed"}, ""},
		{"abort in Established, data in the SYN-ACK", func(r *rig, s *strict) {
			s.abort = true
			r.dialWith(s, nil, []byte("early"))
		}, []string{"Established", "Closed"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, testConfig())
			s := &strict{t: t}
			tc.run(r, s)
			if fmt.Sprint(s.calls) != fmt.Sprint(tc.want) || string(s.data) != tc.data {
				t.Fatalf("calls %v, data %q; want %v, %q", s.calls, s.data, tc.want, tc.data)
			}
			if !s.abort && r.conn.State() != StateTimeWait {
				t.Fatalf("state %v, want TIME-WAIT", r.conn.State())
			}
		})
	}
}

// closeFirst closes r's established connection (ISS iss, the peer's data
// received up to peerISS+1+n) and has the peer acknowledge the FIN and
// send its own: the connection ends in TIME-WAIT. It returns the ACK of
// the peer's FIN.
func (r *rig) closeFirst(iss Seq, n int) out {
	r.t.Helper()
	r.conn.Close(r.now)
	r.expect(FlagFIN | FlagACK)
	r.in(FlagACK, peerISS+1+Seq(n), iss+2, 65535, nil, nil)
	r.in(FlagFIN|FlagACK, peerISS+1+Seq(n), iss+2, 65535, nil, nil)
	r.state(StateTimeWait)
	return r.expect(FlagACK)[0]
}

// TestTimeWaitBuffers: as a connection enters TIME-WAIT, once Closed has
// returned, its buffers go back to the pool, reset; Send and Recv are
// the pool's empty Buffer, which takes nothing and gives nothing. The
// peer's FIN again (our ACK lost) is ACKed as the first time: the same
// sequence numbers and window (the one last advertised). When TIME-WAIT
// ends the pool takes the Conn, not the empty Buffer, and the next
// connection gets the buffers. Before, a TIME-WAIT connection kept its
// buffers for 2*MSL.
func TestTimeWaitBuffers(t *testing.T) {
	r := newRig(t, testConfig())
	iss := r.dial(synOpts())
	c := r.conn
	send, recv := c.Send, c.Recv
	c.Send.Write([]byte("request"))
	c.Update(r.now)
	r.expect(FlagACK | FlagPSH)
	r.in(FlagACK|FlagPSH, peerISS+1, iss+8, 65535, nil, []byte("response"))
	if string(r.ev.data) != "response" {
		t.Fatalf("received %q", r.ev.data)
	}
	r.link.take()
	first := r.closeFirst(iss+7, 8)
	p := &r.h.pool
	if c.Send != p.none || c.Recv != p.none {
		t.Fatal("in TIME-WAIT the connection still has its buffers")
	}
	if len(p.sends) != 1 || p.sends[0] != send || p.recvs[0] != recv {
		t.Fatalf("pool: %d buffer pairs, want the connection's", len(p.sends))
	}
	if n := r.h.Counters().InTimeWait(); n != 1 {
		t.Fatalf("InTimeWait %d, want 1", n)
	}
	if send.Len() != 0 || recv.Len() != 0 || !allZero(send.buf) || !allZero(recv.buf) {
		t.Fatal("the buffers went back to the pool without a reset")
	}
	// The empty Buffer takes nothing, gives nothing, and stays so.
	b := make([]byte, 8)
	if c.Send.Write(b) != 0 || c.Recv.Read(b) != 0 || c.Recv.Len() != 0 || c.Send.Free() != 0 {
		t.Fatal("the empty Buffer took or gave bytes")
	}
	c.Recv.Consume(8)
	c.Update(r.now)
	r.expect()
	if p.none.head.Load() != 0 || p.none.tail.Load() != 0 || p.none.Cap() != 0 {
		t.Fatal("the empty Buffer was written")
	}

	// The peer's FIN again: the same ACK, its TSval 200 ms on.
	r.advance(200 * time.Millisecond)
	r.in(FlagFIN|FlagACK, peerISS+9, iss+9, 65535, nil, nil)
	again := r.expect(FlagACK)[0]
	if again.f.Seq != first.f.Seq || again.f.Ack != first.f.Ack || again.f.Ack != peerISS+10 ||
		again.f.Window != first.f.Window || again.f.Window == 0 ||
		again.o.TSEcr != first.o.TSEcr || again.o.TSVal != first.o.TSVal+200 {
		t.Fatalf("the FIN again: ACK %v; the first ACK was %v", again, first)
	}
	if c.State() != StateTimeWait {
		t.Fatalf("state %v, want TIME-WAIT", c.State())
	}

	// TIME-WAIT over: the pool has the Conn, and still one buffer pair.
	r.advance(time.Second)
	if len(r.h.Conns()) != 0 || len(p.conns) != 1 || p.conns[0] != c || len(p.sends) != 1 || p.sends[0] != send {
		t.Fatalf("after TIME-WAIT: %d conns, pool %d conns %d buffer pairs", len(r.h.Conns()), len(p.conns), len(p.sends))
	}
	r.dial(synOpts())
	if r.conn.Send != send || r.conn.Recv != recv || r.h.Counters()[BufferAllocs] != 1 {
		t.Fatalf("the next connection did not get the pooled buffers (%d allocated)", r.h.Counters()[BufferAllocs])
	}
}

// TestTimeWaitKept: a connection its user keeps (Conn.Keep) keeps its
// buffers in TIME-WAIT, what it received stays readable, and neither
// the Conn nor the buffers go to the pool when it ends.
func TestTimeWaitKept(t *testing.T) {
	r := newRig(t, testConfig())
	r.ev.consume = false
	iss := r.dial(synOpts())
	c := r.conn
	c.Keep()
	send := c.Send
	r.in(FlagACK|FlagPSH, peerISS+1, iss+1, 65535, nil, []byte("unread"))
	r.link.take()
	r.closeFirst(iss, 6)
	if c.Send != send || len(r.h.pool.sends) != 0 {
		t.Fatalf("kept: Send %p (was %p), %d buffer pairs in the pool", c.Send, send, len(r.h.pool.sends))
	}
	r.advance(time.Second + time.Millisecond)
	if len(r.h.Conns()) != 0 || len(r.h.pool.conns) != 0 || len(r.h.pool.sends) != 0 {
		t.Fatalf("after TIME-WAIT: %d conns, pool %d conns %d buffer pairs", len(r.h.Conns()), len(r.h.pool.conns), len(r.h.pool.sends))
	}
	b := make([]byte, 16)
	if got := string(b[:c.Recv.Read(b)]); got != "unread" {
		t.Fatalf("kept connection: read %q", got)
	}
}

// TestTimeWaitChurnBuffers: a client that closes first, TIME-WAIT long,
// holds its connections in the table but allocates one buffer pair in
// all: each one's buffers serve the next. Before, 300 connections in
// TIME-WAIT held 300 pairs.
func TestTimeWaitChurnBuffers(t *testing.T) {
	cfg := churnConfig()
	cfg.TimeWait = 60 * second
	cfg.MaxConns = 512
	cfg.MaxTimeWait = -1
	pr := newPair(t, cfg)
	const n = 300
	for range n {
		pr.cycleFrom(0, clientCloses)
	}
	for i, h := range pr.p.hosts {
		if a := h.Counters()[BufferAllocs]; a != 1 {
			t.Errorf("host %d: %d buffer pairs allocated, want 1", i, a)
		}
	}
	client, server := pr.p.hosts[0], pr.p.hosts[1]
	if got := len(client.Conns()); got != n {
		t.Fatalf("client: %d connections in the table, want %d in TIME-WAIT", got, n)
	}
	for _, c := range client.Conns() {
		if c.State() != StateTimeWait || c.Send.Cap() != 0 {
			t.Fatalf("client connection %v with a %d-byte send buffer", c.State(), c.Send.Cap())
		}
	}
	if got := client.Counters().InTimeWait(); got != n || server.Counters().InTimeWait() != 0 {
		t.Fatalf("InTimeWait: client %d (want %d), server %d", got, n, server.Counters().InTimeWait())
	}
	if len(server.Conns()) != 0 || pr.clients[0].done != n || pr.servers[1].done != n || pr.p.dropped != 0 {
		t.Fatalf("server %d connections left; %d, %d closed cleanly of %d; %d dropped",
			len(server.Conns()), pr.clients[0].done, pr.servers[1].done, n, pr.p.dropped)
	}
}

// TestTimeWaitCounters: TimeWaitEntered and TimeWaitEnded count the
// connections into and out of TIME-WAIT, however they leave it (2*MSL,
// the peer's RST, Abort); InTimeWait is those in it now.
func TestTimeWaitCounters(t *testing.T) {
	r := newRig(t, testConfig())
	cn := r.h.Counters()
	for i, end := range []func(){
		func() { r.advance(time.Second + time.Millisecond) },
		func() { r.in(FlagRST, peerISS+2, 0, 0, nil, nil) },
		func() { r.conn.Abort(); r.link.take() },
	} {
		iss := r.dial(nil)
		r.closeFirst(iss, 0)
		if cn.InTimeWait() != 1 || cn[TimeWaitEntered] != uint64(i+1) {
			t.Fatalf("connection %d in TIME-WAIT: InTimeWait %d, entered %d", i, cn.InTimeWait(), cn[TimeWaitEntered])
		}
		end()
		if len(r.h.Conns()) != 0 || cn.InTimeWait() != 0 || cn[TimeWaitEnded] != uint64(i+1) {
			t.Fatalf("connection %d ended: %d in the table, InTimeWait %d, ended %d", i, len(r.h.Conns()), cn.InTimeWait(), cn[TimeWaitEnded])
		}
		r.advance(time.Millisecond)
	}
	for _, c := range []Counter{TimeWaitEntered, TimeWaitEnded} {
		if n := c.String(); n == "unknown" || n != counterNames[c] || len(cn.Map()) == 0 || cn.Map()[n] != 3 {
			t.Errorf("counter %d: name %q, %d in Map", c, n, cn.Map()[n])
		}
	}
	seen := map[string]bool{}
	for c := Counter(0); c < NumCounters; c++ {
		if n := c.String(); n == "" || seen[n] {
			t.Errorf("counter %d: name %q empty or repeated", c, n)
		}
		seen[c.String()] = true
	}
}

// inAt is in, to local port port.
func (r *rig) inAt(port uint16, flags Flags, seq, ack Seq, o *Options) {
	r.t.Helper()
	b := make([]byte, MaxHeaderLen)
	n, err := Encode(b, Fields{SrcPort: peerAddr.Port(), DstPort: port, Seq: seq, Ack: ack, Flags: flags, Window: 65535}, o)
	if err != nil {
		r.t.Fatal(err)
	}
	h := Header(b[:n])
	h.SetChecksum(peerAddr.Addr(), hostAddr.Addr())
	r.h.Input(peerAddr.Addr(), hostAddr.Addr(), h, r.now)
}

// tsOpts are a peer's timestamps at now: TSval from its own clock (1 ms,
// from 5000 at the rig's start), echoing ecr.
func (r *rig) tsOpts(ecr uint32) *Options {
	return &Options{HasTimestamps: true, TSVal: 5000 + uint32((r.now-int64(time.Hour))/millisecond), TSEcr: ecr}
}

// timeWaitOn opens a connection from local (port 0: ephemeral) to
// peerAddr, the peer answering with timestamps when ts, and closes it
// first: it ends in TIME-WAIT. It returns the connection, its SYN and the
// last segment it sent (the ACK of the peer's FIN).
func (r *rig) timeWaitOn(local netip.AddrPort, hd Handler, ts bool) (c *Conn, syn, last out) {
	r.t.Helper()
	c, err := r.h.Dial(local, peerAddr, hd, r.now)
	if err != nil {
		r.t.Fatalf("Dial: %v", err)
	}
	port := c.LocalAddr().Port()
	syn = r.expect(FlagSYN)[0]
	opts := func() *Options {
		if !ts {
			return nil
		}
		return r.tsOpts(syn.o.TSVal)
	}
	iss := syn.f.Seq
	r.inAt(port, FlagSYN|FlagACK, peerISS, iss+1, opts())
	r.expect(FlagACK)
	c.Close(r.now)
	r.expect(FlagFIN | FlagACK)
	r.inAt(port, FlagACK, peerISS+1, iss+2, opts())
	r.inAt(port, FlagFIN|FlagACK, peerISS+1, iss+2, opts())
	last = r.expect(FlagACK)[0]
	if c.State() != StateTimeWait {
		r.t.Fatalf("state %v, want TIME-WAIT", c.State())
	}
	return c, syn, last
}

// TestTimeWaitReuse: two ephemeral ports, both held by connections in
// TIME-WAIT (60 s). Without Config.TimeWaitReuse, Dial fails with
// ErrNoPort however long it waits. With it, Dial fails until the older
// has heard nothing from the peer for a second, then takes its port:
// the old connection leaves the table (counted, its handler told
// nothing more) and the new SYN's TSval is above every one the old
// connection sent. Connections without timestamps are never reused; nor
// is one the peer spoke to within the second (its FIN again). A Dial on
// an explicit port follows the same rule.
func TestTimeWaitReuse(t *testing.T) {
	any := netip.AddrPortFrom(hostAddr.Addr(), 0)
	setup := func(t *testing.T, reuse, ts bool) (*rig, [2]*Conn, [2]out) {
		cfg := testConfig()
		cfg.TimeWait = 60 * second
		cfg.EphemeralLo, cfg.EphemeralHi = 61000, 61001
		cfg.TimeWaitReuse = reuse
		r := newRig(t, cfg)
		var (
			cs   [2]*Conn
			last [2]out
		)
		for i := range cs {
			cs[i], _, last[i] = r.timeWaitOn(any, &strict{t: t}, ts)
			r.advance(100 * time.Millisecond)
		}
		return r, cs, last
	}
	noPort := func(r *rig, when string) {
		r.t.Helper()
		if _, err := r.h.Dial(any, peerAddr, &events{}, r.now); err != ErrNoPort {
			r.t.Fatalf("%s: Dial %v, want ErrNoPort", when, err)
		}
		r.expect()
	}

	t.Run("off", func(t *testing.T) {
		r, _, _ := setup(t, false, true)
		noPort(r, "at once")
		r.advance(5 * time.Second)
		noPort(r, "5 s later")
		if _, err := r.h.Dial(netip.AddrPortFrom(hostAddr.Addr(), 61000), peerAddr, &events{}, r.now); err == nil {
			t.Fatal("Dial on the port of a connection in TIME-WAIT: no error")
		}
	})

	t.Run("on", func(t *testing.T) {
		r, cs, last := setup(t, true, true)
		// The first closed 200 ms ago, the second 100 ms ago.
		noPort(r, "at once")
		r.advance(799 * time.Millisecond)
		noPort(r, "999 ms after the first close")
		r.advance(time.Millisecond)
		c, err := r.h.Dial(any, peerAddr, &events{}, r.now)
		if err != nil {
			t.Fatalf("a second after the first close: %v", err)
		}
		syn := r.expect(FlagSYN)[0]
		if c.LocalAddr() != cs[0].LocalAddr() || cs[0].State() != StateClosed || cs[1].State() != StateTimeWait {
			t.Fatalf("took %v (first %v %v, second %v)", c.LocalAddr(), cs[0].LocalAddr(), cs[0].State(), cs[1].State())
		}
		if d := int32(syn.o.TSVal - last[0].o.TSVal); d <= 0 {
			t.Fatalf("new SYN's TSval %d, the old connection's last %d", syn.o.TSVal, last[0].o.TSVal)
		}
		cn := r.h.Counters()
		if cn[TimeWaitReused] != 1 || cn.InTimeWait() != 1 || len(r.h.Conns()) != 2 {
			t.Fatalf("reused %d, in TIME-WAIT %d, %d connections", cn[TimeWaitReused], cn.InTimeWait(), len(r.h.Conns()))
		}
		// The second, on an explicit port: a second after its close.
		second := cs[1].LocalAddr()
		if _, err := r.h.Dial(second, peerAddr, &events{}, r.now); err == nil {
			t.Fatal("Dial on the second's port 900 ms after its close: no error")
		}
		r.advance(100 * time.Millisecond)
		if _, err := r.h.Dial(second, peerAddr, &events{}, r.now); err != nil {
			t.Fatalf("Dial on the second's port a second after its close: %v", err)
		}
		r.expect(FlagSYN)
		if cn[TimeWaitReused] != 2 || cn.InTimeWait() != 0 {
			t.Fatalf("reused %d, in TIME-WAIT %d", cn[TimeWaitReused], cn.InTimeWait())
		}
	})

	t.Run("TSval rises", func(t *testing.T) {
		// Incarnation after incarnation on the two ports, each SYN's
		// TSval above the last one its port's previous connection
		// sent (a random offset per connection would pass half the
		// time, each).
		r, cs, last := setup(t, true, true)
		prev := map[uint16]uint32{}
		for i := range cs {
			prev[cs[i].LocalAddr().Port()] = last[i].o.TSVal
		}
		for i := range 20 {
			r.advance(time.Second)
			c, syn, fin := r.timeWaitOn(any, &strict{t: t}, true)
			port := c.LocalAddr().Port()
			if d := int32(syn.o.TSVal - prev[port]); d <= 0 {
				t.Fatalf("incarnation %d on port %d: SYN's TSval %d, the previous connection's last %d", i+3, port, syn.o.TSVal, prev[port])
			}
			prev[port] = fin.o.TSVal
		}
		if n := r.h.Counters()[TimeWaitReused]; n != 20 {
			t.Fatalf("%d reused, want 20", n)
		}
	})

	t.Run("peer heard", func(t *testing.T) {
		r, cs, _ := setup(t, true, true)
		// 900 ms after the first close its peer sends the FIN again.
		r.advance(700 * time.Millisecond)
		una, _, rcv := cs[0].Sequence()
		r.inAt(cs[0].LocalAddr().Port(), FlagFIN|FlagACK, rcv-1, una, r.tsOpts(0))
		r.expect(FlagACK)
		r.advance(200 * time.Millisecond)
		c, err := r.h.Dial(any, peerAddr, &events{}, r.now)
		if err != nil {
			t.Fatalf("a second after the second's close: %v", err)
		}
		if c.LocalAddr() != cs[1].LocalAddr() {
			t.Fatalf("took %v, want the second's %v (the first heard its peer 200 ms ago)", c.LocalAddr(), cs[1].LocalAddr())
		}
		r.expect(FlagSYN)
		noPort(r, "100 ms after the first's FIN again")
		r.advance(900 * time.Millisecond)
		if _, err := r.h.Dial(any, peerAddr, &events{}, r.now); err != nil {
			t.Fatalf("a second after the first's FIN again: %v", err)
		}
	})

	t.Run("no timestamps", func(t *testing.T) {
		r, _, _ := setup(t, true, false)
		r.advance(5 * time.Second)
		noPort(r, "5 s later")
	})
}

// TestTimeWaitArbitrarySegments: a connection in TIME-WAIT without its
// buffers takes whatever comes (any flags, sequence and acknowledgement
// numbers about its own, timestamps or not, payload or not; its timers
// running): nothing panics, only ACKs (or nothing) go out while it
// stays, and the Host's empty Buffer is never written.
func TestTimeWaitArbitrarySegments(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	r := newRig(t, testConfig())
	var (
		c        *Conn
		una, rcv Seq
	)
	open := func() {
		iss := r.dial(synOpts())
		r.closeFirst(iss, 0)
		c = r.conn
		una, _, rcv = c.Sequence()
	}
	open()
	payload := make([]byte, 3000)
	for i := range 5000 {
		flags := Flags(rnd.IntN(64))
		seq := rcv + Seq(rnd.IntN(1<<17)) - 1<<16
		ack := una + Seq(rnd.IntN(1<<17)) - 1<<16
		var o *Options
		if rnd.IntN(2) == 0 {
			o = &Options{HasTimestamps: true, TSVal: uint32(rnd.Uint64()), TSEcr: uint32(rnd.Uint64())}
			if rnd.IntN(2) == 0 {
				o.TSVal = 5000 + uint32(i)
			}
		}
		r.in(flags, seq, ack, uint16(rnd.Uint32()), o, payload[:rnd.IntN(3)*rnd.IntN(1000)])
		if rnd.IntN(8) == 0 {
			r.advance(time.Duration(rnd.IntN(300)) * time.Millisecond)
		}
		for _, s := range r.link.take() {
			if s.f.Flags&^FlagACK != 0 || len(s.payload) != 0 {
				if c.State() == StateTimeWait || s.f.Flags != FlagRST {
					t.Fatalf("segment %d: sent %v from %v", i, s, c.State())
				}
			}
		}
		if none := r.h.pool.none; none.Cap() != 0 || none.head.Load() != 0 || none.tail.Load() != 0 || none.ahead != 0 {
			t.Fatalf("segment %d: the empty Buffer was written", i)
		}
		switch c.State() {
		case StateTimeWait:
			if c.Send != r.h.pool.none || c.Recv != r.h.pool.none {
				t.Fatalf("segment %d: TIME-WAIT with buffers", i)
			}
		case StateClosed:
			r.advance(time.Millisecond)
			r.link.take()
			open()
		default:
			t.Fatalf("segment %d: state %v", i, c.State())
		}
	}
}

// TestTimeWaitReopen: a server that closed first holds TIME-WAIT; the
// client's next SYN on the same four-tuple opens a new connection when
// its timestamp is newer than the last one seen (RFC 6191, as Linux),
// and is answered as an old duplicate (an ACK, PAWS) when it is older.
// Without timestamps, a sequence number beyond RCV.NXT does the same.
func TestTimeWaitReopen(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts *Options
		seq  Seq
		want bool
	}{
		{"newer timestamp", &Options{MSS: 1460, HasTimestamps: true, TSVal: 6000}, peerISS + 5, true},
		{"older timestamp", &Options{MSS: 1460, HasTimestamps: true, TSVal: 4000}, peerISS + 100000, false},
		{"no timestamps, higher sequence", nil, peerISS + 100000, true},
		{"old with timestamps, SYN without, higher sequence", &Options{MSS: 1460}, peerISS + 100000, true},
		{"no timestamps, lower sequence", nil, peerISS.Add(^uint32(99999)), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, testConfig())
			syn := synOpts()
			if tc.opts == nil {
				syn = &Options{MSS: 1460}
			}
			iss := r.accept(syn)
			r.closeFirst(iss, 0)
			r.in(FlagSYN, tc.seq, 0, 65535, tc.opts, nil)
			reopened := r.h.Counters()[TimeWaitReopened]
			if tc.want {
				sa := r.expect(FlagSYN | FlagACK)[0]
				if sa.f.Ack != tc.seq+1 || reopened != 1 || len(r.h.Conns()) != 1 || r.h.Conns()[0].State() != StateSynReceived {
					t.Fatalf("SYN-ACK %v, reopened %d, conns %d: want a new connection for the SYN", sa, reopened, len(r.h.Conns()))
				}
				return
			}
			r.expect(FlagACK)
			if reopened != 0 || r.h.Conns()[0].State() != StateTimeWait {
				t.Fatalf("reopened %d, state %v: want the old connection in TIME-WAIT", reopened, r.h.Conns()[0].State())
			}
		})
	}
}

// TestTimeWaitOverflow: past MaxTimeWait connections in TIME-WAIT, one
// that would enter it still ACKs the peer's FIN, then leaves the table at
// the next tick (Linux's tcp_max_tw_buckets); those within the bound stay.
func TestTimeWaitOverflow(t *testing.T) {
	cfg := churnConfig()
	cfg.TimeWait = 60 * second
	cfg.MaxConns, cfg.MaxTimeWait = 64, 3
	pr := newPair(t, cfg)
	for range 10 {
		pr.cycleFrom(0, clientCloses)
	}
	client := pr.p.hosts[0]
	pr.now += 2 * millisecond
	client.Tick(pr.now)
	if n, c := len(client.Conns()), client.Counters(); n != 3 || c.InTimeWait() != 3 || c[TimeWaitOverflow] != 7 || c[TimeWaitEntered] != 10 {
		t.Fatalf("%d connections in the table, %d in TIME-WAIT, %d overflowed of %d: want 3, 3, 7 of 10", n, c.InTimeWait(), c[TimeWaitOverflow], c[TimeWaitEntered])
	}
	if s := pr.p.hosts[1]; len(s.Conns()) != 0 {
		t.Fatalf("the server holds %d connections: every close completed (its FIN was ACKed)", len(s.Conns()))
	}
}
