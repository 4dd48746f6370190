package tcp

// Config: what a Host and its connections are configured with.

import (
	"errors"
	"fmt"
	"net/netip"
)

// Config configures a Host and its connections.
type Config struct {
	// MSS is the largest segment payload we take and send over IPv4:
	// the link MTU less 40 (IPv4 and TCP headers). Default 1460. Over
	// IPv6 it is 20 less (the MTU less 60: IPv6's fixed header is 40
	// bytes), default 1440.
	MSS int
	// SendBuffer and RecvBuffer are each connection's buffer sizes in
	// bytes (rounded up to a power of two). Default 256 KiB and 256 KiB.
	SendBuffer, RecvBuffer int
	// NoDelay turns Nagle's algorithm off.
	NoDelay bool
	// SACK, Timestamps and WindowScale offer those options (default all
	// on; the peer must agree).
	SACK, Timestamps, WindowScale bool
	// TLP sends tail loss probes (RFC 8985 7) on connections with SACK:
	// when the ACKs stop with data outstanding, one segment (new data, or
	// the last one again) goes after about two round trips, so that a
	// lost tail is repaired by SACK recovery instead of waiting for the
	// retransmission timeout. Default true.
	TLP bool
	// RACK starts loss recovery by time as well as by duplicate ACKs
	// (RFC 8985 6): the first hole is lost once a segment sent after it
	// was SACKed and a reordering window (a quarter of the minimum RTT,
	// widened by D-SACKs) has passed, however few segments were SACKed.
	// Needs SACK. Default false: in the lab's loss tests it did not beat
	// duplicate ACKs with tail loss probes (see the README). RACK's rule
	// for lost retransmissions in recovery is on regardless.
	RACK bool
	// CongestionControl names the algorithm: "cubic" (default) or
	// "newreno".
	CongestionControl string
	// MaxConns bounds the connection table; SynBacklog the half-open
	// connections per Host, beyond which SYN cookies answer (when
	// SynCookies) or SYNs are dropped. Defaults 4096, 256, cookies on.
	MaxConns, SynBacklog int
	SynCookies           bool
	// PoolConns is how many gone connections' memory (Conn and buffers,
	// BytesPerConn each) the Host keeps for the next ones to reuse, so
	// that churn allocates nothing; beyond it, the garbage collector
	// takes them. At most MaxConns (more counts as MaxConns); 0 keeps
	// none. Default 1024. Prealloc of them are allocated by NewHost, so
	// that the first connections allocate nothing either (default 0):
	// Prealloc × BytesPerConn bytes up front.
	PoolConns, Prealloc int
	// TimeWait is how long TIME-WAIT lasts (2*MSL). Default 60 s
	// (Linux's; RFC 9293 suggests 2*2 min).
	TimeWait int64
	// MaxTimeWait bounds the connections in TIME-WAIT, as Linux's
	// net.ipv4.tcp_max_tw_buckets: past it a connection that would
	// enter TIME-WAIT sends what it owes (the ACK of the peer's FIN) and
	// leaves the table at the next tick (counted in TimeWaitOverflow).
	// A server that closes first (HTTP's Connection: close) at thousands
	// of connections a second would otherwise fill its table with them
	// and refuse new ones. 0 (the default): MaxConns/2; negative: no
	// bound but the table's.
	MaxTimeWait int
	// TimeWaitReuse lets Dial take a local port whose connection to the
	// same remote is in TIME-WAIT, as Linux's net.ipv4.tcp_tw_reuse=1
	// does: when that connection used timestamps (both sides agreed)
	// and has heard nothing from the peer for a second (so it has been
	// in TIME-WAIT that long). The new connection's TSval is then above
	// every one the old connection sent (one timestamp clock per address
	// pair, ISNGenerator.TSOffset), and the peer's PAWS discards what is
	// left of the old one (RFC 6191 2, RFC 7323 appendix B). The old
	// connection, whose handler heard Closed as TIME-WAIT began, leaves
	// the table first (counted in TimeWaitReused). For a client that
	// closes first and opens thousands of connections a second to one
	// server: without it, each port waits out TimeWait. Default false,
	// a library default (Linux's, 2, reuses on loopback only).
	TimeWaitReuse bool
	// MinRTO, MaxRTO, InitialRTO bound the retransmission timer (ns).
	MinRTO, MaxRTO, InitialRTO int64
	// DelayedACK is the delayed-ACK timeout (ns); 0 acknowledges every
	// segment at once. Default 40 ms.
	DelayedACK int64
	// Retries is how many retransmission timeouts in a row end an
	// established connection (default 15, as Linux's tcp_retries2);
	// SynRetries those of a handshake (default 6).
	Retries, SynRetries int
	// Keepalive, when positive, probes a connection idle that long, every
	// KeepaliveInterval, and ends it after KeepaliveProbes unanswered.
	Keepalive, KeepaliveInterval int64
	KeepaliveProbes              int
	// EphemeralLo and EphemeralHi are the ports active opens take
	// (default 61000-65535: above Linux's default ip_local_port_range, so
	// that the kernel and the engine never pick the same port). Ports p
	// with p % PortStride == PortIndex only: several engines share the
	// range and each knows a reply to its port is its own.
	EphemeralLo, EphemeralHi uint16
	PortStride, PortIndex    int
	// PortFilter, when set, narrows the ports an active open takes to
	// those it accepts for local -> remote, for example those whose
	// replies the NIC's RSS hashes to this Host's queue (the stack then
	// sets PortStride to 1: the filter alone is the share). When no free
	// port passes, Dial fails with ErrNoPort: a port outside the filter
	// would get its replies somewhere else.
	PortFilter func(local, remote netip.AddrPort) bool
	// TSKey keys the timestamp clock's offset per address pair
	// (ISNGenerator.TSOffset); zero: ISNKey. TSEpoch (ns) is added to
	// now on that clock. A peer's TIME-WAIT accepts a new SYN on the
	// same four-tuple only if its TSval is newer (Linux's PAWS check in
	// tcp_timewait_state_process), so a caller whose Hosts do not
	// outlive a process (a load generator run again) keeps the clock
	// rising across them: the same TSKey each time (Linux keys it per
	// boot) and now counted from a shared origin (the wall clock at the
	// process's start, say). Zero: the clock starts with now.
	TSKey   [16]byte
	TSEpoch int64
	// ISNKey keys initial sequence numbers and SYN cookies (RFC 6528).
	// Zero: the caller must set it; Host refuses a zero key.
	ISNKey [16]byte
	// ChallengeACKs limits RFC 5961 challenge ACKs per second. Default 1000.
	ChallengeACKs int
}

// DefaultConfig returns the defaults documented on Config's fields (the
// ISN key left zero).
func DefaultConfig() Config {
	return Config{
		MSS: 1460, SendBuffer: 256 << 10, RecvBuffer: 256 << 10,
		SACK: true, Timestamps: true, WindowScale: true, TLP: true,
		CongestionControl: DefaultCongestionControl,
		MaxConns:          4096, SynBacklog: 256, SynCookies: true,
		PoolConns: 1024,
		TimeWait:  60 * second,
		MinRTO:    DefaultMinRTO, MaxRTO: DefaultMaxRTO, InitialRTO: DefaultInitialRTO,
		DelayedACK: 40 * millisecond,
		Retries:    15, SynRetries: 6,
		KeepaliveInterval: 75 * second, KeepaliveProbes: 9,
		EphemeralLo: 61000, EphemeralHi: 65535, PortStride: 1,
		ChallengeACKs: 1000,
	}
}

func (c *Config) check() error {
	switch {
	case c.MSS < 88 || c.MSS > 65495:
		return fmt.Errorf("tcp: MSS %d: use 88 to 65495", c.MSS)
	case c.SendBuffer < 1 || c.RecvBuffer < 1 || c.SendBuffer > 1<<30 || c.RecvBuffer > 1<<30:
		return fmt.Errorf("tcp: buffers %d, %d: use 1 byte to 1 GiB", c.SendBuffer, c.RecvBuffer)
	case c.MaxConns < 1 || c.SynBacklog < 0:
		return fmt.Errorf("tcp: MaxConns %d, SynBacklog %d: use at least 1 and 0", c.MaxConns, c.SynBacklog)
	case c.PoolConns < 0 || c.Prealloc < 0 || c.Prealloc > min(c.PoolConns, c.MaxConns):
		return fmt.Errorf("tcp: PoolConns %d, Prealloc %d: use 0 <= Prealloc <= PoolConns and MaxConns (%d)",
			c.PoolConns, c.Prealloc, c.MaxConns)
	case c.MinRTO <= 0 || c.MaxRTO < c.MinRTO || c.InitialRTO <= 0:
		return errors.New("tcp: RTO bounds: use 0 < MinRTO <= MaxRTO and InitialRTO > 0")
	case c.EphemeralHi < c.EphemeralLo || c.PortStride < 1 || c.PortIndex < 0 || c.PortIndex >= c.PortStride:
		return fmt.Errorf("tcp: ephemeral ports %d-%d, stride %d index %d: need lo <= hi and 0 <= index < stride",
			c.EphemeralLo, c.EphemeralHi, c.PortStride, c.PortIndex)
	case c.ISNKey == [16]byte{}:
		return errors.New("tcp: ISNKey is zero: set a random key (crypto/rand)")
	}
	if _, err := NewCongestionControl(c.CongestionControl); err != nil {
		return err
	}
	return nil
}
