package tcp

// State is a connection's RFC 9293 state.
type State uint8

const (
	StateClosed State = iota
	StateListen
	StateSynSent
	StateSynReceived
	StateEstablished
	StateFinWait1
	StateFinWait2
	StateCloseWait
	StateClosing
	StateLastAck
	StateTimeWait
)

var stateNames = [...]string{"CLOSED", "LISTEN", "SYN-SENT", "SYN-RECEIVED", "ESTABLISHED",
	"FIN-WAIT-1", "FIN-WAIT-2", "CLOSE-WAIT", "CLOSING", "LAST-ACK", "TIME-WAIT"}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "UNKNOWN"
}

// synchronized reports whether the state is past the handshake (RFC 9293
// 3.10.7.4 applies).
func (s State) synchronized() bool { return s >= StateEstablished }

// The state machine, as a table. Every (state, event) arm the code takes,
// with what goes on the wire and the state that follows: RFC 9293's
// figure 5, the RST, timeout and ABORT arms of 3.10, simultaneous open and
// close, and what the code adds (SYN cookies, RFC 5961's challenges). The
// code does not read it: TestTransitions drives a connection through each
// row with the segment-level harness and fails where the code departs
// from it, so the table is the state machine's specification, checked.
//
// A row sends at most one segment (Send, 0 for none); a row that ends in
// CLOSED names the error the connection ends with (Conn.Err). LISTEN is a
// Listener's state, not a Conn's: a row from LISTEN to LISTEN leaves no
// connection behind.

// event is what moves a connection: a call (the RFC's user calls), a
// segment's arrival (named as RFC 9293 3.10.7 tests it: "acceptable"
// means inside the window, an ACK within SND.UNA..SND.NXT), or a timer.
type event string

const (
	evOpen  event = "OPEN (Host.Dial)"
	evClose event = "CLOSE (Conn.Close)"
	evAbort event = "ABORT (Conn.Abort)"

	evSYN            event = "SYN"
	evSYNBacklog     event = "SYN, the SYN backlog full"
	evCookieACK      event = "ACK returning a valid SYN cookie"
	evNoCookieACK    event = "ACK without a valid SYN cookie"
	evNoSYN          event = "no SYN, ACK or RST"
	evSYNACK         event = "SYN+ACK acknowledging our SYN"
	evBadACK         event = "ACK not acknowledging our SYN"
	evACKNoSYN       event = "ACK of our SYN without SYN"
	evRSTACK         event = "RST with an ACK of our SYN"
	evRSTBadACK      event = "RST with an unacceptable ACK"
	evRSTNoACK       event = "RST without ACK"
	evSYNAgain       event = "the peer's SYN again"
	evACKOfSYN       event = "ACK of our SYN"
	evACKOfSYNClosed event = "CLOSE, then the ACK of our SYN"
	evRST            event = "RST at RCV.NXT"
	evRSTSimOpen     event = "RST at RCV.NXT after a simultaneous open"
	evRSTInWindow    event = "RST in the window, not at RCV.NXT"
	evSYNInWindow    event = "SYN in the window"
	evFIN            event = "FIN, our FIN (if any) not acknowledged"
	evFINAckingFIN   event = "FIN with the ACK of our FIN"
	evACKOfFIN       event = "ACK of our FIN"
	evFINAgain       event = "the peer's FIN again"
	evRTO            event = "retransmission timeout"
	evRTOExhausted   event = "retransmission timeout, retries exhausted"
	evKeepaliveDead  event = "keepalive probes unanswered"
	evTimeWaitOver   event = "2*MSL timeout"
)

// transition is one row: in From, Event sends Send (0: nothing) and moves
// the connection to To, ending it with Err when To is CLOSED.
type transition struct {
	From  State
	Event event
	Send  Flags
	To    State
	Err   error
}

var transitions = []transition{
	// CLOSED: no connection, no listener.
	{StateClosed, evOpen, FlagSYN, StateSynSent, nil},         // RFC 9293 3.10.1: OPEN, active: send SYN
	{StateClosed, evSYN, FlagRST | FlagACK, StateClosed, nil}, // RFC 9293 3.10.7.1: no connection, no listener: RST

	// LISTEN: a Listener; no connection until the handshake needs one.
	{StateListen, evSYN, FlagSYN | FlagACK, StateSynReceived, nil},   // RFC 9293 3.10.7.2 third: SYN: send SYN,ACK
	{StateListen, evSYNBacklog, FlagSYN | FlagACK, StateListen, nil}, // RFC 4987 3.6: SYN cookie, no connection kept
	{StateListen, evCookieACK, 0, StateEstablished, nil},             // RFC 4987 3.6: the cookie's ACK completes the handshake
	{StateListen, evNoCookieACK, FlagRST, StateListen, nil},          // RFC 9293 3.10.7.2 second: an ACK: RST <SEQ=SEG.ACK>
	{StateListen, evRSTNoACK, 0, StateListen, nil},                   // RFC 9293 3.10.7.2 first: a RST is ignored
	{StateListen, evNoSYN, 0, StateListen, nil},                      // RFC 9293 3.10.7.2 fourth: anything else is dropped

	// SYN-SENT.
	{StateSynSent, evSYNACK, FlagACK, StateEstablished, nil},        // RFC 9293 3.10.7.3 fourth: SYN, our SYN ACKed: ACK, ESTABLISHED
	{StateSynSent, evSYN, FlagSYN | FlagACK, StateSynReceived, nil}, // RFC 9293 3.10.7.3 fourth, 3.5: simultaneous open
	{StateSynSent, evBadACK, FlagRST, StateSynSent, nil},            // RFC 9293 3.10.7.3 first: unacceptable ACK: RST <SEQ=SEG.ACK>
	{StateSynSent, evRSTBadACK, 0, StateSynSent, nil},               // RFC 9293 3.10.7.3 first: ... unless it is a RST: drop
	{StateSynSent, evRSTACK, 0, StateClosed, ErrRefused},            // RFC 9293 3.10.7.3 second: "connection reset" (ErrRefused)
	{StateSynSent, evRSTNoACK, 0, StateSynSent, nil},                // RFC 9293 3.10.7.3 second: RST without ACK: drop
	{StateSynSent, evACKNoSYN, 0, StateSynSent, nil},                // RFC 9293 3.10.7.3 fifth: neither SYN nor RST: drop
	{StateSynSent, evClose, 0, StateClosed, nil},                    // RFC 9293 3.10.4: CLOSE in SYN-SENT deletes the TCB
	{StateSynSent, evAbort, 0, StateClosed, ErrAborted},             // RFC 9293 3.10.5: ABORT in SYN-SENT: no RST
	{StateSynSent, evRTO, FlagSYN, StateSynSent, nil},               // RFC 6298 5.4, RFC 9293 3.8.1: the SYN again
	{StateSynSent, evRTOExhausted, 0, StateClosed, ErrTimeout},      // RFC 9293 3.8.3 (R2 for a SYN): give up

	// SYN-RECEIVED.
	{StateSynReceived, evACKOfSYN, 0, StateEstablished, nil},                    // RFC 9293 3.10.7.4 fifth: SND.UNA < SEG.ACK =< SND.NXT: ESTABLISHED
	{StateSynReceived, evBadACK, FlagRST, StateSynReceived, nil},                // RFC 9293 3.10.7.4 fifth: unacceptable ACK: RST <SEQ=SEG.ACK>
	{StateSynReceived, evSYNAgain, FlagSYN | FlagACK, StateSynReceived, nil},    // the SYN-ACK was lost: send it again (as Linux; RFC 9293 3.10.7.4 would ACK)
	{StateSynReceived, evSYNInWindow, FlagACK, StateSynReceived, nil},           // RFC 5961 4.2: challenge ACK
	{StateSynReceived, evRST, 0, StateClosed, ErrRefused},                       // RFC 9293 3.10.7.4 second: from a passive OPEN, back to LISTEN
	{StateSynReceived, evRSTSimOpen, 0, StateClosed, ErrReset},                  // RFC 9293 3.10.7.4 second: active OPEN (the RFC says "refused")
	{StateSynReceived, evRSTInWindow, FlagACK, StateSynReceived, nil},           // RFC 5961 3.2: challenge ACK
	{StateSynReceived, evClose, 0, StateSynReceived, nil},                       // RFC 9293 3.10.4: the FIN is queued until ESTABLISHED
	{StateSynReceived, evACKOfSYNClosed, FlagFIN | FlagACK, StateFinWait1, nil}, // RFC 9293 3.10.4: then sent, in FIN-WAIT-1
	{StateSynReceived, evAbort, FlagRST, StateClosed, ErrAborted},               // RFC 9293 3.10.5: send RST
	{StateSynReceived, evRTO, FlagSYN | FlagACK, StateSynReceived, nil},         // RFC 6298 5.4: the SYN-ACK again
	{StateSynReceived, evRTOExhausted, 0, StateClosed, ErrTimeout},              // RFC 9293 3.8.3: give up

	// ESTABLISHED.
	{StateEstablished, evClose, FlagFIN | FlagACK, StateFinWait1, nil},   // RFC 9293 3.10.4: send FIN
	{StateEstablished, evFIN, FlagACK, StateCloseWait, nil},              // RFC 9293 3.10.7.4 eighth: ACK the FIN, CLOSE-WAIT
	{StateEstablished, evRST, 0, StateClosed, ErrReset},                  // RFC 9293 3.10.7.4 second, RFC 5961 3.2: exactly at RCV.NXT
	{StateEstablished, evRSTInWindow, FlagACK, StateEstablished, nil},    // RFC 5961 3.2: challenge ACK
	{StateEstablished, evSYNInWindow, FlagACK, StateEstablished, nil},    // RFC 5961 4.2: challenge ACK
	{StateEstablished, evAbort, FlagRST, StateClosed, ErrAborted},        // RFC 9293 3.10.5: send RST
	{StateEstablished, evRTOExhausted, FlagRST, StateClosed, ErrTimeout}, // RFC 9293 3.8.3 R2: give up, with a RST
	{StateEstablished, evKeepaliveDead, 0, StateClosed, ErrTimeout},      // RFC 1122 4.2.3.6: the peer is gone

	// FIN-WAIT-1.
	{StateFinWait1, evACKOfFIN, 0, StateFinWait2, nil},                // RFC 9293 3.10.7.4 fifth, FIN-WAIT-1
	{StateFinWait1, evFIN, FlagACK, StateClosing, nil},                // RFC 9293 3.10.7.4 eighth, 3.6: simultaneous close
	{StateFinWait1, evFINAckingFIN, FlagACK, StateTimeWait, nil},      // RFC 9293 3.10.7.4 eighth: our FIN ACKed: TIME-WAIT
	{StateFinWait1, evRST, 0, StateClosed, ErrReset},                  // RFC 9293 3.10.7.4 second
	{StateFinWait1, evAbort, FlagRST, StateClosed, ErrAborted},        // RFC 9293 3.10.5: send RST
	{StateFinWait1, evClose, 0, StateFinWait1, nil},                   // RFC 9293 3.10.4: "connection closing" (ignored)
	{StateFinWait1, evRTOExhausted, FlagRST, StateClosed, ErrTimeout}, // RFC 9293 3.8.3 R2: give up

	// FIN-WAIT-2.
	{StateFinWait2, evFIN, FlagACK, StateTimeWait, nil},        // RFC 9293 3.10.7.4 eighth: TIME-WAIT
	{StateFinWait2, evRST, 0, StateClosed, ErrReset},           // RFC 9293 3.10.7.4 second
	{StateFinWait2, evAbort, FlagRST, StateClosed, ErrAborted}, // RFC 9293 3.10.5: send RST
	{StateFinWait2, evClose, 0, StateFinWait2, nil},            // RFC 9293 3.10.4: "connection closing" (ignored)

	// CLOSE-WAIT.
	{StateCloseWait, evClose, FlagFIN | FlagACK, StateLastAck, nil}, // RFC 9293 3.10.4: send FIN, LAST-ACK
	{StateCloseWait, evFINAgain, FlagACK, StateCloseWait, nil},      // RFC 9293 3.10.7.4 first: not acceptable: ACK
	{StateCloseWait, evRST, 0, StateClosed, ErrReset},               // RFC 9293 3.10.7.4 second
	{StateCloseWait, evAbort, FlagRST, StateClosed, ErrAborted},     // RFC 9293 3.10.5: send RST

	// CLOSING.
	{StateClosing, evACKOfFIN, 0, StateTimeWait, nil},                // RFC 9293 3.10.7.4 fifth, CLOSING
	{StateClosing, evFINAgain, FlagACK, StateClosing, nil},           // RFC 9293 3.10.7.4 first: not acceptable: ACK
	{StateClosing, evRST, 0, StateClosed, nil},                       // RFC 9293 3.10.7.4 second: CLOSED, no error
	{StateClosing, evAbort, FlagRST, StateClosed, ErrAborted},        // RFC 9293 3.10.5 (which would send no RST here)
	{StateClosing, evClose, 0, StateClosing, nil},                    // RFC 9293 3.10.4: "connection closing" (ignored)
	{StateClosing, evRTOExhausted, FlagRST, StateClosed, ErrTimeout}, // RFC 9293 3.8.3 R2: give up

	// LAST-ACK.
	{StateLastAck, evACKOfFIN, 0, StateClosed, nil},                  // RFC 9293 3.10.7.4 fifth, LAST-ACK: CLOSED
	{StateLastAck, evFINAgain, FlagACK, StateLastAck, nil},           // RFC 9293 3.10.7.4 first: not acceptable: ACK
	{StateLastAck, evRST, 0, StateClosed, nil},                       // RFC 9293 3.10.7.4 second: CLOSED, no error
	{StateLastAck, evAbort, FlagRST, StateClosed, ErrAborted},        // RFC 9293 3.10.5 (which would send no RST here)
	{StateLastAck, evClose, 0, StateLastAck, nil},                    // RFC 9293 3.10.4: "connection closing" (ignored)
	{StateLastAck, evRTOExhausted, FlagRST, StateClosed, ErrTimeout}, // RFC 9293 3.8.3 R2: give up

	// TIME-WAIT.
	{StateTimeWait, evFINAgain, FlagACK, StateTimeWait, nil},   // RFC 9293 3.10.7.4 first: not acceptable: ACK
	{StateTimeWait, evTimeWaitOver, 0, StateClosed, nil},       // RFC 9293 3.10.7.4 eighth, 3.6: 2*MSL, then CLOSED
	{StateTimeWait, evRST, 0, StateClosed, nil},                // RFC 9293 3.10.7.4 second: CLOSED, no error
	{StateTimeWait, evAbort, FlagRST, StateClosed, ErrAborted}, // RFC 9293 3.10.5 (which would send no RST here)
	{StateTimeWait, evClose, 0, StateTimeWait, nil},            // RFC 9293 3.10.4: "connection closing" (ignored)
}
