//go:build !race

package rings

import "testing"

// TestNoAllocs has a row per hot-path verb: none may allocate.
func TestNoAllocs(t *testing.T) {
	fill, comp, _ := addrPair(t, 64)
	tx, rx, _ := descPair(t, 64)
	addrs := make([]uint64, 16)
	descs := make([]Desc, 16)
	for _, tc := range []struct {
		name string
		fn   func()
	}{
		{"Fill.Reserve+Set+Submit", func() {
			idx, n := fill.Reserve(16)
			for i := uint32(0); i < n; i++ {
				fill.Set(idx+i, uint64(i))
			}
			fill.Submit(n)
		}},
		{"Completion.Peek+Addr+Release", func() {
			idx, n := comp.Peek(16)
			for i := uint32(0); i < n; i++ {
				_ = comp.Addr(idx + i)
			}
			comp.Release(n)
		}},
		{"Fill.Put+Completion.Get", func() { fill.Put(addrs); comp.Get(addrs) }},
		{"TX.Reserve+Set+Submit", func() {
			idx, n := tx.Reserve(16)
			for i := uint32(0); i < n; i++ {
				tx.Set(idx+i, Desc{Addr: uint64(i)})
			}
			tx.Submit(n)
		}},
		{"RX.Peek+Desc+Cancel+Release", func() {
			idx, n := rx.Peek(16)
			for i := uint32(0); i < n; i++ {
				_ = rx.Desc(idx + i)
			}
			rx.Cancel(n)
			_, n = rx.Peek(16)
			rx.Release(n)
		}},
		{"TX.Put+RX.Get", func() { tx.Put(descs); rx.Get(descs) }},
		{"NeedWakeup", func() { _ = tx.NeedWakeup() }},
	} {
		if a := testing.AllocsPerRun(100, tc.fn); a != 0 {
			t.Errorf("%s: %v allocations per run, want 0", tc.name, a)
		}
	}
}
