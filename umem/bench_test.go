package umem

import "testing"

// BenchmarkAllocFree64 takes and returns frames in batches of 64, as an
// engine refilling its fill ring does.
func BenchmarkAllocFree64(b *testing.B) {
	a := NewAllocator(0, 4096, 4096)
	buf := make([]uint64, 64)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		n := a.AllocN(buf)
		a.FreeN(buf[:n])
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*64), "ns/frame")
}
