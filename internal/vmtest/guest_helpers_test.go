//go:build vmguest

package vmtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fastpathnet/fastpath/internal/lab"
)

// The guest's NICs (see zeroCopyNICs): eth0-eth1 one queue each, eth2-eth3
// four queue pairs each, each pair back to back.
const (
	nicA, nicB     = "eth0", "eth1"
	mqNICA, mqNICB = "eth2", "eth3"
)

// nicLab puts two of the guest's NICs into a lab: a on A (198.18.0.1),
// b on B (198.18.0.2).
func nicLab(t testing.TB, a, b string) *lab.Lab {
	t.Helper()
	return lab.NewT(t, lab.Options{Devices: [2]string{a, b}})
}

// bin is the fastpath binary the host built into the job folder.
func bin(t testing.TB) string {
	t.Helper()
	b := os.Getenv("FASTPATH_BIN")
	if b == "" {
		t.Fatal("FASTPATH_BIN is not set: these tests run inside a vmlab guest (go test ./internal/vmtest on the host)")
	}
	return b
}

// proc is a fastpath command running in the background.
type proc struct {
	cmd            *exec.Cmd
	stdout, stderr bytes.Buffer
	done           chan error
}

// fp starts `fastpath args...`; the test's end kills it if it still runs.
func fp(t *testing.T, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(bin(t), args...), done: make(chan error, 1)}
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// running reports whether p has not exited yet.
func (p *proc) running() bool {
	select {
	case err := <-p.done:
		p.done <- err
		return false
	default:
		return true
	}
}

// wait waits up to d for p to exit and returns its error.
func (p *proc) wait(t *testing.T, d time.Duration) error {
	t.Helper()
	select {
	case err := <-p.done:
		p.done <- err
		return err
	case <-time.After(d):
		p.cmd.Process.Signal(os.Interrupt)
		select {
		case err := <-p.done:
			p.done <- err
		case <-time.After(10 * time.Second):
			p.cmd.Process.Kill()
			p.done <- <-p.done // its output is complete
		}
		t.Fatalf("%s did not end within %v\nstdout (after SIGINT):\n%s\nstderr:\n%s", strings.Join(p.cmd.Args, " "), d, p.stdout.String(), p.stderr.String())
		return nil
	}
}

// json waits for p and decodes its --json summary into v; a failed run
// fails the test with its stderr.
func (p *proc) json(t *testing.T, d time.Duration, v any) {
	t.Helper()
	if err := p.wait(t, d); err != nil {
		t.Fatalf("%s: %v\nstderr:\n%s", strings.Join(p.cmd.Args[1:], " "), err, p.stderr.String())
	}
	if err := json.Unmarshal(p.stdout.Bytes(), v); err != nil {
		t.Fatalf("%s: summary is not JSON: %v\n%s\nstderr:\n%s", p.cmd.Args[1], err, p.stdout.String(), p.stderr.String())
	}
}

var ctlPort atomic.Int32

// control returns a fresh 127.0.0.1 address for a command's control API.
func control() string { return fmt.Sprintf("127.0.0.1:%d", 18000+ctlPort.Add(1)) }

// stats polls the control API at addr until the run answers with its
// /v1/stats (503 while it starts: the API listens before the queues
// open), and returns them.
func stats(t *testing.T, addr string) map[string]any {
	t.Helper()
	var err error
	for i := 0; i < 600; i++ {
		var resp *http.Response
		resp, err = http.Get("http://" + addr + "/v1/stats")
		if err == nil {
			var s map[string]any
			err = json.NewDecoder(resp.Body).Decode(&s)
			resp.Body.Close()
			if err == nil && resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("%s: %v", resp.Status, s)
			}
			if err == nil {
				return s
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("the control API at %s never answered: %v", addr, err)
	return nil
}

func num(s map[string]any, k string) uint64 {
	f, _ := s[k].(float64)
	return uint64(f)
}

// sh runs a shell command in h's namespace (nil: the guest's own) and
// returns its output.
func sh(t *testing.T, h *lab.Host, cmd string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := exec.CommandContext(ctx, "sh", "-c", cmd)
	if h != nil {
		c = h.Command(ctx, "sh", "-c", cmd)
	}
	out, err := c.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", cmd, err, out)
	}
	return string(out)
}

// genResult and sinkResult are the parts of gen's and sink's --json
// summaries the tests read.
type genResult struct {
	Mode        string  `json:"mode"`
	Queues      []int   `json:"queues"`
	SentPackets uint64  `json:"sent_packets"`
	Completed   uint64  `json:"completed_packets"`
	RingFull    uint64  `json:"ring_full"`
	Kicks       uint64  `json:"kicks"`
	TXInvalid   uint64  `json:"tx_invalid_descs"`
	Errors      uint64  `json:"errors"`
	PPS         float64 `json:"pps"`
}

type sinkResult struct {
	Mode        string            `json:"mode"`
	XDPMode     string            `json:"xdp_mode"`
	Queues      []int             `json:"queues"`
	Packets     uint64            `json:"received_packets"`
	Lost        uint64            `json:"lost_packets"`
	Duplicates  uint64            `json:"duplicate_packets"`
	Reordered   uint64            `json:"reordered_packets"`
	Drops       uint64            `json:"engine_drops"`
	DropReasons map[string]uint64 `json:"engine_drop_reasons"`
	PPS         float64           `json:"pps"`
}

func httpPost(url string) (int, error) {
	resp, err := http.Post(url, "application/json", strings.NewReader(""))
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

var interrupt = os.Interrupt

// startSink starts `fastpath sink` on B's link for UDP port 9, ending at n
// frames (or after 120 s), with flags added, and waits until it serves its
// control API. sinkResult reads its summary.
func startSink(t *testing.T, l *lab.Lab, n int, flags ...string) *proc {
	t.Helper()
	p := fp(t, append([]string{"sink", "--dev", l.B.Link, "--netns", l.B.Name, "--port", "9", "--count", strconv.Itoa(n),
		"--duration", "120s", "--interval", "0", "--json", "--control", control()}, flags...)...)
	waitCtl(t, p)
	return p
}

// sinkSummary waits for a sink started by startSink and returns its summary.
func sinkSummary(t *testing.T, p *proc) sinkResult {
	t.Helper()
	var r sinkResult
	p.json(t, 90*time.Second, &r)
	return r
}

// runGen runs `fastpath gen` from A's link to B's address, port 9, for n
// frames with flags added, and returns its summary.
func runGen(t *testing.T, l *lab.Lab, n int, flags ...string) genResult {
	t.Helper()
	var r genResult
	fp(t, append([]string{"gen", "--dev", l.A.Link, "--netns", l.A.Name, "--dst", l.B.Addr.Addr().String() + ":9",
		"--count", strconv.Itoa(n), "--interval", "0", "--json"}, flags...)...).json(t, 90*time.Second, &r)
	return r
}
