package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fastpathnet/fastpath/internal/lab"
)

// TestLoadFlags: wrong flags give an error that says what to do, before
// anything touches a device.
func TestLoadFlags(t *testing.T) {
	base := []string{"load", "--dev", "veth-nope", "--dst", "198.18.0.2:80"}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"load", "--dst", "198.18.0.2:80", "--cps", "10", "--http", "/"}, "--dev is required"},
		{[]string{"load", "--dev", "x", "--dst", "198.18.0.2", "--cps", "10", "--http", "/"}, "use an address and port"},
		{[]string{"load", "--dev", "x", "--dst", "198.18.0.2:80", "--cps", "10", "--http", "/", "--duration", "1s", "--shard", "3/3"}, "use I/N"},
		{[]string{"load", "--dev", "x", "--dst", "198.18.0.2:80", "--conns", "2", "--http", "/", "--duration", "1s", "--shard", "2/3"}, "nothing to open"},
		{[]string{"load", "--dev", "x", "--dst", "198.18.0.2:80", "--cps", "10", "--http", "/", "--duration", "1s", "--start-at", "2020-01-01T00:00:00Z"}, "ago"},
		{[]string{"load", "--dev", "x", "--dst", "198.18.0.2:80", "--cps", "10", "--http", "/", "--duration", "1s", "--linger", "-1s"}, "--linger must not be negative"},
		{[]string{"load", "--dev", "x", "--dst", "[fe80::1%eth0]:80", "--cps", "10", "--http", "/"}, "use an address and port"},
		{[]string{"load", "--dev", "x", "--addr", "198.18.0.10/24", "--src", "2001:db8::20/123", "--dst", "[2001:db8::2]:80", "--cps", "10", "--http", "/", "--duration", "1s"}, "different families"},
		{append(base, "--http", "/"), "give --cps"},
		{append(base, "--cps", "10"), "give --http PATH"},
		{append(base, "--cps", "10", "--http", "x"), "starting with /"},
		{append(base, "--cps", "10", "--http", "/", "--requests", "0"), "use 1 or more"},
		{append(base, "--cps", "-1", "--http", "/"), "must not be negative"},
		{append(base, "--cps", "10", "--response-size", "2000000"), "1 MiB"},
		{append(base, "--cps", "10", "--http", "/", "--duration", "0"), "give --duration or --count"},
		{append(base, "--cps", "10", "--http", "/", "--src", "198.18.0.128/25"), "--src needs --addr"},
		{append(base, "--cps", "10", "--http", "/", "--addr", "198.18.0.10/24", "--src", "198.18.1.0/25"), "inside --addr's prefix"},
		{append(base, "--cps", "10", "--http", "/", "--addr", "198.18.0.10/24", "--src", "198.18.0.0/24"), "at most 128 addresses"},
		{append(base, "--cps", "1000000", "--http", "/", "--timeout", "60s", "--max-memory", "1MiB"), "more than --max-memory"},
		{append(base, "--cps", "10", "--http", "/", "--addr", "198.18.0.10/24", "--src", "198.18.0.0/25"), "the server's or the gateway's address"},
	} {
		_, _, err := run(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want an error with %q", tc.args[1:], err, tc.want)
		}
	}
}

// TestLoadCommand: fastpath load against a Go HTTP server in B, as a
// user runs it: live control (stats, rate), Prometheus counters and
// histograms, then SIGINT mid-run gives a clean JSON summary in which
// every connection opened was answered.
func TestLoadCommand(t *testing.T) {
	l := lab.NewT(t, lab.Options{})
	helloServer(t, l.B, 8080)
	const ctl, mx = "127.0.0.1:19327", "127.0.0.1:19328"
	cmd, stdout := startChild(t, "ctrl-c stops", "load", "--dev", l.A.Link, "--netns", l.A.Name, "--addr", "198.18.0.10/24",
		"--dst", netip.AddrPortFrom(l.B.Addr.Addr(), 8080).String(), "--http", "/", "--cps", "200", "--requests", "2",
		"--duration", "60s", "--json", "--idle", "adaptive", "--control", ctl, "--metrics", mx)
	get := httpGet
	type stats struct {
		Opened uint64  `json:"connections_opened"`
		Asked  float64 `json:"asked_cps"`
	}
	read := func() stats {
		t.Helper()
		code, body := get("http://" + ctl + "/v1/stats")
		var s stats
		if code != 200 || json.Unmarshal([]byte(body), &s) != nil {
			t.Fatalf("stats: %d %s", code, body)
		}
		return s
	}
	time.Sleep(time.Second)
	if s := read(); s.Opened == 0 || s.Asked != 200 {
		t.Errorf("after a second: %+v", s)
	}
	resp, err := http.Post("http://"+ctl+"/v1/rate", "application/json", strings.NewReader(`{"rate": "400"}`))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("POST /v1/rate: %v %v", resp, err)
	}
	resp.Body.Close()
	a := read()
	time.Sleep(time.Second)
	if b := read(); b.Asked != 400 || b.Opened-a.Opened < 300 {
		t.Errorf("at 400/s: %d opened in a second (%+v)", b.Opened-a.Opened, b)
	}
	code, body := get("http://" + mx + "/metrics")
	if code != 200 {
		t.Fatalf("metrics: %d %s", code, body)
	}
	for _, want := range []string{
		"fastpath_load_connections_opened_total ",
		"fastpath_load_responses_ok_total ",
		`fastpath_load_errors_total{kind="timeout"} 0`,
		`fastpath_load_response_seconds_bucket{le="0.01"}`,
		"fastpath_load_connect_seconds_count ",
		"fastpath_tcp_connections",
		"fastpath_load_paused 0",
		fmt.Sprintf(`fastpath_device_info{device=%q,mode="copy",xdp_mode="native"} 1`, l.A.Link),
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if code, body := get("http://" + ctl + "/v1/ready"); code != 200 || !strings.Contains(body, `"ready":true`) {
		t.Errorf("ready: %d %s", code, body)
	}
	start := time.Now()
	cmd.Process.Signal(syscall.SIGINT)
	out, _ := io.ReadAll(stdout)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("load after SIGINT: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v to stop after SIGINT", d)
	}
	var res loadResult
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("no summary after SIGINT: %v\n%s", err, out)
	}
	s := res.Summary
	if s.ConnectionsOpened < 300 || s.ConnectionsFailed != 0 || s.ResponsesOK != s.Requests ||
		s.ConnectionsCompleted+s.AbortedAtEnd != s.Counters["connections_dialed"] || s.ConnectionsOpen != 0 || s.DurationS > 10 {
		t.Errorf("summary after SIGINT: %+v", s)
	}
	for k, v := range s.Errors {
		if v != 0 {
			t.Errorf("%d %s errors", v, k)
		}
	}
	if p := s.Latency["response"]; p.Count != int64(s.ResponsesOK) || p.P50 <= 0 || p.Max < p.P99 {
		t.Errorf("response latency %+v for %d responses", p, s.ResponsesOK)
	}
	if res.BytesPerConn == 0 || res.BytesPerTimeWait == 0 || res.BytesPerTimeWait >= res.BytesPerConn {
		t.Errorf("memory per connection %d, in TIME-WAIT %d", res.BytesPerConn, res.BytesPerTimeWait)
	}
}

// TestLoadCount: --count ends the run once that many connections were
// opened and ended, with a summary that accounts for each.
func TestLoadCount(t *testing.T) {
	l := lab.NewT(t, lab.Options{})
	helloServer(t, l.B, 8080)
	start := time.Now()
	out, errOut, err := run(t, "load", "--dev", l.A.Link, "--netns", l.A.Name, "--addr", "198.18.0.10/24",
		"--dst", netip.AddrPortFrom(l.B.Addr.Addr(), 8080).String(), "--http", "/", "--cps", "200", "--count", "100",
		"--duration", "0", "--json")
	if err != nil {
		t.Fatalf("load: %v\n%s", err, errOut)
	}
	var res loadResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("summary: %v\n%s", err, out)
	}
	if s := res.Summary; s.ConnectionsOpened != 100 || s.ConnectionsCompleted != 100 || s.ResponsesOK != 100 || s.ConnectionsFailed != 0 {
		t.Errorf("--count 100: %+v", s)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("100 connections at 200/s took %v", d)
	}
}

// TestLoadShardStartAt: shard 1 of 2 of a fleet's --count 100 opens its
// 50, none before --start-at (5 s ahead: time to open the queues beside
// other packages' busy engines).
func TestLoadShardStartAt(t *testing.T) {
	l := lab.NewT(t, lab.Options{})
	helloServer(t, l.B, 8080)
	at := time.Now().Add(5 * time.Second)
	out, errOut, err := run(t, "load", "--dev", l.A.Link, "--netns", l.A.Name, "--addr", "198.18.0.10/24",
		"--dst", netip.AddrPortFrom(l.B.Addr.Addr(), 8080).String(), "--http", "/", "--cps", "400", "--count", "100",
		"--duration", "0", "--json", "--shard", "1/2", "--start-at", at.UTC().Format(time.RFC3339Nano))
	if err != nil {
		t.Fatalf("load: %v\n%s", err, errOut)
	}
	var res loadResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("summary: %v\n%s", err, out)
	}
	if s := res.Summary; s.ConnectionsOpened != 50 || s.ResponsesOK != 50 || res.Shard != "1/2" {
		t.Errorf("shard 1/2 of --count 100: %q %+v", res.Shard, s)
	}
	if time.Now().Before(at) {
		t.Errorf("the run ended before --start-at")
	}
}

// TestSrcAddrs: --src skips its prefix's network and broadcast addresses.
func TestSrcAddrs(t *testing.T) {
	own := netip.MustParsePrefix("198.18.0.10/24")
	got, err := srcAddrs("198.18.0.128/25", own)
	if err != nil || len(got) != 127 || got[0] != netip.MustParseAddr("198.18.0.128") || got[126] != netip.MustParseAddr("198.18.0.254") {
		t.Errorf("198.18.0.128/25 in a /24: %d addresses %v...%v, %v: want .128 to .254", len(got), got[:1], got[len(got)-1:], err)
	}
	if got, _ := srcAddrs("198.18.0.0/30", own); len(got) != 3 || got[0] != netip.MustParseAddr("198.18.0.1") {
		t.Errorf("198.18.0.0/30 in a /24: %v, want .1 to .3", got)
	}
}

// helloServer serves "hello" over HTTP from the kernel's TCP in h, on its
// address and port, until the test ends.
func helloServer(t *testing.T, h *lab.Host, port int) {
	t.Helper()
	var ln net.Listener
	if err := h.Do(func() (err error) {
		ln, err = net.Listen("tcp4", netip.AddrPortFrom(h.Addr.Addr(), uint16(port)).String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "hello\n") })}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
}
