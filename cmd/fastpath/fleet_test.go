package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fastpathnet/fastpath/gen"
	"github.com/fastpathnet/fastpath/internal/lab"
	"github.com/fastpathnet/fastpath/sink"
)

// TestFleet runs a fleet as deploy/kubernetes does, on one machine: three
// gen shards (--shard I/3) in three namespaces, each behind its own link
// to a router, send one fleet's traffic to one sink, started together by
// --start-at; a real Prometheus (Debian's, on loopback, with its own
// config and data directory) scrapes the four processes and evaluates
// the recording rules the manifests ship (deploy/kubernetes/monitoring/
// rules.yml). It checks that the shards started together; that the
// fleet's rules equal what the processes counted (the gens' sum, the
// sink's own count, the latency histogram's count); and, from a capture
// on the router's three links, that the shards' flows did not overlap
// and together were the whole range.
func TestFleet(t *testing.T) {
	l := lab.NewT(t, lab.Options{Router: true, More: 2})
	prom := requireTool(t, "prometheus", "apt-get install --no-install-recommends prometheus")
	requireTool(t, "tshark", "apt-get install tshark")
	const (
		shards = 3
		count  = 30_000 // the fleet's, 10,000 a shard
		rate   = "15k"  // the fleet's: two seconds
		ports  = 300    // source ports 1000-1299: 100 flows a shard
		udp    = 9
	)
	senders := append([]*lab.Host{l.A}, l.More...)
	// The router's link facing each shard: A's is R.Links[0], the added
	// hosts' R.Links[2+i].
	facing := []string{l.R.Links[0].Name, l.R.Links[2].Name, l.R.Links[3].Name}

	// The sink on B, and its metrics and control API on loopback (the
	// processes run in this namespace; --netns puts only their devices
	// in the lab's).
	addrs := freeAddrs(t, 2+shards)
	sinkMetrics, sinkCtl, genMetrics := addrs[0], addrs[1], addrs[2:]
	sinkCmd, sinkOut := startChild(t, "ctrl-c stops", "sink", "--dev", l.B.Link, "--netns", l.B.Name, "--port", strconv.Itoa(udp),
		"--idle", "adaptive", "--interval", "0", "--json", "--metrics", sinkMetrics, "--control", sinkCtl)
	defer stopChild(sinkCmd)

	// Prometheus, scraping every second the sink and the three gens.
	rules, err := filepath.Abs("../../deploy/kubernetes/monitoring/rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	api := startPrometheus(t, prom, rules, map[string][]string{"fastpath-sink": {sinkMetrics}, "fastpath-gen": genMetrics})

	// A capture on the router's three links, to tell the shards' flows
	// apart by the link they came in on.
	pcap := filepath.Join(t.TempDir(), "fleet.pcapng")
	capArgs := []string{"-q", "-f", fmt.Sprintf("udp dst port %d", udp), "-w", pcap, "-a", "duration:60"}
	for _, f := range facing {
		capArgs = append(capArgs, "-i", f)
	}
	capture := startCapture(t, l.R, capArgs)

	// The shards, started together at a time every one of them has
	// opened its queues by.
	at := time.Now().Add(6 * time.Second).UTC()
	type shardRun struct {
		cmd *exec.Cmd
		out io.Reader
	}
	var runs []shardRun
	for i, h := range senders {
		cmd, out := startChild(t, "metrics:", "gen", "--dev", h.Link, "--netns", h.Name, "--dst", fmt.Sprintf("%s:%d", l.B.Addr.Addr(), udp),
			"--rate", rate, "--count", strconv.Itoa(count), "--src-port-range", fmt.Sprintf("1000-%d", 1000+ports-1), "--stamp",
			"--shard", fmt.Sprintf("%d/%d", i, shards), "--start-at", at.Format(time.RFC3339Nano),
			"--metrics", genMetrics[i], "--linger", "20s", "--interval", "0", "--json")
		defer stopChild(cmd)
		runs = append(runs, shardRun{cmd, out})
	}

	// The sink counts the fleet's frames.
	received := func() uint64 {
		var st struct {
			N uint64 `json:"received_packets"`
		}
		if code, body := httpGet("http://" + sinkCtl + "/v1/stats"); code != 200 || json.Unmarshal([]byte(body), &st) != nil {
			t.Fatalf("sink stats: %d %s", code, body)
		}
		return st.N
	}
	for deadline := at.Add(30 * time.Second); received() < count && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
	}

	// The fleet's rules, once Prometheus has scraped the final counts
	// (the gens linger for it) and evaluated them.
	want := map[string]float64{
		"fleet:fastpath_gen_sent_packets:sum":                       count,
		"fleet:fastpath_sink_received_packets:sum":                  float64(received()),
		"sum(fastpath_sink_latency_seconds_count)":                  float64(received()),
		"count(count by (shard) (fastpath_gen_sent_packets_total))": shards,
	}
	got := map[string]float64{}
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(250 * time.Millisecond) {
		same := true
		for q, w := range want {
			got[q] = queryScalar(t, api, q)
			same = same && got[q] == w
		}
		if same || time.Now().After(deadline) {
			break
		}
	}
	for q, w := range want {
		if got[q] != w {
			t.Errorf("Prometheus: %s = %v, want %v", q, got[q], w)
		}
	}
	if p99 := queryScalar(t, api, "fleet:fastpath_sink_latency_seconds:p99_rate1m"); !(p99 > 0 && p99 < 1) {
		t.Errorf("fleet p99 latency from the summed buckets: %v s", p99)
	}

	t.Logf("Prometheus: %v", got)

	// Every shard sent its share, starting at the time given. (They
	// linger for the scrapes, done now: SIGINT cuts it short.)
	var sent uint64
	for i, r := range runs {
		syscall.Kill(r.cmd.Process.Pid, syscall.SIGINT)
		out, _ := io.ReadAll(r.out)
		if err := r.cmd.Wait(); err != nil {
			t.Fatalf("shard %d: %v", i, err)
		}
		var res gen.Summary
		if err := json.Unmarshal(out, &res); err != nil {
			t.Fatalf("shard %d: no summary: %v\n%s", i, err, out)
		}
		started, err := time.Parse(time.RFC3339Nano, res.Started)
		if err != nil || started.Before(at) || started.Sub(at) > 100*time.Millisecond {
			t.Errorf("shard %d started at %s, asked %s", i, res.Started, at.Format(time.RFC3339Nano))
		}
		if res.Shard != fmt.Sprintf("%d/%d", i, shards) || res.SentPackets != count/shards || res.Flows != ports/shards {
			t.Errorf("shard %d: %q sent %d in %d flows, want %d in %d", i, res.Shard, res.SentPackets, res.Flows, count/shards, ports/shards)
		}
		sent += res.SentPackets
		t.Logf("shard %d: started %v after the time asked, sent %d in %d flows", i, started.Sub(at), res.SentPackets, res.Flows)
	}
	syscall.Kill(sinkCmd.Process.Pid, syscall.SIGINT)
	out, _ := io.ReadAll(sinkOut)
	if err := sinkCmd.Wait(); err != nil {
		t.Fatalf("sink: %v", err)
	}
	var res sink.Result
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("sink: no summary: %v\n%s", err, out)
	}
	if res.Packets != sent || res.Lost != 0 || res.Duplicates != 0 || res.Stamp.Streams != shards {
		t.Errorf("sink: %d packets of %d sent, lost %d, duplicated %d, %d streams (want one a shard)", res.Packets, sent, res.Lost, res.Duplicates, res.Stamp.Streams)
	}
	if float64(res.Packets) != got["fleet:fastpath_sink_received_packets:sum"] {
		t.Errorf("the fleet rule says the sink received %v, the sink %d", got["fleet:fastpath_sink_received_packets:sum"], res.Packets)
	}

	// The shards' flows: shard i's source ports are those ≡ i mod 3, on
	// its link only; together, the whole range.
	capture()
	byLink := capturedPorts(t, pcap)
	owner := map[string]int{}
	for i, f := range facing {
		if len(byLink[f]) != ports/shards {
			t.Errorf("shard %d (R's %s): %d source ports, want %d", i, f, len(byLink[f]), ports/shards)
		}
		for p := range byLink[f] {
			if (p-1000)%shards != i {
				t.Errorf("shard %d sent from port %d", i, p)
			}
			if j, ok := owner[strconv.Itoa(p)]; ok {
				t.Errorf("port %d came from shards %d and %d", p, j, i)
			}
			owner[strconv.Itoa(p)] = i
		}
	}
	for i, f := range facing {
		t.Logf("shard %d: %d source ports on R's %s", i, len(byLink[f]), f)
	}
	if len(owner) != ports {
		t.Errorf("%d source ports between the shards, want %d", len(owner), ports)
	}
}

// requireTool finds a program the test needs: it fails where CI must
// have it (FASTPATH_REQUIRE_KERNEL=1), and skips, saying how to install
// it, elsewhere.
func requireTool(t *testing.T, name, install string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("FASTPATH_REQUIRE_KERNEL") == "1" {
			t.Fatalf("%s is not installed (%s)", name, install)
		}
		t.Skipf("%s is not installed (%s)", name, install)
	}
	return p
}

// freeAddrs returns n loopback addresses with ports free a moment ago.
func freeAddrs(t *testing.T, n int) []string {
	t.Helper()
	var out []string
	var lns []net.Listener
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		out = append(out, ln.Addr().String())
	}
	for _, ln := range lns {
		ln.Close()
	}
	return out
}

// stopChild kills a child still running (a test that failed midway).
func stopChild(cmd *exec.Cmd) {
	if cmd.ProcessState == nil {
		cmd.Process.Kill()
		cmd.Wait()
	}
}

func httpGet(u string) (int, string) {
	resp, err := http.Get(u)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// startPrometheus runs prometheus on loopback with its own config, rule
// file and data directory, scraping the jobs' targets every second, and
// returns its address once it is ready. Cleanup stops it.
func startPrometheus(t *testing.T, bin, rules string, jobs map[string][]string) string {
	t.Helper()
	dir := t.TempDir()
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - %q\nscrape_configs:\n", rules)
	for job, targets := range jobs {
		fmt.Fprintf(&cfg, "  - job_name: %q\n    static_configs:\n      - targets: [", job)
		for i, tg := range targets {
			if i > 0 {
				cfg.WriteString(", ")
			}
			fmt.Fprintf(&cfg, "%q", tg)
		}
		cfg.WriteString("]\n")
	}
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freeAddrs(t, 1)[0]
	cmd := exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("prometheus:\n%s", logs.String())
		}
	})
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if code, _ := httpGet("http://" + addr + "/-/ready"); code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus never got ready:\n%s", logs.String())
		}
	}
	// The rule file loaded: its groups are listed.
	if code, body := httpGet("http://" + addr + "/api/v1/rules"); code != 200 || !strings.Contains(body, "fleet:fastpath_gen_sent_packets:sum") {
		t.Fatalf("prometheus did not load %s: %d %s", rules, code, body)
	}
	return addr
}

// queryScalar evaluates q at Prometheus now: the value of its one
// sample, or -1 with none.
func queryScalar(t *testing.T, api, q string) float64 {
	t.Helper()
	code, body := httpGet("http://" + api + "/api/v1/query?query=" + url.QueryEscape(q))
	var r struct {
		Status string `json:"status"`
		Data   struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if code != 200 || json.Unmarshal([]byte(body), &r) != nil || r.Status != "success" {
		t.Fatalf("query %s: %d %s", q, code, body)
	}
	if len(r.Data.Result) != 1 {
		return -1
	}
	s, _ := r.Data.Result[0].Value[1].(string)
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("query %s: value %q", q, s)
	}
	return v
}

// startCapture runs tshark in h with args until the returned function
// stops it; it returns once tshark captures.
func startCapture(t *testing.T, h *lab.Host, args []string) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	cmd := h.Command(ctx, "tshark", args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	var logs strings.Builder
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "Capturing on") {
				close(started)
			}
			logs.WriteString(sc.Text() + "\n")
		}
	}()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
		<-done
		cancel()
	}
	t.Cleanup(stop)
	select {
	case <-started:
	case <-time.After(15 * time.Second):
		t.Fatal("tshark did not start capturing")
	}
	time.Sleep(500 * time.Millisecond) // dumpcap says so a little early
	return stop
}

// capturedPorts reads a capture's UDP source ports by the interface they
// came in on.
func capturedPorts(t *testing.T, pcap string) map[string]map[int]bool {
	t.Helper()
	out, err := exec.Command("tshark", "-r", pcap, "-T", "fields", "-e", "frame.interface_name", "-e", "udp.srcport").Output()
	if err != nil {
		t.Fatalf("tshark -r: %v\n%s", err, out)
	}
	by := map[string]map[int]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		ifc, port, ok := strings.Cut(line, "\t")
		p, err := strconv.Atoi(port)
		if !ok || err != nil {
			t.Fatalf("tshark line %q", line)
		}
		if by[ifc] == nil {
			by[ifc] = map[int]bool{}
		}
		by[ifc][p] = true
	}
	return by
}
