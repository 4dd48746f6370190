package vmlab

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBoot boots the newest kernel with two virtio-net NICs back to back
// and runs a shell command that reads what the guest sees.
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
	vm, err := Start(ctx, Config{Kernel: f, NICs: []NIC{{Model: Virtio, Wire: "w"}, {Model: Virtio, Wire: "w"}}, Console: testWriter{t}},
		Job{Dir: dir, Args: []string{"sh", "-c", "uname -r; ip -br link; ethtool -i eth0 | head -2"}})
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
	if r.ExitCode != 0 || !strings.Contains(string(out), k.Release) || !strings.Contains(string(out), "virtio_net") {
		t.Fatalf("rc %d, out:\n%s", r.ExitCode, out)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
