package tcp

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"
)

func TestPassiveOpen(t *testing.T) {
	r := newRig(t, testConfig())
	r.listen()
	r.in(FlagSYN, peerISS, 0, 65535, synOpts(), nil)
	sa := r.expect(FlagSYN | FlagACK)[0]
	r.conn = r.h.Conns()[0]
	r.state(StateSynReceived)
	if sa.o.MSS != 1460 || !sa.o.HasWScale || !sa.o.SACKPermitted || !sa.o.HasTimestamps || sa.o.TSEcr != 5000 {
		t.Fatalf("SYN-ACK options %+v: want MSS 1460, window scale, SACK, timestamps echoing 5000", sa.o)
	}
	// The SYN again (our SYN-ACK lost): the same SYN-ACK again.
	r.in(FlagSYN, peerISS, 0, 65535, synOpts(), nil)
	if again := r.expect(FlagSYN | FlagACK)[0]; again.f.Seq != sa.f.Seq {
		t.Fatalf("second SYN-ACK seq %d, want %d", again.f.Seq, sa.f.Seq)
	}
	// An ACK of something else: RST, still SYN-RECEIVED.
	r.in(FlagACK, peerISS+1, sa.f.Seq+5, 1024, nil, nil)
	r.expect(FlagRST)
	r.state(StateSynReceived)
	r.in(FlagACK, peerISS+1, sa.f.Seq+1, 1024, &Options{HasTimestamps: true, TSVal: 5001, TSEcr: sa.o.TSVal}, nil)
	r.expect()
	r.state(StateEstablished)
	sack, ts, sshift, rshift := r.conn.Options()
	if !sack || !ts || sshift != 7 || rshift < 1 {
		t.Fatalf("negotiated sack %v ts %v shifts %d/%d", sack, ts, sshift, rshift)
	}
	if r.conn.MSS() != 1460-12 {
		t.Fatalf("MSS %d, want 1448 (1460 less the timestamps)", r.conn.MSS())
	}
}

func TestPassiveOpenNoOptions(t *testing.T) {
	r := newRig(t, testConfig())
	r.listen()
	r.in(FlagSYN, peerISS, 0, 8192, nil, nil)
	sa := r.expect(FlagSYN | FlagACK)[0]
	if sa.o.HasWScale || sa.o.SACKPermitted || sa.o.HasTimestamps {
		t.Fatalf("SYN-ACK offers %+v to a peer that offered nothing", sa.o)
	}
	r.in(FlagACK, peerISS+1, sa.f.Seq+1, 8192, nil, nil)
	r.state(StateEstablished)
	if r.conn.MSS() != 536 {
		t.Fatalf("MSS %d, want RFC 9293's default 536", r.conn.MSS())
	}
	if _, _, s, _ := r.conn.Options(); s != -1 {
		t.Fatalf("window scaling on without the peer's option")
	}
}

func TestActiveOpen(t *testing.T) {
	r := newRig(t, testConfig())
	iss := r.dial(synOpts())
	if r.conn.sndUna != iss+1 || r.conn.rcvNxt != peerISS+1 {
		t.Fatalf("SND.UNA %d RCV.NXT %d", r.conn.sndUna, r.conn.rcvNxt)
	}
	if r.h.Counters()[ActiveOpens] != 1 || r.h.Counters()[Established] != 1 {
		t.Fatalf("counters %v", r.h.Counters().Map())
	}
}

func TestActiveOpenRefused(t *testing.T) {
	r := newRig(t, testConfig())
	c, _ := r.h.Dial(hostAddr, peerAddr, r.ev, r.now)
	r.conn = c
	syn := r.expect(FlagSYN)[0]
	// A RST without an acceptable ACK is ignored (RFC 9293 3.10.7.3):
	// no RST answers a RST.
	r.in(FlagRST|FlagACK, 0, syn.f.Seq+7, 0, nil, nil)
	r.expect()
	r.state(StateSynSent)
	// An unacceptable ACK without RST earns a RST.
	r.in(FlagACK, 0, syn.f.Seq+7, 0, nil, nil)
	if rst := r.expect(FlagRST)[0]; rst.f.Seq != syn.f.Seq+7 {
		t.Fatalf("RST %v: want seq %d", rst, syn.f.Seq+7)
	}
	r.state(StateSynSent)
}

func TestActiveOpenRefusedByRST(t *testing.T) {
	r := newRig(t, testConfig())
	c, _ := r.h.Dial(hostAddr, peerAddr, r.ev, r.now)
	r.conn = c
	syn := r.expect(FlagSYN)[0]
	r.in(FlagRST|FlagACK, 0, syn.f.Seq+1, 0, nil, nil)
	r.expect()
	if !r.ev.closed || !errors.Is(r.ev.err, ErrRefused) {
		t.Fatalf("closed %v err %v, want ErrRefused", r.ev.closed, r.ev.err)
	}
	if len(r.h.Conns()) != 0 {
		t.Fatalf("%d connections left", len(r.h.Conns()))
	}
}

func TestSynRetriesTimeout(t *testing.T) {
	cfg := testConfig()
	cfg.SynRetries = 2
	r := newRig(t, cfg)
	c, _ := r.h.Dial(hostAddr, peerAddr, r.ev, r.now)
	r.conn = c
	r.expect(FlagSYN)
	r.advance(time.Second + time.Millisecond)
	r.expect(FlagSYN)
	r.advance(2*time.Second + time.Millisecond) // backed off
	r.expect(FlagSYN)
	r.advance(4*time.Second + time.Millisecond)
	r.expect()
	if !errors.Is(r.ev.err, ErrTimeout) {
		t.Fatalf("err %v, want ErrTimeout", r.ev.err)
	}
	if c := r.h.Counters(); c[SynRetransmits] != 2 || c[Retransmits] != 2 || c[Timeouts] != 1 {
		t.Errorf("SYN retransmissions %d, retransmissions %d, timeouts %d: want 2, 2, 1", c[SynRetransmits], c[Retransmits], c[Timeouts])
	}
}

func TestSimultaneousOpen(t *testing.T) {
	r := newRig(t, testConfig())
	c, _ := r.h.Dial(hostAddr, peerAddr, r.ev, r.now)
	r.conn = c
	syn := r.expect(FlagSYN)[0]
	r.in(FlagSYN, peerISS, 0, 65535, synOpts(), nil)
	sa := r.expect(FlagSYN | FlagACK)[0]
	r.state(StateSynReceived)
	if sa.f.Seq != syn.f.Seq || sa.f.Ack != peerISS+1 {
		t.Fatalf("SYN-ACK %v", sa)
	}
	r.in(FlagSYN|FlagACK, peerISS, syn.f.Seq+1, 65535, synOpts(), nil)
	r.in(FlagACK, peerISS+1, syn.f.Seq+1, 1024, &Options{HasTimestamps: true, TSVal: 5001, TSEcr: sa.o.TSVal}, nil)
	r.state(StateEstablished)
}

func TestNoListenerRST(t *testing.T) {
	r := newRig(t, testConfig())
	r.in(FlagSYN, peerISS, 0, 65535, nil, nil)
	rst := r.expect(FlagRST | FlagACK)[0]
	if rst.f.Seq != 0 || rst.f.Ack != peerISS+1 {
		t.Fatalf("RST %v: want seq 0 ack %d", rst, peerISS+1)
	}
	r.in(FlagACK, peerISS, 777, 65535, nil, nil)
	if rst := r.expect(FlagRST)[0]; rst.f.Seq != 777 {
		t.Fatalf("RST %v: want seq 777 (the segment's ACK)", rst)
	}
	r.in(FlagRST, peerISS, 0, 0, nil, nil)
	r.expect() // never a RST for a RST
	if got := r.h.Counters()[DropNoListener]; got != 3 {
		t.Fatalf("drop_no_listener %d, want 3", got)
	}
}

func TestReceiveInOrderAndDelayedACK(t *testing.T) {
	r := newRig(t, testConfig())
	r.accept(nil)
	data := bytes.Repeat([]byte("x"), 536)
	r.in(FlagACK|FlagPSH, peerISS+1, r.conn.sndNxt, 1024, nil, data)
	r.expect() // one segment: the ACK waits
	r.advance(50 * time.Millisecond)
	ack := r.expect(FlagACK)[0]
	if ack.f.Ack != peerISS+1+536 {
		t.Fatalf("delayed ACK acks %d", ack.f.Ack)
	}
	// Two segments: the second is ACKed at once.
	r.in(FlagACK, peerISS+1+536, r.conn.sndNxt, 1024, nil, data)
	r.in(FlagACK, peerISS+1+1072, r.conn.sndNxt, 1024, nil, data)
	if ack := r.expect(FlagACK)[0]; ack.f.Ack != peerISS+1+3*536 {
		t.Fatalf("ACK %d", ack.f.Ack)
	}
	if len(r.ev.data) != 3*536 {
		t.Fatalf("delivered %d bytes", len(r.ev.data))
	}
}

func TestOutOfOrderSACK(t *testing.T) {
	r := newRig(t, testConfig())
	r.accept(&Options{MSS: 1460, SACKPermitted: true})
	seg := func(i int) []byte { return bytes.Repeat([]byte{byte(i)}, 100) }
	base := peerISS + 1
	// 1 and 3 arrive before 0 and 2.
	r.in(FlagACK, base+100, r.conn.sndNxt, 1024, nil, seg(1))
	a := r.expect(FlagACK)[0]
	if a.f.Ack != base || a.o.NumSACK != 1 || a.o.SACK[0] != (SACKBlock{base + 100, base + 200}) {
		t.Fatalf("dup ACK %v: want ack %d with SACK %d-%d", a, base, base+100, base+200)
	}
	r.in(FlagACK, base+300, r.conn.sndNxt, 1024, nil, seg(3))
	a = r.expect(FlagACK)[0]
	if a.o.NumSACK != 2 || a.o.SACK[0] != (SACKBlock{base + 300, base + 400}) {
		t.Fatalf("dup ACK %v: the newest block first", a)
	}
	r.in(FlagACK, base, r.conn.sndNxt, 1024, nil, seg(0))
	a = r.expect(FlagACK)[0]
	if a.f.Ack != base+200 || a.o.NumSACK != 1 {
		t.Fatalf("ACK %v: want %d with one block left", a, base+200)
	}
	r.in(FlagACK, base+200, r.conn.sndNxt, 1024, nil, seg(2))
	a = r.expect(FlagACK)[0]
	if a.f.Ack != base+400 || a.o.NumSACK != 0 {
		t.Fatalf("ACK %v: want %d, no blocks", a, base+400)
	}
	want := append(append(append(seg(0), seg(1)...), seg(2)...), seg(3)...)
	if !bytes.Equal(r.ev.data, want) {
		t.Fatalf("delivered %d bytes out of order", len(r.ev.data))
	}
}

func TestSendSegmentsByMSS(t *testing.T) {
	r := newRig(t, testConfig())
	r.accept(&Options{MSS: 1000})
	c := r.conn
	payload := make([]byte, 2500)
	for i := range payload {
		payload[i] = byte(i % 251)
	}
	c.Send.Write(payload)
	c.Update(r.now)
	// The short last segment goes too: no short one is in flight (Nagle
	// as Minshall refined it).
	segs := r.expect(FlagACK, FlagACK, FlagACK|FlagPSH)
	var got []byte
	for i, s := range segs {
		if s.f.Seq != c.iss+1+Seq(i*1000) {
			t.Fatalf("segment %d seq %d", i, s.f.Seq)
		}
		got = append(got, s.payload...)
	}
	if !bytes.Equal(got, payload) || len(segs[0].payload) != 1000 {
		t.Fatalf("segments carry %d bytes, first %d", len(got), len(segs[0].payload))
	}
	// ACK all: RTO off, buffer empty.
	r.in(FlagACK, peerISS+1, c.iss+1+2500, 1024, nil, nil)
	if c.Send.Len() != 0 || c.rtoAt != 0 || r.ev.writable == 0 {
		t.Fatalf("after the ACK: %d bytes held, RTO %d, writable %d", c.Send.Len(), c.rtoAt, r.ev.writable)
	}
}

func TestNagle(t *testing.T) {
	r := newRig(t, testConfig())
	r.accept(&Options{MSS: 1000})
	c := r.conn
	c.Send.Write([]byte("a"))
	c.Update(r.now)
	r.expect(FlagACK | FlagPSH)
	c.Send.Write([]byte("b"))
	c.Update(r.now)
	r.expect() // held: "a" is unacknowledged
	r.in(FlagACK, peerISS+1, c.iss+2, 1024, nil, nil)
	if s := r.expect(FlagACK | FlagPSH)[0]; string(s.payload) != "b" {
		t.Fatalf("sent %q", s.payload)
	}
	c.host.cfg.NoDelay = true
	c.Send.Write([]byte("c"))
	c.Update(r.now)
	r.expect(FlagACK | FlagPSH) // NoDelay: at once despite "b" in flight
}

func TestPeerWindowAndZeroWindowProbe(t *testing.T) {
	r := newRig(t, testConfig())
	r.accept(&Options{MSS: 1000})
	c := r.conn
	c.host.cfg.NoDelay = true
	// The peer's window: 1500 bytes. One full segment goes; the 500 left
	// wait (sender SWS avoidance: less than half the largest window).
	r.in(FlagACK, peerISS+1, c.iss+1, 1500, nil, nil)
	c.Send.Write(make([]byte, 3000))
	c.Update(r.now)
	r.expect(FlagACK)
	// Acked, window zero: nothing goes; a probe after the RTO.
	r.in(FlagACK, peerISS+1, c.iss+1+1000, 0, nil, nil)
	r.expect()
	r.advance(time.Second + time.Millisecond)
	p := r.expect(FlagACK)[0]
	if len(p.payload) != 0 || p.f.Seq != c.iss+1000 || r.h.Counters()[ZeroWindowProbes] != 1 {
		t.Fatalf("probe %v: want SND.UNA-1, no data", p)
	}
	// Backed off: the next probe comes later.
	r.advance(time.Second + time.Millisecond)
	r.expect()
	r.advance(time.Second + time.Millisecond)
	r.expect(FlagACK)
	// The window opens: data flows again.
	r.in(FlagACK, peerISS+1, c.iss+1+1000, 4000, nil, nil)
	segs := r.link.take()
	if len(segs) != 2 || segs[0].f.Seq != c.iss+1+1000 {
		t.Fatalf("after the window opened sent %v", segs)
	}
}

func TestRTORetransmitAndBackoff(t *testing.T) {
	r := newRig(t, testConfig())
	r.accept(&Options{MSS: 1000})
	c := r.conn
	c.Send.Write(make([]byte, 500))
	c.Update(r.now)
	first := r.expect(FlagACK | FlagPSH)[0]
	r.advance(1001 * time.Millisecond)
	re := r.expect(FlagACK | FlagPSH)[0]
	if re.f.Seq != first.f.Seq || len(re.payload) != 500 {
		t.Fatalf("retransmission %v, want %v", re, first)
	}
	r.advance(time.Second)
	r.expect() // backed off to 2 s
	r.advance(time.Second + time.Millisecond)
	r.expect(FlagACK | FlagPSH)
	if got := r.h.Counters()[RTOs]; got != 2 {
		t.Fatalf("rtos %d", got)
	}
}

func TestRetriesExhausted(t *testing.T) {
	cfg := testConfig()
	cfg.Retries = 2
	cfg.MaxRTO = int64(2 * time.Second)
	r := newRig(t, cfg)
	r.accept(&Options{MSS: 1000})
	r.conn.Send.Write([]byte("hello"))
	r.conn.Update(r.now)
	for i := 0; i < 10 && !r.ev.closed; i++ {
		r.advance(2*time.Second + time.Millisecond)
	}
	if !errors.Is(r.ev.err, ErrTimeout) {
		t.Fatalf("err %v, want ErrTimeout", r.ev.err)
	}
	segs := r.link.take()
	if last := segs[len(segs)-1]; last.f.Flags != FlagRST {
		t.Fatalf("last segment %v, want RST", last)
	}
}

// fill sends n MSS-sized segments and returns their sequence numbers.
func fill(r *rig, n, mss int) []Seq {
	c := r.conn
	c.Send.Write(make([]byte, n*mss))
	c.Update(r.now)
	var seqs []Seq
	for _, s := range r.link.take() {
		seqs = append(seqs, s.f.Seq)
	}
	return seqs
}

func TestFastRetransmitNewReno(t *testing.T) {
	r := newRig(t, testConfig())
	r.accept(&Options{MSS: 1000})
	c := r.conn
	c.host.cfg.NoDelay = true
	r.in(FlagACK, peerISS+1, c.iss+1, 60000, nil, nil)
	seqs := fill(r, 8, 1000)
	if len(seqs) < 8 {
		t.Fatalf("sent %d segments, want 8 (initial window 10)", len(seqs))
	}
	// Segment 0 is lost: three duplicate ACKs.
	for i := 0; i < 3; i++ {
		r.in(FlagACK, peerISS+1, seqs[0], 60000, nil, nil)
	}
	segs := r.link.take()
	if len(segs) == 0 || segs[0].f.Seq != seqs[0] {
		t.Fatalf("after 3 dup ACKs sent %v, want segment 0 again", segs)
	}
	if r.h.Counters()[FastRetransmits] != 1 || !c.inRecovery {
		t.Fatalf("fast retransmits %d, in recovery %v", r.h.Counters()[FastRetransmits], c.inRecovery)
	}
	// Partial ACK (segment 3 lost too): NewReno resends it at once.
	r.in(FlagACK, peerISS+1, seqs[3], 60000, nil, nil)
	segs = r.link.take()
	if len(segs) == 0 || segs[0].f.Seq != seqs[3] {
		t.Fatalf("after a partial ACK sent %v, want segment 3 again", segs)
	}
	r.in(FlagACK, peerISS+1, c.sndMax, 60000, nil, nil)
	if c.inRecovery {
		t.Fatal("still in recovery after a full ACK")
	}
}

func TestSACKRecovery(t *testing.T) {
	r := newRig(t, testConfig())
	r.accept(&Options{MSS: 1000, SACKPermitted: true})
	c := r.conn
	c.host.cfg.NoDelay = true
	r.in(FlagACK, peerISS+1, c.iss+1, 60000, nil, nil)
	seqs := fill(r, 8, 1000)
	// Segments 0 and 2 lost; 1, 3, 4, 5 arrive: SACK blocks.
	sack := func(blocks ...SACKBlock) *Options {
		o := &Options{NumSACK: len(blocks)}
		copy(o.SACK[:], blocks)
		return o
	}
	r.in(FlagACK, peerISS+1, seqs[0], 60000, sack(SACKBlock{seqs[1], seqs[2]}), nil)
	r.in(FlagACK, peerISS+1, seqs[0], 60000, sack(SACKBlock{seqs[3], seqs[4]}, SACKBlock{seqs[1], seqs[2]}), nil)
	r.expect()
	r.in(FlagACK, peerISS+1, seqs[0], 60000, sack(SACKBlock{seqs[3], seqs[6]}, SACKBlock{seqs[1], seqs[2]}), nil)
	segs := r.link.take()
	if len(segs) < 2 || segs[0].f.Seq != seqs[0] || segs[1].f.Seq != seqs[2] {
		t.Fatalf("SACK recovery sent %v, want segments 0 and 2 again", segs)
	}
	if r.h.Counters()[SACKRecovery] != 1 {
		t.Fatalf("counters %v", r.h.Counters().Map())
	}
}

func TestActiveClose(t *testing.T) {
	r := newRig(t, testConfig())
	iss := r.accept(nil)
	r.conn.Close(r.now)
	fin := r.expect(FlagFIN | FlagACK)[0]
	r.state(StateFinWait1)
	r.in(FlagACK, peerISS+1, fin.f.Seq+1, 1024, nil, nil)
	r.state(StateFinWait2)
	r.in(FlagFIN|FlagACK, peerISS+1, iss+2, 1024, nil, nil)
	if a := r.expect(FlagACK)[0]; a.f.Ack != peerISS+2 {
		t.Fatalf("ACK of FIN %v", a)
	}
	r.state(StateTimeWait)
	if !r.ev.closed || r.ev.err != nil {
		t.Fatalf("TIME-WAIT: closed %v err %v: the user hears of the close as TIME-WAIT begins", r.ev.closed, r.ev.err)
	}
	// The FIN again (our ACK lost): ACK again.
	r.in(FlagFIN|FlagACK, peerISS+1, iss+2, 1024, nil, nil)
	r.expect(FlagACK)
	if len(r.h.Conns()) != 1 {
		t.Fatal("the connection left the table before 2*MSL")
	}
	r.advance(1001 * time.Millisecond)
	if len(r.h.Conns()) != 0 {
		t.Fatalf("after TIME-WAIT: %d conns", len(r.h.Conns()))
	}
}

func TestPassiveClose(t *testing.T) {
	r := newRig(t, testConfig())
	iss := r.accept(nil)
	r.in(FlagFIN|FlagACK, peerISS+1, iss+1, 1024, nil, []byte("bye"))
	r.expect(FlagACK)
	r.state(StateCloseWait)
	if !r.conn.PeerClosed() || string(r.ev.data) != "bye" {
		t.Fatalf("peer closed %v, data %q", r.conn.PeerClosed(), r.ev.data)
	}
	r.conn.Close(r.now)
	fin := r.expect(FlagFIN | FlagACK)[0]
	r.state(StateLastAck)
	r.in(FlagACK, peerISS+5, fin.f.Seq+1, 1024, nil, nil)
	if !r.ev.closed || r.ev.err != nil {
		t.Fatalf("closed %v err %v", r.ev.closed, r.ev.err)
	}
}

func TestSimultaneousClose(t *testing.T) {
	r := newRig(t, testConfig())
	iss := r.accept(nil)
	r.conn.Close(r.now)
	r.expect(FlagFIN | FlagACK)
	// The peer's FIN crosses ours: it does not ACK our FIN.
	r.in(FlagFIN|FlagACK, peerISS+1, iss+1, 1024, nil, nil)
	r.expect(FlagACK)
	r.state(StateClosing)
	r.in(FlagACK, peerISS+2, iss+2, 1024, nil, nil)
	r.state(StateTimeWait)
}

func TestFINRetransmitted(t *testing.T) {
	r := newRig(t, testConfig())
	r.accept(nil)
	r.conn.Close(r.now)
	fin := r.expect(FlagFIN | FlagACK)[0]
	r.advance(1001 * time.Millisecond)
	if again := r.expect(FlagFIN | FlagACK)[0]; again.f.Seq != fin.f.Seq {
		t.Fatalf("FIN again at %d, want %d", again.f.Seq, fin.f.Seq)
	}
}

func TestRSTHandling(t *testing.T) {
	r := newRig(t, testConfig())
	r.accept(nil)
	// In the window but not at RCV.NXT: challenge ACK (RFC 5961 3.2).
	r.in(FlagRST, peerISS+100, 0, 0, nil, nil)
	r.expect(FlagACK)
	r.state(StateEstablished)
	// Outside the window: ignored.
	r.in(FlagRST, peerISS+1+1<<30, 0, 0, nil, nil)
	r.expect()
	// SYN on an established connection: challenge ACK (RFC 5961 4.2).
	r.in(FlagSYN, peerISS+7, 0, 65535, nil, nil)
	r.expect(FlagACK)
	r.state(StateEstablished)
	// Exactly at RCV.NXT: reset.
	r.in(FlagRST, peerISS+1, 0, 0, nil, nil)
	if !errors.Is(r.ev.err, ErrReset) || len(r.h.Conns()) != 0 {
		t.Fatalf("err %v, conns %d", r.ev.err, len(r.h.Conns()))
	}
}

func TestBadACK(t *testing.T) {
	r := newRig(t, testConfig())
	iss := r.accept(nil)
	r.in(FlagACK, peerISS+1, iss+1000, 1024, nil, []byte("data"))
	r.expect(FlagACK) // acks nothing we sent: ACK, drop (RFC 5961 5.2)
	if len(r.ev.data) != 0 || r.h.Counters()[DropBadACK] != 1 {
		t.Fatalf("data %q taken, bad acks %d", r.ev.data, r.h.Counters()[DropBadACK])
	}
}

func TestOutOfWindow(t *testing.T) {
	r := newRig(t, testConfig())
	iss := r.accept(nil)
	r.in(FlagACK, peerISS+1+1<<20, iss+1, 1024, nil, []byte("far"))
	r.expect(FlagACK)
	if r.h.Counters()[DropOutOfWindow] != 1 {
		t.Fatal("not counted")
	}
}

func TestPAWS(t *testing.T) {
	r := newRig(t, testConfig())
	iss := r.accept(synOpts())
	r.in(FlagACK, peerISS+1, iss+1, 1024, &Options{HasTimestamps: true, TSVal: 6000}, []byte("new"))
	r.in(FlagACK, peerISS+4, iss+1, 1024, &Options{HasTimestamps: true, TSVal: 100}, []byte("old"))
	if r.h.Counters()[DropPAWS] != 1 || string(r.ev.data) != "new" {
		t.Fatalf("paws drops %d, data %q", r.h.Counters()[DropPAWS], r.ev.data)
	}
}

func TestSynCookies(t *testing.T) {
	cfg := testConfig()
	cfg.SynBacklog = 0
	r := newRig(t, cfg)
	r.listen()
	r.in(FlagSYN, peerISS, 0, 65535, synOpts(), nil)
	sa := r.expect(FlagSYN | FlagACK)[0]
	if len(r.h.Conns()) != 0 || r.h.Counters()[SynCookiesSent] != 1 {
		t.Fatalf("a SYN cookie keeps no state: %d conns", len(r.h.Conns()))
	}
	// A forged ACK: RST.
	r.in(FlagACK, peerISS+1, sa.f.Seq+2, 1024, nil, nil)
	r.expect(FlagRST)
	r.in(FlagACK, peerISS+1, sa.f.Seq+1, 1024, nil, []byte("hi"))
	if len(r.h.Conns()) != 1 || r.conn.State() != StateEstablished || string(r.ev.data) != "hi" {
		t.Fatalf("cookie ACK: conns %d data %q", len(r.h.Conns()), r.ev.data)
	}
}

func TestTableFull(t *testing.T) {
	cfg := testConfig()
	cfg.MaxConns = 1
	r := newRig(t, cfg)
	r.dial(nil)
	if _, err := r.h.Dial(hostAddr, netip_AddrPort("198.18.0.3:1"), r.ev, r.now); !errors.Is(err, ErrTableFull) {
		t.Fatalf("Dial on a full table: %v", err)
	}
}

func TestEphemeralPorts(t *testing.T) {
	cfg := testConfig()
	cfg.EphemeralLo, cfg.EphemeralHi = 61000, 61003
	cfg.PortStride, cfg.PortIndex = 2, 1
	r := newRig(t, cfg)
	seen := map[uint16]bool{}
	for i := 0; i < 2; i++ {
		c, err := r.h.Dial(netip_AddrPort("198.18.0.1:0"), peerAddr, r.ev, r.now)
		if err != nil {
			t.Fatal(err)
		}
		p := c.LocalAddr().Port()
		if p%2 != 1 || p < 61000 || p > 61003 || seen[p] {
			t.Fatalf("port %d: want an odd port of 61000-61003, not reused", p)
		}
		seen[p] = true
	}
	if _, err := r.h.Dial(netip_AddrPort("198.18.0.1:0"), peerAddr, r.ev, r.now); !errors.Is(err, ErrNoPort) {
		t.Fatalf("third Dial: %v, want ErrNoPort", err)
	}
}

// TestPortFilter: active opens take only ports the filter accepts (here:
// a multiple of 7, as an RSS hash to one queue would pick them); when
// none is left, Dial fails with ErrNoPort rather than take a port whose
// replies would go to another queue.
func TestPortFilter(t *testing.T) {
	cfg := testConfig()
	cfg.EphemeralLo, cfg.EphemeralHi = 61000, 61020
	var asked int
	cfg.PortFilter = func(local, remote netip.AddrPort) bool {
		asked++
		if remote != peerAddr {
			t.Errorf("filter asked about remote %v", remote)
		}
		return local.Port()%7 == 0
	}
	r := newRig(t, cfg)
	got := map[uint16]bool{}
	for i := 0; i < 3; i++ {
		c, err := r.h.Dial(netip_AddrPort("198.18.0.1:0"), peerAddr, r.ev, r.now)
		if err != nil {
			t.Fatal(err)
		}
		got[c.LocalAddr().Port()] = true
	}
	for _, p := range []uint16{61005, 61012, 61019} {
		if !got[p] {
			t.Fatalf("ports %v: want 61005, 61012 and 61019", got)
		}
	}
	if _, err := r.h.Dial(netip_AddrPort("198.18.0.1:0"), peerAddr, r.ev, r.now); !errors.Is(err, ErrNoPort) || asked == 0 {
		t.Fatalf("fourth Dial: %v (filter asked %d times), want ErrNoPort", err, asked)
	}
}

func TestConfigErrors(t *testing.T) {
	for name, mut := range map[string]func(*Config){
		"zero key": func(c *Config) { c.ISNKey = [16]byte{} },
		"mss":      func(c *Config) { c.MSS = 10 },
		"cc":       func(c *Config) { c.CongestionControl = "bbr9" },
		"ports":    func(c *Config) { c.EphemeralLo = 9; c.EphemeralHi = 8 },
		"rto":      func(c *Config) { c.MinRTO = 0 },
	} {
		cfg := testConfig()
		mut(&cfg)
		if _, err := NewHost(cfg, &recorder{t: t}); err == nil {
			t.Errorf("%s: NewHost accepted it", name)
		}
	}
}

// TestSmallWindowNothingInFlight: when the peer's window shrinks below
// half its largest and nothing is in flight, the short segment that fits
// goes at once: no ACK would come to release it (a stall seen with 1,000
// connections against the kernel).
func TestSmallWindowNothingInFlight(t *testing.T) {
	r := newRig(t, testConfig())
	r.accept(&Options{MSS: 1000})
	c := r.conn
	r.in(FlagACK, peerISS+1, c.iss+1, 4000, nil, nil) // largest window 4000
	c.Send.Write(make([]byte, 1000))
	c.Update(r.now)
	r.expect(FlagACK | FlagPSH)
	// All acked; the window is now 500, and 3000 more bytes wait.
	r.in(FlagACK, peerISS+1, c.iss+1+1000, 500, nil, nil)
	r.link.take()
	c.Send.Write(make([]byte, 3000))
	c.Update(r.now)
	segs := r.link.take()
	if len(segs) != 1 || len(segs[0].payload) != 500 {
		t.Fatalf("with a 500-byte window and nothing in flight, sent %v; want one 500-byte segment", segs)
	}
	// With that in flight, the next short segment waits for the ACK.
	r.in(FlagACK, peerISS+1, c.iss+1+1000, 1000, nil, nil)
	if segs := r.link.take(); len(segs) != 0 {
		t.Fatalf("a short segment went with data in flight: %v", segs)
	}
}

// TestLinkRefusedRetries: when the link refuses segments (the engine had
// no frame free) with nothing in flight, no ACK and no retransmission
// timer would bring output back; the connection tries again by itself,
// for data, for an owed ACK and for its FIN.
func TestLinkRefusedRetries(t *testing.T) {
	r := newRig(t, testConfig())
	r.accept(&Options{MSS: 1000})
	c := r.conn
	if c.rtoAt != 0 {
		t.Fatalf("ESTABLISHED with nothing outstanding, RTO armed for %d", c.rtoAt-r.now)
	}
	r.link.down = true
	c.Send.Write(make([]byte, 1500))
	c.Update(r.now)
	if c.sndNxt != c.iss+1 || c.rtoAt != 0 || c.retryAt == 0 {
		t.Fatalf("refused: SND.NXT advanced %d, RTO %d, retry %d", c.sndNxt.Sub(c.iss+1), c.rtoAt, c.retryAt)
	}
	refused := r.h.Counters()[DropLinkRefused]
	r.advance(time.Millisecond)
	if r.h.Counters()[DropLinkRefused] == refused {
		t.Fatal("no retry while the link refused")
	}
	r.link.down = false
	r.advance(time.Millisecond)
	segs := r.expect(FlagACK, FlagACK|FlagPSH)
	if len(segs[0].payload)+len(segs[1].payload) != 1500 {
		t.Fatalf("retried %v", segs)
	}
	r.in(FlagACK, peerISS+1, c.iss+1+1500, 65535, nil, nil)
	r.expect()

	// An ACK owed for two full segments from the peer, refused.
	r.link.down = true
	r.in(FlagACK, peerISS+1, c.iss+1+1500, 65535, nil, make([]byte, 1000))
	r.in(FlagACK, peerISS+1001, c.iss+1+1500, 65535, nil, make([]byte, 1000))
	r.link.down = false
	r.advance(time.Millisecond)
	if a := r.expect(FlagACK)[0]; a.f.Ack != peerISS+2001 {
		t.Fatalf("retried ACK acks %d, want %d", a.f.Ack, peerISS+2001)
	}

	// The FIN.
	r.link.down = true
	c.Close(r.now)
	r.state(StateFinWait1)
	r.link.down = false
	r.advance(time.Millisecond)
	if f := r.expect(FlagFIN | FlagACK)[0]; f.f.Seq != c.iss+1+1500 {
		t.Fatalf("FIN at %d", f.f.Seq)
	}
}

// tlpRig is an ESTABLISHED connection with SACK, no timestamps, MSS 1000,
// and an SRTT of 10 ms.
func tlpRig(t *testing.T) (*rig, *Conn) { return tlpRigWith(t, testConfig()) }

// tlpRigWith is tlpRig on a Host with cfg.
func tlpRigWith(t *testing.T, cfg Config) (*rig, *Conn) {
	r := newRig(t, cfg)
	r.accept(&Options{MSS: 1000, SACKPermitted: true})
	c := r.conn
	c.Send.Write(make([]byte, 1000))
	c.Update(r.now)
	r.expect(FlagACK | FlagPSH)
	r.advance(10 * time.Millisecond)
	r.in(FlagACK, peerISS+1, c.iss+1001, 65535, nil, nil)
	if c.rtt.SRTT() != int64(10*time.Millisecond) || c.tlpAt != 0 {
		t.Fatalf("SRTT %d, PTO %d with nothing out", c.rtt.SRTT(), c.tlpAt)
	}
	return r, c
}

// TestTLPTailLoss: the last two of four segments are lost. Two round
// trips (plus 2 ms) after the last ACK, long before the RTO, the last
// segment goes again as a probe; its SACK makes the other a loss (early
// retransmit, RFC 5827: a flight of two), repaired by SACK recovery. No
// RTO.
func TestTLPTailLoss(t *testing.T) {
	r, c := tlpRig(t)
	c.Send.Write(make([]byte, 4000))
	c.Update(r.now)
	r.expect(FlagACK, FlagACK, FlagACK, FlagACK|FlagPSH)
	r.advance(10 * time.Millisecond)
	r.in(FlagACK, peerISS+1, c.iss+3001, 65535, nil, nil)
	if pto := c.tlpAt - r.now; pto != int64(22*time.Millisecond) || c.rtoAt-r.now < int64(200*time.Millisecond) {
		t.Fatalf("PTO in %d, RTO in %d; want 22 ms, then >= 200 ms", pto, c.rtoAt-r.now)
	}
	r.advance(21 * time.Millisecond)
	r.expect()
	r.advance(time.Millisecond)
	p := r.expect(FlagACK)[0]
	if p.f.Seq != c.iss+4001 || len(p.payload) != 1000 || r.h.Counters()[TLPProbes] != 1 || !c.tlpOut {
		t.Fatalf("probe %v; probes %d", p, r.h.Counters()[TLPProbes])
	}
	// The probe arrives; segment 3 is still missing.
	o := &Options{NumSACK: 1}
	o.SACK[0] = SACKBlock{Start: c.iss + 4001, End: c.iss + 5001}
	r.in(FlagACK, peerISS+1, c.iss+3001, 65535, o, nil)
	rx := r.expect(FlagACK)[0]
	if rx.f.Seq != c.iss+3001 || len(rx.payload) != 1000 || !c.inRecovery || c.tlpOut {
		t.Fatalf("after the probe's SACK: sent %v, in recovery %v, episode %v", rx, c.inRecovery, c.tlpOut)
	}
	r.in(FlagACK, peerISS+1, c.iss+5001, 65535, nil, nil)
	if n := r.h.Counters(); n[RTOs] != 0 || n[FastRetransmits] != 1 || c.inRecovery || c.tlpAt != 0 {
		t.Fatalf("counters %v, in recovery %v, PTO %d", n.Map(), c.inRecovery, c.tlpAt)
	}
}

// lastSegmentProbed: three segments go, the first two are acknowledged
// 10 ms later, and with one segment out the PTO, cut to the RTO's
// deadline, resends the last one: the probe it returns.
func lastSegmentProbed(t *testing.T) (*rig, *Conn, out) {
	t.Helper()
	r, c := tlpRig(t)
	c.Send.Write(make([]byte, 3000))
	c.Update(r.now)
	r.expect(FlagACK, FlagACK, FlagACK|FlagPSH)
	r.advance(10 * time.Millisecond)
	r.in(FlagACK, peerISS+1, c.iss+3001, 65535, nil, nil)
	if c.tlpAt != c.rtoAt {
		t.Fatalf("PTO at %d, RTO at %d: want the PTO cut to the RTO", c.tlpAt, c.rtoAt)
	}
	r.advance(time.Duration(c.tlpAt - r.now))
	return r, c, r.expect(FlagACK)[0]
}

// TestTLPLastSegment: only the last segment is lost, so one segment is
// out: the PTO (2*SRTT + 200 ms for a delayed ACK) is cut to the RTO's
// deadline and probes instead of the RTO. The probe repairs the loss:
// when later data is acknowledged without a D-SACK for the probe,
// congestion control reacts once (no collapse to one segment, as an RTO
// would). With a D-SACK (the original had arrived), it does not.
func TestTLPLastSegment(t *testing.T) {
	for _, dsack := range []bool{false, true} {
		t.Run(fmt.Sprintf("dsack=%v", dsack), func(t *testing.T) {
			r, c, p := lastSegmentProbed(t)
			n := r.h.Counters()
			if p.f.Seq != c.iss+3001 || n[TLPProbes] != 1 || n[RTOs] != 0 || c.rtoAt <= r.now {
				t.Fatalf("probe %v; counters %v; RTO in %d", p, n.Map(), c.rtoAt-r.now)
			}
			cwnd := c.cc.Cwnd()
			var o *Options
			if dsack {
				o = &Options{NumSACK: 1}
				o.SACK[0] = SACKBlock{Start: c.iss + 3001, End: c.iss + 4001}
			}
			r.in(FlagACK, peerISS+1, c.iss+4001, 65535, o, nil)
			if c.tlpOut == dsack {
				t.Fatalf("episode running %v after the probe's ACK", c.tlpOut)
			}
			c.Send.Write(make([]byte, 1000))
			c.Update(r.now)
			r.expect(FlagACK | FlagPSH)
			r.in(FlagACK, peerISS+1, c.iss+5001, 65535, nil, nil)
			repaired := r.h.Counters()[TLPRepairs]
			if dsack && (repaired != 0 || c.cc.Cwnd() < cwnd) || !dsack && (repaired != 1 || c.cc.Cwnd() >= cwnd || c.cc.Cwnd() < 2*c.mss) {
				t.Fatalf("repairs %d, cwnd %d -> %d", repaired, cwnd, c.cc.Cwnd())
			}
		})
	}
}

// TestTLPNewData: with data waiting behind the congestion window and the
// ACKs stopped, the probe is a new segment past cwnd; no episode.
func TestTLPNewData(t *testing.T) {
	r, c := tlpRig(t)
	c.Send.Write(make([]byte, 30000))
	c.Update(r.now)
	sent := len(r.link.take())
	if sent*1000 != c.cc.Cwnd() {
		t.Fatalf("sent %d segments, cwnd %d", sent, c.cc.Cwnd())
	}
	r.advance(time.Duration(c.tlpAt - r.now))
	p := r.expect(FlagACK)[0]
	if p.f.Seq != c.iss+1001+Seq(sent*1000) || c.tlpOut || r.h.Counters()[TLPProbes] != 1 || r.h.Counters()[Retransmits] != 0 {
		t.Fatalf("probe %v, episode %v, counters %v", p, c.tlpOut, r.h.Counters().Map())
	}
}

// TestTLPOff: Config.TLP false, or no SACK: the RTO handles the tail.
func TestTLPOff(t *testing.T) {
	cfg := testConfig()
	cfg.TLP = false
	r := newRig(t, cfg)
	r.accept(&Options{MSS: 1000, SACKPermitted: true})
	r.conn.Send.Write(make([]byte, 3000))
	r.conn.Update(r.now)
	r.link.take()
	if r.conn.tlpAt != 0 {
		t.Fatal("PTO armed with TLP off")
	}
	r = newRig(t, testConfig())
	r.accept(&Options{MSS: 1000})
	r.conn.Send.Write(make([]byte, 3000))
	r.conn.Update(r.now)
	r.link.take()
	if r.conn.tlpAt != 0 {
		t.Fatal("PTO armed without SACK")
	}
}

// TestRACKLostRetransmission: in SACK recovery the retransmission of the
// first segment is lost too. Once a segment sent more than a reordering
// window (min RTT / 4) after it is SACKed, RACK's rule finds it lost and
// it goes again, without waiting for the RTO.
func TestRACKLostRetransmission(t *testing.T) {
	r, c := tlpRig(t)
	base := c.iss + 1001
	c.Send.Write(make([]byte, 20000))
	c.Update(r.now)
	w := Seq(len(r.link.take())) // the congestion window, in segments
	if int(w)*1000 != c.cc.Cwnd() {
		t.Fatalf("sent %d segments, cwnd %d", w, c.cc.Cwnd())
	}
	r.advance(10 * time.Millisecond)
	// Segment 0 is lost; 1, 2, 3 arrive: three duplicate ACKs with SACK.
	sack := func(end Seq) *Options {
		o := &Options{NumSACK: 1}
		o.SACK[0] = SACKBlock{Start: base + 1000, End: end}
		return o
	}
	for i := Seq(2); i <= 4; i++ {
		r.in(FlagACK, peerISS+1, base, 65535, sack(base+i*1000), nil)
	}
	// Recovery retransmits segment 0 (new data may go too: the SACKed
	// bytes left the pipe).
	rx := r.link.take()
	retransmitted := false
	for _, s := range rx {
		retransmitted = retransmitted || s.f.Seq == base
	}
	if !c.inRecovery || !retransmitted {
		t.Fatalf("recovery %v, sent %v", c.inRecovery, rx)
	}
	// 5 ms later the rest of the window arrives: the pipe lets new data
	// out (segments w and on).
	r.advance(5 * time.Millisecond)
	r.in(FlagACK, peerISS+1, base, 65535, sack(base+w*1000), nil)
	var later Seq // the first segment sent now
	for _, s := range r.link.take() {
		if s.f.Seq == base {
			t.Fatalf("segment 0 again before anything sent after its retransmission was delivered")
		}
		if later == 0 || s.f.Seq.LessThan(later) {
			later = s.f.Seq
		}
	}
	if later == 0 {
		t.Fatal("no new data in recovery")
	}
	// Everything up to that segment (sent 5 ms after the retransmission)
	// is SACKed, segment 0 still missing: its retransmission was lost.
	r.advance(10 * time.Millisecond)
	r.in(FlagACK, peerISS+1, base, 65535, sack(later+1000), nil)
	again := 0
	for _, s := range r.link.take() {
		if s.f.Seq == base {
			again++
		}
	}
	n := r.h.Counters()
	if again != 1 || n[RACKLost] != 1 || n[RTOs] != 0 {
		t.Fatalf("segment 0 sent %d more times; counters %v", again, n.Map())
	}
	// It arrives: recovery ends once everything sent is acknowledged.
	r.in(FlagACK, peerISS+1, c.sndMax, 65535, nil, nil)
	if c.inRecovery || len(c.rack) != 0 {
		t.Fatalf("recovery %v, %d records left", c.inRecovery, len(c.rack))
	}
}

// TestTimerWheel: connections opened at random times from a clock that
// starts near zero, with Ticks at random steps from a fraction of a
// millisecond to beyond the wheel's span: after every Tick, no
// connection holds a deadline in a millisecond the Tick has passed (each
// fired, and moved on or ended), and the wheel's lists hold exactly the
// connections that have deadlines.
func TestTimerWheel(t *testing.T) {
	cfg := testConfig()
	cfg.SynRetries = 3
	cfg.EphemeralLo, cfg.EphemeralHi = 1024, 65535
	link := &recorder{t: t}
	h, err := NewHost(cfg, link)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	now := int64(500 * time.Microsecond)
	for step := 0; step < 3000; step++ {
		switch rng.IntN(4) {
		case 0:
			remote := netip.AddrPortFrom(peerAddr.Addr(), uint16(1+rng.IntN(60000)))
			if _, err := h.Dial(netip.AddrPortFrom(hostAddr.Addr(), 0), remote, &events{}, now); err != nil && !errors.Is(err, ErrTableFull) {
				t.Fatal(err)
			}
		case 1:
			if len(h.list) > 0 {
				h.list[rng.IntN(len(h.list))].Close(now)
			}
		default:
			steps := []int64{int64(300 * time.Microsecond), int64(time.Millisecond), int64(37 * time.Millisecond), int64(1500 * time.Millisecond)}
			now += steps[rng.IntN(len(steps))]
			h.Tick(now)
			filed := 0
			for s := range h.wheel {
				for c := h.wheel[s]; c != nil; c = c.tNext {
					filed++
				}
			}
			withDeadline := 0
			for _, c := range h.list {
				d := c.deadline()
				if d == 0 {
					continue
				}
				withDeadline++
				if (d+int64(time.Millisecond)-1)/int64(time.Millisecond) <= now/int64(time.Millisecond) {
					t.Fatalf("step %d, now %d: %v holds deadline %d, passed", step, now, c.LocalAddr(), d)
				}
			}
			if filed != withDeadline {
				t.Fatalf("step %d: %d connections filed, %d have deadlines", step, filed, withDeadline)
			}
		}
		link.take()
	}
	if h.Counters()[Timeouts] == 0 || h.Counters()[Retransmits] == 0 {
		t.Fatalf("no SYN retried or timed out: %v", h.Counters().Map())
	}
}

// TestTLPSpuriousProbe: the last segment's ACK was only late. It comes
// after the probe, then the peer's answer to the probe (a duplicate ACK;
// here with a D-SACK, then without): the episode ends with no congestion
// response, and the D-SACK-only duplicate ACK starts no recovery either,
// though one segment is out (early retransmit's threshold of one).
func TestTLPSpuriousProbe(t *testing.T) {
	for _, dsack := range []bool{false, true} {
		t.Run(fmt.Sprintf("dsack=%v", dsack), func(t *testing.T) {
			r, c, _ := lastSegmentProbed(t)
			cwnd := c.cc.Cwnd()
			r.in(FlagACK, peerISS+1, c.iss+4001, 65535, nil, nil) // the late ACK
			// One more segment out, then the probe's duplicate ACK.
			c.Send.Write(make([]byte, 500))
			c.Update(r.now)
			r.expect(FlagACK | FlagPSH)
			var o *Options
			if dsack {
				o = &Options{NumSACK: 1}
				o.SACK[0] = SACKBlock{Start: c.iss + 3001, End: c.iss + 4001}
			}
			r.in(FlagACK, peerISS+1, c.iss+4001, 65535, o, nil)
			if c.tlpOut || c.inRecovery || r.h.Counters()[RecoveryEntry] != 0 {
				t.Fatalf("episode %v, recovery %v, entries %d", c.tlpOut, c.inRecovery, r.h.Counters()[RecoveryEntry])
			}
			r.in(FlagACK, peerISS+1, c.iss+4501, 65535, nil, nil)
			if n := r.h.Counters()[TLPRepairs]; n != 0 || c.cc.Cwnd() < cwnd {
				t.Fatalf("repairs %d, cwnd %d -> %d", n, cwnd, c.cc.Cwnd())
			}
		})
	}
}

// TestDSACK: a segment received twice is acknowledged at once with a
// D-SACK for it (RFC 2883), reported once.
func TestDSACK(t *testing.T) {
	r := newRig(t, testConfig())
	r.accept(&Options{MSS: 1000, SACKPermitted: true})
	c := r.conn
	r.in(FlagACK, peerISS+1, c.iss+1, 65535, nil, make([]byte, 1000))
	r.advance(50 * time.Millisecond) // the delayed ACK
	r.expect(FlagACK)
	r.in(FlagACK, peerISS+1, c.iss+1, 65535, nil, make([]byte, 1000)) // again
	a := r.expect(FlagACK)[0]
	if a.f.Ack != peerISS+1001 || a.o.NumSACK != 1 || a.o.SACK[0] != (SACKBlock{Start: peerISS + 1, End: peerISS + 1001}) {
		t.Fatalf("ACK of a duplicate: %v", a)
	}
	r.in(FlagACK, peerISS+1001, c.iss+1, 65535, nil, make([]byte, 1000))
	r.in(FlagACK, peerISS+2001, c.iss+1, 65535, nil, make([]byte, 1000))
	if a := r.expect(FlagACK)[0]; a.o.NumSACK != 0 {
		t.Fatalf("D-SACK reported again: %v", a)
	}
	// Without SACK negotiated, no D-SACK.
	r = newRig(t, testConfig())
	r.accept(&Options{MSS: 1000})
	r.in(FlagACK, peerISS+1, r.conn.iss+1, 65535, nil, make([]byte, 1000))
	r.advance(50 * time.Millisecond)
	r.expect(FlagACK)
	r.in(FlagACK, peerISS+1, r.conn.iss+1, 65535, nil, make([]byte, 1000))
	if a := r.expect(FlagACK)[0]; a.o.NumSACK != 0 {
		t.Fatalf("D-SACK without SACK: %v", a)
	}
}
