package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fastpathnet/fastpath/internal/lab"
	"github.com/fastpathnet/fastpath/rfc2544"
)

// TestRFC2544Flags: wrong flags are refused before anything is opened,
// each with what to do.
func TestRFC2544Flags(t *testing.T) {
	base := []string{"rfc2544", "--tx-dev", "veth-nope0", "--rx-dev", "veth-nope1", "--dst", "198.19.1.1"}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"rfc2544", "--rx-dev", "b", "--dst", "198.19.1.1"}, "--tx-dev and --rx-dev are required"},
		{[]string{"rfc2544", "--tx-dev", "a", "--rx-dev", "a", "--dst", "198.19.1.1"}, "must come back on another device"},
		{[]string{"rfc2544", "--tx-dev", "a", "--rx-dev", "b"}, "--dst is required"},
		{[]string{"rfc2544", "--tx-dev", "a", "--rx-dev", "b", "--dst", "fe80::1%eth0"}, "no zone"},
		{[]string{"rfc2544", "--tx-dev", "a", "--rx-dev", "b", "--dst", "2001:db8::1", "--sizes", "64"}, "from 82"},
		{append(base, "--sizes", "63"), "from 64 to the MTU's"},
		{append(base, "--sizes", "64,jumbo"), "and imix"},
		{append(base, "--loss", "1"), "a ratio below 1"},
		{append(base, "--loss", "-1%"), "use a percentage"},
		{append(base, "--pdr-loss", "0.5%", "--loss", "1%"), "use more than --loss"},
		{append(base, "--resolution", "0"), "above 0 and below 50%"},
		{append(base, "--resolution", "60%"), "above 0 and below 50%"},
		{append(base, "--trial", "0s"), "positive durations"},
		{append(base, "--confirm", "0"), "1 or more confirmations"},
		{append(base, "--max-rate", "fast"), "use frames/s"},
		{append(base, "--max-rate", "10Gbps"), "give frames/s, or one size"},
		{append(base, "--max-rate", "100k", "--min-rate", "200k"), "use less than --max-rate"},
		{append(base, "--latency", "0,50"), "percentages of the NDR"},
		{append(base, "--flows", "0"), "use 1 to 64512"},
		{append(base, "--src", "198.18.1.1:65000", "--flows", "1000"), "use 1 to 536 (source ports 65000"},
		{append(base, "--dst-mac", "zz"), "--dst-mac"},
		{append(base, "--gap", "-1s"), "must not be negative"},
		{append(base, "--tx-queues", "x"), "--queues"},
		{append(base, "--mode", "fast"), "--mode"},
		{base, "veth-nope"}, // the receiver's device does not exist
	} {
		_, _, err := run(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want an error with %q", tc.args[1:], err, tc.want)
		}
	}
}

// TestRFC2544Command: fastpath rfc2544 through a router policing at
// 40,000 frames/s, two sizes, as a user runs it: a line per trial, the
// JSON result with each size's NDR near the capacity and its latency,
// and --out's table, JSON and plots.
func TestRFC2544Command(t *testing.T) {
	l := lab.NewT(t, lab.Options{Router: true})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Short (under the race detector, which slows the sender): a fifth.
	capacity, burst := 40_000, 500
	if testing.Short() {
		capacity, burst = 8_000, 100
	}
	if err := l.R.Police(ctx, 9, capacity, burst); err != nil {
		lab.RequireKernel(t, err.Error())
	}
	out := t.TempDir()
	stdout, stderr, err := run(t, "rfc2544", "--tx-dev", l.A.Link, "--tx-netns", l.A.Name, "--rx-dev", l.B.Link, "--rx-netns", l.B.Name,
		"--dst", l.B.Addr.Addr().String(), "--flows", "4", "--sizes", "64,1518", "--resolution", "2%", "--trial", "500ms", "--final-trial", "1s",
		"--max-rate", fmt.Sprint(2*capacity), "--min-rate", fmt.Sprint(capacity/4), "--latency", "50", "--gap", "50ms", "--tx-cores", "0", "--rx-cores", "1", "--json", "--out", out)
	t.Logf("stderr:\n%s", stderr)
	if err != nil {
		t.Fatal(err)
	}
	var res rfc2544.Result
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, stdout)
	}
	if len(res.Sizes) != 2 || res.Kernel == "" || res.LinkMbps == 0 {
		t.Fatalf("result: %+v", res)
	}
	for _, s := range res.Sizes {
		// Within the resolution below, or above by the bucket over a
		// final trial (its frames in 1 s).
		// make test runs this test alone, after the others; a sender
		// starved all the same (by whatever else the machine runs) is
		// reported sender-limited, below the capacity, as it should be,
		// and only that is checked then: the accuracy itself is the
		// rfc2544 package's TestPolicer's.
		low := float64(capacity) * 0.98
		if s.NDR.SenderLimited {
			t.Logf("size %s: sender-limited at %.0f frames/s", s.Name, s.NDR.FPS)
			low = 0
		}
		if s.NDR.FPS < low || s.NDR.FPS > float64(capacity+burst) || len(s.Latency) != 1 || s.Latency[0].Latency.P50 <= 0 {
			t.Errorf("size %s: NDR %+v, latency %+v: want %d frames/s within 2%% and a latency", s.Name, s.NDR, s.Latency, capacity)
		}
		if s.LineRate < 800_000 { // 10 Gbit/s veth: 14.88M at 64 bytes, 812,743 at 1518
			t.Errorf("size %s: line rate %.0f", s.Name, s.LineRate)
		}
	}
	if n := strings.Count(stderr, " ndr "); n < 4 {
		t.Errorf("%d live lines of NDR trials", n)
	}
	for _, f := range []string{"table.txt", "result.json", "throughput.svg", "loss.svg"} {
		b, err := os.ReadFile(filepath.Join(out, f))
		if err != nil || len(b) < 100 {
			t.Errorf("--out %s: %v, %d bytes", f, err, len(b))
		}
	}
	if b, _ := os.ReadFile(filepath.Join(out, "table.txt")); !strings.Contains(string(b), "1518") || !strings.Contains(string(b), "NDR Mpps") {
		t.Errorf("table:\n%s", b)
	}
}
