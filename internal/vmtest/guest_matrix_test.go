//go:build vmguest

package vmtest

import (
	"testing"
)

// TestMatrixGenSink is the kernel matrix's end-to-end check: on whatever
// kernel the guest booted, gen -> sink across two virtio-net NICs with the
// steering program attached natively counts every frame. The mode is
// auto: zero-copy where the kernel's virtio-net has it, copy before.
func TestMatrixGenSink(t *testing.T) {
	l := nicLab(t, nicA, nicB)
	const n = 10000
	sink := startSink(t, l, n, "--xdp-mode", "native")
	gr := runGen(t, l, n, "--rate", "5k", "--stamp")
	sr := sinkSummary(t, sink)
	if gr.Completed != n || gr.Errors != 0 {
		t.Errorf("gen: %+v", gr)
	}
	if sr.Packets != n || sr.Lost != 0 || sr.Duplicates != 0 || sr.XDPMode != "native" {
		t.Errorf("sink: %+v", sr)
	}
	t.Logf("gen %s AF_XDP, sink %s AF_XDP with %s XDP", gr.Mode, sr.Mode, sr.XDPMode)
}
