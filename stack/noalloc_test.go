//go:build !race

package stack

import (
	"net/netip"
	"testing"
	"time"

	"github.com/fastpathnet/fastpath/arp"
	"github.com/fastpathnet/fastpath/ether"
	"github.com/fastpathnet/fastpath/internal/lab"
	"github.com/fastpathnet/fastpath/ipv4"
	"github.com/fastpathnet/fastpath/rings"
	"github.com/fastpathnet/fastpath/tcp"
)

// TestNoAllocs feeds an engine (not started: the test plays its loop)
// frames from receive to reply: ARP request, ICMP echo, UDP echo in
// place, UDP reply built fresh, datagram to an unbound port, a bad
// checksum, a partial one (dropped, then accepted). None may allocate.
func TestNoAllocs(t *testing.T) {
	l := lab.NewT(t, lab.Options{})
	peer := l.B.Addr.Addr()
	s, e := noAllocStack(t, l, engineAddr, peer, bindUDPEchoes)
	peerMAC := ether.Addr(l.B.MAC)

	frames := map[string][]byte{}
	b := make([]byte, 2048)
	n, _ := arp.Request(b, peerMAC, peer, engineAddr.Addr())
	frames["ARP request"] = append([]byte(nil), b[:n]...)
	mk := func(proto uint8, payload []byte) []byte {
		b := make([]byte, ether.HeaderLen+ipv4.HeaderLen+len(payload))
		ether.Encode(b, e.mac, peerMAC, ether.TypeIPv4)
		ipv4.Encode(b[ether.HeaderLen:], ipv4.Fields{TTL: 64, Protocol: proto, Src: peer, Dst: engineAddr.Addr(), PayloadLen: len(payload)})
		copy(b[ether.HeaderLen+ipv4.HeaderLen:], payload)
		return b
	}
	icmp := make([]byte, 64)
	icmp[0] = ipv4.ICMPEchoRequest
	c := ipv4.Checksum(icmp, 0)
	icmp[2], icmp[3] = byte(c>>8), byte(c)
	frames["ICMP echo"] = mk(ipv4.ProtoICMP, icmp)
	udp := func(port uint16) []byte {
		f := mk(ipv4.ProtoUDP, make([]byte, 8+100))
		u, _ := ipv4.EncodeUDP(f[ether.HeaderLen+ipv4.HeaderLen:], 1024, port, 100)
		u.SetChecksum(peer, engineAddr.Addr())
		return f
	}
	frames["UDP echo in place"] = udp(7)
	frames["UDP reply built"] = udp(9)
	frames["UDP to an unbound port"] = udp(8)
	bad := udp(7)
	bad[len(bad)-1] ^= 0xff
	frames["UDP bad checksum"] = bad

	for name, f := range frames {
		inject := func() { injectFrame(t, e, f) }
		before := e.counters
		if a := testing.AllocsPerRun(100, inject); a != 0 {
			t.Errorf("%s: %v allocations per frame", name, a)
		}
		if e.counters[RXFrames] == before[RXFrames] {
			t.Errorf("%s: nothing received", name)
		}
	}
	if e.counters[ICMPEchoOut] == 0 || e.counters[UDPOut] == 0 || e.counters[ARPRepliesOut] == 0 || e.counters[DropUDPChecksum] == 0 {
		t.Errorf("the frames did not take the paths meant: %v", nonZero(e.counters))
	}

	// A partial checksum from the veth's peer: dropped, then (with
	// AcceptPartialChecksum) completed and echoed in place.
	partial := udp(7)
	h := ipv4.Header(partial[ether.HeaderLen:])
	u := ipv4.UDP(h.Payload())
	p := ipv4.Fold(ipv4.PseudoSum(h.Src(), h.Dst(), ipv4.ProtoUDP, u.Length()))
	u[6], u[7] = byte(p>>8), byte(p)
	for _, accept := range []bool{false, true} {
		s.cfg.AcceptPartialChecksum = accept
		before := e.counters
		if a := testing.AllocsPerRun(100, func() { injectFrame(t, e, partial) }); a != 0 {
			t.Errorf("UDP partial checksum (accept %v): %v allocations per frame", accept, a)
		}
		if e.counters[PartialChecksum] == before[PartialChecksum] || e.counters[DropUDPChecksum] != before[DropUDPChecksum] ||
			accept != (e.counters[UDPOut] > before[UDPOut]) {
			t.Errorf("UDP partial checksum (accept %v): %v", accept, nonZero(e.counters))
		}
	}
}

// noAllocStack builds a stack on A's link owning me, bind called on it,
// for a test that plays the loop of its first engine (the stack is not
// started). The engine's clock is set, its fill ring filled, and B, at
// peer on B's MAC, in its neighbour table. DAD is off: an IPv6 address
// is the engine's at once.
func noAllocStack(t *testing.T, l *lab.Lab, me netip.Prefix, peer netip.Addr, bind func(*Stack) error) (*Stack, *Engine) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Device, cfg.Addrs, cfg.DADTransmits = l.A.Link, []netip.Prefix{me}, 0
	var s *Stack
	err := l.A.Do(func() (err error) {
		if s, err = New(cfg); err != nil {
			return err
		}
		return bind(s)
	})
	if s != nil {
		t.Cleanup(func() { s.Close() })
	}
	if err != nil {
		t.Fatal(err)
	}
	e := s.engines[0]
	e.now = monotonic()
	e.sock.Refill()
	e.neigh.Set(peer, ether.Addr(l.B.MAC), e.now, nil)
	return s, e
}

// bindUDPEchoes binds UDP port 7 to an echo in place and port 9 to a
// reply built fresh (the first half of the payload, by SendUDP).
func bindUDPEchoes(s *Stack) error {
	if err := s.BindUDP(7, echo); err != nil {
		return err
	}
	return s.BindUDP(9, func(d *Datagram) { d.Engine().SendUDP(d.Dst, d.Src, d.Payload[:len(d.Payload)/2]) })
}

// listenTCP7 enables TCP (tcp.DefaultConfig) and listens on port 7, with
// a handler from h for each connection.
func listenTCP7(h func(*Engine, *tcp.Conn) tcp.Handler) func(*Stack) error {
	return func(s *Stack) error {
		if err := s.EnableTCP(tcp.DefaultConfig()); err != nil {
			return err
		}
		return s.ListenTCPFunc(7, h)
	}
}

// setData makes h, the TCP header of a data segment from peer to local,
// carry seq and acknowledge all that c has sent (ACK and PSH, a window of
// 65535), with its checksum.
func setData(h tcp.Header, c *tcp.Conn, seq tcp.Seq, peer, local netip.Addr) {
	_, nxt, _ := c.Sequence()
	h.SetSeq(seq)
	h.SetAck(nxt)
	h.SetFlags(tcp.FlagACK | tcp.FlagPSH)
	h.SetWindow(65535)
	h.SetChecksum(peer, local)
}

// injectFrame plays the engine's loop for one received frame f: input,
// then transmit and reclaim whatever it sent.
func injectFrame(t *testing.T, e *Engine, f []byte) {
	addr, ok := e.sock.Frames.Alloc()
	if !ok {
		t.Fatal("no frame")
	}
	copy(e.sock.UMEM().Frame(addr), f)
	e.input(rings.Desc{Addr: addr, Len: uint32(len(f))})
	e.flush()
	for e.sock.Outstanding() > 0 {
		e.sock.KickTX()
		e.sock.Complete()
	}
}

// tcpNoAllocEcho echoes in place what it reads: the receive path and the
// send path in one segment.
type tcpNoAllocEcho struct{}

func (tcpNoAllocEcho) Established(*tcp.Conn)   {}
func (tcpNoAllocEcho) Writable(*tcp.Conn)      {}
func (tcpNoAllocEcho) Closed(*tcp.Conn, error) {}
func (tcpNoAllocEcho) Readable(c *tcp.Conn) {
	p, _ := c.Recv.Peek(0, c.Send.Free())
	c.Recv.Consume(c.Send.Write(p))
}

// TestNoAllocsTCP: through the engine (frame in, demultiplex, TCP input,
// the handler, a segment built into a frame, routed, transmitted), a data
// segment and its echo allocate nothing.
func TestNoAllocsTCP(t *testing.T) {
	l := lab.NewT(t, lab.Options{})
	peer := netip.AddrPortFrom(l.B.Addr.Addr(), 40000)
	local := netip.AddrPortFrom(engineAddr.Addr(), 7)
	s, e := noAllocStack(t, l, engineAddr, peer.Addr(), listenTCP7(func(*Engine, *tcp.Conn) tcp.Handler { return tcpNoAllocEcho{} }))
	peerMAC := ether.Addr(l.B.MAC)
	segment := func(f tcp.Fields, payload []byte) []byte {
		b := make([]byte, ether.HeaderLen+ipv4.HeaderLen+tcp.HeaderLen+len(payload))
		ether.Encode(b, e.mac, peerMAC, ether.TypeIPv4)
		ipv4.Encode(b[ether.HeaderLen:], ipv4.Fields{TTL: 64, Protocol: ipv4.ProtoTCP, Src: peer.Addr(), Dst: local.Addr(), PayloadLen: tcp.HeaderLen + len(payload)})
		f.SrcPort, f.DstPort = peer.Port(), local.Port()
		seg := b[ether.HeaderLen+ipv4.HeaderLen:]
		tcp.Encode(seg, f, nil)
		copy(seg[tcp.HeaderLen:], payload)
		tcp.Header(seg).SetChecksum(peer.Addr(), local.Addr())
		return b
	}
	inject := func(f []byte) { injectFrame(t, e, f) }
	const iss tcp.Seq = 1000
	inject(segment(tcp.Fields{Seq: iss, Flags: tcp.FlagSYN, Window: 65535}, nil))
	conns := e.TCP().Conns()
	if len(conns) != 1 {
		t.Fatalf("no connection after the SYN: %v", e.TCP().Counters().Map())
	}
	c := conns[0]
	_, ourNxt, _ := c.Sequence()
	inject(segment(tcp.Fields{Seq: iss + 1, Ack: ourNxt, Flags: tcp.FlagACK, Window: 65535}, nil))
	if c.State() != tcp.StateEstablished {
		t.Fatalf("state %v", c.State())
	}
	payload := make([]byte, 100)
	seq := iss + 1
	// One frame, its sequence numbers rewritten each round.
	buf := segment(tcp.Fields{}, payload)
	round := func() {
		setData(tcp.Header(buf[ether.HeaderLen+ipv4.HeaderLen:]), c, seq, peer.Addr(), local.Addr())
		inject(buf)
		seq = seq.Add(uint32(len(payload)))
	}
	before := e.TCP().Counters()[tcp.SegsOut]
	if a := testing.AllocsPerRun(200, round); a != 0 {
		t.Errorf("a data segment and its echo: %v allocations", a)
	}
	if got := e.TCP().Counters()[tcp.SegsOut] - before; got < 200 {
		t.Errorf("the engine sent %d segments for 200 rounds: %v", got, e.TCP().Counters().Map())
	}
	// The same with partial checksums, accepted (completed in place).
	s.cfg.AcceptPartialChecksum = true
	partial := func() {
		_, nxt, _ := c.Sequence()
		h := tcp.Header(buf[ether.HeaderLen+ipv4.HeaderLen:])
		h.SetSeq(seq)
		h.SetAck(nxt)
		h.SetPartialChecksum(peer.Addr(), local.Addr())
		inject(buf)
		seq = seq.Add(uint32(len(payload)))
	}
	before, partials := e.TCP().Counters()[tcp.SegsOut], e.counters[PartialChecksum]
	if a := testing.AllocsPerRun(200, partial); a != 0 {
		t.Errorf("a data segment with a partial checksum and its echo: %v allocations", a)
	}
	if got := e.TCP().Counters()[tcp.SegsOut] - before; got < 200 || e.counters[PartialChecksum]-partials < 200 {
		t.Errorf("partial checksums: the engine sent %d segments for 200 rounds: %v; %v", got, e.TCP().Counters().Map(), nonZero(e.counters))
	}
}

// tcpChurnEcho echoes, and closes once the peer has.
type tcpChurnEcho struct{ e *Engine }

func (tcpChurnEcho) Established(*tcp.Conn)   {}
func (tcpChurnEcho) Writable(*tcp.Conn)      {}
func (tcpChurnEcho) Closed(*tcp.Conn, error) {}
func (h tcpChurnEcho) Readable(c *tcp.Conn) {
	p, _ := c.Recv.Peek(0, c.Send.Free())
	c.Recv.Consume(c.Send.Write(p))
	if c.PeerClosed() && c.Recv.Len() == 0 {
		c.Close(h.e.Now())
	}
}

// TestNoAllocsTCPChurn: through the engine, connection after connection
// (a passive open, data echoed, the peer's FIN, ours, gone; an active
// open reset by the peer), after warm-up, allocates nothing: the
// connections and their buffers come from the engine's pool.
func TestNoAllocsTCPChurn(t *testing.T) {
	l := lab.NewT(t, lab.Options{})
	peer := netip.AddrPortFrom(l.B.Addr.Addr(), 40000)
	local := netip.AddrPortFrom(engineAddr.Addr(), 7)
	_, e := noAllocStack(t, l, engineAddr, peer.Addr(), listenTCP7(func(e *Engine, _ *tcp.Conn) tcp.Handler { return tcpChurnEcho{e} }))
	peerMAC := ether.Addr(l.B.MAC)
	h := e.TCP()
	payload := make([]byte, 100)
	frame := make([]byte, ether.HeaderLen+ipv4.HeaderLen+tcp.HeaderLen+len(payload))
	// send injects a segment from peer to local, built in frame.
	send := func(local netip.AddrPort, f tcp.Fields, data []byte) {
		n := ether.HeaderLen + ipv4.HeaderLen + tcp.HeaderLen + len(data)
		b := frame[:n]
		ether.Encode(b, e.mac, peerMAC, ether.TypeIPv4)
		ipv4.Encode(b[ether.HeaderLen:], ipv4.Fields{TTL: 64, Protocol: ipv4.ProtoTCP, Src: peer.Addr(), Dst: local.Addr(), PayloadLen: tcp.HeaderLen + len(data)})
		f.SrcPort, f.DstPort, f.Window = peer.Port(), local.Port(), 65535
		seg := b[ether.HeaderLen+ipv4.HeaderLen:]
		tcp.Encode(seg, f, nil)
		copy(seg[tcp.HeaderLen:], data)
		tcp.Header(seg).SetChecksum(peer.Addr(), local.Addr())
		injectFrame(t, e, b)
	}
	const iss tcp.Seq = 1000
	ended := 0
	cycle := func() {
		// Passive open, data, the peer closes first.
		send(local, tcp.Fields{Seq: iss, Flags: tcp.FlagSYN}, nil)
		if len(h.Conns()) != 1 {
			t.Fatalf("no connection after the SYN: %v", h.Counters().Map())
		}
		c := h.Conns()[0]
		_, nxt, _ := c.Sequence()
		send(local, tcp.Fields{Seq: iss + 1, Ack: nxt, Flags: tcp.FlagACK}, nil)
		send(local, tcp.Fields{Seq: iss + 1, Ack: nxt, Flags: tcp.FlagACK | tcp.FlagPSH | tcp.FlagFIN}, payload)
		_, nxt, _ = c.Sequence() // past the echo and our FIN
		if c.State() != tcp.StateLastAck {
			t.Fatalf("state %v after the peer's FIN, want LAST-ACK", c.State())
		}
		send(local, tcp.Fields{Seq: iss + 102, Ack: nxt, Flags: tcp.FlagACK}, nil)
		// Active open, reset by the peer.
		c, err := e.DialTCP(peer, tcpChurnEcho{e})
		if err != nil {
			t.Fatal(err)
		}
		_, nxt, _ = c.Sequence()
		send(c.LocalAddr(), tcp.Fields{Seq: iss, Ack: nxt, Flags: tcp.FlagSYN | tcp.FlagACK}, nil)
		if c.State() != tcp.StateEstablished {
			t.Fatalf("active open: state %v", c.State())
		}
		send(c.LocalAddr(), tcp.Fields{Seq: iss + 1, Flags: tcp.FlagRST}, nil)
		if len(h.Conns()) != 0 {
			t.Fatalf("%d connections left", len(h.Conns()))
		}
		ended += 2
		e.now += int64(time.Millisecond)
		h.Tick(e.now) // the pool takes them back
	}
	cycle() // warm-up
	if a := testing.AllocsPerRun(500, cycle); a != 0 {
		t.Errorf("%v allocations per two connections' lives", a)
	}
	if c := h.Counters(); c[tcp.Closed] != uint64(ended) || c[tcp.Established] != uint64(ended) || c[tcp.BytesOut] < 100*uint64(ended)/2 {
		t.Errorf("%d connections: counters %v", ended, c.Map())
	}
}
