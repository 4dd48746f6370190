//go:build vmguest

package vmtest

import (
	"os"
	"strings"
	"testing"
	"time"
)

// TestDriverGenSink: gen -> sink across eth0 and eth1, whatever their
// driver, with the sink (every queue in use) in the AF_XDP mode
// FASTPATH_VM_MODE names (copy or zerocopy) and gen in
// FASTPATH_VM_GEN_MODE's (default the same): every stamped frame of 16
// flows arrives once, in the modes asked for.
func TestDriverGenSink(t *testing.T) {
	mode := os.Getenv("FASTPATH_VM_MODE")
	if mode == "" {
		mode = "copy"
	}
	genMode := os.Getenv("FASTPATH_VM_GEN_MODE")
	if genMode == "" {
		genMode = mode
	}
	l := nicLab(t, nicA, nicB)
	t.Logf("driver: %s", sh(t, l.A, "ethtool -i "+l.A.Link+" | head -1"))
	const n = 5000
	sink := startSink(t, l, n, "--mode", mode, "--queues", "all")
	// igb transmits in zero-copy only with an XDP program on the device
	// (TestTXWakeupRefused): FASTPATH_VM_GEN_XDP gives gen one.
	xdp := os.Getenv("FASTPATH_VM_GEN_XDP")
	if xdp == "" {
		xdp = "none"
	}
	gr := runGen(t, l, n, "--xdp-mode", xdp, "--mode", genMode, "--rate", "2k", "--stamp", "--flows", "16", "--src-port-range", "1000-1015")
	sr := sinkSummary(t, sink)
	if gr.Mode != genMode || gr.Completed != n || gr.Errors != 0 {
		t.Errorf("gen: %+v", gr)
	}
	if sr.Mode != mode || sr.Packets != n || sr.Lost != 0 || sr.Duplicates != 0 {
		t.Errorf("sink: %+v", sr)
	}
}

// TestTXWakeupRefused: igb refuses the TX wakeup of a zero-copy socket on
// a device without an XDP program (EINVAL), so nothing is ever sent. gen
// must say so and what to do within a second or so, instead of waiting
// for completions that never come.
func TestTXWakeupRefused(t *testing.T) {
	l := nicLab(t, nicA, nicB)
	start := time.Now()
	g := fp(t, "gen", "--dev", l.A.Link, "--netns", l.A.Name, "--dst", l.B.Addr.Addr().String()+":9", "--dst-mac", l.B.MAC.String(),
		"--mode", "zerocopy", "--count", "1000", "--interval", "0", "--json")
	err := g.wait(t, 30*time.Second)
	msg := g.stderr.String()
	if err == nil || !strings.Contains(msg, "refused the TX wakeup") || !strings.Contains(msg, "--xdp-mode native") {
		t.Fatalf("gen ended with %v after %v:\n%s", err, time.Since(start), msg)
	}
	t.Logf("gen ended after %v: %s", time.Since(start).Round(time.Millisecond), strings.TrimSpace(msg))
}
