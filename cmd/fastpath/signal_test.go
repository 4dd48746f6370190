package main

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fastpathnet/fastpath/internal/lab"
)

// TestMain runs the command itself in a child when asked to, so that the
// signal tests can stop a real fastpath process.
func TestMain(m *testing.M) {
	if args := os.Getenv("FASTPATH_CMD_CHILD"); args != "" {
		root := newRootCommand()
		root.SetArgs(strings.Split(args, "\x1f"))
		ctx, stop := signalContext()
		defer stop()
		if err := root.ExecuteContext(ctx); err != nil {
			os.Stderr.WriteString("fastpath: " + err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// startChild runs fastpath with args in a child process and waits for
// its banner on stderr (a line containing marker).
func startChild(t *testing.T, marker string, args ...string) (*exec.Cmd, io.Reader) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "FASTPATH_CMD_CHILD="+strings.Join(args, "\x1f"))
	stdout, _ := cmd.StdoutPipe()
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		var all strings.Builder
		for sc.Scan() {
			all.WriteString(sc.Text() + "\n")
			if strings.Contains(sc.Text(), marker) {
				ready <- ""
				io.Copy(io.Discard, stderr)
				return
			}
		}
		ready <- all.String()
	}()
	select {
	case msg := <-ready:
		if msg != "" {
			cmd.Wait()
			t.Fatalf("fastpath %v never got ready:\n%s", args, msg)
		}
	case <-time.After(15 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("fastpath %v never got ready", args)
	}
	return cmd, stdout
}

// attached reports whether the device carries an XDP program.
func attached(h *lab.Host) bool {
	lk, err := h.Handle().LinkByName(h.Link)
	return err == nil && lk.Attrs().Xdp != nil && lk.Attrs().Xdp.Attached
}

// TestSignals: SIGTERM stops `fastpath serve` cleanly, with its summary;
// SIGKILL leaves no XDP program on the device (the bpf_link dies with the
// process; fastpath pins nothing).
func TestSignals(t *testing.T) {
	l := lab.NewT(t, lab.Options{})
	args := []string{"serve", "--dev", l.A.Link, "--netns", l.A.Name, "--shared", "--udp-echo", "7", "--tcp-echo", "7", "--duration", "60s", "--interval", "0"}

	cmd, stdout := startChild(t, "ctrl-c stops", append(args, "--json")...)
	if !attached(l.A) {
		t.Error("serve is running, but the device has no program")
	}
	cmd.Process.Signal(syscall.SIGTERM)
	out, _ := io.ReadAll(stdout)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("serve after SIGTERM: %v", err)
	}
	var res serveResult
	if err := json.Unmarshal(out, &res); err != nil || res.Device != l.A.Link {
		t.Fatalf("no summary after SIGTERM: %v\n%s", err, out)
	}
	if attached(l.A) {
		t.Error("the program is still attached after SIGTERM")
	}

	cmd, _ = startChild(t, "ctrl-c stops", args...)
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	deadline := time.Now().Add(3 * time.Second)
	for attached(l.A) {
		if time.Now().After(deadline) {
			t.Fatal("an XDP program is left on the device after SIGKILL")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if entries, _ := os.ReadDir("/sys/fs/bpf"); len(entries) > 0 {
		for _, e := range entries {
			if strings.Contains(e.Name(), "fastpath") {
				t.Errorf("pinned object left behind: /sys/fs/bpf/%s", e.Name())
			}
		}
	}
}
