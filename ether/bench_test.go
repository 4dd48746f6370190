package ether

import "testing"

func BenchmarkSplit(b *testing.B) {
	defer reportPPS(b)
	for _, g := range goldens {
		b.Run(g.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(g.want.L3)) // header bytes read
			var f Frame
			for i := 0; i < b.N; i++ {
				f, _ = Split(g.frame)
			}
			if f.L3 != g.want.L3 {
				b.Fatal(f)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkts/s")
		})
	}
}

func BenchmarkEncode(b *testing.B) {
	defer reportPPS(b)
	b.ReportAllocs()
	b.SetBytes(HeaderLen)
	buf := make([]byte, MinFrame)
	for i := 0; i < b.N; i++ {
		_, _ = Encode(buf, macB, macA, TypeIPv4)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkts/s")
}

// reportPPS reports packets per second: one packet per operation.
func reportPPS(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkts/s")
}
