package tcp

import (
	"fmt"
	"net/netip"
	"testing"
	"time"
)

// A segment-level harness in the spirit of packetdrill: the test plays the
// peer, feeding segments to a Host and checking what comes out.

var (
	hostAddr = netip.MustParseAddrPort("198.18.0.1:80")
	peerAddr = netip.MustParseAddrPort("198.18.0.2:40000")
)

// out is a segment the Host sent.
type out struct {
	local, remote netip.AddrPort
	f             Fields
	o             Options
	payload       []byte
}

func (s out) String() string {
	return fmt.Sprintf("%v seq=%d ack=%d win=%d len=%d opts=%+v", s.f.Flags, s.f.Seq, s.f.Ack, s.f.Window, len(s.payload), s.o)
}

// recorder is a Link that keeps what it is given, and checks that every
// segment encodes and parses back to the same fields.
type recorder struct {
	t    testing.TB
	segs []out
	down bool // refuse to send
}

func (r *recorder) Send(local, remote netip.AddrPort, f *Fields, o *Options, p1, p2 []byte) bool {
	if r.down {
		return false
	}
	s := out{local: local, remote: remote, f: *f, payload: append(append([]byte(nil), p1...), p2...)}
	if o != nil {
		s.o = *o
	}
	// Round trip through the wire format.
	b := make([]byte, MaxHeaderLen+len(s.payload))
	n, err := Encode(b, *f, o)
	if err != nil {
		r.t.Fatalf("Encode %v: %v", s, err)
	}
	copy(b[n:], s.payload)
	h := Header(b[:n+len(s.payload)])
	h.SetChecksum(local.Addr(), remote.Addr())
	if err := h.Check(); err != nil || !h.ChecksumValid(local.Addr(), remote.Addr()) {
		r.t.Fatalf("segment %v does not check: %v", s, err)
	}
	var seg Segment
	if err := Parse(h, &seg); err != nil {
		r.t.Fatalf("Parse %v: %v", s, err)
	}
	if seg.Seq != f.Seq || seg.Flags != f.Flags || len(seg.Payload) != len(s.payload) {
		r.t.Fatalf("round trip %v: got seq %d flags %v len %d", s, seg.Seq, seg.Flags, len(seg.Payload))
	}
	r.segs = append(r.segs, s)
	return true
}

// take returns and forgets what was sent.
func (r *recorder) take() []out {
	s := r.segs
	r.segs = nil
	return s
}

// events records a connection's handler calls.
type events struct {
	established, readable, writable int
	closed                          bool
	err                             error
	data                            []byte
	consume                         bool // read Recv on Readable
}

func (e *events) Established(c *Conn) { e.established++ }
func (e *events) Readable(c *Conn) {
	e.readable++
	if e.consume {
		p := make([]byte, c.Recv.Len())
		c.Recv.Read(p)
		e.data = append(e.data, p...)
	}
}
func (e *events) Writable(c *Conn)          { e.writable++ }
func (e *events) Closed(c *Conn, err error) { e.closed, e.err = true, err }

// rig is a Host under test with its clock.
type rig struct {
	t    *testing.T
	h    *Host
	link *recorder
	now  int64
	ev   *events
	conn *Conn
}

func testConfig() Config {
	cfg := DefaultConfig()
	cfg.ISNKey = [16]byte{1, 2, 3}
	cfg.TimeWait = int64(time.Second)
	return cfg
}

func newRig(t *testing.T, cfg Config) *rig {
	t.Helper()
	r := &rig{t: t, link: &recorder{t: t}, now: int64(time.Hour), ev: &events{consume: true}}
	h, err := NewHost(cfg, r.link)
	if err != nil {
		t.Fatal(err)
	}
	r.h = h
	return r
}

// in builds a segment from the peer and feeds it to the Host.
func (r *rig) in(flags Flags, seq, ack Seq, wnd uint16, o *Options, payload []byte) {
	r.t.Helper()
	b := make([]byte, MaxHeaderLen+len(payload))
	n, err := Encode(b, Fields{SrcPort: peerAddr.Port(), DstPort: hostAddr.Port(), Seq: seq, Ack: ack, Flags: flags, Window: wnd}, o)
	if err != nil {
		r.t.Fatal(err)
	}
	copy(b[n:], payload)
	h := Header(b[:n+len(payload)])
	h.SetChecksum(peerAddr.Addr(), hostAddr.Addr())
	r.h.Input(peerAddr.Addr(), hostAddr.Addr(), h, r.now)
}

// advance moves the clock and runs the timers.
func (r *rig) advance(d time.Duration) {
	r.now += int64(d)
	r.h.Tick(r.now)
}

// expect checks that exactly the given flags went out, in order, and
// returns the segments.
func (r *rig) expect(flags ...Flags) []out {
	r.t.Helper()
	segs := r.link.take()
	if len(segs) != len(flags) {
		r.t.Fatalf("sent %d segments %v, want %d with flags %v", len(segs), segs, len(flags), flags)
	}
	for i, s := range segs {
		if s.f.Flags != flags[i] {
			r.t.Fatalf("segment %d: %v, want flags %v", i, s, flags[i])
		}
	}
	return segs
}

func (r *rig) state(want State) {
	r.t.Helper()
	if r.conn == nil {
		r.t.Fatalf("no connection, want %v", want)
	}
	if got := r.conn.State(); got != want {
		r.t.Fatalf("state %v, want %v", got, want)
	}
}

// Peer's initial sequence number in the tests.
const peerISS Seq = 1000

// listen makes the Host listen on hostAddr's port.
func (r *rig) listen() {
	r.t.Helper()
	if _, err := r.h.Listen(hostAddr.Port(), func(c *Conn) Handler { r.conn = c; return r.ev }); err != nil {
		r.t.Fatal(err)
	}
}

// synOpts are the options of a modern peer's SYN.
func synOpts() *Options {
	return &Options{MSS: 1460, HasWScale: true, WScale: 7, SACKPermitted: true, HasTimestamps: true, TSVal: 5000}
}

// accept runs a passive open with opts in the peer's SYN and returns our
// ISS; the connection ends ESTABLISHED.
func (r *rig) accept(opts *Options) Seq {
	r.t.Helper()
	r.listen()
	r.in(FlagSYN, peerISS, 0, 65535, opts, nil)
	sa := r.expect(FlagSYN | FlagACK)[0]
	if sa.f.Ack != peerISS+1 {
		r.t.Fatalf("SYN-ACK acks %d, want %d", sa.f.Ack, peerISS+1)
	}
	var ack *Options
	if opts != nil && opts.HasTimestamps {
		ack = &Options{HasTimestamps: true, TSVal: opts.TSVal + 1, TSEcr: sa.o.TSVal}
	}
	r.in(FlagACK, peerISS+1, sa.f.Seq+1, 65535, ack, nil)
	r.expect()
	r.state(StateEstablished)
	if r.ev.established != 1 {
		r.t.Fatalf("Established called %d times", r.ev.established)
	}
	return sa.f.Seq
}

// dial runs an active open against a peer answering with opts and returns
// our ISS.
func (r *rig) dial(opts *Options) Seq {
	r.t.Helper()
	c, err := r.h.Dial(hostAddr, peerAddr, r.ev, r.now)
	if err != nil {
		r.t.Fatal(err)
	}
	r.conn = c
	syn := r.expect(FlagSYN)[0]
	r.state(StateSynSent)
	var o *Options
	if opts != nil {
		oo := *opts
		if oo.HasTimestamps {
			oo.TSEcr = syn.o.TSVal
		}
		o = &oo
	}
	r.in(FlagSYN|FlagACK, peerISS, syn.f.Seq+1, 65535, o, nil)
	r.expect(FlagACK)
	r.state(StateEstablished)
	return syn.f.Seq
}

func netip_AddrPort(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }
