package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fastpathnet/fastpath/internal/lab"
	"github.com/fastpathnet/fastpath/stack"
)

// TestServe runs `fastpath serve` in a lab namespace while the kernel in
// the other one sends UDP to its echo port, and reads the JSON summary:
// in dedicated mode on an address of its own, in shared mode on the
// kernel's.
func TestServe(t *testing.T) {
	for _, tc := range []struct {
		name, mode string
		dst        net.IP
		args       []string
	}{
		{"dedicated", "dedicated", net.IPv4(198, 18, 0, 10), []string{"--addr", "198.18.0.10/24"}},
		{"shared", "shared", net.IPv4(198, 18, 0, 1), []string{"--shared"}},
		// Dual-stack, the datagrams over IPv6 (after DAD's second).
		{"dedicated-ipv6", "dedicated", net.ParseIP("2001:db8::10"), []string{"--addr", "198.18.0.10/24", "--addr", "2001:db8::10/64"}},
		// The kernel's IPv6 address, as its IPv4 one.
		{"shared-ipv6", "shared", net.ParseIP("2001:db8::1"), []string{"--shared"}},
	} {
		t.Run(tc.name, func(t *testing.T) { testServe(t, tc.mode, tc.dst, tc.args) })
	}
}

func testServe(t *testing.T, mode string, dst net.IP, args []string) {
	l := lab.NewT(t, lab.Options{IPv6: dst.To4() == nil})
	const n, ctl, met = 20, "127.0.0.1:19324", "127.0.0.1:19325"
	echoed := make(chan int, 1)
	var metrics string
	var stats struct {
		ControlPlane *stack.ControlStatus `json:"control_plane"`
	}
	go func() {
		got := 0
		defer func() {
			echoed <- got
			http.Post("http://"+ctl+"/v1/stop", "application/json", nil) // the summary
		}()
		// Once serve answers with its stats (503 while it starts), its
		// engine runs.
		for i := 0; i < 200; i++ {
			if code, body := httpGet("http://" + ctl + "/v1/stats"); code == http.StatusOK {
				json.Unmarshal([]byte(body), &stats)
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if resp, err := http.Get("http://" + met + "/metrics"); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			metrics = string(b)
		}
		var c *net.UDPConn
		if err := l.B.Do(func() (err error) {
			c, err = net.DialUDP("udp", nil, &net.UDPAddr{IP: dst, Port: 7})
			return err
		}); err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, 64)
		deadline := time.Now().Add(10 * time.Second)
		for got < n && time.Now().Before(deadline) {
			c.Write([]byte("ping"))
			c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			if k, err := c.Read(buf); err == nil && bytes.Equal(buf[:k], []byte("ping")) {
				got++
			}
		}
	}()
	out, errOut, err := run(t, append([]string{"serve", "--dev", l.A.Link, "--netns", l.A.Name,
		"--udp-echo", "7", "--duration", "60s", "--control", ctl, "--metrics", met, "--json"}, args...)...)
	if err != nil {
		t.Fatalf("serve: %v\n%s", err, errOut)
	}
	if got := <-echoed; got != n {
		t.Errorf("%d of %d datagrams echoed", got, n)
	}
	var res serveResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("summary is not JSON: %v\n%s", err, out)
	}
	if res.Counters["udp_out"] < n || res.Mode != "copy" || res.XDPMode != "native" || res.DurationS <= 0 || res.DurationS > 50 || res.AddrMode != mode {
		t.Errorf("summary %+v", res)
	}
	// Shared mode follows the kernel's routes and neighbours: the control
	// plane's state is in /v1/stats and the summary.
	if mode == "shared" {
		if cp := stats.ControlPlane; cp == nil || cp.State != stack.ControlSubscribed || cp.Snapshots < 1 {
			t.Errorf("/v1/stats control_plane %+v, want subscribed with a snapshot", cp)
		}
		if cp := res.ControlPlane; cp == nil || cp.State != stack.ControlSubscribed {
			t.Errorf("summary control_plane %+v, want subscribed", cp)
		}
		for _, want := range []string{`fastpath_control_plane_state{device="` + l.A.Link + `",state="subscribed"} 1`,
			`fastpath_stack_subscription_errors_total{device="` + l.A.Link + `"} 0`} {
			if !strings.Contains(metrics, want) {
				t.Errorf("metrics lack %s", want)
			}
		}
	} else if stats.ControlPlane != nil || res.ControlPlane != nil {
		t.Errorf("dedicated mode without --import-routes has no control plane: %+v, %+v", stats.ControlPlane, res.ControlPlane)
	}
	// The engine and its program are gone after serve returns.
	lk, _ := l.A.Handle().LinkByName(l.A.Link)
	if x := lk.Attrs().Xdp; x != nil && x.Attached {
		t.Error("the steering program is still attached after serve returned")
	}
}

func TestServeBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--addr", "198.18.0.10/24"}, "--dev is required"},
		{[]string{"serve", "--dev", "x"}, "--addr is required"},
		{[]string{"serve", "--dev", "x", "--addr", "198.18.0.10"}, "prefix length"},
		{[]string{"serve", "--dev", "x", "--addr", "198.18.0.10/24", "--gw", "nope"}, "--gw"},
		{[]string{"serve", "--dev", "x", "--addr", "fe80::10%eth0/64"}, "prefix length"},
		{[]string{"serve", "--dev", "x", "--addr", "198.18.0.10/24", "--gw", "198.18.0.1", "--gw", "198.18.0.2"}, "one gateway per family"},
		{[]string{"serve", "--dev", "x", "--addr", "2001:db8::10/64", "--gw", "2001:db9::1"}, "IPv6 gateway 2001:db9::1"},
		{[]string{"serve", "--dev", "x", "--addr", "2001:db8::10/64", "--dad-transmits", "11"}, "--dad-transmits 11"},
		{[]string{"serve", "--dev", "x", "--addr", "ff02::1/64"}, "a unicast IPv6 address"},
		{[]string{"serve", "--dev", "x", "--addr", "198.18.0.10/24", "--udp-echo", "70000"}, "--udp-echo 70000"},
		{[]string{"serve", "--dev", "x", "--addr", "198.18.0.10/24", "--queues", "a"}, "--queues"},
		{[]string{"serve", "--dev", "x", "--addr", "198.18.0.10/24", "--idle", "lazy"}, "--idle"},
		{[]string{"serve", "--dev", "x", "--addr", "198.18.0.10/24", "--mode", "fast"}, "--mode"},
		{[]string{"serve", "--dev", "x", "--addr", "198.18.0.10/24", "--tx-checksum", "nic"}, "--tx-checksum"},
	} {
		_, _, err := run(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want it to mention %q", tc.args, err, tc.want)
		}
	}
}

// TestParseQueues: the engine commands' --queues takes a list or all
// (nil: stack.New takes every queue in use).
func TestParseQueues(t *testing.T) {
	if qs, err := parseQueues("all"); err != nil || qs != nil {
		t.Errorf("all: %v, %v", qs, err)
	}
	if qs, err := parseQueues("0, 2"); err != nil || len(qs) != 2 || qs[0] != 0 || qs[1] != 2 {
		t.Errorf("0, 2: %v, %v", qs, err)
	}
	for _, bad := range []string{"", "x", "-1", "0,,1"} {
		if _, err := parseQueues(bad); err == nil || !strings.Contains(err.Error(), "or all") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

// TestControlLine: the live lines say when the control plane does not
// follow the kernel, since when, why and when it tries again.
func TestControlLine(t *testing.T) {
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		cs   stack.ControlStatus
		want []string
	}{
		{stack.ControlStatus{State: stack.ControlSubscribed, Since: now.Add(-time.Hour)}, nil},
		{stack.ControlStatus{State: stack.ControlOff}, nil},
		{stack.ControlStatus{State: stack.ControlResyncing, Since: now.Add(-250 * time.Millisecond)}, []string{"resyncing", "250ms"}},
		{stack.ControlStatus{State: stack.ControlFailing, Since: now.Add(-3 * time.Second), Failures: 4, Retry: now.Add(800 * time.Millisecond),
			Error: "stack: subscribe to the kernel's routes: operation not permitted"}, []string{"failing for 3s", "4 attempts", "next in 800ms", "operation not permitted"}},
	} {
		line := controlLine(tc.cs, now)
		if (line == "") != (tc.want == nil) {
			t.Errorf("%s: %q", tc.cs.State, line)
		}
		for _, w := range tc.want {
			if !strings.Contains(line, w) {
				t.Errorf("%s: %q lacks %q", tc.cs.State, line, w)
			}
		}
	}
}
