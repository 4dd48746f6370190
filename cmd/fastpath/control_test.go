package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fastpathnet/fastpath/gen"
	"github.com/fastpathnet/fastpath/internal/lab"
)

// TestGenControlAndMetrics drives a running `fastpath gen` through its
// control API (stats, rate, pause, resume, stop) and scrapes its
// Prometheus metrics, as an operator of a fleet of generators would.
func TestGenControlAndMetrics(t *testing.T) {
	l := lab.NewT(t, lab.Options{})
	const ctl, mx = "127.0.0.1:19317", "127.0.0.1:19318"
	done := runAsync(t, "gen", "--dev", l.A.Link, "--netns", l.A.Name, "--dst", l.B.Addr.Addr().String(),
		"--rate", "10k", "--duration", "30s", "--interval", "0", "--json", "--control", ctl, "--metrics", mx, "--linger", "30s")
	get := httpGet
	post := func(path, body string) (int, string) {
		resp, err := http.Post("http://"+ctl+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatalf("POST %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	type stats struct {
		Sent    uint64  `json:"sent_packets"`
		Paused  bool    `json:"paused"`
		Elapsed float64 `json:"elapsed_s"`
		Behind  float64 `json:"behind_s"`
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
	for i := 0; ; i++ {
		if code, _ := get("http://" + ctl + "/v1/stats"); code == 200 {
			break
		}
		if i == 100 {
			r := <-done
			t.Fatalf("the control API never answered: %v\n%s", r.err, r.errOut)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// rate measures the frames per second over a second of the run's
	// own clock. On a loaded machine a sender may fall behind: then the
	// time behind it reports must make up the difference.
	rate := func(want float64) float64 {
		t.Helper()
		a := read()
		time.Sleep(time.Second)
		b := read()
		d := b.Elapsed - a.Elapsed
		r := float64(b.Sent-a.Sent) / d
		if r < 0.9*want {
			if acc := (float64(b.Sent-a.Sent)/want + b.Behind - a.Behind) / d; acc < 0.9 || acc > 1.1 {
				t.Errorf("at %.0f/s: %.0f frames/s, and %.3fs behind accounts for it only to %.0f%%", want, r, b.Behind-a.Behind, 100*acc)
			}
			return want
		}
		return r
	}
	if r := rate(10000); r < 9000 || r > 11000 {
		t.Errorf("at --rate 10k: %.0f frames/s", r)
	}
	if code, body := post("/v1/rate", `{"rate": "2k"}`); code != 200 || !strings.Contains(body, "2") {
		t.Fatalf("rate: %d %s", code, body)
	}
	time.Sleep(100 * time.Millisecond)
	if r := rate(2000); r < 1800 || r > 2200 {
		t.Errorf("after POST /v1/rate 2k: %.0f frames/s", r)
	}
	if code, body := post("/v1/rate", `{"rate": "fast"}`); code != 400 || !strings.Contains(body, "error") {
		t.Errorf("a bad rate: %d %s", code, body)
	}
	if code, _ := get("http://" + ctl + "/v1/pause"); code != 405 {
		t.Errorf("GET /v1/pause: %d, want 405", code)
	}
	post("/v1/pause", "")
	// The count settles (the sender sees the pause within a round, and
	// publishes), then holds still.
	a := read()
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); {
		time.Sleep(100 * time.Millisecond)
		b := read()
		if b.Sent == a.Sent {
			break
		}
		a = b
	}
	time.Sleep(500 * time.Millisecond)
	if b := read(); b.Sent != a.Sent || !b.Paused {
		t.Errorf("paused (%v): %d frames went out", b.Paused, b.Sent-a.Sent)
	}
	post("/v1/resume", "")
	time.Sleep(100 * time.Millisecond)
	if r := rate(2000); r < 1800 {
		t.Errorf("resumed: %.0f frames/s", r)
	}
	code, body := get("http://" + mx + "/metrics")
	if code != 200 {
		t.Fatalf("metrics: %d %s", code, body)
	}
	for _, want := range []string{
		fmt.Sprintf(`fastpath_gen_sent_packets_total{device=%q,mode="copy",queue="0"}`, l.A.Link),
		"fastpath_xsk_tx_invalid_descs_total",
		"fastpath_gen_paused",
		"process_cpu_seconds_total",
		fmt.Sprintf(`fastpath_device_info{device=%q,mode="copy",xdp_mode="none"} 1`, l.A.Link),
		fmt.Sprintf(`fastpath_gen_asked_packets_per_second{device=%q} 2000`, l.A.Link),
		fmt.Sprintf(`fastpath_gen_asked_bits_per_second{device=%q} 0`, l.A.Link),
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if code, body := get("http://" + ctl + "/v1/ready"); code != 200 || !strings.Contains(body, `"ready":true`) {
		t.Errorf("ready: %d %s", code, body)
	}
	// Stop cuts --linger short.
	start := time.Now()
	post("/v1/stop", "")
	r := <-done
	if r.err != nil {
		t.Fatalf("gen: %v\n%s", r.err, r.errOut)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("stop took %v", d)
	}
	var res gen.Summary
	if err := json.Unmarshal([]byte(r.out), &res); err != nil || res.SentPackets == 0 {
		t.Fatalf("summary after stop: %v\n%s", err, r.out)
	}
}

// TestGenLinger: with --linger, gen's /metrics still answers, with the
// run's totals and its sockets' statistics, for that long after the run
// ended (its control API not ready any more), and then gen exits.
func TestGenLinger(t *testing.T) {
	l := lab.NewT(t, lab.Options{})
	const mx, ctl = "127.0.0.1:19319", "127.0.0.1:19320"
	done := make(chan error, 1)
	go func() {
		_, errOut, err := run(t, "gen", "--dev", l.A.Link, "--netns", l.A.Name, "--dst", l.B.Addr.Addr().String(),
			"--rate", "10k", "--count", "2000", "--interval", "0", "--metrics", mx, "--control", ctl, "--linger", "3s")
		if err != nil {
			err = fmt.Errorf("%w\n%s", err, errOut)
		}
		done <- err
	}()
	final := fmt.Sprintf(`fastpath_gen_sent_packets_total{device=%q,mode="copy",queue="0"} 2000`, l.A.Link)
	scrape := func() string {
		resp, err := http.Get("http://" + mx + "/metrics")
		if err != nil {
			return ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	var seen time.Time
	for end := time.Now().Add(20 * time.Second); seen.IsZero() && time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		select {
		case err := <-done:
			t.Fatalf("gen ended before a scrape saw its total: %v", err)
		default:
		}
		if strings.Contains(scrape(), final) {
			seen = time.Now()
		}
	}
	if seen.IsZero() {
		t.Fatalf("no scrape saw %s", final)
	}
	if code, body := httpGet("http://" + ctl + "/v1/ready"); code != 503 || !strings.Contains(body, "the run ended") {
		t.Errorf("lingering after the run, /v1/ready: %d %s", code, body)
	}
	time.Sleep(time.Second)
	if body := scrape(); !strings.Contains(body, final) || !strings.Contains(body, "fastpath_xsk_tx_invalid_descs_total{") {
		t.Errorf("a second after the run, /metrics lacks %s or the sockets' statistics:\n%.2000s", final, body)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
		if d := time.Since(seen); d < 1500*time.Millisecond {
			t.Errorf("gen exited %v after its last frame, with --linger 3s", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("gen did not exit after --linger")
	}
	if body := scrape(); body != "" {
		t.Error("/metrics still answers after gen exited")
	}
}

// httpGet returns u's status and body (0 and the error when it fails).
func httpGet(u string) (int, string) {
	resp, err := http.Get(u)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestGenShardInterrupted: a shard stopped before its duration ends (its
// pod deleted) exits with an error after its summary: its share was not
// sent, and its Job's index must not count as done.
func TestGenShardInterrupted(t *testing.T) {
	l := lab.NewT(t, lab.Options{})
	const ctl = "127.0.0.1:19321"
	done := runAsync(t, "gen", "--dev", l.A.Link, "--netns", l.A.Name, "--dst", l.B.Addr.Addr().String(),
		"--rate", "1k", "--duration", "30s", "--src-port-range", "1000-1009", "--shard", "0/2", "--interval", "0", "--json", "--control", ctl)
	for end := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if code, _ := httpGet("http://" + ctl + "/v1/ready"); code == 200 {
			break
		}
		if time.Now().After(end) {
			t.Fatal("gen never got ready")
		}
	}
	time.Sleep(300 * time.Millisecond)
	http.Post("http://"+ctl+"/v1/stop", "application/json", nil)
	r := <-done
	var res gen.Summary
	if json.Unmarshal([]byte(r.out), &res) != nil || !res.Interrupted || res.SentPackets == 0 {
		t.Errorf("no summary of the interrupted shard: %s", r.out)
	}
	if r.err == nil || !strings.Contains(r.err.Error(), "short of its share") {
		t.Errorf("an interrupted shard: %v", r.err)
	}
}

// TestStopWhileStarting: the control API listens before the run opens
// its queues, answers /v1/ready with 503 "starting" meanwhile, and takes
// a stop then: gen, resolving a destination no one answers for (3 s at
// most), ends at once with an error (nothing was sent); serve, waiting
// out three duplicate address probes (3 s), ends with its summary as
// soon as it is up instead of running out its --duration.
func TestStopWhileStarting(t *testing.T) {
	// waitStarting polls ctl until it answers 503 "starting", then posts
	// a stop and returns when it did.
	waitStarting := func(t *testing.T, ctl string) time.Time {
		t.Helper()
		code, body := 0, ""
		for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
			if code, body = httpGet("http://" + ctl + "/v1/ready"); code == http.StatusServiceUnavailable && strings.Contains(body, "starting") {
				break
			}
		}
		if code != http.StatusServiceUnavailable || !strings.Contains(body, "starting") {
			t.Fatalf("while the run starts, /v1/ready: %d %s; want 503 starting", code, body)
		}
		resp, err := http.Post("http://"+ctl+"/v1/stop", "application/json", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("a stop while starting: %s", resp.Status)
		}
		return time.Now()
	}
	t.Run("gen", func(t *testing.T) {
		l := lab.NewT(t, lab.Options{})
		const ctl = "127.0.0.1:19341"
		done := runAsync(t, "gen", "--dev", l.A.Link, "--netns", l.A.Name, "--dst", "198.18.0.99", "--count", "10",
			"--interval", "0", "--control", ctl)
		stopped := waitStarting(t, ctl)
		select {
		case r := <-done:
			// Unstopped, it would fail after 3 s with no answer to its
			// ARP requests instead.
			if r.err == nil || !strings.Contains(r.err.Error(), "stopped while opening the queues: nothing sent") {
				t.Errorf("gen stopped while resolving: %v, want an error saying nothing was sent\n%s", r.err, r.errOut)
			}
			// And at once, not when ARP gives up.
			if d := time.Since(stopped); d > 2*time.Second {
				t.Errorf("gen ended %v after the stop, want at once", d)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("gen did not end after a stop while it resolved")
		}
	})
	t.Run("serve", func(t *testing.T) {
		l := lab.NewT(t, lab.Options{IPv6: true})
		const ctl = "127.0.0.1:19342"
		done := runAsync(t, "serve", "--dev", l.A.Link, "--netns", l.A.Name, "--addr", "2001:db8::10/64", "--dad-transmits", "3",
			"--udp-echo", "7", "--duration", "120s", "--interval", "0", "--json", "--control", ctl)
		ended := false
		t.Cleanup(func() { // a failed test still ends serve
			if !ended {
				http.Post("http://"+ctl+"/v1/stop", "application/json", nil)
				<-done
			}
		})
		stopped := waitStarting(t, ctl)
		select {
		case r := <-done:
			ended = true
			var res serveResult
			if r.err != nil || json.Unmarshal([]byte(r.out), &res) != nil || res.DurationS > 10 {
				t.Errorf("serve stopped while starting: %v, summary %.300s (ran %.1f s); want its summary at once\n%s", r.err, r.out, res.DurationS, r.errOut)
			}
			t.Logf("serve ended %v after the stop", time.Since(stopped).Round(time.Millisecond))
		case <-time.After(20 * time.Second):
			t.Fatal("serve did not end after a stop while it started")
		}
	})
}
