package tcp

import (
	"fmt"
	"testing"
	"time"
)

// rackRig is tlpRig with RACK's recovery trigger on (it is opt-in).
func rackRig(t *testing.T) (*rig, *Conn) {
	cfg := testConfig()
	cfg.RACK = true
	return tlpRigWith(t, cfg)
}

// rackFlight is a rackRig that has sent n bytes in one round; base is
// the first one's sequence number.
func rackFlight(t *testing.T, n int) (*rig, *Conn, Seq) {
	r, c := rackRig(t)
	sendRound(r, c, n)
	return r, c, c.iss + 1001
}

// sendRound writes n more bytes on c and sends what the windows allow, in
// one round.
func sendRound(r *rig, c *Conn, n int) {
	c.Send.Write(make([]byte, n))
	c.Update(r.now)
	r.link.take()
}

// rackSACK is an ACK of base with one SACK block [start, end).
func rackSACK(r *rig, base, start, end Seq) {
	r.t.Helper()
	o := &Options{NumSACK: 1}
	o.SACK[0] = SACKBlock{Start: start, End: end}
	r.in(FlagACK, peerISS+1, base, 65535, o, nil)
}

// TestRACKRecovery: four segments go in one round; the first is lost and
// only the second is SACKed, one duplicate ACK where fast retransmit waits
// for three. RACK arms its reordering timer (min RTT / 4 = 2.5 ms) and,
// when it fires with the hole still open, starts recovery: the first
// segment goes again, long before the PTO or the RTO. If the first
// segment arrives before the timer (reordered, not lost), nothing is
// retransmitted and the path is known to reorder.
func TestRACKRecovery(t *testing.T) {
	for _, reordered := range []bool{false, true} {
		t.Run(fmt.Sprintf("reordered=%v", reordered), func(t *testing.T) {
			r, c := rackRig(t)
			base := c.iss + 1001
			c.Send.Write(make([]byte, 4000))
			c.Update(r.now)
			r.expect(FlagACK, FlagACK, FlagACK, FlagACK|FlagPSH)
			r.advance(10 * time.Millisecond)
			rackSACK(r, base, base+1000, base+2000)
			r.expect()
			if c.inRecovery || c.reoAt != r.now+int64(2500*time.Microsecond) {
				t.Fatalf("recovery %v, reordering timer in %d ns; want 2.5 ms", c.inRecovery, c.reoAt-r.now)
			}
			if reordered {
				r.advance(time.Millisecond)
				rackSACK(r, base+2000, base+3000, base+4000) // segment 0 came late; 2 is still out
				n := r.h.Counters()
				if !c.reoSeen || n[RACKReorder] != 1 || n[Retransmits] != 0 || c.inRecovery {
					t.Fatalf("after the late segment: reordering seen %v, counters %v", c.reoSeen, n.Map())
				}
				// Segment 2 went with 3, delivered now: it has the
				// reordering window (a quarter of the min RTT; reordering
				// was seen) to arrive.
				if c.reoAt != r.now+int64(2500*time.Microsecond) {
					t.Fatalf("reordering timer in %d ns, want 2.5 ms", c.reoAt-r.now)
				}
				r.advance(time.Millisecond)
				r.in(FlagACK, peerISS+1, base+4000, 65535, nil, nil)
				r.advance(5 * time.Millisecond)
				if n := r.h.Counters(); n[Retransmits] != 0 || n[RecoveryEntry] != 0 || c.reoAt != 0 {
					t.Fatalf("everything arrived, reordered: counters %v, timer %d", n.Map(), c.reoAt)
				}
				return
			}
			// The timer wheel has 1 ms slots: it fires within 1 ms of
			// the deadline, never before.
			r.advance(2 * time.Millisecond)
			r.expect()
			r.advance(time.Millisecond)
			rx := r.expect(FlagACK)[0]
			n := r.h.Counters()
			if rx.f.Seq != base || len(rx.payload) != 1000 || !c.inRecovery || n[RACKRecovery] != 1 || n[RecoveryEntry] != 1 {
				t.Fatalf("sent %v; recovery %v; counters %v", rx, c.inRecovery, n.Map())
			}
			r.in(FlagACK, peerISS+1, base+4000, 65535, nil, nil)
			if n := r.h.Counters(); c.inRecovery || n[RTOs] != 0 || n[TLPProbes] != 0 || len(c.sent) != 0 {
				t.Fatalf("recovery %v, counters %v, %d marks left", c.inRecovery, n.Map(), len(c.sent))
			}
		})
	}
}

// TestRACKTimeOrder: a segment SACKed that went a reordering window after
// the hole's segment makes the hole lost at once, without the timer.
func TestRACKTimeOrder(t *testing.T) {
	r, c := rackRig(t)
	base := c.iss + 1001
	c.Send.Write(make([]byte, 1000))
	c.Update(r.now)
	r.expect(FlagACK | FlagPSH)
	r.advance(3 * time.Millisecond) // more than 2.5 ms later
	c.Send.Write(make([]byte, 3000))
	c.Update(r.now)
	r.expect(FlagACK, FlagACK, FlagACK|FlagPSH) // four out: no early retransmit
	r.advance(10 * time.Millisecond)
	rackSACK(r, base, base+1000, base+2000)
	rx := r.expect(FlagACK)[0]
	if rx.f.Seq != base || !c.inRecovery || r.h.Counters()[RACKRecovery] != 1 {
		t.Fatalf("sent %v, recovery %v, counters %v", rx, c.inRecovery, r.h.Counters().Map())
	}
}

// TestRACKAfterRTO: after a timeout every outstanding segment is sent
// again, and the marks of their first transmissions are gone: RACK makes
// no decision about them (duplicate ACKs and the RTO still do).
func TestRACKAfterRTO(t *testing.T) {
	r, c, base := rackFlight(t, 3000)
	r.advance(time.Duration(c.tlpAt - r.now)) // the probe
	r.link.take()
	r.advance(time.Duration(c.rtoAt - r.now)) // the RTO: segment 0 again
	if r.h.Counters()[RTOs] != 1 || len(c.sent) != 0 {
		t.Fatalf("counters %v, %d marks", r.h.Counters().Map(), len(c.sent))
	}
	r.link.take()
	r.advance(10 * time.Millisecond)
	rackSACK(r, base, base+1000, base+2000)
	if c.reoAt != 0 || r.h.Counters()[RACKRecovery] != 0 {
		t.Fatalf("RACK acted on resent data: timer %d, counters %v", c.reoAt, r.h.Counters().Map())
	}
}

// TestRACKMarks: the marks stay within their capacity while a long flight
// goes out one segment per round, merging towards the tail, and every
// outstanding byte's real send time lies within its mark's span.
func TestRACKMarks(t *testing.T) {
	r, c := rackRig(t)
	c.cc = &fixedCwnd{cwnd: 1 << 20}
	base := c.iss + 1001
	real := make([]int64, 200)
	for i := range real {
		c.sndWnd, c.maxSndWnd = 1<<30, 1<<30
		c.Send.Write(make([]byte, 1000))
		c.Update(r.now)
		real[i] = r.now
		r.link.take()
		r.now += int64(100 * time.Microsecond)
	}
	if len(c.sent) > sentCap || cap(c.sent) != sentCap {
		t.Fatalf("%d marks, capacity %d", len(c.sent), cap(c.sent))
	}
	for i, at := range real {
		first, last, ok := c.sentTime(base + Seq(i*1000))
		if !ok || at < first || at > last {
			t.Fatalf("segment %d: times %d-%d (%v), sent at %d", i, first, last, ok, at)
		}
		if i < sentCap-2 && (first != at || last != at) {
			t.Fatalf("segment %d among the oldest marks: times %d-%d, sent at %d", i, first, last, at)
		}
	}
	// Acknowledged marks go; the rest keep their times.
	r.in(FlagACK, peerISS+1, base+100*1000, 65535, nil, nil)
	if first, last, ok := c.sentTime(base + 100*1000); !ok || real[100] < first || real[100] > last {
		t.Fatalf("after the ACK: segment 100 at %d-%d (%v), sent at %d", first, last, ok, real[100])
	}
	if c.sent[c.sentHead].seq.GreaterThan(base + 100*1000) {
		t.Fatal("the mark covering SND.UNA was dropped")
	}
}

// fixedCwnd is a congestion controller that never changes its window.
type fixedCwnd struct{ cwnd int }

func (f *fixedCwnd) Name() string                 { return "fixed" }
func (f *fixedCwnd) Init(int, int64)              {}
func (f *fixedCwnd) Cwnd() int                    { return f.cwnd }
func (f *fixedCwnd) Ssthresh() int                { return f.cwnd }
func (f *fixedCwnd) OnAck(int, int64, int, int64) {}
func (f *fixedCwnd) OnCongestion(int, int64)      {}
func (f *fixedCwnd) OnRecoveryExit(int64)         {}
func (f *fixedCwnd) OnRTO(int, int64)             {}
func (f *fixedCwnd) SetMSS(int)                   {}

// TestRACKDSACKWidensWindow: a D-SACK (a spurious retransmission) widens
// the reordering window by a quarter of the min RTT, once per round trip;
// a repeated first SACK block is not a D-SACK.
func TestRACKDSACKWidensWindow(t *testing.T) {
	r, c, base := rackFlight(t, 4000)
	r.advance(5 * time.Millisecond)
	rackSACK(r, base, base+1000, base+2000)
	// The same block again, on a data segment from the peer.
	o := &Options{NumSACK: 1}
	o.SACK[0] = SACKBlock{Start: base + 1000, End: base + 2000}
	r.in(FlagACK, peerISS+1, base, 65535, o, []byte("data"))
	if c.reoMult > 1 {
		t.Fatalf("a repeated block counted as a D-SACK: multiplier %d", c.reoMult)
	}
	// A D-SACK below the cumulative ACK.
	peer := peerISS + 5 // after the peer's 4 bytes
	dsack := func(ack Seq) {
		o := &Options{NumSACK: 1}
		o.SACK[0] = SACKBlock{Start: base, End: base + 1000}
		r.in(FlagACK, peer, ack, 65535, o, nil)
	}
	dsack(base + 2000)
	if c.reoMult != 2 || !c.dsackWait {
		t.Fatalf("after a D-SACK: multiplier %d", c.reoMult)
	}
	dsack(base + 3000) // the same round trip
	if c.reoMult != 2 {
		t.Fatalf("a second D-SACK in the round: multiplier %d", c.reoMult)
	}
	c.reoSeen = true
	if w, want := c.reoWnd(), min(c.rtt.MinRTT()*2/4, c.rtt.SRTT()); w != want || w == 0 {
		t.Fatalf("window %d, want 2 x min RTT / 4 = %d", w, want)
	}
	// The round ends once everything outstanding then is acknowledged.
	r.in(FlagACK, peer, base+4000, 65535, nil, nil)
	sendRound(r, c, 4000)
	o = &Options{NumSACK: 1}
	o.SACK[0] = SACKBlock{Start: base + 3000, End: base + 4000}
	r.in(FlagACK, peer, base+4000, 65535, o, nil)
	if c.reoMult != 3 {
		t.Fatalf("a D-SACK in the next round: multiplier %d", c.reoMult)
	}
	// The next round: a D-SACK within the second block (RFC 2883 4.2),
	// the data above SND.UNA received twice.
	r.in(FlagACK, peer, base+8000, 65535, nil, nil)
	sendRound(r, c, 4000)
	o = &Options{NumSACK: 2}
	o.SACK[0] = SACKBlock{Start: base + 10000, End: base + 11000}
	o.SACK[1] = SACKBlock{Start: base + 10000, End: base + 12000}
	r.in(FlagACK, peer, base+8000, 65535, o, nil)
	if c.reoMult != 4 {
		t.Fatalf("a D-SACK within the second block: multiplier %d", c.reoMult)
	}
}

// TestRACKLateTick: the engine's tick comes late, past both the
// reordering timer and the RTO: RACK's recovery takes the loss, the hole
// goes once, and the RTO starts over instead of firing too.
func TestRACKLateTick(t *testing.T) {
	r, c, base := rackFlight(t, 4000)
	r.advance(10 * time.Millisecond)
	rackSACK(r, base, base+1000, base+2000)
	r.advance(time.Duration(c.rtoAt-r.now) + time.Millisecond)
	rx := r.expect(FlagACK)
	if n := r.h.Counters(); rx[0].f.Seq != base || n[RTOs] != 0 || n[RACKRecovery] != 1 || c.rtoAt <= r.now {
		t.Fatalf("sent %v; counters %v; RTO in %d", rx, n.Map(), c.rtoAt-r.now)
	}
}

// TestRACKMergedMarks: 400 segments 10 us apart fill the marks, so the
// newest merge. A SACK for segment 68, in the merged tail (really sent
// 0.68 ms after segment 0), must not count as sent later than its mark's
// earliest time: the hole waits the rest of the window, not nothing.
func TestRACKMergedMarks(t *testing.T) {
	r, c := rackRig(t)
	c.cc = &fixedCwnd{cwnd: 1 << 20}
	base := c.iss + 1001
	for range 400 {
		c.sndWnd, c.maxSndWnd = 1<<30, 1<<30
		c.Send.Write(make([]byte, 1000))
		c.Update(r.now)
		r.link.take()
		r.now += int64(10 * time.Microsecond)
	}
	r.advance(10 * time.Millisecond)
	rackSACK(r, base, base+68*1000, base+69*1000)
	if c.inRecovery || c.reoAt <= r.now {
		t.Fatalf("recovery %v, timer in %d ns: segment 68's merged mark made the hole lost at once", c.inRecovery, c.reoAt-r.now)
	}
}

// TestRACKSilent: no reordering timer and no decision when RACK is off,
// while a tail probe's retransmission is out, when the hole was sent
// before (rxtEnd), or once duplicate ACKs started recovery themselves.
func TestRACKSilent(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(r *rig, c *Conn)
	}{
		{"off", nil},
		{"probe out", func(r *rig, c *Conn) { c.tlpOut, c.tlpSeq, c.tlpHigh = true, c.sndMax.Add(^uint32(999)), c.sndMax }},
		{"hole resent", func(r *rig, c *Conn) { c.rxtEnd = c.sndUna.Add(1000) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r *rig
			var c *Conn
			if tc.set == nil {
				r, c = tlpRig(t) // Config.RACK off: no marks at all
				sendRound(r, c, 4000)
				if c.sent != nil {
					t.Fatalf("%d marks kept with RACK off", len(c.sent))
				}
			} else {
				r, c, _ = rackFlight(t, 4000)
				tc.set(r, c)
			}
			base := c.iss + 1001
			r.advance(10 * time.Millisecond)
			rackSACK(r, base, base+1000, base+2000)
			r.advance(5 * time.Millisecond)
			if n := r.h.Counters(); c.reoAt != 0 || n[RACKRecovery] != 0 || n[Retransmits] != 0 {
				t.Fatalf("timer %d, counters %v", c.reoAt, n.Map())
			}
		})
	}
	t.Run("duplicate ACKs first", func(t *testing.T) {
		r, c, base := rackFlight(t, 5000)
		r.advance(10 * time.Millisecond)
		rackSACK(r, base, base+1000, base+2000)
		if c.reoAt == 0 {
			t.Fatal("no reordering timer after one SACKed segment")
		}
		rackSACK(r, base, base+1000, base+4000) // three segments SACKed
		n := r.h.Counters()
		if !c.inRecovery || c.reoAt != 0 || n[RACKRecovery] != 0 || n[RecoveryEntry] != 1 || c.rxtEnd != base+1000 {
			t.Fatalf("recovery %v, timer %d, rxtEnd %d, counters %v", c.inRecovery, c.reoAt, c.rxtEnd-base, n.Map())
		}
	})
}

// TestRACKWindowReset: after 16 recoveries without a D-SACK the widened
// window goes back to a quarter of the min RTT (RFC 8985 6.2 step 4).
func TestRACKWindowReset(t *testing.T) {
	r, c := rackRig(t)
	sendRound(r, c, 4000)
	c.reoMult, c.reoRecov = 4, 15
	c.enterRecovery(r.now)
	if c.reoMult != 4 {
		t.Fatalf("the 16th recovery reset the multiplier to %d", c.reoMult)
	}
	c.inRecovery = false
	c.enterRecovery(r.now)
	if c.reoMult != 1 || c.reoRecov != 0 {
		t.Fatalf("after the 17th: multiplier %d, count %d", c.reoMult, c.reoRecov)
	}
}
