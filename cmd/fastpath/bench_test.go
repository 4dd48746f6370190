package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fastpathnet/fastpath/internal/lab"
	"github.com/fastpathnet/fastpath/xdpsock"
	"github.com/vishvananda/netlink"
)

// benchRun runs `fastpath bench` with args and decodes its JSON summary.
func benchRun(t *testing.T, args ...string) xdpsock.Result {
	t.Helper()
	out, errOut, err := run(t, append([]string{"bench"}, append(args, "--interval", "0", "--json")...)...)
	if err != nil {
		t.Fatalf("bench %v: %v\n%s", args, err, errOut)
	}
	var r xdpsock.Result
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("bench %v: the summary is not JSON: %v\n%s", args, err, out)
	}
	if r.Mode != "copy" || len(r.Queues) != 1 || r.Queues[0].Packets != r.Packets || r.Kernel == "" {
		t.Errorf("bench %v: summary %+v: want copy mode, one queue holding the total, the kernel", args, r)
	}
	return r
}

// linkStats reads the counters of h's link.
func linkStats(t *testing.T, h *lab.Host) netlink.LinkStatistics {
	t.Helper()
	st, err := h.LinkStats()
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// waitStats polls the control API at addr until the run answers with
// its stats (503 while it starts).
func waitStats(t *testing.T, addr string) map[string]any {
	t.Helper()
	for i := 0; ; i++ {
		resp, err := http.Get("http://" + addr + "/v1/stats")
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
		if i == 200 {
			t.Fatalf("the control API at %s never answered: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// post POSTs to the control API at addr.
func post(t *testing.T, addr, path string) {
	t.Helper()
	resp, err := http.Post("http://"+addr+path, "application/json", strings.NewReader(""))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("POST %s: %d %s", path, resp.StatusCode, b)
	}
}

// settle waits (up to 10 s) until the run's packet count holds still for
// 200 ms, and returns it.
func settle(t *testing.T, addr string) float64 {
	t.Helper()
	last := -1.0
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		n, _ := waitStats(t, addr)["packets"].(float64)
		if n == last {
			return n
		}
		last = n
	}
	t.Fatalf("the count never settled (%v)", last)
	return 0
}

// TestBenchModes runs the three xdpsock modes on the lab's veth: rxdrop
// and l2fwd count exactly the frames gen sends them (l2fwd sends each
// back, so they reach the sender's side), txonly's frames reach the peer.
func TestBenchModes(t *testing.T) {
	l := lab.NewT(t, lab.Options{})
	const count, ctl = 20000, "127.0.0.1:19322"
	// gen in A sends count frames to B once bench is up in B, at a rate
	// bench's 2048-frame ring absorbs 200 ms of (a loaded machine).
	send := func() {
		t.Helper()
		_, errOut, err := run(t, "gen", "--dev", l.A.Link, "--netns", l.A.Name, "--dst", l.B.Addr.Addr().String(),
			"--dst-mac", l.B.MAC.String(), "--count", "20000", "--rate", "10k", "--interval", "0", "--json")
		if err != nil {
			t.Errorf("gen: %v\n%s", err, errOut)
		}
	}
	for _, mode := range []string{"rxdrop", "l2fwd"} {
		t.Run(mode, func(t *testing.T) {
			before := linkStats(t, l.A).RxPackets
			done := make(chan xdpsock.Result, 1)
			go func() {
				defer close(done) // benchRun failing ends this goroutine
				done <- benchRun(t, mode, "--dev", l.B.Link, "--netns", l.B.Name, "--duration", "120s", "--control", ctl)
			}()
			t.Cleanup(func() { http.Post("http://"+ctl+"/v1/stop", "application/json", nil) })
			waitStats(t, ctl)
			send()
			// Once the count stops moving, stop the run.
			settle(t, ctl)
			post(t, ctl, "/v1/stop")
			r, ok := <-done
			if !ok {
				t.FailNow()
			}
			if r.Packets < count || r.Packets > count+20 {
				t.Errorf("%s counted %d frames, gen sent %d", mode, r.Packets, count)
			}
			if r.XDPMode != "native" {
				t.Errorf("xdp_mode %q, want native on veth", r.XDPMode)
			}
			back := linkStats(t, l.A).RxPackets - before
			switch {
			case mode == "l2fwd" && back < count:
				t.Errorf("l2fwd: %d frames came back to A, want %d", back, count)
			case mode == "rxdrop" && back > 20:
				t.Errorf("rxdrop: %d frames came back to A", back)
			}
		})
	}
	t.Run("txonly", func(t *testing.T) {
		a0, b0 := linkStats(t, l.A), linkStats(t, l.B)
		r := benchRun(t, "txonly", "--dev", l.A.Link, "--netns", l.A.Name, "--dst", l.B.Addr.Addr().String(),
			"--dst-mac", l.B.MAC.String(), "--duration", "1s", "--size", "128")
		if r.Packets == 0 || r.Bytes != r.Packets*124 || r.PPS <= 0 {
			t.Fatalf("txonly: %d frames, %d bytes, %.0f pps", r.Packets, r.Bytes, r.PPS)
		}
		// Every completed frame reached B, or veth counted it dropped
		// (B's backlog full) on A.
		a1, b1 := linkStats(t, l.A), linkStats(t, l.B)
		if got, dropped := b1.RxPackets-b0.RxPackets, a1.TxDropped-a0.TxDropped; got+dropped < r.Packets {
			t.Errorf("txonly reported %d frames; B received %d, A dropped %d", r.Packets, got, dropped)
		}
	})
}

// TestBenchControl stops a long txonly run through the control API after
// reading its live stats and pausing it.
func TestBenchControl(t *testing.T) {
	l := lab.NewT(t, lab.Options{})
	const ctl = "127.0.0.1:19319"
	done := make(chan xdpsock.Result, 1)
	go func() {
		defer close(done) // benchRun failing ends this goroutine
		done <- benchRun(t, "txonly", "--dev", l.A.Link, "--netns", l.A.Name, "--dst", l.B.Addr.Addr().String(),
			"--dst-mac", l.B.MAC.String(), "--duration", "60s", "--control", ctl)
	}()
	t.Cleanup(func() { http.Post("http://"+ctl+"/v1/stop", "application/json", nil) })
	type stats struct {
		Bench   string  `json:"bench"`
		Packets uint64  `json:"packets"`
		PPS     float64 `json:"pps"`
	}
	read := func() (stats, error) {
		var s stats
		resp, err := http.Get("http://" + ctl + "/v1/stats")
		if err != nil {
			return s, err
		}
		defer resp.Body.Close()
		err = json.NewDecoder(resp.Body).Decode(&s)
		return s, err
	}
	waitStats(t, ctl)
	time.Sleep(100 * time.Millisecond)
	s, err := read()
	if err != nil || s.Bench != "txonly" || s.Packets == 0 || s.PPS <= 0 {
		t.Errorf("stats %+v %v", s, err)
	}
	post(t, ctl, "/v1/pause")
	a := settle(t, ctl) // frames in flight complete
	time.Sleep(300 * time.Millisecond)
	if b, _ := read(); float64(b.Packets) != a {
		t.Errorf("paused, yet %.0f frames went out", float64(b.Packets)-a)
	}
	post(t, ctl, "/v1/resume")
	start := time.Now()
	post(t, ctl, "/v1/stop")
	r, ok := <-done
	if !ok {
		t.FailNow()
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("stop took %v", d)
	}
	if !r.Interrupted || r.DurationS > 30 || float64(r.Packets) < a {
		t.Errorf("after stop: interrupted %v after %.1fs, %d frames (had %.0f)", r.Interrupted, r.DurationS, r.Packets, a)
	}
}
