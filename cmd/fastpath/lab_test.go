package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/fastpathnet/fastpath/internal/lab"
)

func run(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	root := newRootCommand()
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&errb)
	err = root.ExecuteContext(context.Background())
	return out.String(), errb.String(), err
}

// TestLabRun runs `fastpath lab run` end to end, as `make run` does, with
// an exact count, and reads its JSON summary.
func TestLabRun(t *testing.T) {
	lab.RequireRoot(t)
	const count = 20000
	out, errOut, err := run(t, "lab", "run", "--count", "20000", "--size", "128", "--json")
	if err != nil {
		t.Fatalf("lab run: %v\n%s", err, errOut)
	}
	var res labResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("summary is not JSON: %v\n%s", err, out)
	}
	if res.SentPackets != count || res.SentBytes != count*124 || res.Errors != 0 || res.Mode != "copy" {
		t.Errorf("summary %+v", res)
	}
	// The kernel in B counts what it received, and a frame with a bad
	// checksum or length as an error (res.Errors, checked above). Frames
	// sent as fast as possible may overflow B's socket buffer (counted in
	// KernelDrops), never more than were sent.
	if res.KernelRX < count/2 || res.KernelRX+res.KernelDrops > count {
		t.Errorf("kernel received %d and dropped %d of %d", res.KernelRX, res.KernelDrops, count)
	}
	if res.PPS <= 0 || res.L1BPS <= res.BPS {
		t.Errorf("rates: pps %v bps %v l1 %v", res.PPS, res.BPS, res.L1BPS)
	}
}

func TestLabRunBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"lab", "run", "--size", "10"}, "--size 10"},
		{[]string{"lab", "run", "--batch", "0"}, "--batch 0"},
		{[]string{"lab", "run", "--duration", "0s"}, "--duration"},
		{[]string{"lab", "run", "--size", "big"}, "invalid argument \"big\" for \"--size\""},
	} {
		_, _, err := run(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want it to mention %q", tc.args, err, tc.want)
		}
	}
}
