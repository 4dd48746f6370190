package vmlab

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestBoot boots the newest kernel with two virtio-net NICs on one wire,
// which the host lab's namespace B joins too (PeerWire), and runs a shell
// command that reads what the guest sees and pings B from eth0.
func TestBoot(t *testing.T) {
	RequireVM(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	k, _ := KernelByName("newest")
	f, err := Fetch(ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	vm, err := Start(ctx, Config{Kernel: f, NICs: []NIC{{Model: Virtio, Wire: "w"}, {Model: Virtio, Wire: "w"}}, PeerWire: "w", Console: testWriter{t}},
		Job{Dir: dir, Args: []string{"sh", "-c", "uname -r; ip -br link; ethtool -i eth0 | head -2; " +
			"ip addr add 198.18.0.3/24 dev eth0 && ip link set eth0 up && ping -c 3 -W 5 198.18.0.2"}})
	if err != nil {
		t.Fatal(err)
	}
	defer vm.Close()
	r, err := vm.Wait()
	if err != nil {
		t.Fatal(err)
	}
	out, _ := os.ReadFile(filepath.Join(dir, "out"))
	t.Logf("boot %v, elapsed %v, rc %d", r.Boot, r.Elapsed, r.ExitCode)
	if r.ExitCode != 0 || !strings.Contains(string(out), k.Release) || !strings.Contains(string(out), "virtio_net") || !strings.Contains(string(out), "3 received") {
		t.Fatalf("rc %d, out:\n%s", r.ExitCode, out)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// TestSIGINT: a process interrupted while its VM runs leaves nothing
// behind: QEMU is killed, and the lab's namespaces (with the taps and
// bridges in them) are gone.
func TestSIGINT(t *testing.T) {
	if os.Getenv("VMLAB_CHILD") == "1" {
		sigintChild(t)
		return
	}
	RequireVM(t)
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run", "^TestSIGINT$", "-test.v")
	cmd.Env = append(os.Environ(), "VMLAB_CHILD=1", "VMLAB_CHILD_DIR="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	var ns []string
	s := bufio.NewScanner(out)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(s.Text()), "vmlab-child: running "); ok {
			ns = strings.Fields(rest)
			break
		}
	}
	if len(ns) == 0 {
		t.Fatal("the child never reported its running VM")
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, out)
	err = cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGINT {
		t.Errorf("the child ended with %v, want death by SIGINT", err)
	}
	for _, n := range ns {
		if _, err := os.Stat("/run/netns/" + n); err == nil {
			t.Errorf("namespace %s is still there", n)
		}
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		if b, err := os.ReadFile(p); err == nil && strings.Contains(string(b), dir) && strings.Contains(string(b), "qemu") {
			t.Errorf("QEMU still runs: %s", p)
		}
	}
}

// sigintChild starts a VM whose job sleeps, reports the lab's namespaces
// and waits for the signal.
func sigintChild(t *testing.T) {
	ctx := context.Background()
	k, _ := KernelByName("newest")
	f, err := Fetch(ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	vm, err := Start(ctx, Config{Kernel: f, NICs: []NIC{{Model: Virtio, Wire: "w"}, {Model: Virtio, Wire: "w"}}},
		Job{Dir: os.Getenv("VMLAB_CHILD_DIR"), Args: []string{"sleep", "600"}})
	if err != nil {
		t.Fatal(err)
	}
	// Booted: the job's output file exists once run.sh runs.
	for i := 0; ; i++ {
		if _, err := os.Stat(filepath.Join(os.Getenv("VMLAB_CHILD_DIR"), "out")); err == nil {
			break
		}
		if i == 1200 {
			t.Fatal("the guest did not boot in 2 minutes")
		}
		time.Sleep(100 * time.Millisecond)
	}
	fmt.Printf("vmlab-child: running %s %s\n", vm.Lab().A.Name, vm.Lab().B.Name)
	_, err = vm.Wait()
	// The handler closed the VM: it re-raises the signal in a moment.
	fmt.Println("vmlab-child: the VM ended:", err)
	select {}
}
