package tcp

import (
	"errors"
	"fmt"
	"net/netip"
)

// Config configures a Host and its connections.
type Config struct {
	// MSS is the largest segment payload we take and send: the link MTU
	// less 40 (IPv4 and TCP headers). Default 1460.
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
	// TimeWait is how long TIME-WAIT lasts (2*MSL). Default 60 s
	// (Linux's; RFC 9293 suggests 2*2 min).
	TimeWait int64
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
	// replies the NIC's RSS hashes to this Host's queue. When none of the
	// share passes, any free port of the share is taken.
	PortFilter func(local, remote netip.AddrPort) bool
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
		TimeWait: 60 * second,
		MinRTO:   DefaultMinRTO, MaxRTO: DefaultMaxRTO, InitialRTO: DefaultInitialRTO,
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

// Link sends a Host's segments: the TCP header from f and o, the payload
// p1 then p2, from local to remote. It computes the checksum (or offloads
// it) and returns false when it could not send (counted by the Host).
type Link interface {
	Send(local, remote netip.AddrPort, f *Fields, o *Options, p1, p2 []byte) bool
}

// key is a connection's 4-tuple, IPv4 only.
type key struct {
	lip, rip     uint32
	lport, rport uint16
}

func keyOf(local, remote netip.AddrPort) key {
	l, r := local.Addr().As4(), remote.Addr().As4()
	return key{
		lip:   uint32(l[0])<<24 | uint32(l[1])<<16 | uint32(l[2])<<8 | uint32(l[3]),
		rip:   uint32(r[0])<<24 | uint32(r[1])<<16 | uint32(r[2])<<8 | uint32(r[3]),
		lport: local.Port(), rport: remote.Port(),
	}
}

// Listener accepts connections on a port (of every local address).
type Listener struct {
	port   uint16
	accept func(c *Conn) Handler
	host   *Host
}

// Port is the listening port.
func (l *Listener) Port() uint16 { return l.port }

// Host is one engine's TCP: its listeners, its connection table, its
// counters. It is not safe for concurrent use: one goroutine (the
// engine's) calls every method.
type Host struct {
	cfg       Config
	link      Link
	isn       *ISNGenerator
	conns     map[key]*Conn
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
	opts    Options // scratch for sendSegment
	fields  Fields  // scratch for sendSegment
	seg     Segment // scratch for Input
}

// NewHost returns a Host sending through link.
func NewHost(cfg Config, link Link) (*Host, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	h := &Host{
		cfg: cfg, link: link,
		isn:       NewISNGenerator(cfg.ISNKey),
		conns:     make(map[key]*Conn, cfg.MaxConns),
		list:      make([]*Conn, 0, cfg.MaxConns),
		listeners: make(map[uint16]*Listener),
		challenge: limiter{perSecond: cfg.ChallengeACKs},
		touched:   make([]*Conn, 0, cfg.MaxConns),
		due:       make([]*Conn, 0, cfg.MaxConns),
	}
	return h, nil
}

// Counters returns the Host's counters.
func (h *Host) Counters() *Counters { return &h.counters }

// Conns returns the connections in the table (the slice is the Host's:
// do not keep it).
func (h *Host) Conns() []*Conn { return h.list }

// Config returns the Host's configuration.
func (h *Host) Config() Config { return h.cfg }

// Listen accepts connections to port; accept gives each its Handler when
// its handshake completes.
func (h *Host) Listen(port uint16, accept func(c *Conn) Handler) (*Listener, error) {
	if _, ok := h.listeners[port]; ok {
		return nil, fmt.Errorf("tcp: port %d: already listening", port)
	}
	l := &Listener{port: port, accept: accept, host: h}
	h.listeners[port] = l
	return l, nil
}

// Unlisten stops accepting on port; its connections carry on.
func (h *Host) Unlisten(port uint16) { delete(h.listeners, port) }

// Listening reports whether port has a listener.
func (h *Host) Listening(port uint16) bool { _, ok := h.listeners[port]; return ok }

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
	cc, err := NewCongestionControl(h.cfg.CongestionControl)
	if err != nil {
		return nil, err
	}
	c := &Conn{
		host: h, local: local, remote: remote, k: keyOf(local, remote),
		// Send and Recv come with ESTABLISHED (establish): a flood of
		// half-open connections costs no buffers.
		ooo:    newRanges(16),
		sacked: newRanges(16),
		rtt:    NewRTT(h.cfg.MinRTO, h.cfg.MaxRTO, h.cfg.InitialRTO),
		cc:     cc,
		mss:    min(536, h.cfg.MSS),
	}
	c.iss = h.isn.ISN(local, remote, now)
	c.sndUna, c.sndNxt, c.sndMax = c.iss, c.iss.Add(1), c.iss.Add(1)
	c.sndBase = c.iss.Add(1)
	c.tsOffset = uint32(c.iss) * 2654435761 // derived from the keyed ISN: unpredictable
	if h.cfg.WindowScale {
		for c.rcvShift < 14 && bufferCap(h.cfg.RecvBuffer)>>c.rcvShift > 65535 {
			c.rcvShift++
		}
	}
	c.lastRecv = now
	c.tSlot = -1
	c.listIdx = len(h.list)
	h.conns[c.k] = c
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
	delete(h.conns, c.k)
	last := len(h.list) - 1
	h.list[c.listIdx] = h.list[last]
	h.list[c.listIdx].listIdx = c.listIdx
	h.list[last] = nil
	h.list = h.list[:last]
	h.unfile(c)
	h.counters[Closed]++
}

// Dial opens a connection from local (port 0: an ephemeral port of this
// Host's share) to remote. The handler hears Established, or Closed with
// ErrRefused or ErrTimeout.
func (h *Host) Dial(local netip.AddrPort, remote netip.AddrPort, hd Handler, now int64) (*Conn, error) {
	if local.Port() == 0 {
		p, err := h.ephemeral(local.Addr(), remote)
		if err != nil {
			return nil, err
		}
		local = netip.AddrPortFrom(local.Addr(), p)
	} else if _, ok := h.conns[keyOf(local, remote)]; ok {
		return nil, fmt.Errorf("tcp: %v -> %v: already connected", local, remote)
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
// local -> remote, starting at a hashed offset (RFC 6056 algorithm 3).
func (h *Host) ephemeral(local netip.Addr, remote netip.AddrPort) (uint16, error) {
	lo, hi := uint32(h.cfg.EphemeralLo), uint32(h.cfg.EphemeralHi)
	n := hi - lo + 1
	off := h.isn.EphemeralPortOffset(local, remote.Addr(), remote.Port())
	for pass := 0; pass < 2; pass++ {
		filter := h.cfg.PortFilter
		if pass == 1 {
			if filter == nil {
				break
			}
			filter = nil // none passed: any port of the share
		}
		for i := uint32(0); i < n; i++ {
			p := lo + (off+h.nextPort+i)%n
			if int(p)%h.cfg.PortStride != h.cfg.PortIndex {
				continue
			}
			lp := netip.AddrPortFrom(local, uint16(p))
			if _, used := h.conns[keyOf(lp, remote)]; used || filter != nil && !filter(lp, remote) {
				continue
			}
			h.nextPort += i + 1
			return uint16(p), nil
		}
	}
	return 0, ErrNoPort
}

// Input handles one received segment, src and dst being the IPv4
// addresses it came from and went to; b is the TCP header and payload.
// It checks the segment and counts every drop.
func (h *Host) Input(src, dst netip.Addr, b Header, now int64) {
	h.counters[SegsIn]++
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
	if c, ok := h.conns[keyOf(local, remote)]; ok {
		h.touch(c)
		c.input(seg, now)
		*seg = Segment{}
		return
	}
	h.inputListen(local, remote, seg, now)
	*seg = Segment{}
}

// inputListen handles a segment that matches no connection: a SYN to a
// listener, the ACK of a SYN cookie, or anything else, answered with RST
// (RFC 9293 3.10.7.1, 3.10.7.2).
func (h *Host) inputListen(local, remote netip.AddrPort, seg *Segment, now int64) {
	l, ok := h.listeners[local.Port()]
	if !ok || seg.Flags&FlagRST != 0 {
		if seg.Flags&FlagRST == 0 {
			h.counters[DropNoListener]++
			h.reset(local, remote, seg)
		} else {
			h.counters[DropNoListener]++
		}
		return
	}
	if seg.Flags&FlagACK != 0 {
		if seg.Flags&FlagSYN == 0 && h.cfg.SynCookies {
			// Perhaps the ACK of a SYN-ACK we answered with a cookie.
			if mss, ok := h.isn.CheckCookie(local, remote, seg.Seq.Add(^uint32(0)), seg.Ack, now); ok {
				h.acceptCookie(l, local, remote, seg, mss, now)
				return
			}
			h.counters[DropBadCookie]++
		}
		h.reset(local, remote, seg)
		return
	}
	if seg.Flags&FlagSYN == 0 {
		h.counters[DropState]++
		return
	}
	if h.synRecv >= h.cfg.SynBacklog {
		if !h.cfg.SynCookies {
			h.counters[DropBacklogFull]++
			return
		}
		// Stateless SYN-ACK: the cookie is the ISN (only the MSS class
		// survives; no window scale, SACK or timestamps).
		mss := uint16(536)
		if seg.Opts.MSS != 0 {
			mss = seg.Opts.MSS
		}
		iss := h.isn.Cookie(local, remote, seg.Seq, min(mss, uint16(h.cfg.MSS)), now)
		o := &h.opts
		*o = Options{MSS: uint16(h.cfg.MSS)}
		f := &h.fields
		*f = Fields{SrcPort: local.Port(), DstPort: remote.Port(), Seq: iss, Ack: seg.Seq.Add(1),
			Flags: FlagSYN | FlagACK, Window: uint16(min(h.cfg.RecvBuffer, 65535))}
		if h.link.Send(local, remote, f, o, nil, nil) {
			h.counters[SegsOut]++
			h.counters[SynCookiesSent]++
		}
		return
	}
	c, err := h.newConn(local, remote, now)
	if err != nil {
		return
	}
	c.listener = l
	c.state = StateSynReceived
	h.synRecv++
	h.counters[PassiveOpens]++
	c.irs = seg.Seq
	c.rcvNxt = seg.Seq.Add(1)
	c.negotiate(&seg.Opts)
	c.sndWnd = uint32(seg.Window)
	c.sndWl1 = seg.Seq
	c.ackNow = true
	c.output(now)
	c.rtoAt = now + c.rtt.RTO()
}

// acceptCookie makes the connection a valid SYN cookie stands for, in
// ESTABLISHED, and hands it the ACK segment.
func (h *Host) acceptCookie(l *Listener, local, remote netip.AddrPort, seg *Segment, mss uint16, now int64) {
	c, err := h.newConn(local, remote, now)
	if err != nil {
		return
	}
	h.counters[SynCookiesAccepted]++
	h.counters[PassiveOpens]++
	c.listener = l
	c.iss = seg.Ack.Add(^uint32(0))
	c.sndUna, c.sndNxt, c.sndMax, c.sndBase = c.iss, seg.Ack, seg.Ack, seg.Ack
	c.irs = seg.Seq.Add(^uint32(0))
	c.rcvNxt = seg.Seq
	c.rcvShift, c.sndShift = 0, 0
	c.mss = int(min(mss, uint16(h.cfg.MSS)))
	c.sndWnd = uint32(seg.Window)
	c.sndWl1, c.sndWl2 = seg.Seq, seg.Ack
	c.rcvAdv = c.rcvNxt.Add(uint32(min(h.cfg.RecvBuffer, 65535)))
	c.state = StateSynReceived
	h.synRecv++ // establish takes it back
	c.establish(now)
	if len(seg.Payload) > 0 || seg.Flags&FlagFIN != 0 {
		c.input(seg, now)
	}
}

// reset answers a segment that has no connection (RFC 9293 3.10.7.1).
func (h *Host) reset(local, remote netip.AddrPort, seg *Segment) {
	if seg.Flags&FlagACK != 0 {
		h.sendRST(local, remote, seg.Ack, 0, false)
		return
	}
	h.sendRST(local, remote, 0, seg.Seq.Add(seg.Len()), true)
}

// sendRST sends a RST with seq, and with ACK ack when withAck.
func (h *Host) sendRST(local, remote netip.AddrPort, seq, ack Seq, withAck bool) {
	f := &h.fields
	*f = Fields{SrcPort: local.Port(), DstPort: remote.Port(), Seq: seq, Flags: FlagRST}
	if withAck {
		f.Flags |= FlagACK
		f.Ack = ack
	}
	if h.link.Send(local, remote, f, nil, nil, nil) {
		h.counters[SegsOut]++
		h.counters[ResetsOut]++
	}
}

// wheelSlots is the timer wheel's span in milliseconds.
const wheelSlots = 1024

// Tick fires the connections' due timers. Call it every millisecond or
// so; a timer fires at the first Tick at or after its deadline, rounded
// up to the millisecond. Its cost follows the connections touched and
// due, not the connections held.
func (h *Host) Tick(now int64) {
	for _, c := range h.touched {
		c.touched = false
		if !c.removed {
			h.file(c)
		}
	}
	h.touched = h.touched[:0]
	target := now / millisecond
	if !h.ticked || target < h.wheelMs {
		// The first Tick (or a clock that went back): one pass over
		// every slot.
		h.ticked, h.wheelMs = true, target-wheelSlots
	}
	steps := min(target-h.wheelMs, wheelSlots)
	for i := int64(1); i <= steps; i++ {
		slot := slotOf(h.wheelMs + i)
		for c := h.wheel[slot]; c != nil; {
			next := c.tNext
			if c.tAt <= now {
				h.unfile(c)
				h.due = append(h.due, c)
			}
			c = next
		}
	}
	h.wheelMs = target
	for _, c := range h.due {
		// A callback of an earlier one may have ended this one, or
		// filed it anew.
		if c.removed || c.tSlot >= 0 {
			continue
		}
		c.tick(now)
		if !c.removed {
			h.file(c)
		}
	}
	clear(h.due)
	h.due = h.due[:0]
}

// slotOf is the wheel's slot for millisecond ms (which may be negative
// before the first Tick's pass).
func slotOf(ms int64) int32 { return int32((ms%wheelSlots + wheelSlots) % wheelSlots) }

// touch notes that c's deadlines may have moved: it is filed anew at the
// next Tick.
func (h *Host) touch(c *Conn) {
	if !c.touched {
		c.touched = true
		h.touched = append(h.touched, c)
	}
}

// file puts c in the wheel's slot for its earliest deadline, or out of the
// wheel when it has none.
func (h *Host) file(c *Conn) {
	d := c.deadline()
	if c.tSlot >= 0 && c.tAt == d {
		return
	}
	h.unfile(c)
	if d == 0 {
		return
	}
	ms := (d + millisecond - 1) / millisecond
	if ms <= h.wheelMs {
		ms = h.wheelMs + 1
	}
	slot := slotOf(ms)
	c.tAt, c.tSlot, c.tPrev, c.tNext = d, slot, nil, h.wheel[slot]
	if c.tNext != nil {
		c.tNext.tPrev = c
	}
	h.wheel[slot] = c
}

// unfile takes c out of the wheel.
func (h *Host) unfile(c *Conn) {
	if c.tSlot < 0 {
		return
	}
	if c.tPrev != nil {
		c.tPrev.tNext = c.tNext
	} else {
		h.wheel[c.tSlot] = c.tNext
	}
	if c.tNext != nil {
		c.tNext.tPrev = c.tPrev
	}
	c.tPrev, c.tNext, c.tSlot = nil, nil, -1
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
