package tcp

import (
	"errors"
	"testing"
	"time"
)

// machine is a rig with the connection under test (c) and what the peer
// knows of it: our ISS, what it has acknowledged of ours (una), where its
// own next byte goes (rcv), and our FIN's sequence number once it went.
type machine struct {
	*rig
	c                  *Conn
	iss, una, rcv, fin Seq
}

// connection is the connection under test, once there is one: the one
// the rig holds (Dial, or a listener's accept), or the table's only one
// (a passive open before ESTABLISHED). It stays the connection under
// test after it leaves the table: the machine keeps it (Conn.Keep), or
// the Host would reuse it.
func (m *machine) connection() *Conn {
	if m.c == nil {
		if m.conn != nil {
			m.c = m.conn
		} else if cs := m.h.Conns(); len(cs) == 1 {
			m.c = cs[0]
		}
		if m.c != nil {
			m.c.Keep()
		}
	}
	return m.c
}

// reach drives a fresh connection into row.From, checking each step.
func (m *machine) reach(row transition) {
	m.t.Helper()
	switch row.From {
	case StateClosed:
		// No connection and no listener.
	case StateListen:
		m.listen()
	case StateSynSent:
		c, err := m.h.Dial(hostAddr, peerAddr, m.ev, m.now)
		if err != nil {
			m.t.Fatal(err)
		}
		m.conn = c
		m.connection() // kept
		m.iss = m.expect(FlagSYN)[0].f.Seq
		m.una, m.rcv = m.iss, peerISS
	case StateSynReceived:
		if row.Event == evRSTSimOpen {
			// A simultaneous open (RFC 9293 3.5).
			m.reach(transition{From: StateSynSent})
			m.in(FlagSYN, peerISS, 0, 65535, nil, nil)
			m.expect(FlagSYN | FlagACK)
		} else {
			m.listen()
			m.in(FlagSYN, peerISS, 0, 65535, nil, nil)
			m.iss = m.expect(FlagSYN | FlagACK)[0].f.Seq
		}
		m.una, m.rcv = m.iss, peerISS+1
	case StateEstablished:
		m.iss = m.accept(nil)
		m.una, m.rcv = m.iss+1, peerISS+1
	case StateFinWait1:
		m.reach(transition{From: StateEstablished})
		m.close()
	case StateFinWait2:
		m.reach(transition{From: StateFinWait1})
		m.in(FlagACK, m.rcv, m.fin+1, 1024, nil, nil)
		m.expect()
		m.una = m.fin + 1
	case StateCloseWait:
		m.reach(transition{From: StateEstablished})
		m.in(FlagFIN|FlagACK, m.rcv, m.una, 1024, nil, nil)
		m.expect(FlagACK)
		m.rcv++
	case StateClosing:
		m.reach(transition{From: StateFinWait1})
		m.in(FlagFIN|FlagACK, m.rcv, m.una, 1024, nil, nil)
		m.expect(FlagACK)
		m.rcv++
	case StateLastAck:
		m.reach(transition{From: StateCloseWait})
		m.close()
	case StateTimeWait:
		m.reach(transition{From: StateFinWait2})
		m.in(FlagFIN|FlagACK, m.rcv, m.una, 1024, nil, nil)
		m.expect(FlagACK)
		m.rcv++
	default:
		m.t.Fatalf("no way to reach %v", row.From)
	}
	if c := m.connection(); row.From == StateClosed || row.From == StateListen {
		if c != nil {
			m.t.Fatalf("reaching %v left a connection in %v", row.From, c.State())
		}
	} else if c == nil || c.State() != row.From {
		m.t.Fatalf("reaching %v: connection %v", row.From, c)
	}
}

// close calls Close and takes the FIN it sends.
func (m *machine) close() {
	m.t.Helper()
	m.connection().Close(m.now)
	m.fin = m.expect(FlagFIN | FlagACK)[0].f.Seq
}

// untilRTO runs the clock to the retransmission timer's deadline.
func (m *machine) untilRTO() {
	m.t.Helper()
	c := m.connection()
	if c.rtoAt == 0 {
		m.t.Fatalf("%v: no retransmission timer running", c.State())
	}
	m.advance(time.Duration(c.rtoAt-m.now) + time.Millisecond)
}

// drivers apply each event to a connection in a row's From state.
var drivers = map[event]func(m *machine){
	evOpen: func(m *machine) {
		c, err := m.h.Dial(hostAddr, peerAddr, m.ev, m.now)
		if err != nil {
			m.t.Fatal(err)
		}
		m.conn = c
	},
	evClose: func(m *machine) { m.connection().Close(m.now) },
	evAbort: func(m *machine) { m.connection().Abort() },
	evSYN:   func(m *machine) { m.in(FlagSYN, peerISS, 0, 65535, nil, nil) },
	evSYNBacklog: func(m *machine) {
		m.h.cfg.SynBacklog = 0
		m.in(FlagSYN, peerISS, 0, 65535, nil, nil)
	},
	evCookieACK: func(m *machine) {
		m.h.cfg.SynBacklog = 0
		m.in(FlagSYN, peerISS, 0, 65535, nil, nil)
		cookie := m.expect(FlagSYN | FlagACK)[0].f.Seq
		m.in(FlagACK, peerISS+1, cookie+1, 65535, nil, nil)
	},
	evNoCookieACK: func(m *machine) { m.in(FlagACK, peerISS+1, 777, 65535, nil, nil) },
	evNoSYN:       func(m *machine) { m.in(FlagFIN, peerISS, 0, 65535, nil, nil) },
	evSYNACK:      func(m *machine) { m.in(FlagSYN|FlagACK, peerISS, m.iss+1, 65535, nil, nil) },
	evBadACK:      func(m *machine) { m.in(FlagACK, m.rcv, m.iss+7, 65535, nil, nil) },
	evACKNoSYN:    func(m *machine) { m.in(FlagACK, m.rcv, m.iss+1, 65535, nil, nil) },
	evRSTACK:      func(m *machine) { m.in(FlagRST|FlagACK, 0, m.iss+1, 0, nil, nil) },
	evRSTBadACK:   func(m *machine) { m.in(FlagRST|FlagACK, 0, m.iss+7, 0, nil, nil) },
	evRSTNoACK:    func(m *machine) { m.in(FlagRST, peerISS, 0, 0, nil, nil) },
	evSYNAgain:    func(m *machine) { m.in(FlagSYN, peerISS, 0, 65535, nil, nil) },
	evACKOfSYN:    func(m *machine) { m.in(FlagACK, m.rcv, m.iss+1, 65535, nil, nil) },
	evACKOfSYNClosed: func(m *machine) {
		m.connection().Close(m.now)
		m.in(FlagACK, m.rcv, m.iss+1, 65535, nil, nil)
	},
	evRST:         func(m *machine) { m.in(FlagRST, m.rcv, 0, 0, nil, nil) },
	evRSTSimOpen:  func(m *machine) { m.in(FlagRST, m.rcv, 0, 0, nil, nil) },
	evRSTInWindow: func(m *machine) { m.in(FlagRST, m.rcv+100, 0, 0, nil, nil) },
	evSYNInWindow: func(m *machine) { m.in(FlagSYN, m.rcv+7, 0, 65535, nil, nil) },
	evFIN:         func(m *machine) { m.in(FlagFIN|FlagACK, m.rcv, m.una, 1024, nil, nil) },
	evFINAckingFIN: func(m *machine) {
		m.in(FlagFIN|FlagACK, m.rcv, m.fin+1, 1024, nil, nil)
	},
	evACKOfFIN: func(m *machine) { m.in(FlagACK, m.rcv, m.fin+1, 1024, nil, nil) },
	evFINAgain: func(m *machine) { m.in(FlagFIN|FlagACK, m.rcv-1, m.una, 1024, nil, nil) },
	evRTO:      func(m *machine) { m.untilRTO() },
	evRTOExhausted: func(m *machine) {
		m.h.cfg.Retries, m.h.cfg.SynRetries = 0, 0
		if c := m.connection(); c.InFlight() == 0 {
			// Something outstanding for the timer to retransmit.
			c.Send.Write([]byte("x"))
			c.Update(m.now)
			m.expect(FlagACK | FlagPSH)
		}
		m.untilRTO()
	},
	evKeepaliveDead: func(m *machine) {
		m.h.cfg.Keepalive, m.h.cfg.KeepaliveInterval, m.h.cfg.KeepaliveProbes = int64(time.Second), int64(time.Second), 1
		m.connection().Update(m.now) // arms the keepalive timer
		m.advance(time.Second + time.Millisecond)
		m.expect(FlagACK) // the probe, unanswered
		m.advance(time.Second + time.Millisecond)
	},
	evTimeWaitOver: func(m *machine) { m.advance(time.Duration(m.h.cfg.TimeWait) + time.Millisecond) },
}

// TestTransitions checks the state machine against its table: for every
// row, a fresh connection is driven into From through the handshake and
// closing segments a peer would send, the row's event is applied, and
// the state that follows, the segment sent and the error the connection
// ended with must be the row's.
func TestTransitions(t *testing.T) {
	seen := map[State]bool{}
	rows := map[string]bool{}
	for _, row := range transitions {
		seen[row.From] = true
		name := row.From.String() + "/" + string(row.Event)
		if rows[name] {
			t.Errorf("%s: two rows", name)
		}
		rows[name] = true
		t.Run(name, func(t *testing.T) {
			drive, ok := drivers[row.Event]
			if !ok {
				t.Fatalf("no driver for event %q", row.Event)
			}
			m := &machine{rig: newRig(t, testConfig())}
			m.reach(row)
			drive(m)
			checkTransition(t, m, row)
		})
	}
	for s := StateClosed; s <= StateTimeWait; s++ {
		if !seen[s] {
			t.Errorf("no row from %v", s)
		}
	}
}

// checkTransition checks what a row's event did.
func checkTransition(t *testing.T, m *machine, row transition) {
	t.Helper()
	segs := m.link.take()
	switch {
	case row.Send == 0 && len(segs) != 0:
		t.Errorf("sent %v, want nothing", segs)
	case row.Send != 0 && (len(segs) != 1 || segs[0].f.Flags != row.Send):
		t.Errorf("sent %v, want one segment with %v", segs, row.Send)
	}
	c := m.connection()
	switch row.To {
	case StateListen:
		if c != nil || !m.h.Listening(hostAddr.Port()) {
			t.Errorf("connection %v, listening %v: want LISTEN and no connection", c, m.h.Listening(hostAddr.Port()))
		}
		return
	case StateClosed:
		if n := len(m.h.Conns()); n != 0 {
			t.Errorf("%d connections left, want CLOSED", n)
		}
		if c == nil {
			return // there never was one
		}
	}
	if c == nil {
		t.Fatalf("no connection, want %v", row.To)
	}
	if c.State() != row.To {
		t.Errorf("state %v, want %v", c.State(), row.To)
	}
	if row.To == StateClosed && !errors.Is(c.Err(), row.Err) { // errors.Is(err, nil) is err == nil
		t.Errorf("ended with %v, want %v", c.Err(), row.Err)
	}
}
