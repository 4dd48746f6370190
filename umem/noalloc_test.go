//go:build !race

package umem

import "testing"

// TestNoAllocs has a row per frame-allocator entry point.
func TestNoAllocs(t *testing.T) {
	a := NewAllocator(0, 256, 2048)
	buf := make([]uint64, 32)
	for _, tc := range []struct {
		name string
		fn   func()
	}{
		{"Alloc+Free", func() {
			addr, _ := a.Alloc()
			a.Free(addr)
		}},
		{"AllocN+FreeN", func() {
			n := a.AllocN(buf)
			a.FreeN(buf[:n])
		}},
		{"Owns", func() { _ = a.Owns(4096) }},
	} {
		if n := testing.AllocsPerRun(100, tc.fn); n != 0 {
			t.Errorf("%s: %v allocations per run, want 0", tc.name, n)
		}
	}
}
