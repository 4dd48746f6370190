package main

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestReportFailuresAndDepths: a failed sample shows in its cell and,
// with its reason, in the failures table; each depth configuration gets
// its own table; the systems' own figures are reported beside the counted
// ones; every AF_XDP system is given the same sizes.
func TestReportFailuresAndDepths(t *testing.T) {
	ds, err := parseDepths("own,2048/8192/4096")
	if err != nil {
		t.Fatal(err)
	}
	o := options{sizes: []int{64}, systems: []string{"fastpath", "c"}, modes: []string{"rxdrop"}, depths: ds}
	samples := []sample{
		{Mode: "rxdrop", System: "fastpath", Size: 64, Depths: "own", PPS: 2e6, OwnPPS: 3e6},
		{Mode: "rxdrop", System: "c", Size: 64, Depths: "own", PPS: 1e6, OwnPPS: 1e6},
		{Mode: "rxdrop", System: "fastpath", Size: 64, Depths: "2048/8192/4096", PPS: 2e6, OwnPPS: 2e6},
		{Mode: "rxdrop", System: "c", Size: 64, Depths: "2048/8192/4096", Error: "xskref: exit status 1: the fill ring has no room"},
		{Mode: "rxdrop", System: "c", Size: 64, Depths: "2048/8192/4096", Round: 1, PPS: 4e6, OwnPPS: 4e6},
	}
	rep := report(environment{}, o, samples)
	for _, want := range []string{
		"## rxdrop, depths own: ",
		"## rxdrop, depths 2048/8192/4096: ",
		"## rxdrop, depths own, the systems' own figures",
		"| 64 | 2.000 M | 1.000 M | 2.00 ",                // counted, own depths
		"| 64 | 3.000 M | 1.000 M | 3.00 ",                // own figures
		"| 64 | 2.000 M | 4.000 M (1 of 2 failed) | 0.50", // the failure in its cell
		"## Failed samples (not in the medians above)",
		"| rxdrop | c | 64 | 2048/8192/4096 | 0 | xskref: exit status 1: the fill ring has no room |",
	} {
		if !strings.Contains(rep.markdown, want) {
			t.Errorf("report lacks %q:\n%s", want, rep.markdown)
		}
	}
	d := ds[1]
	if got := strings.Join(d.args(), " "); got != "--ring 2048 --fill 8192 --frames 4096" {
		t.Errorf("args %q", got)
	}
	if ds[0].args() != nil {
		t.Errorf("own depths give flags %v", ds[0].args())
	}
	for _, bad := range []string{"2048/1024/4096", "1000/8192/4096", "2048/8192", "x"} {
		if _, err := parseDepths(bad); err == nil {
			t.Errorf("parseDepths(%q) accepted", bad)
		}
	}
}

// TestRedirectCounterNames: the per-queue XDP redirect counters of veth
// and of virtio-net before and after Linux 6.10.
func TestRedirectCounterNames(t *testing.T) {
	for name, want := range map[string]bool{
		"rx_queue_0_xdp_redirect":  true, // veth
		"rx_queue_3_xdp_redirects": true, // virtio-net before 6.10
		"rx0_xdp_redirects":        true, // virtio-net since
		"rx_xdp_redirects":         false,
		"tx_queue_0_xdp_xmit":      false,
		"rx_queue_0_xdp_drops":     false,
	} {
		if got := redirectQueue.MatchString(name); got != want {
			t.Errorf("%s: %v, want %v", name, got, want)
		}
	}
}

// TestRateEmptyWindow: a count that moved once (a late probe) does not
// open the window, and a run that ends without a batch counted is a
// failed sample, not a rate of zero in the medians.
func TestRateEmptyWindow(t *testing.T) {
	n := uint64(0)
	probe := func() (uint64, error) {
		if n == 0 {
			n = 1
			return 0, nil
		}
		return 1, nil
	}
	ended := start(func() error { return errors.New("the sender failed") })
	if pps, err := rate(probe, time.Second, ended.done); err == nil {
		t.Errorf("rate %v from a count that moved by one frame, want an error", pps)
	}
	// What ended the run can still be read, by anyone, without waiting.
	if err := ended.wait(); err == nil || ended.wait() == nil {
		t.Error("the sender's error was lost")
	}
	var k uint64
	moving := func() (uint64, error) { k += 100; return k, nil }
	if pps, err := rate(moving, time.Second, nil); err != nil || pps <= 0 {
		t.Errorf("a moving count: %v, %v", pps, err)
	}
	// A batch, then nothing: the window counted nothing.
	var m uint64
	burst := func() (uint64, error) {
		if m < 2 {
			m++
		}
		return (m - 1) * 100, nil
	}
	if pps, err := rate(burst, time.Second, nil); err == nil {
		t.Errorf("rate %v from a count that stopped before the window, want an error", pps)
	}
}

// TestBoundedCounter: a counter read that hangs fails after its bound.
func TestBoundedCounter(t *testing.T) {
	hang := make(chan struct{})
	defer close(hang)
	c := bounded(func() (uint64, error) { <-hang; return 0, nil }, "a stuck device", 50*time.Millisecond)
	start := time.Now()
	if _, err := c(); err == nil || time.Since(start) > time.Second {
		t.Errorf("a hanging read: %v after %v", err, time.Since(start))
	}
	ok := bounded(func() (uint64, error) { return 7, nil }, "a device", time.Second)
	if n, err := ok(); n != 7 || err != nil {
		t.Errorf("a read that returns: %d, %v", n, err)
	}
}
