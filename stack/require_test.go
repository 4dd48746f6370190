package stack

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/fastpathnet/fastpath/internal/lab"
)

// TestRequireKernelHonoured runs TestTCPLoss, TestTCPSynFlood and
// TestTCPTshark again in a child with no tools on its PATH (no ip, so no
// iptables in a namespace; no tshark): without FASTPATH_REQUIRE_KERNEL they
// skip, saying what is missing; with it, each fails instead of passing
// silently, as CI needs (issue 15, item 10).
func TestRequireKernelHonoured(t *testing.T) {
	lab.RequireRoot(t)
	if os.Getenv("FASTPATH_CHILD") == "1" {
		t.Skip("in the child")
	}
	for _, name := range []string{"TestTCPLoss", "TestTCPSynFlood", "TestTCPTshark"} {
		t.Run(name, func(t *testing.T) {
			for _, require := range []string{"0", "1"} {
				cmd := exec.Command(os.Args[0], "-test.run", "^"+name+"$", "-test.short", "-test.v")
				cmd.Env = append(os.Environ(), "PATH=/nonexistent", "FASTPATH_CHILD=1", lab.RequireKernelEnv+"="+require)
				out, err := cmd.CombinedOutput()
				switch {
				case require == "0" && (err != nil || !strings.Contains(string(out), "--- SKIP")):
					t.Errorf("without %s: %v, want a skip:\n%s", lab.RequireKernelEnv, err, out)
				case require == "1" && (err == nil || !strings.Contains(string(out), "missing")):
					t.Errorf("with %s=1: %v, want a failure that names what is missing:\n%s", lab.RequireKernelEnv, err, out)
				}
			}
		})
	}
}
