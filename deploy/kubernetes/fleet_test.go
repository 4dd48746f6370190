package kubernetes

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fastpathnet/fastpath/gen"
	"github.com/fastpathnet/fastpath/internal/lab"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// TestFleet runs the manifests' pods as a cluster would, on one machine:
// lab namespaces stand for the nodes (the pods use hostNetwork, so a pod
// runs in its node's namespace). Three pods of the gen Job, its shards,
// run on three nodes, each behind its own link to a router; the sink
// DaemonSet's pod on a fourth; a real Prometheus (Debian's, on the
// router's loopback, where it reaches every node's address as a
// cluster's does) scrapes the pods as the PodMonitor says and evaluates
// the PrometheusRule's rules. Each pod runs the container's command and
// arguments as the kubelet expands them, from the ConfigMaps that
// params.env makes, edited as a user would (the lab's devices, the
// sink's address, a start time, three shards); its readiness is probed as
// the kubelet does, with its container's capabilities only (dropped with
// setpriv, and read back from /proc). It checks that every pod was ready
// before the start
// and the shards started together; that the fleet's rules equal what the
// processes counted (the gens' sum, the sink's own count, the latency
// histogram's count); and, from a capture on the router's links, that the
// shards' flows did not overlap and together were the whole range.
func TestFleet(t *testing.T) {
	l := lab.NewT(t, lab.Options{Router: true, More: 2})
	prom := requireTool(t, "prometheus", "apt-get install --no-install-recommends prometheus")
	requireTool(t, "tshark", "apt-get install tshark")
	requireTool(t, "curl", "apt-get install curl")
	requireTool(t, "setpriv", "apt-get install util-linux")
	requireTool(t, "nft", "apt-get install nftables")
	o := topLevel(t)
	const (
		shards = 3
		ports  = 300 // source ports 1000-1299: 100 flows a shard
		udp    = 9
	)
	nodes := append([]*lab.Host{l.A}, l.More...)
	// The router's link facing each gen node: A's is R.Links[0], the
	// added hosts' R.Links[2+i].
	facing := []string{l.R.Links[0].Name, l.R.Links[2].Name, l.R.Links[3].Name}

	sinkPod := newPod(t, o, "DaemonSet", "fastpath-sink", l.B, map[string]string{
		"DEV": l.B.Link, "PORT": strconv.Itoa(udp),
	})
	// newRun makes the gen Job's pods of a run starting at at, one a node.
	newRun := func(at time.Time) []*pod {
		var gens []*pod
		for i, n := range nodes {
			p := newPod(t, o, "Job", "fastpath-gen", n, map[string]string{
				"SHARDS": strconv.Itoa(shards), "START_AT": at.Format(time.RFC3339Nano), "DEV": n.Link,
				"DST": fmt.Sprintf("%s:%d", l.B.Addr.Addr(), udp), "RATE": "15k", "DURATION": "2s",
				"SRC_PORT_RANGE": fmt.Sprintf("1000-%d", 1000+ports-1), "STAMP": "true",
			})
			p.env["JOB_COMPLETION_INDEX"] = strconv.Itoa(i) // set by the Job controller
			gens = append(gens, p)
		}
		return gens
	}
	// run starts the pods, checks them ready (and their capabilities)
	// before the start, and returns their summaries, printed (JSON) when
	// each run ends, before they linger for the last scrape.
	run := func(gens []*pod, at time.Time) (sums []gen.Summary, sent uint64) {
		t.Helper()
		for _, p := range gens {
			p.start(t)
		}
		for _, p := range gens {
			p.waitReady(t, time.Until(at))
			p.checkCaps(t)
		}
		for i, p := range gens {
			var s gen.Summary
			for deadline := at.Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
				if json.Unmarshal(p.stdout.Bytes(), &s) == nil {
					break
				}
				if time.Now().After(deadline) || p.exited() {
					t.Fatalf("shard %d printed no summary:\n%s\n%s", i, p.stdout.String(), p.stderr.String())
				}
			}
			sums = append(sums, s)
			sent += s.SentPackets
		}
		return sums, sent
	}
	// The first run's pods, their start set once Prometheus runs (below):
	// it scrapes them before the start, as a cluster's would.
	gens := newRun(time.Time{})

	sinkPod.start(t)
	sinkPod.waitReady(t, 15*time.Second)
	sinkPod.checkCaps(t)

	// Prometheus on the router, which reaches every node's address.
	api := startPrometheus(t, prom, l.R, o, append([]*pod{sinkPod}, gens...))

	// A capture on the router's three links facing the shards.
	pcap := filepath.Join(t.TempDir(), "fleet.pcapng")
	capArgs := []string{"-q", "-f", fmt.Sprintf("udp dst port %d", udp), "-w", pcap, "-a", "duration:90"}
	for _, f := range facing {
		capArgs = append(capArgs, "-i", f)
	}
	stopCapture := startCapture(t, l.R, capArgs)

	// The start, once all that runs: the shards have 8 s to get ready.
	at := time.Now().Add(8 * time.Second).UTC()
	for _, p := range gens {
		p.env["START_AT"] = at.Format(time.RFC3339Nano)
	}

	sums, sent := run(gens, at)

	// The sink's own count, from its control API on its node.
	received := func() uint64 {
		var st struct {
			N uint64 `json:"received_packets"`
		}
		body, code := sinkPod.get(t, "/v1/stats")
		if code != 200 || json.Unmarshal(body, &st) != nil {
			t.Fatalf("sink stats: %d %s", code, body)
		}
		return st.N
	}
	for deadline := time.Now().Add(10 * time.Second); received() < sent && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
	}
	sinkCount := received()

	// The fleet's rules, once Prometheus scraped the final counts (the
	// gens linger for it) and evaluated them.
	want := map[string]float64{
		"fleet:fastpath_gen_sent_packets:sum":                       float64(sent),
		"fleet:fastpath_sink_received_packets:sum":                  float64(sinkCount),
		"sum(fastpath_sink_latency_seconds_count)":                  float64(sinkCount),
		"count(count by (shard) (fastpath_gen_sent_packets_total))": shards,
	}
	got := map[string]float64{}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		same := true
		for q, w := range want {
			got[q] = query(t, l.R, api, q)
			same = same && got[q] == w
		}
		if same || time.Now().After(deadline) {
			break
		}
	}
	t.Logf("Prometheus: %v", got)
	for q, w := range want {
		if got[q] != w {
			t.Errorf("Prometheus: %s = %v, want %v", q, got[q], w)
		}
	}
	// The quantile's rule needs a rate: two of the sink's scrapes, the
	// last after the run, and an evaluation after that. Meanwhile, what
	// the dashboard shows: every panel's query, its variables as
	// Grafana's "All" gives them, returns the fleet's series, numbers not
	// NaN (load's panels aside: no load runs here). Both before the gens'
	// --linger ends and their series go stale.
	qs, _ := dashboardQueries(t)
	qs = slices.DeleteFunc(qs, func(q panelQuery) bool { return strings.Contains(q.expr, "load_") })
	p99 := -1.0
	shown := make([][]string, len(qs)) // each query's values, NaN left out
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		p99 = query(t, l.R, api, "fleet:fastpath_sink_latency_seconds:p99_rate1m")
		all := true
		for i, q := range qs {
			shown[i] = nil
			for _, r := range promQuery(t, l.R, api, q.expr) {
				if v, _ := r.Value[1].(string); v != "NaN" {
					shown[i] = append(shown[i], v)
				}
			}
			all = all && len(shown[i]) > 0
		}
		if p99 > 0 && all || time.Now().After(deadline) {
			break
		}
	}
	if !(p99 > 0 && p99 < 1) {
		t.Errorf("fleet p99 latency from the summed buckets: %v s", p99)
	}
	for i, q := range qs {
		if len(shown[i]) == 0 {
			t.Errorf("dashboard panel %q: %s shows nothing of the fleet", q.panel, q.expr)
		} else {
			t.Logf("dashboard %q: %s: %v", q.panel, q.expr, shown[i])
		}
	}
	if sinkCount != sent || sent < 20_000 {
		t.Errorf("the sink counted %d, the shards sent %d (15k/s for 2 s)", sinkCount, sent)
	}

	// The shards: each started at the time given and sent its share.
	for i, s := range sums {
		started, err := time.Parse(time.RFC3339Nano, s.Started)
		if err != nil || started.Before(at) || started.Sub(at) > 100*time.Millisecond {
			t.Errorf("shard %d started at %s, asked %s", i, s.Started, at.Format(time.RFC3339Nano))
		}
		if s.Shard != fmt.Sprintf("%d/%d", i, shards) || s.Flows != ports/shards || s.SentPackets < sent/shards*9/10 {
			t.Errorf("shard %d: %q sent %d of %d in %d flows", i, s.Shard, s.SentPackets, sent, s.Flows)
		}
		t.Logf("shard %d: started %v after the time asked, sent %d in %d flows", i, started.Sub(at), s.SentPackets, s.Flows)
	}

	// The pods end as a cluster ends them: the Job's after --linger (cut
	// short here by SIGTERM, as a deleted pod's is). Each exits 0.
	for _, p := range gens {
		p.stop(t)
	}

	// A second run against the same sink, as a DaemonSet's outlives its
	// runs, the router dropping 1% of it at random: the sink counts the
	// second run's streams on their own (each began again from 0), every
	// frame not dropped arrives, and its stamped loss is the router's
	// drops (less those at a stream's very end, which nothing follows).
	drops := dropPercent(t, l.R, udp, 1)
	before := received()
	at2 := time.Now().Add(6 * time.Second).UTC()
	gens2 := newRun(at2)
	_, sent2 := run(gens2, at2)
	// The router's count is read again while the sink's grows: a frame
	// still queued on the router when the shards ended may be dropped yet.
	dropped := drops()
	for deadline := time.Now().Add(10 * time.Second); received()-before < sent2-dropped && time.Now().Before(deadline); dropped = drops() {
		time.Sleep(100 * time.Millisecond)
	}
	if got := received() - before; got != sent2-dropped || dropped == 0 {
		t.Errorf("second run: the sink counted %d, the shards sent %d, the router dropped %d", got, sent2, dropped)
	}
	var lost float64
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		lost = query(t, l.R, api, "sum(fastpath_sink_lost_packets)")
		if lost == float64(dropped) || time.Now().After(deadline) {
			break
		}
	}
	if lost > float64(dropped) || lost < float64(dropped)-2*shards {
		t.Errorf("second run: the sink's stamped loss is %v, the router dropped %d", lost, dropped)
	}
	for _, p := range gens2 {
		p.stop(t)
	}
	// The sink ends on SIGTERM, with its summary: both runs, the second's
	// streams begun again, nothing taken for a duplicate.
	sinkPod.stop(t)
	summary := sinkPod.stderr.String()
	if !strings.Contains(summary, fmt.Sprintf("%d streams began again", shards)) || !strings.Contains(summary, "duplicated 0,") {
		t.Errorf("the sink's summary after two runs:\n%s", summary)
	}
	t.Logf("second run: %d sent, %d dropped by the router, stamped loss %v", sent2, dropped, lost)

	// The shards' flows: shard i's source ports are those ≡ i mod 3, on
	// its link only; together, the whole range.
	stopCapture()
	byLink := capturedPorts(t, pcap)
	owner := map[int]int{}
	for i, f := range facing {
		t.Logf("shard %d: %d source ports on R's %s", i, len(byLink[f]), f)
		if len(byLink[f]) != ports/shards {
			t.Errorf("shard %d (R's %s): %d source ports, want %d", i, f, len(byLink[f]), ports/shards)
		}
		for p := range byLink[f] {
			if (p-1000)%shards != i {
				t.Errorf("shard %d sent from port %d", i, p)
			}
			if j, ok := owner[p]; ok {
				t.Errorf("port %d came from shards %d and %d", p, j, i)
			}
			owner[p] = i
		}
	}
	if len(owner) != ports {
		t.Errorf("%d source ports between the shards, want %d", len(owner), ports)
	}
}

// pod is one pod of the manifests, run in a lab namespace standing for
// its node, as the kubelet runs it.
type pod struct {
	name           string
	node           *lab.Host
	c              corev1.Container
	env            map[string]string
	cmd            *exec.Cmd
	stdout, stderr syncBuffer
	done           chan struct{}
}

// newPod takes the first container of the named DaemonSet's or Job's pod
// template, with the environment the kubelet gives it: its ConfigMap's
// data (with edits, as a user's params.env), then its env entries (the
// pod's IP, under hostNetwork the node's address).
func newPod(t *testing.T, o *objects, kind, name string, node *lab.Host, edits map[string]string) *pod {
	t.Helper()
	var w *workload
	for _, x := range o.workloads() {
		if x.kind == kind && x.name == name {
			w = &x
		}
	}
	if w == nil {
		t.Fatalf("no %s %s in the manifests", kind, name)
	}
	c := w.pod.Spec.Containers[0]
	env := map[string]string{}
	for k, v := range params(t, o, c) {
		env[k] = v
	}
	for k, v := range edits {
		if _, ok := env[k]; !ok {
			t.Fatalf("%s %s: params.env has no %s to edit", kind, name, k)
		}
		env[k] = v
	}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "status.podIP":
			env[e.Name] = node.Addr.Addr().String()
		case e.ValueFrom == nil:
			env[e.Name] = expand(e.Value, env)
		default:
			t.Fatalf("%s %s: env %s from %v: the test does not know it", kind, name, e.Name, e.ValueFrom)
		}
	}
	return &pod{name: name + "@" + node.Name, node: node, c: c, env: env, done: make(chan struct{})}
}

// expand does the kubelet's $(VAR) expansion: a variable defined is
// replaced, one not is left as written, and $$ is a $.
func expand(s string, env map[string]string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '$' && i+1 < len(s) && s[i+1] == '$' {
			b.WriteByte('$')
			i++
			continue
		}
		if m := envRef.FindStringSubmatchIndex(s[i:]); m != nil && m[0] == 0 {
			if v, ok := env[s[i+m[2]:i+m[3]]]; ok {
				b.WriteString(v)
				i += m[1] - 1
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// start runs the container's command and args, expanded, in the node's
// namespace; the image's fastpath is the one built from this tree.
func (p *pod) start(t *testing.T) {
	t.Helper()
	argv := append(append([]string{}, p.c.Command...), p.c.Args...)
	for i := range argv {
		argv[i] = expand(argv[i], p.env)
	}
	if argv[0] != "fastpath" {
		t.Fatalf("%s: command %q", p.name, argv)
	}
	// The container's capabilities and nothing else, as its runtime
	// gives them to a root process: the bounding set, which an exec
	// makes the process's own.
	sec := p.c.SecurityContext
	if sec == nil || sec.Capabilities == nil || len(sec.Capabilities.Drop) != 1 || sec.Capabilities.Drop[0] != "ALL" {
		t.Fatalf("%s: the test runs containers that drop ALL and add what they need", p.name)
	}
	bounding := "-all"
	for _, c := range sec.Capabilities.Add {
		bounding += ",+" + strings.ToLower(string(c))
	}
	priv := []string{"--inh-caps=-all", "--bounding-set=" + bounding}
	if sec.AllowPrivilegeEscalation != nil && !*sec.AllowPrivilegeEscalation {
		priv = append(priv, "--no-new-privs")
	}
	p.cmd = p.node.Command(context.Background(), "setpriv", append(append(priv, fastpath(t)), argv[1:]...)...)
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		if !p.exited() {
			p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("%s %q:\n%s", p.name, argv, p.stderr.String())
		}
	})
}

func (p *pod) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// get asks the pod's loopback HTTP port of its readiness probe for path,
// from its node's namespace, as the kubelet does.
func (p *pod) get(t *testing.T, path string) ([]byte, int) {
	t.Helper()
	h := p.c.ReadinessProbe.HTTPGet
	u := fmt.Sprintf("http://%s%s", netip.AddrPortFrom(netip.MustParseAddr(h.Host), uint16(h.Port.IntValue())), path)
	out, err := p.node.Command(context.Background(), "curl", "-s", "-m", "2", "-w", "\n%{http_code}", u).Output()
	if err != nil {
		return nil, 0
	}
	// curl printed the body, then the status on a line of its own.
	i := bytes.LastIndexByte(out, '\n')
	if i < 0 {
		return nil, 0
	}
	body, code := out[:i], out[i+1:]
	n, _ := strconv.Atoi(string(code))
	return body, n
}

// checkCaps reads the running process's effective capabilities: exactly
// those its container adds.
func (p *pod) checkCaps(t *testing.T) {
	t.Helper()
	numbers := map[corev1.Capability]uint{"NET_RAW": unix.CAP_NET_RAW, "NET_ADMIN": unix.CAP_NET_ADMIN, "BPF": unix.CAP_BPF,
		"PERFMON": unix.CAP_PERFMON, "IPC_LOCK": unix.CAP_IPC_LOCK, "SYS_RESOURCE": unix.CAP_SYS_RESOURCE, "SYS_ADMIN": unix.CAP_SYS_ADMIN}
	var want uint64
	for _, c := range p.c.SecurityContext.Capabilities.Add {
		n, ok := numbers[c]
		if !ok {
			t.Fatalf("%s: capability %s: add its number to checkCaps", p.name, c)
		}
		want |= 1 << n
	}
	// Those this test's own process may hand on: a sandbox's root may
	// lack some (this CI's has no CAP_SYS_RESOURCE, which only kernels
	// before 5.11 need).
	if own := capSet(t, "self", "CapBnd"); want&^own != 0 {
		t.Logf("%s: this machine's root cannot give capabilities %016x; the pod runs without them", p.name, want&^own)
		want &= own
	}
	if got := capSet(t, strconv.Itoa(p.cmd.Process.Pid), "CapEff"); got != want {
		t.Errorf("%s runs with capabilities %016x, want %016x", p.name, got, want)
	}
}

// capSet reads a capability set (CapEff, CapBnd) of a process's status.
func capSet(t *testing.T, pid, set string) uint64 {
	t.Helper()
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, set+":\t"); ok {
			n, err := strconv.ParseUint(v, 16, 64)
			if err != nil {
				t.Fatalf("%s %s: %q", pid, set, v)
			}
			return n
		}
	}
	t.Fatalf("no %s in /proc/%s/status", set, pid)
	return 0
}

// waitReady probes the pod as its readinessProbe says until it answers
// 200, for at most d.
func (p *pod) waitReady(t *testing.T, d time.Duration) {
	t.Helper()
	path := p.c.ReadinessProbe.HTTPGet.Path
	for deadline := time.Now().Add(d); ; time.Sleep(100 * time.Millisecond) {
		if _, code := p.get(t, path); code == 200 {
			return
		}
		if p.exited() || time.Now().After(deadline) {
			t.Fatalf("%s never got ready (%s):\n%s", p.name, path, p.stderr.String())
		}
	}
}

// stop sends SIGTERM, as the kubelet does to a pod being deleted, and
// waits for a clean exit.
func (p *pod) stop(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not stop on SIGTERM", p.name)
	}
	if !p.cmd.ProcessState.Success() {
		t.Errorf("%s: %v\n%s", p.name, p.cmd.ProcessState, p.stderr.String())
	}
}

// startPrometheus runs prometheus in h's namespace, listening on its
// loopback, with its own config and data directory: every PodMonitor
// endpoint a job scraping the pods that have its port (at the pod's IP and
// that port, every interval the endpoint gives), labelled namespace and
// pod as the operator labels them; the PrometheusRules' groups its rule
// file. It returns the address once Prometheus is ready and has loaded
// the rules. Cleanup stops it.
func startPrometheus(t *testing.T, bin string, h *lab.Host, o *objects, pods []*pod) string {
	t.Helper()
	dir := t.TempDir()
	var groups []any
	for _, r := range o.promRules {
		for _, g := range r.Spec.Groups {
			groups = append(groups, g)
		}
	}
	rules, err := yaml.Marshal(map[string]any{"groups": groups})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "rules.yml"), rules, 0o644); err != nil {
		t.Fatal(err)
	}
	type static struct {
		Targets []string          `json:"targets"`
		Labels  map[string]string `json:"labels"`
	}
	type job struct {
		Name     string   `json:"job_name"`
		Interval string   `json:"scrape_interval"`
		Static   []static `json:"static_configs"`
	}
	var jobs []job
	for _, pm := range o.podMonitors {
		for _, ep := range pm.Spec.PodMetricsEndpoints {
			j := job{Name: pm.Namespace + "/" + pm.Name, Interval: string(ep.Interval)}
			for _, p := range pods {
				for _, cp := range p.c.Ports {
					if ep.Port != nil && cp.Name == *ep.Port {
						j.Static = append(j.Static, static{
							Targets: []string{netip.AddrPortFrom(p.node.Addr.Addr(), uint16(cp.ContainerPort)).String()},
							Labels:  map[string]string{"namespace": pm.Namespace, "pod": p.name},
						})
					}
				}
			}
			jobs = append(jobs, j)
		}
	}
	cfg, err := yaml.Marshal(map[string]any{
		"global":         map[string]string{"evaluation_interval": "1s"},
		"rule_files":     []string{filepath.Join(dir, "rules.yml")},
		"scrape_configs": jobs,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	const addr = "127.0.0.1:9090" // the router's loopback, nobody else's
	cmd := h.Command(context.Background(), bin, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+addr, "--log.level=warn")
	var logs syncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("prometheus:\n%s\nconfig:\n%s", logs.String(), cfg)
		}
	})
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		out, _ := h.Command(context.Background(), "curl", "-s", "http://"+addr+"/api/v1/rules").Output()
		if strings.Contains(string(out), "fleet:fastpath_gen_sent_packets:sum") {
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus never got ready with the rules:\n%s\n%s", out, logs.String())
		}
	}
}

// promSample is one series of an instant query's result.
type promSample struct {
	Value [2]any `json:"value"`
}

// promQuery evaluates q at Prometheus now, from h's namespace, and
// returns its series; a query Prometheus refuses fails the test.
func promQuery(t *testing.T, h *lab.Host, api, q string) []promSample {
	t.Helper()
	out, err := h.Command(context.Background(), "curl", "-s", "-m", "5", "http://"+api+"/api/v1/query?query="+url.QueryEscape(q)).Output()
	var r struct {
		Status string `json:"status"`
		Data   struct {
			Result []promSample `json:"result"`
		} `json:"data"`
	}
	if err != nil || json.Unmarshal(out, &r) != nil || r.Status != "success" {
		t.Fatalf("query %s: %v %s", q, err, out)
	}
	return r.Data.Result
}

// query evaluates q at Prometheus now, from h's namespace: the value of
// its one sample, or -1 with none.
func query(t *testing.T, h *lab.Host, api, q string) float64 {
	t.Helper()
	res := promQuery(t, h, api, q)
	if len(res) != 1 {
		return -1
	}
	s, _ := res[0].Value[1].(string)
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
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	cmd := h.Command(ctx, "tshark", args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	started, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stderr)
		once := false
		for sc.Scan() {
			if !once && strings.Contains(sc.Text(), "Capturing on") {
				once = true
				close(started)
			}
		}
	}()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cmd.Process.Signal(os.Interrupt)
		<-done
		cmd.Wait()
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

// syncBuffer is a buffer a command writes while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.b.Bytes())
}

func (s *syncBuffer) String() string { return string(s.Bytes()) }

// dropPercent makes h drop pct% of the UDP to port it forwards, at
// random (nftables), and returns a reader of how many it dropped.
func dropPercent(t *testing.T, h *lab.Host, port, pct int) func() uint64 {
	t.Helper()
	for _, args := range [][]string{
		{"add", "table", "inet", "fleet"},
		{"add", "chain", "inet", "fleet", "fw", "{ type filter hook forward priority 0; policy accept; }"},
		{"add", "rule", "inet", "fleet", "fw", "udp", "dport", strconv.Itoa(port), "numgen", "random", "mod", "100", "<", strconv.Itoa(pct), "counter", "drop"},
	} {
		if out, err := h.Command(context.Background(), "nft", args...).CombinedOutput(); err != nil {
			t.Fatalf("nft %v: %v: %s", args, err, out)
		}
	}
	counter := regexp.MustCompile(`counter packets (\d+)`)
	return func() uint64 {
		out, err := h.Command(context.Background(), "nft", "list", "chain", "inet", "fleet", "fw").CombinedOutput()
		m := counter.FindSubmatch(out)
		if err != nil || m == nil {
			t.Fatalf("nft list: %v: %s", err, out)
		}
		n, _ := strconv.ParseUint(string(m[1]), 10, 64)
		return n
	}
}

// requireTool finds a program the test needs: it fails where CI must
// have it (FASTPATH_REQUIRE_KERNEL=1), and skips, saying how to install
// it, elsewhere.
func requireTool(t *testing.T, name, install string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv(lab.RequireKernelEnv) == "1" {
			t.Fatalf("%s is not installed (%s)", name, install)
		}
		t.Skipf("%s is not installed (%s)", name, install)
	}
	return p
}
