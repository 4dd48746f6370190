//go:build !vmguest

package vmtest

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fastpathnet/fastpath/internal/vmlab"
)

// repoRoot is the module's root, two levels above this package.
func repoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// build compiles the binaries a guest runs into dir: bin/fastpath as
// fastpath, and the test binaries of pkgs (each with the vmguest tag) as
// NAME.test.
func build(t *testing.T, dir string, pkgs ...string) {
	t.Helper()
	root := repoRoot(t)
	run := func(args ...string) {
		cmd := exec.Command("go", args...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	run("build", "-o", filepath.Join(dir, "fastpath"), "./cmd/fastpath")
	for _, p := range pkgs {
		run("test", "-c", "-tags", "vmguest", "-o", filepath.Join(dir, filepath.Base(p)+".test"), p)
	}
}

// guestRun is one guest test binary's run inside a VM: its -test.v output
// is read back and each of its tests reported as a subtest on the host.
type guestRun struct {
	Binary string   // NAME.test in the job folder
	Run    string   // -test.run pattern
	Args   []string // more flags
}

var (
	resultRE = regexp.MustCompile(`^\s*--- (PASS|FAIL|SKIP): (\S+) \(([0-9.]+)s\)`)
)

// boot starts a VM with nics on kernel k, runs each binary of runs in turn
// inside it, and reports every guest test as a subtest of t. A guest
// test's skip fails under FASTPATH_REQUIRE_VM=1, as a skip on the host
// would.
func boot(t *testing.T, k vmlab.Kernel, nics []vmlab.NIC, pkgs []string, runs []guestRun, timeout time.Duration) {
	t.Helper()
	vmlab.RequireVM(t)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	files, err := vmlab.Fetch(ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	build(t, dir, pkgs...)

	var script strings.Builder
	script.WriteString("set +e\nrc=0\n")
	for _, r := range runs {
		fmt.Fprintf(&script, "echo '=== vmlab binary %s'\n", r.Binary)
		// The guest's own timeout fires first, so that a hung test prints
		// its goroutines before the host kills QEMU.
		args := []string{"./" + r.Binary, "-test.v", "-test.count=1", "-test.timeout=" + (timeout - time.Minute).String(), "-test.run", r.Run}
		var q []string
		for _, a := range append(args, r.Args...) {
			q = append(q, vmlab.ShellQuote(a))
		}
		fmt.Fprintf(&script, "%s || rc=1\n", strings.Join(q, " "))
	}
	script.WriteString("exit $rc\n")

	var console consoleLog
	console.t = t
	cfg := vmlab.Config{Kernel: files, NICs: nics, Console: &console}
	job := vmlab.Job{Dir: dir, Args: []string{"sh", "-c", script.String()},
		Env: []string{"FASTPATH_BIN=" + vmlab.GuestJobDir + "/fastpath", "FASTPATH_REQUIRE_KERNEL=1", "FASTPATH_VM_MODE=" + os.Getenv("FASTPATH_VM_MODE"),
			"FASTPATH_VM_GEN_XDP=" + os.Getenv("FASTPATH_VM_GEN_XDP"), "FASTPATH_VM_GEN_MODE=" + os.Getenv("FASTPATH_VM_GEN_MODE")}}
	vm, err := vmlab.Start(ctx, cfg, job)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := vm.Close(); err != nil {
			t.Error(err)
		}
	})
	res, err := vm.Wait()
	t.Logf("kernel %s (%s): boot %.1fs, whole run %.1fs, exit %d", k.Name, k.Release, res.Boot.Seconds(), res.Elapsed.Seconds(), res.ExitCode)
	if vm.HungAtPowerOff() {
		t.Logf("the guest did not power off within %v after its job and was killed: see the console above", vmlab.PowerOffGrace)
	}
	if c := console.String(); strings.Contains(c, "Oops:") || strings.Contains(c, "BUG:") {
		t.Logf("the guest kernel (%s) oopsed: see the console above", k.Release)
	}
	out, _ := os.ReadFile(filepath.Join(dir, "out"))
	results := parseResults(string(out))
	for _, r := range results {
		r := r
		t.Run(r.name, func(t *testing.T) {
			switch r.verdict {
			case "FAIL":
				t.Errorf("failed in the guest (%ss); its output is in the console log above", r.secs)
			case "SKIP":
				if os.Getenv(vmlab.RequireEnv) == "1" {
					t.Errorf("skipped in the guest under %s=1: %s", vmlab.RequireEnv, r.why)
				} else {
					t.Skip(r.why)
				}
			}
		})
	}
	if err != nil {
		t.Fatalf("%v\nconsole:\n%s", err, console.String())
	}
	if len(results) == 0 {
		t.Fatalf("no guest test ran\n%s", out)
	}
	if res.ExitCode != 0 {
		t.Errorf("guest job exited %d", res.ExitCode)
	}
}

type result struct{ verdict, name, secs, why string }

// parseResults reads `go test -v` output: top-level tests' verdicts, and
// the line before a SKIP's verdict as its reason.
func parseResults(out string) []result {
	var rs []result
	var last string
	s := bufio.NewScanner(strings.NewReader(out))
	s.Buffer(make([]byte, 1<<20), 1<<20)
	for s.Scan() {
		line := s.Text()
		if m := resultRE.FindStringSubmatch(line); m != nil && !strings.HasPrefix(line, "    ") {
			rs = append(rs, result{m[1], m[2], m[3], strings.TrimSpace(last)})
		}
		last = line
	}
	return rs
}

// consoleLog logs the guest's console on the test as it comes, and keeps
// it for a failure's message.
type consoleLog struct {
	t  *testing.T
	mu sync.Mutex
	b  strings.Builder
}

func (c *consoleLog) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.b.Write(p)
	c.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func (c *consoleLog) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.b.String()
}

// zeroCopyNICs is the zero-copy suite's VM: eth0 and eth1, virtio-net with
// one queue each, back to back; eth2 and eth3, virtio-net with four queue
// pairs each, back to back; eth4, virtio-net without iommu_platform,
// alone.
var zeroCopyNICs = []vmlab.NIC{
	{Model: vmlab.Virtio, Wire: "zc"}, {Model: vmlab.Virtio, Wire: "zc"},
	{Model: vmlab.Virtio, Queues: 4, Wire: "mq"}, {Model: vmlab.Virtio, Queues: 4, Wire: "mq"},
	{Model: vmlab.Virtio, Wire: "noiommu", NoIOMMU: true},
}

// TestZeroCopy runs the zero-copy suite (guest_test.go) in a VM on the
// newest pinned kernel, or FASTPATH_VM_KERNEL.
func TestZeroCopy(t *testing.T) {
	k, err := vmlab.KernelByName(os.Getenv("FASTPATH_VM_KERNEL"))
	if err != nil {
		t.Fatal(err)
	}
	boot(t, k, zeroCopyNICs, []string{"./internal/vmtest"},
		// Every guest test but those of other VMs (TestDrivers, the matrix).
		[]guestRun{{Binary: "vmtest.test", Run: os.Getenv("FASTPATH_VM_RUN"), Args: []string{"-test.skip", "^(TestDriverGenSink|TestTXWakeupRefused|TestMatrix)"}}}, 8*time.Minute)
}

// matrixNICs: two virtio-net NICs, one queue each, back to back.
var matrixNICs = []vmlab.NIC{{Model: vmlab.Virtio, Wire: "m"}, {Model: vmlab.Virtio, Wire: "m"}}

// matrixRuns are what every kernel of the matrix must pass: the steering
// program loads and its golden frames give the verdicts they must
// (BPF_PROG_TEST_RUN), the minimal programs load, AF_XDP sockets bind and
// move frames both ways on veth, and gen -> sink runs across real NICs.
var matrixRuns = []guestRun{
	{Binary: "steering.test", Run: "^(TestProgram|TestProgramRandomRulesets|TestNoSocketFallsBack|TestRuleEdits|TestModes|TestKernelKeepsItsTraffic)$", Args: []string{"-test.short"}},
	{Binary: "bpf.test", Run: "^(TestPass|TestRedirectFallsBackToPass)$"},
	{Binary: "xsk.test", Run: "^(TestTransmitToKernel|TestReceiveFromKernel|TestModeAndClose)$", Args: []string{"-test.short"}},
	{Binary: "vmtest.test", Run: "^TestMatrix"},
}

// TestKernelMatrix boots each kernel of FASTPATH_VM_KERNELS (names from
// vmlab.Kernels, comma-separated, or "all"; default "oldest,newest") and
// runs matrixRuns on it.
func TestKernelMatrix(t *testing.T) {
	names := os.Getenv("FASTPATH_VM_KERNELS")
	if names == "" {
		names = "oldest,newest"
	}
	var ks []vmlab.Kernel
	if names == "all" {
		ks = vmlab.Kernels
	} else {
		for _, n := range strings.Split(names, ",") {
			k, err := vmlab.KernelByName(n)
			if err != nil {
				t.Fatal(err)
			}
			ks = append(ks, k)
		}
	}
	for _, k := range ks {
		t.Run(k.Name, func(t *testing.T) {
			boot(t, k, matrixNICs, []string{"./steering", "./bpf", "./xsk", "./internal/vmtest"}, matrixRuns, 6*time.Minute)
		})
	}
}

// TestDrivers runs gen -> sink on two NICs of each other model the lab
// offers, in each mode the driver is meant to support: igb (Intel, with
// zero-copy AF_XDP) and e1000e (no XDP zero-copy: copy mode, generic XDP).
func TestDrivers(t *testing.T) {
	for _, tc := range []struct {
		model   vmlab.Model
		mode    string // the sink's
		genMode string
		run     string
	}{
		{vmlab.IGB, "copy", "copy", "^TestDriverGenSink$"},
		// igb in zero-copy: RX is exact. TX needs an XDP program on the
		// device (TestTXWakeupRefused), and with one, QEMU 10.0's igb with
		// Linux 7.3.4 completes frames before it has sent them: a sender
		// that reuses them puts newer content on the wire (gaps, negative
		// latencies, torn frames). Whether the model or the driver is at
		// fault takes real hardware to tell; gen sends in copy mode here.
		{vmlab.IGB, "zerocopy", "copy", "^(TestDriverGenSink|TestTXWakeupRefused)$"},
		{vmlab.E1000E, "copy", "copy", "^TestDriverGenSink$"},
	} {
		t.Run(string(tc.model)+"/"+tc.mode, func(t *testing.T) {
			k, err := vmlab.KernelByName(os.Getenv("FASTPATH_VM_KERNEL"))
			if err != nil {
				t.Fatal(err)
			}
			nics := []vmlab.NIC{{Model: tc.model, Wire: "d"}, {Model: tc.model, Wire: "d"}}
			t.Setenv("FASTPATH_VM_MODE", tc.mode)
			t.Setenv("FASTPATH_VM_GEN_MODE", tc.genMode)
			boot(t, k, nics, []string{"./internal/vmtest"}, []guestRun{{Binary: "vmtest.test", Run: tc.run}}, 4*time.Minute)
		})
	}
}
