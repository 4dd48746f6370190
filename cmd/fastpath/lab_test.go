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

// runResult is what run returns.
type runResult struct {
	out, errOut string
	err         error
}

// runAsync runs fastpath with args in the background, as run does; the
// result comes on the channel.
func runAsync(t *testing.T, args ...string) <-chan runResult {
	done := make(chan runResult, 1)
	go func() {
		out, errOut, err := run(t, args...)
		done <- runResult{out, errOut, err}
	}()
	return done
}

// TestLab runs `fastpath lab` end to end, as `make run` does, with an
// exact count at a rate the sink keeps up with, and reads its JSON
// summary: every frame sent arrives once, in order, stamped.
func TestLab(t *testing.T) {
	lab.RequireRoot(t)
	const count = 20000
	// 50k pps: the sink's 4096-frame ring holds 80 ms of it, for a sink
	// descheduled on a loaded machine (or slowed by -race).
	out, errOut, err := run(t, "lab", "--count", "20000", "--size", "128", "--rate", "50k", "--flows", "8", "--json")
	if err != nil {
		t.Fatalf("lab: %v\n%s", err, errOut)
	}
	var res labResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("summary is not JSON: %v\n%s", err, out)
	}
	g, s := res.Gen, res.Sink
	if g.SentPackets != count || g.Completed != count || g.SentBytes != count*124 || g.Errors != 0 || g.Mode != "copy" || g.Flows != 8 {
		t.Errorf("gen summary %+v", g)
	}
	if s.Packets != count || s.Bytes != count*124 || s.Lost != 0 || s.Duplicates != 0 || s.Reordered != 0 || s.Stamp.Stamped != count || s.Drops != 0 {
		t.Errorf("sink summary %+v", s)
	}
	if res.Lost != 0 || s.Latency.P50 <= 0 || s.Latency.Max < s.Latency.P99 {
		t.Errorf("lost %d, latency %+v", res.Lost, s.Latency)
	}
	if g.PPS <= 0 || g.L1BPS <= g.BPS || s.PPS <= 0 {
		t.Errorf("rates: gen pps %v bps %v l1 %v; sink pps %v", g.PPS, g.BPS, g.L1BPS, s.PPS)
	}
}

func TestLabBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"lab", "--size", "10"}, "--size 10"},
		{[]string{"lab", "--queues", "3"}, "--queues 3"},
		{[]string{"lab", "--duration", "0s"}, "--duration"},
		{[]string{"lab", "--rate", "fast"}, "--rate \"fast\""},
		{[]string{"lab", "--imix", "64:x"}, "--imix"},
		{[]string{"lab", "--size", "big"}, "invalid argument \"big\" for \"--size\""},
	} {
		_, _, err := run(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want it to mention %q", tc.args, err, tc.want)
		}
	}
}
