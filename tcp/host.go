package tcp

import (
	"fmt"
	"net/netip"
)

// Link sends a Host's segments: the TCP header from f and o, the payload
// p1 then p2, from local to remote. It computes the checksum (or offloads
// it) and returns false when it could not send (counted by the Host).
type Link interface {
	Send(local, remote netip.AddrPort, f *Fields, o *Options, p1, p2 []byte) bool
}

// Host is one engine's TCP: its listeners, its connection table, its
// counters. It is not safe for concurrent use: one goroutine (the
// engine's) calls every method.
type Host struct {
	cfg       Config
	link      Link
	isn       *ISNGenerator
	ts        *ISNGenerator // keys the timestamp offsets (Config.TSKey)
	conns     table
	list      []*Conn
	listeners map[uint16]*Listener
	synRecv   int
	nextPort  uint32
	counters  Counters
	challenge limiter
	// The timer wheel: one slot per millisecond, each a list of the
	// connections whose earliest deadline falls in it (a revolution
	// later, they stay for the next pass). wheelMs is the last
	// millisecond Tick processed. Connections whose deadlines may have
	// moved (a segment arrived, the application wrote or closed) wait in
	// touched and are filed at the next Tick, before the wheel turns; due
	// collects a slot's expired connections.
	wheel   [wheelSlots]*Conn
	wheelMs int64
	ticked  bool // wheelMs is set
	touched []*Conn
	due     []*Conn
	pool    pool    // connections and buffers for reuse (pool.go)
	opts    Options // scratch for sendSegment
	fields  Fields  // scratch for sendSegment
	seg     Segment // scratch for Input
}

// NewHost returns a Host sending through link.
func NewHost(cfg Config, link Link) (*Host, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	cfg.PoolConns = min(cfg.PoolConns, cfg.MaxConns)
	if cfg.MaxTimeWait == 0 {
		cfg.MaxTimeWait = cfg.MaxConns / 2
	}
	h := &Host{
		cfg: cfg, link: link,
		isn:       NewISNGenerator(cfg.ISNKey),
		ts:        NewISNGenerator(cfg.ISNKey),
		list:      make([]*Conn, 0, cfg.MaxConns),
		listeners: make(map[uint16]*Listener),
		challenge: limiter{perSecond: cfg.ChallengeACKs},
		touched:   make([]*Conn, 0, cfg.MaxConns),
		due:       make([]*Conn, 0, cfg.MaxConns),
		pool:      newPool(&cfg),
	}
	if cfg.TSKey != ([16]byte{}) {
		h.ts = NewISNGenerator(cfg.TSKey)
	}
	h.conns = newTable(cfg.MaxConns, h.isn)
	return h, nil
}

// Counters returns the Host's counters.
func (h *Host) Counters() *Counters { return &h.counters }

// Conns returns the connections in the table (the slice is the Host's:
// do not keep it).
func (h *Host) Conns() []*Conn { return h.list }

// Config returns the Host's configuration.
func (h *Host) Config() Config { return h.cfg }

// OwnsPort reports whether a segment to local port belongs to this Host's
// share of the ephemeral range (or is outside it).
func (h *Host) OwnsPort(port uint16) bool {
	if port < h.cfg.EphemeralLo || port > h.cfg.EphemeralHi {
		return true
	}
	return int(port)%h.cfg.PortStride == h.cfg.PortIndex
}

// newConn makes a connection and puts it in the table.
func (h *Host) newConn(local, remote netip.AddrPort, now int64) (*Conn, error) {
	if len(h.list) >= h.cfg.MaxConns {
		h.counters[DropTableFull]++
		return nil, ErrTableFull
	}
	c := h.takeConn() // reset: every field zero but the memory it keeps
	if c.cc == nil {
		cc, err := NewCongestionControl(h.cfg.CongestionControl)
		if err != nil {
			return nil, err
		}
		c.cc = cc
	}
	if c.ooo.r == nil {
		c.ooo, c.sacked = newRanges(16), newRanges(16)
	}
	// Send and Recv come with ESTABLISHED (establish): a flood of
	// half-open connections costs no buffers.
	c.host, c.local, c.remote, c.k = h, local, remote, keyOf(local, remote)
	c.rtt = NewRTT(h.cfg.MinRTO, h.cfg.MaxRTO, h.cfg.InitialRTO)
	c.mss = min(defaultMSS(remote.Addr()), h.mssFor(remote.Addr()))
	c.iss = h.isn.ISN(local, remote, now)
	c.sndUna, c.sndNxt, c.sndMax = c.iss, c.iss.Add(1), c.iss.Add(1)
	c.sndBase = c.iss.Add(1)
	c.tsOffset = h.ts.TSOffset(local.Addr(), remote.Addr()) // one clock per address pair
	if h.cfg.WindowScale {
		for c.rcvShift < 14 && bufferCap(h.cfg.RecvBuffer)>>c.rcvShift > 65535 {
			c.rcvShift++
		}
	}
	c.lastRecv = now
	c.tSlot = -1
	c.listIdx = len(h.list)
	h.conns.put(c.k, c)
	h.list = append(h.list, c)
	h.touch(c)
	return c, nil
}

// remove takes c out of the table.
func (h *Host) remove(c *Conn) {
	if c.removed {
		return
	}
	c.removed = true
	if c.state == StateSynReceived && c.listener != nil && !c.synAcked {
		h.synRecv--
	}
	h.conns.del(c.k)
	last := len(h.list) - 1
	h.list[c.listIdx] = h.list[last]
	h.list[c.listIdx].listIdx = c.listIdx
	h.list[last] = nil
	h.list = h.list[:last]
	h.unfile(c)
	h.counters[Closed]++
	h.bury(c)
}

// Dial opens a connection from local (port 0: an ephemeral port of this
// Host's share) to remote. The handler hears Established, or Closed with
// ErrRefused or ErrTimeout. With Config.TimeWaitReuse, a connection in
// TIME-WAIT on the 4-tuple gives way when it may (reusable).
func (h *Host) Dial(local netip.AddrPort, remote netip.AddrPort, hd Handler, now int64) (*Conn, error) {
	// An IPv4-mapped address is IPv4 here (see key): on the wire it would
	// be neither family's.
	local = netip.AddrPortFrom(local.Addr().Unmap(), local.Port())
	remote = netip.AddrPortFrom(remote.Addr().Unmap(), remote.Port())
	if !local.Addr().IsValid() || local.Addr().Is4() != remote.Addr().Is4() {
		return nil, fmt.Errorf("tcp: %v -> %v: %w", local, remote, ErrFamily)
	}
	if local.Port() == 0 {
		p, err := h.ephemeral(local.Addr(), remote, now)
		if err != nil {
			return nil, err
		}
		local = netip.AddrPortFrom(local.Addr(), p)
	} else if old := h.conns.get(keyOf(local, remote)); old != nil {
		if !h.reusable(old, now) {
			return nil, fmt.Errorf("tcp: %v -> %v: already connected", local, remote)
		}
		h.reuse(old)
	}
	c, err := h.newConn(local, remote, now)
	if err != nil {
		return nil, err
	}
	c.handler = hd
	c.state = StateSynSent
	h.counters[ActiveOpens]++
	c.rttTiming, c.rttStart = true, now
	c.sendSegment(c.iss, FlagSYN, 0, 0, now)
	c.rtoAt = now + c.rtt.RTO()
	return c, nil
}

// ephemeral picks a free port of this Host's share of the range for
// local -> remote, starting at a hashed offset (RFC 6056 algorithm 3):
// the first one with no connection to remote, or one whose connection
// is in TIME-WAIT and may give way (reusable), as Linux's
// __inet_hash_connect takes the first port free or reusable.
func (h *Host) ephemeral(local netip.Addr, remote netip.AddrPort, now int64) (uint16, error) {
	lo, hi := uint32(h.cfg.EphemeralLo), uint32(h.cfg.EphemeralHi)
	n := hi - lo + 1
	off := h.isn.EphemeralPortOffset(local, remote.Addr(), remote.Port())
	for i := uint32(0); i < n; i++ {
		p := lo + (off+h.nextPort+i)%n
		if int(p)%h.cfg.PortStride != h.cfg.PortIndex {
			continue
		}
		lp := netip.AddrPortFrom(local, uint16(p))
		old := h.conns.get(keyOf(lp, remote))
		if old != nil && !h.reusable(old, now) || h.cfg.PortFilter != nil && !h.cfg.PortFilter(lp, remote) {
			continue
		}
		if old != nil {
			h.reuse(old)
		}
		h.nextPort += i + 1
		return uint16(p), nil
	}
	return 0, ErrNoPort
}

// reusable reports whether c, on a 4-tuple a Dial wants, may give way to
// it (Config.TimeWaitReuse, Linux's tcp_twsk_unique): it is in TIME-WAIT,
// used timestamps, and has heard nothing from the peer for a second
// (Linux counts from the last timestamp received). Every segment c sent
// in TIME-WAIT answered one it received, within a tick: the new SYN's
// TSval is above them all, and the peer's PAWS drops the old
// connection's duplicates (RFC 6191 2, RFC 7323 appendix B).
func (h *Host) reusable(c *Conn, now int64) bool {
	return h.cfg.TimeWaitReuse && c.state == StateTimeWait && c.tsOK && now-c.lastRecv >= second
}

// reuse takes c, in TIME-WAIT, out of the table for a new connection on
// its 4-tuple. Its handler heard Closed as TIME-WAIT began: it hears
// nothing more.
func (h *Host) reuse(c *Conn) {
	h.counters[TimeWaitReused]++
	c.terminate(nil)
}

// reopens reports whether seg, for c's 4-tuple, is a SYN that opens a
// new connection while c waits in TIME-WAIT for it to end, as Linux
// accepts (tcp_timewait_state_process) and RFC 6191 allows: a listener
// on the port, and the SYN's timestamp newer than the last c saw (when
// both carry timestamps; an older one is an old duplicate), or its
// sequence number beyond c's RCV.NXT (RFC 1122 4.2.2.13). A client that opens thousands of connections a second
// and lets the server close first (HTTP's Connection: close) comes back
// to four-tuples still in TIME-WAIT here long before 2*MSL.
func (h *Host) reopens(c *Conn, seg *Segment, port uint16) bool {
	if c.state != StateTimeWait || seg.Flags&(FlagSYN|FlagACK|FlagRST|FlagFIN) != FlagSYN || !h.Listening(port) {
		return false
	}
	if c.tsOK && seg.Opts.HasTimestamps {
		// PAWS first: an older timestamp is an old duplicate.
		d := int32(seg.Opts.TSVal - c.tsRecent)
		return d > 0 || d == 0 && c.rcvNxt.LessThan(seg.Seq)
	}
	return c.rcvNxt.LessThan(seg.Seq)
}

// Input handles one received segment, src and dst being the addresses
// (both IPv4 or both IPv6) it came from and went to; b is the TCP header
// and payload. It checks the segment and counts every drop.
func (h *Host) Input(src, dst netip.Addr, b Header, now int64) {
	h.counters[SegsIn]++
	if src.Is4() != dst.Is4() || src.Is4In6() || dst.Is4In6() {
		// IPv4-mapped addresses are not for the wire (RFC 4291
		// 2.5.5.2), and here they would be IPv4's keys.
		h.counters[DropAddress]++
		return
	}
	if err := b.Check(); err != nil {
		h.counters[DropMalformed]++
		return
	}
	if !b.ChecksumValid(src, dst) {
		h.counters[DropChecksum]++
		return
	}
	seg := &h.seg
	if err := Parse(b, seg); err != nil {
		h.counters[DropBadOption]++
		return
	}
	local := netip.AddrPortFrom(dst, b.DstPort())
	remote := netip.AddrPortFrom(src, b.SrcPort())
	if c := h.conns.get(keyOf(local, remote)); c != nil {
		if !h.reopens(c, seg, local.Port()) {
			h.touch(c)
			c.input(seg, now)
			*seg = Segment{}
			return
		}
		// A new incarnation: the old one leaves the table (its handler
		// heard Closed as TIME-WAIT began) and the listener takes the SYN.
		h.counters[TimeWaitReopened]++
		c.terminate(nil)
	}
	h.inputListen(local, remote, seg, now)
	*seg = Segment{}
}

// mssFor is the largest segment payload our MTU allows towards remote:
// Config.MSS (the MTU less 40) for IPv4, 20 bytes less for IPv6, whose
// fixed header is 40 bytes where IPv4's is 20 (the MTU less 60).
func (h *Host) mssFor(remote netip.Addr) int {
	if remote.Is4() {
		return h.cfg.MSS
	}
	return h.cfg.MSS - (ipv6HeaderLen - ipv4HeaderLen)
}

// IP header lengths, without options or extension headers.
const (
	ipv4HeaderLen = 20
	ipv6HeaderLen = 40
)

// defaultMSS is the send MSS a peer that sends no MSS option allows
// (RFC 9293 3.7.1): 536 over IPv4, 1220 over IPv6 (the minimum MTU,
// 1280, less 60).
func defaultMSS(remote netip.Addr) int {
	if remote.Is4() {
		return 536
	}
	return 1220
}

// limiter is a per-second budget (challenge ACKs).
type limiter struct {
	perSecond int
	second    int64
	used      int
}

func (l *limiter) allow(now int64) bool {
	if s := now / second; s != l.second {
		l.second, l.used = s, 0
	}
	if l.used >= l.perSecond {
		return false
	}
	l.used++
	return true
}
