//go:build !race

package stack

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/fastpathnet/fastpath/ether"
	"github.com/fastpathnet/fastpath/internal/lab"
	"github.com/fastpathnet/fastpath/ipv6"
	"github.com/fastpathnet/fastpath/tcp"
)

// TestNoAllocsTCP6 is TestNoAllocsTCP over IPv6: a data segment and its
// echo through the engine (the extension-header walk, TCP input, the
// segment built behind an IPv6 header, routed through the neighbour
// cache), the same behind a destination options header, and Packet Too
// Big messages (one taken, one ignored) allocate nothing.
func TestNoAllocsTCP6(t *testing.T) {
	l := lab.NewT(t, lab.Options{IPv6: true})
	peer := netip.AddrPortFrom(l.B.Addr6.Addr(), 40000)
	local := netip.AddrPortFrom(engineAddr6.Addr(), 7)
	_, e := noAllocStack(t, l, engineAddr6, peer.Addr(), listenTCP7(func(*Engine, *tcp.Conn) tcp.Handler { return tcpNoAllocEcho{} }))
	peerMAC := ether.Addr(l.B.MAC)
	// ext: 8-byte destination options headers before TCP.
	segment := func(f tcp.Fields, o *tcp.Options, payload []byte, ext int) []byte {
		l4 := ether.HeaderLen + ipv6.HeaderLen + 8*ext
		hl := tcp.HeaderLen
		if o != nil {
			hl += tcp.OptionsLen(o)
		}
		b := make([]byte, l4+hl+len(payload))
		ether.Encode(b, e.mac, peerMAC, ether.TypeIPv6)
		next := uint8(ipv6.ProtoTCP)
		if ext > 0 {
			next = ipv6.ProtoDestOpts
		}
		ipv6.Encode(b[ether.HeaderLen:], ipv6.Fields{NextHeader: next, HopLimit: 64, Src: peer.Addr(), Dst: local.Addr(), PayloadLen: 8*ext + hl + len(payload)})
		for i := 0; i < ext; i++ {
			x := b[ether.HeaderLen+ipv6.HeaderLen+8*i:]
			x[0] = ipv6.ProtoDestOpts
			if i == ext-1 {
				x[0] = ipv6.ProtoTCP
			}
		}
		f.SrcPort, f.DstPort = peer.Port(), local.Port()
		seg := b[l4:]
		tcp.Encode(seg, f, o)
		copy(seg[hl:], payload)
		tcp.Header(seg).SetChecksum(peer.Addr(), local.Addr())
		return b
	}
	inject := func(f []byte) { injectFrame(t, e, f) }
	const iss tcp.Seq = 1000
	// MSS 1440: room for Packet Too Big to lower it.
	inject(segment(tcp.Fields{Seq: iss, Flags: tcp.FlagSYN, Window: 65535}, &tcp.Options{MSS: 1440}, nil, 0))
	conns := e.TCP().Conns()
	if len(conns) != 1 {
		t.Fatalf("no connection after the SYN: %v %v", e.TCP().Counters().Map(), nonZero(e.counters))
	}
	c := conns[0]
	_, ourNxt, _ := c.Sequence()
	inject(segment(tcp.Fields{Seq: iss + 1, Ack: ourNxt, Flags: tcp.FlagACK, Window: 65535}, nil, nil, 0))
	if c.State() != tcp.StateEstablished {
		t.Fatalf("state %v", c.State())
	}
	payload := make([]byte, 100)
	seq := iss + 1
	for _, ext := range []int{0, 1} {
		buf := segment(tcp.Fields{}, nil, payload, ext)
		l4 := ether.HeaderLen + ipv6.HeaderLen + 8*ext
		round := func() {
			setData(tcp.Header(buf[l4:]), c, seq, peer.Addr(), local.Addr())
			inject(buf)
			seq = seq.Add(uint32(len(payload)))
		}
		before := e.TCP().Counters()[tcp.SegsOut]
		if a := testing.AllocsPerRun(200, round); a != 0 {
			t.Errorf("a data segment behind %d extension headers and its echo: %v allocations", ext, a)
		}
		if got := e.TCP().Counters()[tcp.SegsOut] - before; got < 200 {
			t.Errorf("the engine sent %d segments for 200 rounds: %v", got, e.TCP().Counters().Map())
		}
	}

	// Packet Too Big from a router, quoting the echo's last segment (a
	// fresh one each round, so that it is outstanding), its MTU one
	// lower each time; and one quoting a sequence number not sent.
	router := netip.MustParseAddr("2001:db8::fe")
	e.neigh.Set(router, peerMAC, e.now, nil)
	const quote = ipv6.HeaderLen + tcp.HeaderLen
	ptb := make([]byte, ether.HeaderLen+ipv6.HeaderLen+ipv6.ICMPHeaderLen+quote)
	ether.Encode(ptb, e.mac, peerMAC, ether.TypeIPv6)
	ipv6.Encode(ptb[ether.HeaderLen:], ipv6.Fields{NextHeader: ipv6.ProtoICMPv6, HopLimit: 64, Src: router, Dst: local.Addr(), PayloadLen: ipv6.ICMPHeaderLen + quote})
	m := ipv6.ICMP(ptb[ether.HeaderLen+ipv6.HeaderLen:])
	m[0] = ipv6.ICMPPacketTooBig
	q := m[ipv6.ICMPHeaderLen:]
	// The quoted packet was 1440 bytes, cut at its TCP header.
	orig := make([]byte, ipv6.HeaderLen+1400)
	ipv6.Encode(orig, ipv6.Fields{NextHeader: ipv6.ProtoTCP, HopLimit: 64, Src: local.Addr(), Dst: peer.Addr(), PayloadLen: 1400})
	copy(q, orig[:ipv6.HeaderLen])
	tcp.Encode(q[ipv6.HeaderLen:], tcp.Fields{SrcPort: local.Port(), DstPort: peer.Port(), Flags: tcp.FlagACK}, nil)
	buf := segment(tcp.Fields{}, nil, payload, 0)
	mtu := uint32(1500)
	taken := func() {
		// Acknowledges all before: the echo is all that is outstanding.
		setData(tcp.Header(buf[ether.HeaderLen+ipv6.HeaderLen:]), c, seq, peer.Addr(), local.Addr())
		inject(buf)
		seq = seq.Add(uint32(len(payload)))
		una, _, _ := c.Sequence()
		mtu--
		binary.BigEndian.PutUint32(m[4:8], mtu)
		tcp.Header(q[ipv6.HeaderLen:]).SetSeq(una)
		m.SetChecksum(router, local.Addr())
		inject(ptb)
	}
	before := e.TCP().Counters()[tcp.PMTUReductions]
	if a := testing.AllocsPerRun(100, taken); a != 0 {
		t.Errorf("Packet Too Big taken: %v allocations", a)
	}
	if got := e.TCP().Counters()[tcp.PMTUReductions] - before; got < 100 {
		t.Errorf("%d reductions for 100 messages: %v %v", got, e.TCP().Counters().Map(), nonZero(e.counters))
	}
	ignored := func() {
		_, nxt, _ := c.Sequence()
		tcp.Header(q[ipv6.HeaderLen:]).SetSeq(nxt + 1000)
		m.SetChecksum(router, local.Addr())
		inject(ptb)
	}
	before = e.TCP().Counters()[tcp.DropPacketTooBig]
	if a := testing.AllocsPerRun(100, ignored); a != 0 {
		t.Errorf("Packet Too Big ignored: %v allocations", a)
	}
	if got := e.TCP().Counters()[tcp.DropPacketTooBig] - before; got < 100 {
		t.Errorf("%d ignored for 100 messages", got)
	}
}
