package vmlab

import (
	"os"
	"os/exec"
)

// TB is the part of testing.TB RequireVM uses (a *testing.T satisfies it):
// taking it instead of importing testing keeps the test flags out of
// vmrun's binary.
type TB interface {
	Helper()
	Skip(args ...any)
	Fatalf(format string, args ...any)
}

// Environment variables that decide whether VM tests run.
const (
	// RunEnv=1 runs VM tests (make vmtest sets it); they take minutes, so
	// a plain `go test ./...` skips them and says how to run them.
	RunEnv = "FASTPATH_VM"
	// RequireEnv=1 (set by CI) turns every skip of a VM test into a
	// failure.
	RequireEnv = "FASTPATH_REQUIRE_VM"
)

// RequireVM skips tb unless VM tests were asked for and can run here (root,
// QEMU, /dev/net/tun); under FASTPATH_REQUIRE_VM=1 it fails instead.
func RequireVM(tb TB) {
	tb.Helper()
	miss := func(msg string) {
		tb.Helper()
		if os.Getenv(RequireEnv) == "1" {
			tb.Fatalf("VM test cannot run: %s (%s=1)", msg, RequireEnv)
		}
		tb.Skip(msg)
	}
	if os.Getenv(RunEnv) != "1" && os.Getenv(RequireEnv) != "1" {
		miss("VM tests run with " + RunEnv + "=1 (sudo make vmtest)")
		return
	}
	if os.Geteuid() != 0 {
		miss("VM tests need root (taps, namespaces)")
	}
	if _, err := exec.LookPath(QEMU); err != nil {
		miss(QEMU + " not found: install qemu-system-x86 (bookworm-backports)")
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		miss("/dev/net/tun missing: modprobe tun")
	}
}
