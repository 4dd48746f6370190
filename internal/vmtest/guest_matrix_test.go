//go:build vmguest

package vmtest

import (
	"strconv"
	"testing"
	"time"
)

// TestMatrixGenSink is the kernel matrix's end-to-end check: on whatever
// kernel the guest booted, gen -> sink across two virtio-net NICs with the
// steering program attached natively counts every frame. The mode is
// auto: zero-copy where the kernel's virtio-net has it, copy before.
func TestMatrixGenSink(t *testing.T) {
	l := nicLab(t, nicA, nicB)
	const n = 10000
	sink := fp(t, "sink", "--dev", l.B.Link, "--netns", l.B.Name, "--port", "9", "--xdp-mode", "native",
		"--count", strconv.Itoa(n), "--duration", "120s", "--interval", "0", "--json", "--control", ctl(t))
	waitCtl(t, sink)
	g := fp(t, "gen", "--dev", l.A.Link, "--netns", l.A.Name, "--dst", l.B.Addr.Addr().String()+":9",
		"--count", strconv.Itoa(n), "--rate", "5k", "--stamp", "--interval", "0", "--json")
	var gr genResult
	g.json(t, 90*time.Second, &gr)
	var sr sinkResult
	sink.json(t, 90*time.Second, &sr)
	if gr.Completed != n || gr.Errors != 0 {
		t.Errorf("gen: %+v", gr)
	}
	if sr.Packets != n || sr.Lost != 0 || sr.Duplicates != 0 || sr.XDPMode != "native" {
		t.Errorf("sink: %+v", sr)
	}
	t.Logf("gen %s AF_XDP, sink %s AF_XDP with %s XDP", gr.Mode, sr.Mode, sr.XDPMode)
}
