// Package tcp is fastpath's TCP: the wire format (Header, Options,
// Segment) and the protocol itself (Host, Conn), over IPv4 and IPv6: the
// pseudo-header by family (header.go), the table and the keyed hashes
// over 16-byte addresses (IPv4 as IPv4-mapped, which the Host never
// takes from the wire), the MSS of each family's header (host.go), path
// MTU (pmtu.go).
//
// It is pure protocol code. It makes no system calls, starts no
// goroutines, takes no locks and never reads the clock: time comes in as
// now (nanoseconds, any monotonic origin) on every call, received
// segments come in as byte views (Host.Input), and segments go out
// through the caller's Link, which writes them into its own frames. One
// Host belongs to one engine goroutine, which calls Input for each
// segment, Tick about every millisecond, and Dial or Listen to open
// connections; a Conn's Send and Recv buffers are the only parts another
// goroutine may touch (see Conn). The hot path allocates nothing
// (TestNoAllocs, TestConnNoAllocs), connection churn included: a gone
// connection's memory is reused by the next (TestChurnNoAllocs; pool.go
// says when a *Conn and its buffers may be reused, and Conn.Keep how to
// hold one).
//
// # Where things are
//
// A connection's code is split by concern, as gVisor's TCP is:
//
//	conn.go       the Conn type, its fields and accessors; Update, Close, Abort
//	states.go     State and the state machine as a table (transitions)
//	handshake.go  the three-way handshake: SYN-SENT, option negotiation, ESTABLISHED
//	input.go      segment arrival: RFC 9293 3.10.7.4's checks in order; the receive side
//	output.go     what goes on the wire: windows, Nagle, building segments, SACK blocks, RST
//	timers.go     every timer, armed and fired: RTO, TLP, persist, keepalive, delayed ACK, TIME-WAIT
//	recovery.go   loss recovery: the SACK scoreboard's use, fast recovery, NewReno, RACK's decisions
//	rack.go       what RACK records to decide: send times, reordering, its window
//	host.go       Host: new connections and their removal, active opens (Dial), ephemeral ports,
//	              TIME-WAIT's ports taken back (Config.TimeWaitReuse)
//	table.go      the connection table: 4-tuple to Conn, open addressing, allocated once
//	pool.go       the Host's pools of Conns and buffers; BytesPerConn
//	listen.go     listeners, SYN cookies, segments that match no connection
//	wheel.go      the Host's timer wheel (which connections are due at a Tick)
//	config.go     Config and its defaults
//	cc.go         CongestionControl and NewReno; cubic.go: CUBIC
//	rtt.go        RTTEstimator (SRTT, RTTVAR, RTO)
//	isn.go        initial sequence numbers, port and timestamp offsets; cookie.go: SYN cookies
//	pmtu.go       path MTU: Host.PacketTooBig lowers a connection's MSS, checked as RFC 5927 asks
//	header.go, options.go, segment.go, seq.go   the wire format and sequence arithmetic
//	buffer.go, ranges.go                        the send/receive ring and SACK block sets
//
// # RFCs implemented, and where
//
//	RFC 9293  TCP: states (states.go), the handshake (handshake.go, listen.go),
//	          segment arrival 3.10.7 (input.go), closing and TIME-WAIT (input.go,
//	          timers.go), zero-window probes 3.8.6.1 and SWS avoidance 3.8.6.2
//	          (output.go, timers.go), Nagle 3.7.4 (output.go), keepalive 3.8.4
//	          and delayed ACK 3.8.6.3 (timers.go), MSS 3.7.1 with RFC 6691
//	          (handshake.go)
//	RFC 1122  keepalive 4.2.3.6 (timers.go)
//	RFC 6298  the retransmission timer (rtt.go, timers.go)
//	RFC 7323  window scale and timestamps, PAWS (handshake.go, output.go, input.go),
//	          the timestamp clock's offset per address pair (isn.go)
//	RFC 2018  SACK: blocks sent (output.go), the scoreboard (recovery.go)
//	RFC 2883  D-SACK: sent (input.go, output.go), read by RACK and TLP (rack.go, recovery.go)
//	RFC 6675  SACK-based loss recovery: pipe, NextSeg, IsLost (recovery.go)
//	RFC 5681  congestion control, duplicate ACKs, fast retransmit (cc.go, recovery.go)
//	RFC 6582  NewReno: partial ACKs (recovery.go, cc.go)
//	RFC 5827  early retransmit: a lower duplicate ACK threshold (recovery.go)
//	RFC 3465  slow start with appropriate byte counting (cc.go, cubic.go)
//	RFC 6928  the initial window (cc.go)
//	RFC 9438  CUBIC, which obsoletes RFC 8312 (cubic.go)
//	RFC 8985  RACK (rack.go, recovery.go) and tail loss probes (timers.go, recovery.go)
//	RFC 5961  challenge ACKs for RSTs, SYNs and old ACKs (input.go, output.go)
//	RFC 6528  initial sequence numbers (isn.go)
//	RFC 4987  SYN cookies (cookie.go, listen.go)
//	RFC 6056  ephemeral ports, algorithm 3 (isn.go, host.go)
//	RFC 6191  a port in TIME-WAIT taken again, timestamps rising (host.go, isn.go)
//	RFC 8200  TCP over IPv6: the pseudo-header 8.1 (header.go), the MSS 8.3 (host.go)
//	RFC 8201  path MTU discovery for IPv6, RFC 1191 for IPv4 (pmtu.go), with
//	          RFC 5927 4.1's checks of the quoted sequence number
//
// Not implemented: urgent data (URG is ignored), RFC 3042 limited
// transmit, ECN, IPv6 extension headers of our own (the caller walks
// those it receives), PLPMTUD (RFC 8899) and raising the MTU again after
// a decrease (RFC 8201 4's aging).
package tcp
