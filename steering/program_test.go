package steering

import (
	"errors"
	"fmt"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/fastpathnet/fastpath/bpf"
	"github.com/fastpathnet/fastpath/internal/lab"
	"github.com/fastpathnet/fastpath/xsk"
)

// XDP verdicts.
const (
	xdpDrop     = 1
	xdpPass     = 2
	xdpRedirect = 4
)

var verdictNames = map[uint32]string{0: "ABORTED", 1: "DROP", 2: "PASS", 3: "TX", 4: "REDIRECT"}

// attachLab attaches steering to A's veth in a fresh lab and registers an
// XSK for queue 0, so that the engine action really redirects.
func attachLab(t testing.TB, opts Options) (*lab.Lab, *Steering, *xsk.Socket) {
	t.Helper()
	l := lab.NewT(t, lab.Options{})
	var s *Steering
	var sock *xsk.Socket
	err := l.A.Do(func() (err error) {
		if s, err = Attach(l.A.Link, opts); err != nil {
			return err
		}
		sock, err = xsk.New(l.A.Link, 0, xsk.DefaultOptions())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sock.Close(); s.Close() })
	if err := s.Register(0, sock.FD()); err != nil {
		t.Fatal(err)
	}
	return l, s, sock
}

func run(t testing.TB, s *Steering, frame []byte) uint32 {
	t.Helper()
	ret, err := s.Program().Run(&ebpf.RunOptions{Data: frame})
	if err != nil {
		t.Fatalf("test run of %d-byte frame: %v", len(frame), err)
	}
	return ret
}

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }

// testRules covers every kind of match.
var testRules = []Rule{
	{Name: "udp 9000", Proto: ProtoUDP, DstPort: Port(9000), Action: Engine},
	{Name: "tcp range", Proto: ProtoTCP, DstPort: Ports(40000, 40999), Action: Engine},
	{Name: "ping me", Proto: ProtoICMP, Dst: pfx("198.18.0.1/32"), Action: Engine},
	{Name: "arp me", Proto: ProtoARP, Dst: pfx("198.18.0.1/32"), Action: Engine},
	{Name: "bad net", Src: pfx("10.9.0.0/16"), Action: Drop},
	{Name: "gre", Proto: 47, Action: Drop},
	{Name: "dns here", Proto: ProtoUDP, Dst: pfx("198.18.0.0/24"), DstPort: Port(53), Action: Drop},
	{Name: "any 7000-7010", DstPort: Ports(7000, 7010), Action: Engine},
	// IPv6.
	{Name: "ping6 me", Proto: ProtoICMPv6, Dst: pfx("2001:db8::1/128"), Action: Engine},
	{Name: "nd me", Proto: ProtoND, Dst: pfx("2001:db8::1/128"), Action: Engine},
	{Name: "dns6 here", Proto: ProtoUDP, Dst: pfx("2001:db8::/64"), DstPort: Port(53), Action: Drop},
	{Name: "bad net6", Proto: ProtoTCP, Src: pfx("2001:db8:bad::/48"), Action: Drop},
	{Name: "host6", Dst: pfx("2001:db8:0:1::99/128"), Action: Drop},
}

func TestProgram(t *testing.T) {
	_, s, _ := attachLab(t, Options{})
	ids, err := s.SetRules(testRules)
	if err != nil {
		t.Fatal(err)
	}
	from := func(p pkt, src string) pkt { p.src = netip.MustParseAddr(src); return p }
	to := func(p pkt, dst string) pkt { p.dst = netip.MustParseAddr(dst); return p }
	with := func(p pkt, f func(*pkt)) pkt { f(&p); return p }
	icmp := pkt{etype: 0x0800, proto: 1, src: peerIP, dst: engineIP, payload: 8}
	arp := pkt{etype: 0x0806, arpTPA: engineIP}
	cases := []struct {
		name    string
		frame   []byte
		verdict uint32
		rule    int // index in testRules that must count it, or -1
		counter int // action counter that must count it, or -1
	}{
		{"golden UDP to 9000", goldenUDP, xdpRedirect, 0, bpf.CountEngine},
		{"UDP to 9001: default", udp(9001).build(), xdpPass, -1, bpf.CountDefault},
		{"UDP to 53, dst in prefix", udp(53).build(), xdpDrop, 6, bpf.CountDrop},
		{"UDP to 53, dst outside prefix", to(udp(53), "198.19.0.1").build(), xdpPass, -1, bpf.CountDefault},
		{"TCP to 40000 (range start)", tcp(40000).build(), xdpRedirect, 1, bpf.CountEngine},
		{"TCP to 40999 (range end)", tcp(40999).build(), xdpRedirect, 1, bpf.CountEngine},
		{"TCP to 41000 (past range)", tcp(41000).build(), xdpPass, -1, bpf.CountDefault},
		{"TCP to 9000 (UDP rule)", tcp(9000).build(), xdpPass, -1, bpf.CountDefault},
		{"UDP to 7005 (any-proto ports)", udp(7005).build(), xdpRedirect, 7, bpf.CountEngine},
		{"TCP to 7010 (any-proto ports)", tcp(7010).build(), xdpRedirect, 7, bpf.CountEngine},
		{"ICMP to me", icmp.build(), xdpRedirect, 2, bpf.CountEngine},
		{"ICMP to another", to(icmp, "198.18.0.9").build(), xdpPass, -1, bpf.CountDefault},
		{"ARP for me", arp.build(), xdpRedirect, 3, bpf.CountEngine},
		{"ARP for another", with(arp, func(p *pkt) { p.arpTPA = peerIP }).build(), xdpPass, -1, bpf.CountDefault},
		{"from bad net", from(udp(9001), "10.9.3.4").build(), xdpDrop, 4, bpf.CountDrop},
		{"from bad net to 9000: earlier rule wins", from(udp(9000), "10.9.3.4").build(), xdpRedirect, 0, bpf.CountEngine},
		{"GRE", with(icmp, func(p *pkt) { p.proto = 47 }).build(), xdpDrop, 5, bpf.CountDrop},
		{"one VLAN tag", with(udp(9000), func(p *pkt) { p.vlans = 1 }).build(), xdpRedirect, 0, bpf.CountVLAN},
		{"two VLAN tags", with(udp(9000), func(p *pkt) { p.vlans = 2 }).build(), xdpRedirect, 0, bpf.CountVLAN},
		{"IP options (IHL 6)", with(udp(9000), func(p *pkt) { p.ihl = 6 }).build(), xdpRedirect, 0, bpf.CountEngine},
		{"IP options (IHL 15)", with(udp(9000), func(p *pkt) { p.ihl = 15 }).build(), xdpRedirect, 0, bpf.CountEngine},
		{"first fragment to 9000: no port match", with(udp(9000), func(p *pkt) { p.frag = 0x2000 }).build(), xdpPass, -1, bpf.CountFragment},
		{"later fragment", with(udp(9000), func(p *pkt) { p.frag = 0x0010 }).build(), xdpPass, -1, bpf.CountFragment},
		{"fragment of ICMP to me: L3 rule", with(icmp, func(p *pkt) { p.frag = 0x0020 }).build(), xdpRedirect, 2, bpf.CountFragment},
		{"IPv6, no next header: default", pkt{etype: 0x86dd, proto: 59, src: peerIP6, dst: engineIP6}.build(), xdpPass, -1, bpf.CountIPv6},
		{"LLDP", pkt{etype: 0x88cc}.build(), xdpPass, -1, bpf.CountOther},
		// Malformed frames go to the kernel, even when they look like a
		// match.
		{"IPv4 version 6", with(udp(9000), func(p *pkt) { p.version = 6 }).build(), xdpPass, -1, bpf.CountMalformed},
		{"IHL 4", with(udp(9000), func(p *pkt) { p.ihl = 4 }).build(), xdpPass, -1, bpf.CountMalformed},
		{"total length < header", with(udp(9000), func(p *pkt) { p.totLen = 19 }).build(), xdpPass, -1, bpf.CountMalformed},
		{"total length < IP+UDP headers", with(udp(9000), func(p *pkt) { p.totLen = 27 }).build(), xdpPass, -1, bpf.CountMalformed},
		{"total length past the frame", with(udp(9000), func(p *pkt) { p.totLen = 61 }).build(), xdpPass, -1, bpf.CountMalformed},
		{"total length shorter than the frame (padding)", with(udp(9000), func(p *pkt) { p.payload = 0 }).build(), xdpRedirect, 0, bpf.CountEngine},
		{"UDP length 7", with(udp(9000), func(p *pkt) { p.udpLen = 7 }).build(), xdpPass, -1, bpf.CountMalformed},
		{"UDP length past the datagram", with(udp(9000), func(p *pkt) { p.udpLen = 13 }).build(), xdpPass, -1, bpf.CountMalformed},
		{"UDP length 4000", with(udp(9000), func(p *pkt) { p.udpLen = 4000 }).build(), xdpPass, -1, bpf.CountMalformed},
		{"UDP length shorter than the datagram", with(udp(9000), func(p *pkt) { p.udpLen = 9 }).build(), xdpRedirect, 0, bpf.CountEngine},
		{"TCP data offset 4", with(tcp(40000), func(p *pkt) { p.doff = 4 }).build(), xdpPass, -1, bpf.CountMalformed},
		{"TCP data offset 15, past the datagram", with(tcp(40000), func(p *pkt) { p.doff = 15 }).build(), xdpPass, -1, bpf.CountMalformed},
		{"TCP data offset 8, options inside", with(tcp(40000), func(p *pkt) { p.doff, p.payload = 8, 24 }).build(), xdpRedirect, 1, bpf.CountEngine},
		{"ICMP with total length past only 2 bytes", with(icmp, func(p *pkt) { p.totLen = 22 }).build(), xdpPass, -1, bpf.CountMalformed},
		{"ARP opcode 9", with(arp, func(p *pkt) { p.arpOp = 9 }).build(), xdpPass, -1, bpf.CountMalformed},
		{"ARP reply for me", with(arp, func(p *pkt) { p.arpOp = 2 }).build(), xdpRedirect, 3, bpf.CountEngine},
		{"TCP header cut at 16 bytes", with(tcp(40000), func(p *pkt) { p.payload = 8; p.totLen = 20 + 16 }).build()[:14+20+16], xdpPass, -1, bpf.CountMalformed},
		{"ARP with wrong lengths", func() []byte { b := arp.build(); b[18] = 8; return b }(), xdpPass, -1, bpf.CountMalformed},

		// IPv6: rules of each family, and of both.
		{"IPv6 UDP to 9000: a rule without prefix matches both families", udp6(9000).build(), xdpRedirect, 0, bpf.CountIPv6},
		{"IPv6 UDP to 9001: default", udp6(9001).build(), xdpPass, -1, bpf.CountDefault},
		{"IPv6 UDP to 53, dst in the /64", udp6(53).build(), xdpDrop, 10, bpf.CountDrop},
		{"IPv6 UDP to 53, dst outside the /64", to(udp6(53), "2001:db8:0:1::1").build(), xdpPass, -1, bpf.CountDefault},
		{"IPv6 TCP to 40000", tcp6(40000).build(), xdpRedirect, 1, bpf.CountEngine},
		{"IPv6 TCP to 7005 (any-proto ports)", tcp6(7005).build(), xdpRedirect, 7, bpf.CountEngine},
		{"IPv6 TCP from the bad /48", from(tcp6(41000), "2001:db8:bad::7").build(), xdpDrop, 11, bpf.CountDrop},
		{"IPv4 TCP from 32.1.13.184, the bad /48's first word: IPv6 rule", from(tcp(41000), "32.1.13.184").build(), xdpPass, -1, bpf.CountDefault},
		{"IPv6 UDP from ::ffff:10.9.3.4: bad net is IPv4's", from(udp6(9001), "::ffff:10.9.3.4").build(), xdpPass, -1, bpf.CountDefault},
		{"IPv6 UDP from a09:304::1, bad net's first word: IPv4 rule", from(udp6(9001), "a09:304::1").build(), xdpPass, -1, bpf.CountDefault},
		{"IPv6 GRE: a rule without prefix", with(udp6(0), func(p *pkt) { p.proto = 47 }).build(), xdpDrop, 5, bpf.CountDrop},
		{"IPv6 UDP to the /128 of an any rule", to(udp6(9001), "2001:db8:0:1::99").build(), xdpDrop, 12, bpf.CountDrop},
		{"IPv6 UDP to the /128 of an any rule, port 9000: earlier rule wins", to(udp6(9000), "2001:db8:0:1::99").build(), xdpRedirect, 0, bpf.CountEngine},
		{"ICMPv6 echo to me", icmp6(128, 8).build(), xdpRedirect, 8, bpf.CountEngine},
		{"ICMPv6 echo to another", to(icmp6(128, 8), "2001:db8::5").build(), xdpPass, -1, bpf.CountDefault},
		{"IPv6 next header 1 to ::ffff:198.18.0.1: icmp is IPv4's", with(to(icmp6(8, 8), "::ffff:198.18.0.1"), func(p *pkt) { p.proto = 1 }).build(), xdpPass, -1, bpf.CountDefault},
		{"IPv6 next header 1 to 198.18.0.1's word: icmp is IPv4's", with(to(icmp6(8, 8), "c612:1::"), func(p *pkt) { p.proto = 1 }).build(), xdpPass, -1, bpf.CountDefault},
		{"ICMPv6 echo to the /128 of an any rule", to(icmp6(128, 8), "2001:db8:0:1::99").build(), xdpDrop, 12, bpf.CountDrop},
		// Neighbour discovery: ND rules by target, ICMPv6 and any rules
		// by destination, the first in order wins.
		{"NS for me, to its solicited-node address", ns(engineIP6).build(), xdpRedirect, 9, bpf.CountEngine},
		{"NS for another", ns(peerIP6).build(), xdpPass, -1, bpf.CountDefault},
		{"NA for me", with(ns(engineIP6), func(p *pkt) { p.icmpType, p.dst = 136, peerIP6 }).build(), xdpRedirect, 9, bpf.CountEngine},
		{"NA for another, to me: ping6 me by destination", with(ns(peerIP6), func(p *pkt) { p.icmpType, p.dst = 136, engineIP6 }).build(), xdpRedirect, 8, bpf.CountEngine},
		{"NS for me, to me (NUD): ping6 me comes first", to(ns(engineIP6), "2001:db8::1").build(), xdpRedirect, 8, bpf.CountEngine},
		{"NS for the any rule's /128: by destination only", ns(netip.MustParseAddr("2001:db8:0:1::99")).build(), xdpPass, -1, bpf.CountDefault},
		{"NS to the any rule's /128", to(ns(peerIP6), "2001:db8:0:1::99").build(), xdpDrop, 12, bpf.CountDrop},
		{"RS to all routers", to(icmp6(133, 0), "ff02::2").build(), xdpPass, -1, bpf.CountDefault},
		{"redirect to me: ping6 me comes before nd me", icmp6(137, 32).build(), xdpRedirect, 8, bpf.CountEngine},
		{"NS cut before the end of its target", with(ns(engineIP6), func(p *pkt) { p.payload, p.target = 15, netip.Addr{} }).build(), xdpPass, -1, bpf.CountMalformed},
		{"ICMPv6 of 2 bytes", with(icmp6(128, 0), func(p *pkt) { p.plen = 2 }).build(), xdpPass, -1, bpf.CountMalformed},
		// Extension headers.
		{"hop-by-hop, UDP to 9000", with(udp6(9000), func(p *pkt) { p.ext = []ext6{{kind: 0}} }).build(), xdpRedirect, 0, bpf.CountEngine},
		{"every kind, UDP to 9000", with(udp6(9000), func(p *pkt) {
			p.ext = []ext6{{kind: 0, hdrLen: 1}, {kind: 60}, {kind: 43, hdrLen: 2}, {kind: 44}, {kind: 51, hdrLen: 1}, {kind: 60, hdrLen: 3}}
		}).build(), xdpRedirect, 0, bpf.CountEngine},
		{"8 headers, UDP to 9000", with(udp6(9000), func(p *pkt) { p.ext = chain6(8) }).build(), xdpRedirect, 0, bpf.CountEngine},
		{"9 headers", with(udp6(9000), func(p *pkt) { p.ext = chain6(9) }).build(), xdpPass, -1, bpf.CountExtChain},
		{"9 headers, malformed", with(udp6(9000), func(p *pkt) { p.ext = chain6(9) }).build(), xdpPass, -1, bpf.CountMalformed},
		{"8 headers, then a fragment", with(udp6(9000), func(p *pkt) { p.ext = append(chain6(8), ext6{kind: 44, frag: 1}) }).build(), xdpPass, -1, bpf.CountExtChain},
		{"hop-by-hop second", with(udp6(9000), func(p *pkt) { p.ext = []ext6{{kind: 60}, {kind: 0}} }).build(), xdpPass, -1, bpf.CountExtChain},
		{"hop-by-hop twice", with(udp6(9000), func(p *pkt) { p.ext = []ext6{{kind: 0}, {kind: 0}} }).build(), xdpPass, -1, bpf.CountMalformed},
		{"AH of 1028 bytes", with(udp6(9000), func(p *pkt) { p.ext = []ext6{{kind: 51, hdrLen: 255}} }).build(), xdpRedirect, 0, bpf.CountEngine},
		{"destination options of 2048 bytes", with(udp6(9000), func(p *pkt) { p.ext = []ext6{{kind: 60, hdrLen: 255}} }).build(), xdpRedirect, 0, bpf.CountEngine},
		{"destination options past the payload", with(udp6(9000), func(p *pkt) { p.ext = []ext6{{kind: 60, hdrLen: 3}}; p.plen = 31 }).build(), xdpPass, -1, bpf.CountMalformed},
		{"AH past the payload", with(udp6(9000), func(p *pkt) { p.ext = []ext6{{kind: 51, hdrLen: 3}}; p.plen = 19 }).build(), xdpPass, -1, bpf.CountMalformed},
		{"AH of 20 bytes, then UDP past the payload", with(udp6(9000), func(p *pkt) { p.ext = []ext6{{kind: 51, hdrLen: 3}}; p.plen = 20 }).build(), xdpPass, -1, bpf.CountMalformed},
		{"first fragment to 9000: no port match", with(udp6(9000), func(p *pkt) { p.ext = []ext6{{kind: 44, frag: 1}} }).build(), xdpPass, -1, bpf.CountFragment6},
		{"later fragment to 9000", with(udp6(9000), func(p *pkt) { p.ext = []ext6{{kind: 60}, {kind: 44, frag: 0x100}} }).build(), xdpPass, -1, bpf.CountFragment6},
		{"fragment of ICMPv6 to me: ping6 me", with(icmp6(128, 8), func(p *pkt) { p.ext = []ext6{{kind: 44, frag: 0x109}} }).build(), xdpRedirect, 8, bpf.CountFragment6},
		{"fragment of an NS for me: not ND", with(ns(engineIP6), func(p *pkt) { p.ext = []ext6{{kind: 44, frag: 1}} }).build(), xdpPass, -1, bpf.CountFragment6},
		{"atomic fragment to 9000: whole", with(udp6(9000), func(p *pkt) { p.ext = []ext6{{kind: 44, frag: 6}} }).build(), xdpRedirect, 0, bpf.CountEngine},
		// Malformed IPv6.
		{"IPv6 version 4", with(udp6(9000), func(p *pkt) { p.version = 4 }).build(), xdpPass, -1, bpf.CountMalformed},
		{"payload length past the frame", with(udp6(9000), func(p *pkt) { p.plen = 13 }).build(), xdpPass, -1, bpf.CountMalformed},
		{"payload length shorter than the frame (padding)", with(udp6(9000), func(p *pkt) { p.plen, p.udpLen = 8, 8 }).build(), xdpRedirect, 0, bpf.CountEngine},
		{"jumbogram", with(udp6(9000), func(p *pkt) { p.ext = []ext6{{kind: 0}}; p.plen = -1 }).build(), xdpPass, -1, bpf.CountMalformed},
		{"IPv6 UDP length 7", with(udp6(9000), func(p *pkt) { p.udpLen = 7 }).build(), xdpPass, -1, bpf.CountMalformed},
		{"IPv6 UDP length past the payload", with(udp6(9000), func(p *pkt) { p.udpLen = 13 }).build(), xdpPass, -1, bpf.CountMalformed},
		{"IPv6 TCP data offset 4", with(tcp6(40000), func(p *pkt) { p.doff = 4 }).build(), xdpPass, -1, bpf.CountMalformed},
		{"IPv6 TCP data offset 8, past the payload", with(tcp6(40000), func(p *pkt) { p.doff = 8 }).build(), xdpPass, -1, bpf.CountMalformed},
		{"IPv6 behind two VLAN tags", with(udp6(9000), func(p *pkt) { p.vlans = 2 }).build(), xdpRedirect, 0, bpf.CountVLAN},
	}
	// Truncations: every cut inside a header the program must read.
	for _, tc := range []struct {
		name string
		p    pkt
		cuts []int
	}{
		{"UDP to 9000", udp(9000), []int{14, 20, 33, 34, 35, 37, 41}},
		{"TCP to 40000", tcp(40000), []int{34, 37, 53}},
		{"UDP to 9000 behind two tags", with(udp(9000), func(p *pkt) { p.vlans = 2 }), []int{14, 17, 21, 30, 41, 44}},
		{"UDP to 9000 with IHL 15", with(udp(9000), func(p *pkt) { p.ihl = 15 }), []int{34, 60, 73, 77}},
		{"ICMP to me", icmp, []int{34, 37}},
		{"ARP for me", arp, []int{14, 27, 41}},
		{"IPv6", pkt{etype: 0x86dd}, []int{14, 53}},
		{"IPv6 UDP to 9000", udp6(9000), []int{14, 20, 53, 54, 61, 65}},
		{"IPv6 UDP to 9000 behind hop-by-hop", with(udp6(9000), func(p *pkt) { p.ext = []ext6{{kind: 0, hdrLen: 1}} }), []int{54, 61, 69, 70, 77}},
		{"NS for me", ns(engineIP6), []int{54, 57, 62, 77}},
	} {
		full := tc.p.build()
		for _, n := range tc.cuts {
			cases = append(cases, struct {
				name    string
				frame   []byte
				verdict uint32
				rule    int
				counter int
			}{fmt.Sprintf("%s cut at %d", tc.name, n), full[:n], xdpPass, -1, bpf.CountMalformed})
		}
	}

	for _, tc := range cases {
		beforeRules, err := s.Rules()
		if err != nil {
			t.Fatal(err)
		}
		before, err := s.Stats()
		if err != nil {
			t.Fatal(err)
		}
		got := run(t, s, tc.frame)
		if got != tc.verdict {
			t.Errorf("%s: verdict %s, want %s", tc.name, verdictNames[got], verdictNames[tc.verdict])
			continue
		}
		afterRules, _ := s.Rules()
		after, _ := s.Stats()
		for i := range afterRules {
			want := uint64(0)
			if i == tc.rule {
				want = 1
			}
			if d := afterRules[i].Packets - beforeRules[i].Packets; d != want {
				t.Errorf("%s: rule %q counted %d packets, want %d", tc.name, afterRules[i].Rule.Name, d, want)
			}
			if afterRules[i].ID != ids[i] {
				t.Errorf("rule %d has ID %d, want %d", i, afterRules[i].ID, ids[i])
			}
		}
		if tc.counter >= 0 && after[tc.counter].Packets != before[tc.counter].Packets+1 {
			t.Errorf("%s: counter %s did not count it", tc.name, Names[tc.counter])
		}
		if d := after[tc.counter].Bytes - before[tc.counter].Bytes; d != uint64(len(tc.frame)) {
			t.Errorf("%s: counter %s counted %d bytes, want %d", tc.name, Names[tc.counter], d, len(tc.frame))
		}
		verdictCounter := map[uint32]int{xdpPass: bpf.CountPass, xdpDrop: bpf.CountDrop, xdpRedirect: bpf.CountEngine}[got]
		if after[verdictCounter].Packets != before[verdictCounter].Packets+1 {
			t.Errorf("%s: verdict counter %s did not count it", tc.name, Names[verdictCounter])
		}
	}
}

// TestNoSocketFallsBack: the engine action on a queue with no socket passes
// the frame to the kernel and counts it.
func TestNoSocketFallsBack(t *testing.T) {
	_, s, _ := attachLab(t, Options{})
	if _, err := s.Add(Rule{Proto: ProtoUDP, DstPort: Port(9000), Action: Engine}); err != nil {
		t.Fatal(err)
	}
	if err := s.Unregister(0); err != nil {
		t.Fatal(err)
	}
	before, _ := s.Stats()
	if got := run(t, s, goldenUDP); got != xdpPass {
		t.Fatalf("verdict %s, want PASS", verdictNames[got])
	}
	after, _ := s.Stats()
	if after[bpf.CountNoSocket].Packets != before[bpf.CountNoSocket].Packets+1 {
		t.Fatal("no_socket not counted")
	}
}

// TestRuleEdits: IDs survive edits around them, a removed rule stops
// matching, a reused counter slot starts from zero, the default changes.
func TestRuleEdits(t *testing.T) {
	_, s, _ := attachLab(t, Options{Default: Drop})
	if got := run(t, s, goldenUDP); got != xdpDrop {
		t.Fatalf("no rules, default drop: verdict %s", verdictNames[got])
	}
	a, err := s.Add(Rule{Name: "a", Proto: ProtoUDP, DstPort: Port(9000), Action: Engine})
	if err != nil {
		t.Fatal(err)
	}
	run(t, s, goldenUDP)
	b, err := s.Insert(0, Rule{Name: "b", Proto: ProtoUDP, DstPort: Port(9000), Action: Pass})
	if err != nil {
		t.Fatal(err)
	}
	if got := run(t, s, goldenUDP); got != xdpPass {
		t.Fatalf("inserted first rule did not win: %s", verdictNames[got])
	}
	rules, _ := s.Rules()
	if len(rules) != 2 || rules[0].ID != b || rules[1].ID != a || rules[1].Packets != 1 || rules[0].Packets != 1 {
		t.Fatalf("rules after insert: %+v", rules)
	}
	if err := s.Remove(b); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(b); !errors.Is(err, ErrNoRule) {
		t.Fatalf("second Remove: %v", err)
	}
	c, err := s.Add(Rule{Name: "c", Proto: ProtoICMP, Action: Drop}) // takes b's counter slot
	if err != nil {
		t.Fatal(err)
	}
	rules, _ = s.Rules()
	if len(rules) != 2 || rules[0].ID != a || rules[1].ID != c || rules[1].Packets != 0 {
		t.Fatalf("rules after remove and add: %+v", rules)
	}
	if got := run(t, s, goldenUDP); got != xdpRedirect {
		t.Fatalf("after removing b: %s", verdictNames[got])
	}
	if err := s.SetDefault(Pass); err != nil || s.Default() != Pass {
		t.Fatal(err)
	}
	if got := run(t, s, udp(1).build()); got != xdpPass {
		t.Fatalf("default pass: %s", verdictNames[got])
	}
	// A rule the program cannot hold leaves the installed rules alone.
	if _, err := s.Add(Rule{Proto: ProtoICMP, DstPort: Port(1)}); !errors.Is(err, ErrRule) {
		t.Fatalf("ICMP rule with ports: %v", err)
	}
	if rules, _ := s.Rules(); len(rules) != 2 {
		t.Fatalf("a refused rule changed the rules: %+v", rules)
	}
}

// TestSwapIsAtomic changes the rules continuously while frames are tested:
// every verdict is the old ruleset's or the new one's. Ruleset A drops the
// frame by rule and passes by default; B engines it by default and has no
// rule for it; any mix of the two would pass it.
func TestSwapIsAtomic(t *testing.T) {
	_, s, _ := attachLab(t, Options{})
	a := []Rule{{Proto: ProtoUDP, DstPort: Port(9000), Action: Drop}}
	b := []Rule{{Proto: ProtoUDP, DstPort: Port(9001), Action: Drop}}
	// Start from A: the empty ruleset Attach installs passes the frame.
	if _, err := s.SetRules(a); err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	errc := make(chan error, 1)
	go func() {
		defer close(errc)
		for i := 0; !stop.Load(); i++ {
			var err error
			if i%2 == 0 {
				_, err = s.SetRules(a)
				if err == nil {
					err = s.SetDefault(Pass)
				}
			} else {
				// One swap: rules and default together.
				s.def = Engine
				_, err = s.SetRules(b)
			}
			if err != nil {
				errc <- err
				return
			}
		}
	}()
	seen := map[uint32]int{}
	// At least 20,000 runs, and on until both rulesets were seen: on a
	// loaded machine (or under -race) the swapper may not have run yet.
	deadline := time.Now().Add(20 * time.Second)
	both := func() bool { return seen[xdpDrop] > 0 && seen[xdpRedirect] > 0 }
	for i := 0; i < 20000 || !both() && time.Now().Before(deadline); i++ {
		ret, err := s.Program().Run(&ebpf.RunOptions{Data: goldenUDP})
		if err != nil {
			t.Fatal(err)
		}
		seen[ret]++
	}
	stop.Store(true)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	t.Logf("verdicts: %v", seen)
	if !both() {
		t.Fatalf("did not see both rulesets in 20 s: %v", seen)
	}
	// SetRules(a) then SetDefault(Pass) are two swaps: between them
	// ruleset A runs with B's default (engine), which also drops the frame
	// by rule. PASS can come only from a mixed ruleset.
	if seen[xdpPass] != 0 {
		t.Fatalf("%d frames saw a half-installed ruleset (PASS): %v", seen[xdpPass], seen)
	}
}

// chain6 is n extension headers after a hop-by-hop header: routing, AH and
// destination options in turn.
func chain6(n int) []ext6 {
	var c []ext6
	for i := 0; i < n; i++ {
		c = append(c, []ext6{{kind: 0}, {kind: 43}, {kind: 51, hdrLen: 2}, {kind: 60, hdrLen: 1}}[min(i, 1+(i-1)%3)])
	}
	return c
}
