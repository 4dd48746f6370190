//go:build !race

package tcp

import (
	"net/netip"
	"testing"
)

// nullLink sends nothing and allocates nothing.
type nullLink struct{ n int }

func (l *nullLink) Send(local, remote netip.AddrPort, f *Fields, o *Options, p1, p2 []byte) bool {
	l.n++
	return true
}

// TestConnNoAllocs: the segment receive path (in-order data, consumed by
// the handler) and the send path (an ACK that frees room, new data cut
// into segments) allocate nothing.
func TestConnNoAllocs(t *testing.T) {
	r := newRig(t, testConfig())
	iss := r.accept(&Options{MSS: 1460, SACKPermitted: true, HasWScale: true, WScale: 7})
	link := &nullLink{}
	r.h.link = link
	c := r.conn
	r.ev.consume = false
	sink := discard{}
	c.handler = sink

	// Inbound data, pre-built segments.
	const size = 1000
	segs := make([]Header, 64)
	for i := range segs {
		b := make([]byte, MaxHeaderLen+size)
		n, _ := Encode(b, Fields{SrcPort: peerAddr.Port(), DstPort: hostAddr.Port(), Seq: peerISS + 1 + Seq(i*size), Ack: iss + 1, Flags: FlagACK, Window: 65535}, nil)
		h := Header(b[:n+size])
		h.SetChecksum(peerAddr.Addr(), hostAddr.Addr())
		segs[i] = h
	}
	i := 0
	recv := func() {
		if i == len(segs) {
			// Shift the sequence numbers on: rewrite in place.
			for j, h := range segs {
				h.SetSeq(h.Seq().Add(uint32(len(segs) * size)))
				h.SetChecksum(peerAddr.Addr(), hostAddr.Addr())
				segs[j] = h
			}
			i = 0
		}
		r.h.Input(peerAddr.Addr(), hostAddr.Addr(), segs[i], r.now)
		i++
	}
	if a := testing.AllocsPerRun(1000, recv); a != 0 {
		t.Errorf("receive: %v allocations per segment", a)
	}
	if got := r.h.Counters()[BytesIn]; got < 1000*size {
		t.Fatalf("received %d bytes", got)
	}

	// Send: write, output, then the peer ACKs it all.
	payload := make([]byte, 4*1448)
	ackSeg := make([]byte, MaxHeaderLen)
	send := func() {
		c.Send.Write(payload)
		c.Update(r.now)
		_, nxt, rcv := c.Sequence()
		n, _ := Encode(ackSeg, Fields{SrcPort: peerAddr.Port(), DstPort: hostAddr.Port(), Seq: rcv, Ack: nxt, Flags: FlagACK, Window: 65535}, nil)
		h := Header(ackSeg[:n])
		h.SetChecksum(peerAddr.Addr(), hostAddr.Addr())
		r.h.Input(peerAddr.Addr(), hostAddr.Addr(), h, r.now)
	}
	before := link.n
	if a := testing.AllocsPerRun(1000, send); a != 0 {
		t.Errorf("send: %v allocations per round", a)
	}
	if link.n-before < 4000 || c.Send.Len() != 0 {
		t.Fatalf("sent %d segments, %d bytes left", link.n-before, c.Send.Len())
	}
}

type discard struct{}

func (discard) Established(*Conn)   {}
func (discard) Readable(c *Conn)    { c.Recv.Consume(c.Recv.Len()) }
func (discard) Writable(*Conn)      {}
func (discard) Closed(*Conn, error) {}
