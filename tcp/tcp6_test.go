package tcp

import (
	"encoding/hex"
	"net/netip"
	"testing"
	"time"
)

// IPv6: the pseudo-header, the table and hashes over 16-byte addresses,
// the MSS of the family, and path MTU (PacketTooBig).

var (
	host6 = netip.MustParseAddrPort("[2001:db8::10]:80")
	peer6 = netip.MustParseAddrPort("[2001:db8::2]:40000")
)

// withIPv6 runs the rest of the test with the harness's addresses
// (hostAddr, peerAddr) IPv6 ones.
func withIPv6(t testing.TB) {
	h, p := hostAddr, peerAddr
	hostAddr, peerAddr = host6, peer6
	t.Cleanup(func() { hostAddr, peerAddr = h, p })
}

// golden6 is a segment from [2001:db8::10]:61000 to [2001:db8::2]:80,
// PSH|ACK with timestamps and 11 bytes, its checksum computed by scapy:
//
//	IPv6(src='2001:db8::10', dst='2001:db8::2')/TCP(sport=61000, dport=80,
//	  seq=0x01020304, ack=0x0a0b0c0d, flags='PA', window=502,
//	  options=[NOP, NOP, Timestamp (1000, 2000)])/b'hello, ipv6'
var golden6, _ = hex.DecodeString("ee480050010203040a0b0c0d801801f6f9e300000101080a000003e8000007d068656c6c6f2c2069707636")

var (
	golden6Src = netip.MustParseAddr("2001:db8::10")
	golden6Dst = netip.MustParseAddr("2001:db8::2")
)

// TestChecksum6: the IPv6 pseudo-header (RFC 8200 8.1) verifies scapy's
// checksum, SetChecksum and SetPartialChecksum write what it expects,
// and the IPv4 pseudo-header over the same bytes does not verify.
func TestChecksum6(t *testing.T) {
	h := Header(append([]byte(nil), golden6...))
	if err := h.Check(); err != nil {
		t.Fatal(err)
	}
	if !h.ChecksumValid(golden6Src, golden6Dst) {
		t.Fatalf("scapy's checksum %#04x does not verify", h.Checksum())
	}
	if h.ChecksumValid(golden6Dst, golden6Src.Next()) {
		t.Error("verifies with another address")
	}
	if h.ChecksumValid(netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")) {
		t.Error("verifies with an IPv4 pseudo-header")
	}
	want := h.Checksum()
	h[16], h[17] = 0xa5, 0xa5
	h.SetChecksum(golden6Src, golden6Dst)
	if h.Checksum() != want {
		t.Errorf("SetChecksum: %#04x, want %#04x", h.Checksum(), want)
	}
	// A partial checksum completed as a device does: the sum of the
	// segment with the field as it is, complemented.
	h.SetPartialChecksum(golden6Src, golden6Dst)
	var sum uint32
	for i := 0; i+1 < len(h); i += 2 {
		sum += uint32(h[i])<<8 | uint32(h[i+1])
	}
	if len(h)%2 == 1 {
		sum += uint32(h[len(h)-1]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	if got := ^uint16(sum); got != want {
		t.Errorf("SetPartialChecksum completed: %#04x, want %#04x", got, want)
	}
}

// TestHandshake6: a passive and an active open over IPv6 offer and take
// the IPv6 MSS (Config.MSS less 20), and the timestamps the same way.
func TestHandshake6(t *testing.T) {
	withIPv6(t)
	r := newRig(t, testConfig())
	r.listen()
	r.in(FlagSYN, peerISS, 0, 65535, &Options{MSS: 8940, SACKPermitted: true}, nil)
	sa := r.expect(FlagSYN | FlagACK)[0]
	if sa.o.MSS != 1440 || sa.local != host6 || sa.remote != peer6 {
		t.Fatalf("SYN-ACK %v from %v to %v: want MSS 1440 from %v to %v", sa, sa.local, sa.remote, host6, peer6)
	}
	r.in(FlagACK, peerISS+1, sa.f.Seq+1, 65535, nil, nil)
	r.state(StateEstablished)
	if r.conn.MSS() != 1440 {
		t.Errorf("send MSS %d, want 1440 (ours)", r.conn.MSS())
	}

	// Active, to a peer that sends no MSS option: RFC 9293 3.7.1's
	// IPv6 default, 1220.
	r2 := newRig(t, testConfig())
	r2.dial(nil)
	if r2.conn.MSS() != 1220 {
		t.Errorf("send MSS without the option: %d, want 1220", r2.conn.MSS())
	}

	// SYN cookies carry the IPv6 MSS class.
	cfg := testConfig()
	cfg.SynBacklog = 0
	r3 := newRig(t, cfg)
	r3.listen()
	r3.in(FlagSYN, peerISS, 0, 65535, &Options{MSS: 1460}, nil)
	ck := r3.expect(FlagSYN | FlagACK)[0]
	if ck.o.MSS != 1440 {
		t.Fatalf("cookie SYN-ACK offers MSS %d, want 1440", ck.o.MSS)
	}
	r3.in(FlagACK, peerISS+1, ck.f.Seq+1, 65535, nil, nil)
	r3.state(StateEstablished)
	if r3.conn.MSS() != 1440 {
		t.Errorf("cookie connection's MSS %d, want 1440", r3.conn.MSS())
	}
}

// TestFamiliesApart: IPv4 and IPv6 connections live in one table; an
// IPv6 segment from the IPv4-mapped form of an IPv4 connection's
// addresses (which would share its key) is dropped, as are mixed
// families, and Dial takes a mapped address as IPv4.
func TestFamiliesApart(t *testing.T) {
	r := newRig(t, testConfig())
	iss := r.accept(synOpts())
	c4 := r.conn
	// The same ports over IPv6, on the same Host.
	r.ev = &events{consume: true}
	hostAddr, peerAddr = host6, peer6
	t.Cleanup(func() {
		hostAddr = netip.MustParseAddrPort("198.18.0.1:80")
		peerAddr = netip.MustParseAddrPort("198.18.0.2:40000")
	})
	r.in(FlagSYN, peerISS+7, 0, 65535, synOpts(), nil)
	sa := r.expect(FlagSYN | FlagACK)[0]
	r.in(FlagACK, peerISS+8, sa.f.Seq+1, 65535, &Options{HasTimestamps: true, TSVal: 5001, TSEcr: sa.o.TSVal}, nil)
	c6 := r.conn
	if c6 == c4 || c6.State() != StateEstablished || c4.State() != StateEstablished {
		t.Fatalf("IPv6 connection %p %v beside IPv4 %p %v", c6, c6.State(), c4, c4.State())
	}
	if len(r.h.Conns()) != 2 {
		t.Fatalf("%d connections, want 2", len(r.h.Conns()))
	}

	// Data to the IPv4 connection from its mapped addresses.
	v4h, v4p := netip.MustParseAddrPort("198.18.0.1:80"), netip.MustParseAddrPort("198.18.0.2:40000")
	mh, mp := netip.AddrFrom16(v4h.Addr().As16()), netip.AddrFrom16(v4p.Addr().As16())
	b := make([]byte, MaxHeaderLen+3)
	n, _ := Encode(b, Fields{SrcPort: v4p.Port(), DstPort: v4h.Port(), Seq: peerISS + 1, Ack: iss + 1, Flags: FlagACK, Window: 65535}, nil)
	seg := Header(b[:n+3])
	seg.SetChecksum(mp, mh)
	before := r.h.Counters()[DropAddress]
	r.h.Input(mp, mh, seg, r.now)
	seg.SetChecksum(v4p.Addr(), golden6Dst)
	r.h.Input(v4p.Addr(), golden6Dst, seg, r.now)
	if got := r.h.Counters()[DropAddress] - before; got != 2 {
		t.Errorf("DropAddress +%d, want 2 (mapped, mixed)", got)
	}
	if _, _, rcv := c4.Sequence(); rcv != peerISS+1 {
		t.Errorf("the IPv4 connection took the mapped segment: RCV.NXT %d", rcv)
	}
	r.expect()

	// Dial: mapped is IPv4; mixed families are refused.
	c, err := r.h.Dial(netip.AddrPortFrom(mh, 0), netip.AddrPortFrom(mp, 443), &events{}, r.now)
	if err != nil || !c.LocalAddr().Addr().Is4() || !c.RemoteAddr().Addr().Is4() {
		t.Fatalf("Dial mapped: %v, %v", c, err)
	}
	r.expect(FlagSYN)
	if _, err := r.h.Dial(netip.AddrPortFrom(golden6Src, 0), v4p, &events{}, r.now); err == nil {
		t.Error("Dial from IPv6 to IPv4 accepted")
	}
}

// TestHashes6: the ISN, port offset, timestamp offset and cookie hashes
// tell apart addresses that differ anywhere in their 16 bytes, and an
// IPv4 tuple from every IPv6 one tried.
func TestHashes6(t *testing.T) {
	g := NewISNGenerator(isnKey)
	const now = int64(42e9)
	seen := map[Seq]string{}
	add := func(name string, s Seq) {
		t.Helper()
		if o, ok := seen[s]; ok {
			t.Errorf("%s: ISN %d of %s", name, s, o)
		}
		seen[s] = name
	}
	add("v4", g.ISN(isnLocal, isnRemote, now))
	base := netip.MustParseAddr("2001:db8::1").As16()
	for i := 0; i < 16; i++ {
		for _, bit := range []byte{1, 0x80} {
			a := base
			a[i] ^= bit
			add(netip.AddrFrom16(a).String(), g.ISN(netip.AddrPortFrom(netip.AddrFrom16(a), 80), isnRemote, now))
			add("remote "+netip.AddrFrom16(a).String(), g.ISN(host6, netip.AddrPortFrom(netip.AddrFrom16(a), 40000), now))
		}
	}
	if g.TSOffset(host6.Addr(), peer6.Addr()) == g.TSOffset(peer6.Addr(), host6.Addr()) ||
		g.EphemeralPortOffset(host6.Addr(), peer6.Addr(), 80) == g.EphemeralPortOffset(host6.Addr(), peer6.Addr().Next(), 80) {
		t.Error("TSOffset or EphemeralPortOffset ignores an address")
	}
	c := g.Cookie(host6, peer6, 77, 1440, now)
	if mss, ok := g.CheckCookie(host6, peer6, 77, c+1, now); !ok || mss != 1440 {
		t.Errorf("IPv6 cookie: %d %v", mss, ok)
	}
	if _, ok := g.CheckCookie(host6, netip.AddrPortFrom(peer6.Addr().Next(), peer6.Port()), 77, c+1, now); ok {
		t.Error("IPv6 cookie accepted from another address")
	}
}

// TestTableSpread: the table hash spreads keys that differ only in a
// few bits (consecutive ports, addresses in one /64 or one /120, the
// same addresses IPv4) as a random function would: the slots taken and
// the longest probe near what chance gives.
func TestTableSpread(t *testing.T) {
	const n = 4096
	tb := newTable(n, NewISNGenerator(isnKey))
	slots := int(tb.mask) + 1
	local := host6.Addr().As16()
	for _, tc := range []struct {
		name string
		k    func(i int) key
	}{
		{"ipv4 ports", func(i int) key { return keyOf(isnLocal, netip.AddrPortFrom(isnRemote.Addr(), uint16(i))) }},
		{"ipv4 hosts", func(i int) key {
			return keyOf(isnLocal, netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), 40000))
		}},
		{"ipv6 ports", func(i int) key { return key{lip: local, rip: peer6.Addr().As16(), lport: 80, rport: uint16(i)} }},
		{"ipv6 low bytes", func(i int) key {
			r := peer6.Addr().As16()
			r[14], r[15] = byte(i>>8), byte(i)
			return key{lip: local, rip: r, lport: 80, rport: 40000}
		}},
		{"ipv6 prefixes", func(i int) key {
			r := peer6.Addr().As16()
			r[6], r[7] = byte(i>>8), byte(i)
			return key{lip: local, rip: r, lport: 80, rport: 40000}
		}},
		{"ipv6 local", func(i int) key {
			l := local
			l[8], l[9] = byte(i>>8), byte(i)
			return key{lip: l, rip: peer6.Addr().As16(), lport: 443, rport: 40000}
		}},
	} {
		count := make([]int, slots)
		used, worst := 0, 0
		for i := 0; i < n; i++ {
			s := tb.hash(tc.k(i)) & tb.mask
			if count[s] == 0 {
				used++
			}
			count[s]++
			worst = max(worst, count[s])
		}
		// n keys in 2n slots: 2n(1-e^-0.5) = 3223 taken by chance.
		if used < 3100 || used > 3350 || worst > 8 {
			t.Errorf("%s: %d of %d slots taken (chance: 3223), at most %d keys in one", tc.name, used, slots, worst)
		}
	}
}

// establish6 is an IPv6 connection with timestamps and SACK, a peer MSS
// of 1440, and 20 segments of data sent and not acknowledged.
func establish6(t *testing.T) (*rig, Seq) {
	withIPv6(t)
	r := newRig(t, testConfig())
	iss := r.accept(&Options{MSS: 1440, SACKPermitted: true, HasTimestamps: true, TSVal: 5000})
	c := r.conn
	if c.MSS() != 1428 {
		t.Fatalf("MSS %d, want 1440 less 12 for timestamps", c.MSS())
	}
	c.Send.Write(make([]byte, 20*1428))
	c.Update(r.now)
	r.link.take()
	return r, iss
}

// TestPacketTooBig: a PTB quoting an outstanding segment lowers the MSS
// to the MTU less 60 and 12 for timestamps, and everything outstanding
// goes again at once, cut to the new size, with the congestion window
// kept; PTBs that quote nothing outstanding, another connection, or no
// lower MTU are ignored and counted; an MTU under 1280 counts as 1280.
func TestPacketTooBig(t *testing.T) {
	r, iss := establish6(t)
	c := r.conn
	una, nxt, _ := c.Sequence()
	if nxt == una {
		t.Fatal("nothing in flight")
	}
	cwnd := c.cc.Cwnd()
	ignored := func(name string, local, remote netip.AddrPort, seq Seq, mtu int) {
		t.Helper()
		before := r.h.Counters()[DropPacketTooBig]
		if r.h.PacketTooBig(local, remote, seq, mtu, r.now) {
			t.Errorf("%s: taken", name)
		}
		if r.h.Counters()[DropPacketTooBig] != before+1 || c.MSS() != 1428 {
			t.Errorf("%s: not counted, or MSS %d", name, c.MSS())
		}
		r.expect()
	}
	ignored("below SND.UNA", host6, peer6, una-1, 1280)
	ignored("at SND.MAX", host6, peer6, nxt, 1280)
	ignored("far beyond", host6, peer6, una+1<<30, 1280)
	ignored("another port", host6, netip.AddrPortFrom(peer6.Addr(), 40001), una, 1280)
	ignored("another address", host6, netip.AddrPortFrom(peer6.Addr().Next(), 40000), una, 1280)
	ignored("no reduction", host6, peer6, una, 1500)

	// Taken: 1400 - 40 - 20 - 12.
	if !r.h.PacketTooBig(host6, peer6, una+1428, 1400, r.now) {
		t.Fatal("PTB for an outstanding segment not taken")
	}
	if c.MSS() != 1328 || r.h.Counters()[PMTUReductions] != 1 {
		t.Fatalf("MSS %d, reductions %d; want 1328, 1", c.MSS(), r.h.Counters()[PMTUReductions])
	}
	if got := c.cc.Cwnd(); got < cwnd-1328 {
		t.Errorf("cwnd %d after the PTB, was %d: a PTB is not congestion", got, cwnd)
	}
	segs := r.link.take()
	if len(segs) == 0 || segs[0].f.Seq != iss+1 {
		t.Fatalf("after the PTB: %d segments, first %v; want SND.UNA again at once", len(segs), segs)
	}
	for _, s := range segs {
		if len(s.payload) > 1328 {
			t.Fatalf("segment of %d bytes after the MSS came down to 1328", len(s.payload))
		}
	}
	// Below the minimum MTU: 1280.
	una, _, _ = c.Sequence()
	if !r.h.PacketTooBig(host6, peer6, una, 600, r.now) || c.MSS() != 1280-60-12 {
		t.Errorf("MTU 600: MSS %d, want %d", c.MSS(), 1280-60-12)
	}
	r.link.take()
	// The transfer ends at the new size: the peer ACKs everything.
	for i := 0; i < 100 && c.Send.Len() > 0; i++ {
		_, nxt, rcv := c.Sequence()
		r.in(FlagACK, rcv, nxt, 65535, &Options{HasTimestamps: true, TSVal: 6000, TSEcr: 1}, nil)
		for _, s := range r.link.take() {
			if len(s.payload) > 1280-60-12 {
				t.Fatalf("segment of %d bytes", len(s.payload))
			}
		}
		r.advance(time.Millisecond)
	}
	if c.Send.Len() != 0 {
		t.Fatalf("%d bytes left unsent", c.Send.Len())
	}
}

// TestPacketTooBig4: the same call over IPv4 (the engine does not pass
// IPv4's fragmentation-needed messages yet): 20 bytes of IP header, a
// floor of 576.
func TestPacketTooBig4(t *testing.T) {
	r := newRig(t, testConfig())
	r.accept(&Options{MSS: 1460})
	c := r.conn
	c.Send.Write(make([]byte, 10*1460))
	c.Update(r.now)
	r.link.take()
	una, _, _ := c.Sequence()
	if !r.h.PacketTooBig(hostAddr, peerAddr, una, 1000, r.now) || c.MSS() != 960 {
		t.Errorf("MTU 1000: MSS %d, want 960", c.MSS())
	}
	r.link.take()
	una, _, _ = c.Sequence()
	if !r.h.PacketTooBig(hostAddr, peerAddr, una, 100, r.now) || c.MSS() != 536 {
		t.Errorf("MTU 100: MSS %d, want 536 (the 576 floor)", c.MSS())
	}
}
