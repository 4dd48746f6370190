package bpf

import (
	"testing"

	"os"

	"github.com/cilium/ebpf"
)

// requireRoot skips without root, or fails when FASTPATH_REQUIRE_KERNEL=1.
// (internal/lab has the full check, but it imports this package.)
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("FASTPATH_REQUIRE_KERNEL") == "1" {
		t.Fatal("loading BPF programs needs root (FASTPATH_REQUIRE_KERNEL=1 makes this a failure)")
	}
	t.Skip("skipping: loading BPF programs needs root; run as root: sudo make test")
}

// frame is a minimal Ethernet frame for BPF_PROG_TEST_RUN.
var frame = append([]byte{
	0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00,
}, make([]byte, 46)...)

func TestPass(t *testing.T) {
	requireRoot(t)
	p, err := NewPass()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ret, err := p.Run(&ebpf.RunOptions{Data: frame})
	if err != nil {
		t.Fatal(err)
	}
	if ret != xdpPass {
		t.Fatalf("verdict %d, want XDP_PASS", ret)
	}
}

// TestRedirectFallsBackToPass: with no socket at the queue's index, the
// program passes the frame to the kernel (bpf_redirect_map's flags).
func TestRedirectFallsBackToPass(t *testing.T) {
	requireRoot(t)
	r, err := NewRedirect(4)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ret, err := r.Program.Run(&ebpf.RunOptions{Data: frame})
	if err != nil {
		t.Fatal(err)
	}
	if ret != xdpPass {
		t.Fatalf("verdict %d with an empty XSKMAP, want XDP_PASS", ret)
	}
	if _, err := NewRedirect(0); err == nil {
		t.Fatal("NewRedirect(0) succeeded")
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}
