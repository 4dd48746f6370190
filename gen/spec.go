// Package gen is fastpath's traffic generator: it builds UDP frames over
// IPv4 or IPv6
// from a template, varies their flows and sizes, stamps them with a
// sequence number and a send time, and drives AF_XDP TX rings at a chosen
// rate or as fast as they go. Its receive side (Tracker) counts what a
// sink gets: loss, duplicates, reordering and one-way latency.
//
// Frames are built in place in frames the sender owns for the whole run:
// a frame's payload is written once, and each send rewrites only its
// header (42 bytes over IPv4, 62 over IPv6) and its stamp, with the
// checksums updated incrementally (RFC 1624), never recomputed.
package gen

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/fastpathnet/fastpath/ether"
)

// ErrSpec reports a Spec field out of range.
var ErrSpec = errors.New("invalid traffic spec")

// Frame sizes count the Ethernet frame with its 4-byte FCS, as pktgen,
// xdpsock and TRex do: a 64-byte frame is 60 bytes handed to the NIC.
const (
	FCSLen  = 4
	MinSize = 64
	// MinSize6 is the smallest IPv6/UDP frame: its headers and the FCS.
	MinSize6 = HeaderLen6 + FCSLen
	// HeaderLen is Ethernet, IPv4 and UDP: what each send rewrites.
	HeaderLen = ether.HeaderLen + 20 + 8
	// HeaderLen6 is Ethernet, IPv6 and UDP.
	HeaderLen6 = ether.HeaderLen + 40 + 8
	// L1Overhead is the preamble, start delimiter and inter-frame gap
	// each frame costs on the wire beyond its bytes.
	L1Overhead = 20
)

// SizeWeight is one size of an IMIX and its share.
type SizeWeight struct {
	Size   int // frame length with FCS
	Weight int
}

// Range is an inclusive range of ports or addresses; Lo == Hi is one
// value.
type Range[T any] struct{ Lo, Hi T }

// Spec describes the traffic one generator sends.
type Spec struct {
	SrcMAC, DstMAC ether.Addr
	// Src and Dst are the first source and destination, both IPv4 or
	// both IPv6; SrcIPs, SrcPorts and DstPorts, when set (Hi above Lo),
	// vary them (an IPv6 range within one /96: its last 32 bits vary).
	Src, Dst netip.AddrPort
	SrcIPs   Range[netip.Addr]
	SrcPorts Range[uint16]
	DstPorts Range[uint16]
	// Flows caps the distinct flows (combinations of the varied fields)
	// cycled through; 0: all combinations.
	Flows int
	// Shard and Shards split the flows between Shards generators (hosts):
	// this one sends flow f (counted in the order a single generator
	// sends them, after the Flows cap) where f mod Shards is Shard, so
	// that together they send the flows one would, none twice. Shards 0
	// or 1: every flow.
	Shard, Shards int
	// Random picks each frame's flow at random instead of in order.
	Random bool
	Seed   uint64
	// Sizes are the frame sizes (with FCS) and their weights: one entry
	// for a fixed size, several for an IMIX. Default 64.
	Sizes []SizeWeight
	// Stamp writes a stream number, a sequence number and a send time
	// into each payload (see Stamp).
	Stamp bool
	// Stream is the first stamp stream: queue i's sender stamps
	// Stream+i. Runs that share a receiver (one trial after another)
	// take different streams, so that one's late frames are not counted
	// as another's.
	Stream uint8
	// NoUDPChecksum sends 0 (no checksum) in the UDP header; IPv4 only
	// (RFC 8200 8.1 makes it mandatory over IPv6).
	NoUDPChecksum bool
	// TTL, or IPv6's hop limit. Default 64.
	TTL uint8
	// MaxSize is the largest frame (with FCS) the device takes; 0: 1518.
	MaxSize int
}

func (s *Spec) check() error {
	v6 := s.Dst.Addr().Is6()
	for _, a := range []netip.Addr{s.Src.Addr(), s.Dst.Addr()} {
		if !a.IsValid() || a.Is6() != v6 || a.Is4In6() || a.Zone() != "" {
			return fmt.Errorf("gen: source %v, destination %v: %w: two IPv4 or two IPv6 addresses", s.Src, s.Dst, ErrSpec)
		}
	}
	if v6 && s.NoUDPChecksum {
		return fmt.Errorf("gen: %w: UDP over IPv6 needs its checksum (RFC 8200 8.1)", ErrSpec)
	}
	min := s.minSize()
	if len(s.Sizes) == 0 {
		s.Sizes = []SizeWeight{{Size: min, Weight: 1}}
	}
	if s.MaxSize == 0 {
		s.MaxSize = 1518
	}
	total := 0
	for _, sw := range s.Sizes {
		if sw.Size < min || sw.Size > s.MaxSize {
			what := ""
			if min > MinSize {
				what = fmt.Sprintf(" (the smallest frame for %s)", s.family())
			}
			return fmt.Errorf("gen: frame size %d: %w: %d%s to %d bytes with the FCS", sw.Size, ErrSpec, min, what, s.MaxSize)
		}
		if sw.Weight < 1 || sw.Weight > 4096 {
			return fmt.Errorf("gen: frame size %d: %w: weight %d, use 1 to 4096", sw.Size, ErrSpec, sw.Weight)
		}
		total += sw.Weight
	}
	if total > 4096 {
		return fmt.Errorf("gen: %w: IMIX weights add up to %d; keep them at 4096 or less", ErrSpec, total)
	}
	if s.SrcIPs.Lo.IsValid() {
		lo, hi := s.SrcIPs.Lo.As16(), s.SrcIPs.Hi.As16()
		if s.SrcIPs.Lo.Is6() != v6 || s.SrcIPs.Hi.Is6() != v6 || s.SrcIPs.Hi.Less(s.SrcIPs.Lo) || [12]byte(lo[:12]) != [12]byte(hi[:12]) {
			return fmt.Errorf("gen: source addresses %v-%v: %w: a range of %s, low to high (IPv6: within one /96)", s.SrcIPs.Lo, s.SrcIPs.Hi, ErrSpec, s.family())
		}
	}
	if s.SrcPorts.Hi < s.SrcPorts.Lo || s.DstPorts.Hi < s.DstPorts.Lo {
		return fmt.Errorf("gen: %w: port ranges go low to high", ErrSpec)
	}
	if s.Flows < 0 {
		return fmt.Errorf("gen: %w: %d flows", ErrSpec, s.Flows)
	}
	if s.Shards < 0 || s.Shards > 1<<16 || s.Shard < 0 || s.Shards > 1 && s.Shard >= s.Shards || s.Shards <= 1 && s.Shard != 0 {
		return fmt.Errorf("gen: %w: shard %d of %d: use 0 to N-1 of N (at most 65536)", ErrSpec, s.Shard, s.Shards)
	}
	if s.TTL == 0 {
		s.TTL = 64
	}
	return nil
}

// family names the spec's address family.
func (s *Spec) family() string {
	if s.Dst.Addr().Is6() {
		return "IPv6"
	}
	return "IPv4"
}

// minSize is the smallest frame the spec can send: its headers, the
// stamp if any, and the FCS; never below Ethernet's 64 bytes.
func (s *Spec) minSize() int {
	n := HeaderLen + FCSLen
	if s.Dst.Addr().Is6() {
		n = HeaderLen6 + FCSLen
	}
	if s.Stamp {
		n += StampLen
	}
	return max(n, MinSize)
}

// ParseRate parses a rate: packets per second ("500", "50k", "1.5M") or
// bits per second on the wire ("800Mbps", "10Gbps", "2.5gbit"). Zero
// means as fast as possible.
func ParseRate(s string) (Rate, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	bits := false
	for _, suf := range []string{"bps", "bit/s", "bits", "bit"} {
		if strings.HasSuffix(t, suf) {
			t, bits = strings.TrimSuffix(t, suf), true
			break
		}
	}
	t = strings.TrimSuffix(t, "pps")
	mult := 1.0
	if n := len(t); n > 0 {
		switch t[n-1] {
		case 'k':
			mult, t = 1e3, t[:n-1]
		case 'm':
			mult, t = 1e6, t[:n-1]
		case 'g':
			mult, t = 1e9, t[:n-1]
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v < 0 || v*mult > 1e13 || v != v {
		return Rate{}, fmt.Errorf("rate %q: use packets per second such as 500, 50k or 1.5M, or bits per second such as 800Mbps or 10Gbps", s)
	}
	return Rate{Value: v * mult, Bits: bits}, nil
}

// Rate is a packet rate, or a bit rate counted on the wire (L1: the frame,
// its FCS, and the 20 bytes of preamble and gap), so that 10Gbps is a 10G
// link's line rate at any frame size.
type Rate struct {
	Value float64
	Bits  bool
}

func (r Rate) String() string {
	switch {
	case r.Value == 0:
		return "max"
	case r.Bits:
		return strconv.FormatFloat(r.Value, 'g', -1, 64) + " bit/s (L1)"
	}
	return strconv.FormatFloat(r.Value, 'g', -1, 64) + " pps"
}

// Scale is the part w of the rate (a sender's, of its generator's).
func (r Rate) Scale(w float64) Rate { return Rate{Value: r.Value * w, Bits: r.Bits} }

// ParseIMIX parses sizes and weights, "64:7,594:4,1518:1"; a bare size
// has weight 1.
func ParseIMIX(s string) ([]SizeWeight, error) {
	var out []SizeWeight
	for _, part := range strings.Split(s, ",") {
		size, weight, found := strings.Cut(strings.TrimSpace(part), ":")
		sw := SizeWeight{Weight: 1}
		var err error
		if sw.Size, err = strconv.Atoi(size); err != nil {
			return nil, fmt.Errorf("imix %q: use size:weight pairs such as 64:7,594:4,1518:1", s)
		}
		if found {
			if sw.Weight, err = strconv.Atoi(weight); err != nil || sw.Weight < 1 {
				return nil, fmt.Errorf("imix %q: weights are whole numbers of 1 or more, as in 64:7,594:4,1518:1", s)
			}
		}
		out = append(out, sw)
	}
	return out, nil
}

// ParsePortRange parses "A-B" or "A".
func ParsePortRange(s string) (Range[uint16], error) {
	lo, hi, found := strings.Cut(s, "-")
	if !found {
		hi = lo
	}
	a, err1 := strconv.ParseUint(strings.TrimSpace(lo), 10, 16)
	b, err2 := strconv.ParseUint(strings.TrimSpace(hi), 10, 16)
	if err1 != nil || err2 != nil || b < a {
		return Range[uint16]{}, fmt.Errorf("port range %q: use A-B with 0 <= A <= B <= 65535, such as 1024-2047", s)
	}
	return Range[uint16]{uint16(a), uint16(b)}, nil
}

// ParseAddrRange parses "A-B" or "A": IPv4 addresses, or IPv6 ones
// within one /96 (2001:db8::1-2001:db8::ff).
func ParseAddrRange(s string) (Range[netip.Addr], error) {
	lo, hi, found := strings.Cut(s, "-")
	if !found {
		hi = lo
	}
	a, err1 := netip.ParseAddr(strings.TrimSpace(lo))
	b, err2 := netip.ParseAddr(strings.TrimSpace(hi))
	la, lb := a.As16(), b.As16()
	if err1 != nil || err2 != nil || a.Is4() != b.Is4() || a.Is4In6() || b.Is4In6() || a.Zone() != "" || b.Less(a) || a.Is6() && [12]byte(la[:12]) != [12]byte(lb[:12]) {
		return Range[netip.Addr]{}, fmt.Errorf("address range %q: use A-B, low to high, of IPv4 addresses such as 198.18.0.1-198.18.0.254 or IPv6 ones within a /96 such as 2001:db8::1-2001:db8::ff", s)
	}
	return Range[netip.Addr]{a, b}, nil
}
