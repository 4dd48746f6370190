package tcp

// Listeners, and the segments that match no connection (RFC 9293
// 3.10.7.1, 3.10.7.2): a SYN opens a connection in SYN-RECEIVED, or is
// answered with a SYN cookie (RFC 4987) when the backlog is full; the ACK
// of a cookie opens one in ESTABLISHED; anything else earns a RST.

import (
	"fmt"
	"net/netip"
)

// Listener accepts connections on a port (of every local address).
type Listener struct {
	port   uint16
	accept func(c *Conn) Handler
	host   *Host
}

// Port is the listening port.
func (l *Listener) Port() uint16 { return l.port }

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
		h.sendCookie(local, remote, seg, now)
		return
	}
	h.openPassive(l, local, remote, seg, now)
}

// sendCookie answers a SYN with a stateless SYN-ACK (RFC 4987 3.6): the
// cookie is the ISN (only the MSS class survives; no window scale, SACK
// or timestamps).
func (h *Host) sendCookie(local, remote netip.AddrPort, seg *Segment, now int64) {
	mss := uint16(defaultMSS(remote.Addr()))
	if seg.Opts.MSS != 0 {
		mss = seg.Opts.MSS
	}
	ours := uint16(h.mssFor(remote.Addr()))
	iss := h.isn.Cookie(local, remote, seg.Seq, min(mss, ours), now)
	o := &h.opts
	*o = Options{MSS: ours}
	f := &h.fields
	*f = Fields{SrcPort: local.Port(), DstPort: remote.Port(), Seq: iss, Ack: seg.Seq.Add(1),
		Flags: FlagSYN | FlagACK, Window: uint16(min(h.cfg.RecvBuffer, 65535))}
	if h.link.Send(local, remote, f, o, nil, nil) {
		h.counters[SegsOut]++
		h.counters[SynCookiesSent]++
	}
}

// openPassive makes the connection a listener's SYN asks for, in
// SYN-RECEIVED, and sends its SYN-ACK (RFC 9293 3.10.7.2).
func (h *Host) openPassive(l *Listener, local, remote netip.AddrPort, seg *Segment, now int64) {
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
	c.mss = min(int(mss), h.mssFor(remote.Addr()))
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
