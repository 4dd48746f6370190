package tcp

import (
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
