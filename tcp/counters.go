package tcp

// Counter names a count a Host keeps. Every place a segment can be dropped
// has one.
type Counter int

const (
	SegsIn Counter = iota
	SegsOut
	BytesIn  // payload bytes accepted in order
	BytesOut // payload bytes sent, retransmissions included
	ActiveOpens
	PassiveOpens
	Established // connections that reached ESTABLISHED
	Closed      // connections that ended, any way
	Retransmits // segments sent again, for any reason
	FastRetransmits
	RTOs           // retransmission timeouts
	SynRetransmits // SYNs and SYN-ACKs sent again (Linux's TCPSynRetrans)
	SpuriousRTOs   // not detected: kept for the metric's shape
	RecoveryEntry  // fast recovery episodes
	SACKRecovery   // of which SACK-based (RFC 6675)
	ResetsIn
	ResetsOut
	ChallengeACKs // RFC 5961 challenge ACKs sent
	SynCookiesSent
	SynCookiesAccepted
	ZeroWindowProbes
	KeepalivesSent
	Timeouts      // connections aborted after too many retransmissions
	DelayedACKs   // ACKs sent by the delayed-ACK timer
	WindowUpdates // pure window updates sent
	TLPProbes     // tail loss probes sent (RFC 8985 7)
	TLPRepairs    // losses a probe's retransmission repaired (no D-SACK came back)
	RACKLost      // segments sent in recovery found lost by RACK's rule and sent again
	RACKRecovery  // recovery episodes RACK started, before the duplicate-ACK threshold
	RACKReorder   // reordering seen: a hole filled without a retransmission
	ConnAllocs    // connections the pool had none for: allocated (pool.go)
	BufferAllocs  // send and receive buffer pairs the pool had none for: allocated

	// TIME-WAIT: the connections in it now are Counters.InTimeWait.
	TimeWaitEntered  // connections that entered TIME-WAIT
	TimeWaitEnded    // connections that left it: 2*MSL over, reset, aborted, reused
	TimeWaitReused   // of which Dial took the port of (Config.TimeWaitReuse)
	TimeWaitReopened // of which a peer's new SYN reopened (RFC 6191)
	TimeWaitOverflow // connections that skipped TIME-WAIT: MaxTimeWait were in it

	// Path MTU (Host.PacketTooBig).
	PMTUReductions // ICMP "packet too big" messages that lowered a connection's MSS

	// Drops, one per reason.
	DropMalformed      // truncated segment or data offset below 5
	DropChecksum       // bad checksum
	DropBadOption      // malformed options
	DropNoListener     // no connection or listener (answered with RST)
	DropOutOfWindow    // sequence number not acceptable (answered with ACK)
	DropPAWS           // old timestamp (RFC 7323 PAWS)
	DropBadACK         // ACK outside what was sent (RFC 5961 5.2)
	DropNoACK          // segment without ACK in a synchronized state
	DropBadRST         // RST not exactly at RCV.NXT (challenged or ignored)
	DropSYNInWindow    // SYN on a synchronized connection (challenged)
	DropTableFull      // no room for a new connection
	DropBacklogFull    // SYN refused: backlog full and cookies off
	DropBadCookie      // ACK to a listener that is no valid SYN cookie
	DropOOOFull        // out-of-order segment with no room to keep it
	DropRecvBufferFull // data beyond the receive buffer
	DropState          // segment that the state cannot take
	DropLinkRefused    // the link could not send a segment (no frame, no route)
	DropAddress        // IPv4-mapped IPv6 address, or source and destination of different families
	DropPacketTooBig   // "packet too big" ignored: no such connection, a quote outside SND.UNA..SND.MAX, no reduction

	NumCounters
)

var counterNames = [NumCounters]string{
	"segs_in", "segs_out", "bytes_in", "bytes_out", "active_opens", "passive_opens",
	"established", "closed", "retransmits", "fast_retransmits", "rtos", "syn_retransmits", "spurious_rtos",
	"recovery_entry", "sack_recovery", "resets_in", "resets_out", "challenge_acks",
	"syn_cookies_sent", "syn_cookies_accepted", "zero_window_probes", "keepalives_sent",
	"timeouts", "delayed_acks", "window_updates", "tlp_probes", "tlp_repairs", "rack_lost",
	"rack_recovery", "rack_reorder", "conn_allocs", "buffer_allocs",
	"time_wait_entered", "time_wait_ended", "time_wait_reused", "time_wait_reopened", "time_wait_overflow",
	"pmtu_reductions",
	"drop_malformed", "drop_checksum", "drop_bad_option", "drop_no_listener",
	"drop_out_of_window", "drop_paws", "drop_bad_ack", "drop_no_ack", "drop_bad_rst",
	"drop_syn_in_window", "drop_table_full", "drop_backlog_full", "drop_bad_cookie",
	"drop_ooo_full", "drop_recv_buffer_full", "drop_state", "drop_link_refused",
	"drop_address", "drop_packet_too_big",
}

// String is the counter's name in snake case, as metrics and JSON use it.
func (c Counter) String() string {
	if c < 0 || c >= NumCounters {
		return "unknown"
	}
	return counterNames[c]
}

// Counters is a Host's counts, indexed by Counter.
type Counters [NumCounters]uint64

// Map returns the non-zero counters by name.
func (c Counters) Map() map[string]uint64 {
	m := make(map[string]uint64)
	for i, v := range c {
		if v != 0 {
			m[Counter(i).String()] = v
		}
	}
	return m
}

// Open is the connections open now: those opened, actively or passively,
// less those closed.
func (c Counters) Open() uint64 {
	return c[ActiveOpens] + c[PassiveOpens] - c[Closed]
}

// InTimeWait is the connections in TIME-WAIT now: those that entered it,
// less those that left. Each holds Config.BytesPerTimeWait, not
// BytesPerConn.
func (c Counters) InTimeWait() uint64 {
	return c[TimeWaitEntered] - c[TimeWaitEnded]
}
