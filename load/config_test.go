package load

import (
	"net/netip"
	"testing"
)

// TestShare: the run's totals split between the engines, none of them
// given more than the totals allow: a zero share opens nothing (a zero
// Count or Conns of its own would mean "no limit").
func TestShare(t *testing.T) {
	for _, tc := range []struct {
		cps       float64
		conns     int
		count     int64
		n         int
		wantCPS   []float64
		wantConns []int
		wantCount []int64
	}{
		{1000, 0, 0, 2, []float64{500, 500}, []int{0, 0}, []int64{0, 0}},
		{1000, 3, 7, 2, []float64{500, 500}, []int{2, 1}, []int64{4, 3}},
		{900, 0, 1, 3, []float64{900, 0, 0}, []int{0, 0, 0}, []int64{1, 0, 0}},
		{900, 2, 0, 3, []float64{450, 450, 0}, []int{1, 1, 0}, []int64{0, 0, 0}},
		{0, 1, 10, 2, []float64{0, 0}, []int{1, 0}, []int64{10, 0}},
	} {
		cfg := DefaultConfig()
		cfg.Dst, cfg.CPS, cfg.Conns, cfg.Count = netip.MustParseAddrPort("198.18.0.2:80"), tc.cps, tc.conns, tc.count
		var sumCPS float64
		var sumConns int
		var sumCount int64
		for i := range tc.n {
			s := cfg.share(i, tc.n)
			if s.CPS != tc.wantCPS[i] || s.Conns != tc.wantConns[i] || s.Count != tc.wantCount[i] {
				t.Errorf("%+v engine %d of %d: cps %v conns %d count %d, want %v %d %d", tc, i, tc.n, s.CPS, s.Conns, s.Count, tc.wantCPS[i], tc.wantConns[i], tc.wantCount[i])
			}
			sumCPS, sumConns, sumCount = sumCPS+s.CPS, sumConns+s.Conns, sumCount+s.Count
		}
		if sumCPS != tc.cps || sumConns != tc.conns || sumCount != tc.count {
			t.Errorf("%+v: shares sum to %v, %d, %d", tc, sumCPS, sumConns, sumCount)
		}
	}
}
