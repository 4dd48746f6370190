//go:build !race

package stack

import (
	"net/netip"
	"testing"

	"github.com/fastpathnet/fastpath/arp"
	"github.com/fastpathnet/fastpath/ether"
	"github.com/fastpathnet/fastpath/internal/lab"
	"github.com/fastpathnet/fastpath/ipv4"
	"github.com/fastpathnet/fastpath/rings"
)

// TestNoAllocs feeds an engine (not started: the test plays its loop)
// frames from receive to reply: ARP request, ICMP echo, UDP echo in
// place, UDP reply built fresh, datagram to an unbound port, a bad
// checksum. None may allocate.
func TestNoAllocs(t *testing.T) {
	l := lab.NewT(t, lab.Options{})
	cfg := DefaultConfig()
	cfg.Device, cfg.Addrs = l.A.Link, []netip.Prefix{engineAddr}
	var s *Stack
	if err := l.A.Do(func() (err error) {
		if s, err = New(cfg); err != nil {
			return err
		}
		if err := s.BindUDP(7, echo); err != nil {
			return err
		}
		return s.BindUDP(9, func(d *Datagram) { d.Engine().SendUDP(d.Dst, d.Src, d.Payload[:len(d.Payload)/2]) })
	}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	e := s.engines[0]
	e.now = monotonic()
	e.sock.Refill()
	peerMAC := ether.Addr(l.B.MAC)
	peer := l.B.Addr.Addr()
	e.neigh.Set(peer, peerMAC, e.now, nil)

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
		inject := func() {
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
}
