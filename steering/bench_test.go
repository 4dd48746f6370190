package steering

import (
	"fmt"
	"slices"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/fastpathnet/fastpath/bpf"
)

// runNs runs prog on frame repeat times in the kernel (BPF_PROG_TEST_RUN)
// and returns the kernel's average time per run.
func runNs(b *testing.B, prog *ebpf.Program, frame []byte, repeat uint32) float64 {
	b.Helper()
	ret, dur, err := prog.Benchmark(frame, int(repeat), nil)
	if err != nil {
		b.Fatal(err)
	}
	if ret != xdpRedirect {
		b.Fatalf("verdict %s, want REDIRECT", verdictNames[ret])
	}
	return float64(dur.Nanoseconds())
}

// BenchmarkSteer measures the steering program per packet against the
// floor, a program that only redirects to the XSKMAP, on the same frame in
// the same run, alternating, as in-kernel test runs of 1e6 repetitions.
// Every ruleset has 64 rules:
//   - match-first: 63 UDP and TCP rules for other ports, and the matching
//     UDP rule: its port's list holds one candidate.
//   - match-last: 14 rules for the frame's port whose source prefixes do
//     not match, then the matching one: the longest list, walked to its end.
//   - no-match: the longest list, nothing matches; the default (engine)
//     applies.
//   - ipv6-match-last: match-last for an IPv6 frame (UDP behind a
//     destination options header) and IPv6 rules: the extension-header walk
//     and 128-bit compares.
func BenchmarkSteer(b *testing.B) {
	if testing.Short() {
		b.Skip("kernel benchmark")
	}
	other := func(n int) []Rule {
		var rs []Rule
		for i := 0; i < n; i++ {
			p := ProtoUDP
			if i%2 == 1 {
				p = ProtoTCP
			}
			rs = append(rs, Rule{Proto: p, DstPort: Port(uint16(10000 + i)), Action: Engine})
		}
		return rs
	}
	decoys := func(n int) []Rule {
		var rs []Rule
		for i := 0; i < n; i++ {
			rs = append(rs, Rule{Proto: ProtoUDP, Src: pfx(fmt.Sprintf("10.%d.0.0/16", i)), DstPort: Port(9000), Action: Drop})
		}
		return rs
	}
	decoys6 := func(n int) []Rule {
		var rs []Rule
		for i := 0; i < n; i++ {
			rs = append(rs, Rule{Proto: ProtoUDP, Src: pfx(fmt.Sprintf("2001:db8:%x::/48", 0x100+i)), DstPort: Port(9000), Action: Drop})
		}
		return rs
	}
	match := Rule{Proto: ProtoUDP, Dst: pfx("198.18.0.0/24"), DstPort: Port(9000), Action: Engine}
	match6 := Rule{Proto: ProtoUDP, Dst: pfx("2001:db8::/64"), DstPort: Port(9000), Action: Engine}
	frame6 := udp6(9000)
	frame6.ext = []ext6{{kind: 60}}
	for _, bc := range []struct {
		name  string
		rules []Rule
		def   Action
		frame []byte
	}{
		{"match-first", append(other(63), match), Drop, goldenUDP},
		{"match-last", append(append(decoys(14), match), other(49)...), Drop, goldenUDP},
		{"no-match", append(decoys(15), other(49)...), Engine, goldenUDP},
		{"ipv6-match-last", append(append(decoys6(14), match6), other(49)...), Drop, frame6.build()},
	} {
		b.Run(bc.name, func(b *testing.B) {
			_, s, sock := attachLab(b, Options{Default: bc.def})
			if len(bc.rules) != 64 {
				b.Fatalf("%d rules", len(bc.rules))
			}
			if _, err := s.SetRules(bc.rules); err != nil {
				b.Fatal(err)
			}
			floor, err := bpf.NewRedirect(1)
			if err != nil {
				b.Fatal(err)
			}
			defer floor.Close()
			if err := floor.Register(0, sock.FD()); err != nil {
				b.Fatal(err)
			}
			const repeat = 1_000_000
			var steerNs, floorNs, diffs []float64
			for i := 0; i < b.N; i++ {
				f := runNs(b, floor.Program, bc.frame, repeat)
				s := runNs(b, s.Program(), bc.frame, repeat)
				floorNs, steerNs, diffs = append(floorNs, f), append(steerNs, s), append(diffs, s-f)
			}
			// The machine is noisy: report the median of the paired
			// differences and the difference of the minimums (the
			// least-disturbed runs).
			b.ReportMetric(median(steerNs), "ns/pkt")
			b.ReportMetric(median(floorNs), "floor-ns/pkt")
			b.ReportMetric(median(diffs), "overhead-ns/pkt")
			b.ReportMetric(slices.Min(steerNs)-slices.Min(floorNs), "min-overhead-ns/pkt")
		})
	}
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s[len(s)/2]
}
