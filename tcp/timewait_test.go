package tcp

import (
	"fmt"
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
