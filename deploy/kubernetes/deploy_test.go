// Package kubernetes holds fastpath's Kubernetes manifests (kustomize) and
// their tests. It is a module of its own so that the engine's module gains
// no Kubernetes dependencies; go test here is the one entry point for the
// manifests, the Prometheus rules and the Grafana dashboard.
package kubernetes

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/fastpathnet/fastpath/deploy/kubernetes/ociimage"
)

var update = flag.Bool("update", false, "rewrite monitoring/prometheusrule.yaml from monitoring/rules.yml")

// The control API binds loopback only: it can stop and re-rate a run.
const controlHost = "127.0.0.1"

// objects is one kustomize build's output, decoded into typed structs.
type objects struct {
	daemonSets   []*appsv1.DaemonSet
	jobs         []*batchv1.Job
	configMaps   []*corev1.ConfigMap
	namespaces   []*corev1.Namespace
	accounts     []*corev1.ServiceAccount
	podMonitors  []*monitoringv1.PodMonitor
	promRules    []*monitoringv1.PrometheusRule
	kindsInOrder []string
}

// workload is a DaemonSet's or a Job's pod template, by name.
type workload struct {
	kind, name string
	pod        corev1.PodTemplateSpec
}

func (o *objects) workloads() []workload {
	var w []workload
	for _, d := range o.daemonSets {
		w = append(w, workload{"DaemonSet", d.Name, d.Spec.Template})
	}
	for _, j := range o.jobs {
		w = append(w, workload{"Job", j.Name, j.Spec.Template})
	}
	return w
}

func (o *objects) configMap(name string) *corev1.ConfigMap {
	for _, c := range o.configMaps {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// kustomizations lists every directory holding a kustomization.yaml, the
// top level first, so that one added later is built too.
func kustomizations(t *testing.T) []string {
	t.Helper()
	var dirs []string
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Name() == "kustomization.yaml" && filepath.Dir(path) != "image" {
			// image is a Component, which builds only inside another.
			dirs = append(dirs, filepath.Dir(path))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(dirs)
	if len(dirs) == 0 || dirs[0] != "." {
		t.Fatalf("no kustomization.yaml at the top level (found %v)", dirs)
	}
	return dirs
}

// build runs kustomize as kubectl kustomize does (the same defaults, the
// files on disk) and decodes every object strictly: a field the typed
// struct does not have fails, as does a kind this test does not know.
func build(t *testing.T, dir string) *objects {
	t.Helper()
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), abs)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	o := &objects{}
	for _, r := range m.Resources() {
		y, err := r.AsYAML()
		if err != nil {
			t.Fatalf("%s: %s: %v", dir, r.CurId(), err)
		}
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal(y, &tm); err != nil {
			t.Fatalf("%s: %s: %v", dir, r.CurId(), err)
		}
		var obj any
		switch tm.APIVersion + " " + tm.Kind {
		case "apps/v1 DaemonSet":
			v := &appsv1.DaemonSet{}
			o.daemonSets, obj = append(o.daemonSets, v), v
		case "batch/v1 Job":
			v := &batchv1.Job{}
			o.jobs, obj = append(o.jobs, v), v
		case "v1 ConfigMap":
			v := &corev1.ConfigMap{}
			o.configMaps, obj = append(o.configMaps, v), v
		case "v1 Namespace":
			v := &corev1.Namespace{}
			o.namespaces, obj = append(o.namespaces, v), v
		case "v1 ServiceAccount":
			v := &corev1.ServiceAccount{}
			o.accounts, obj = append(o.accounts, v), v
		case "monitoring.coreos.com/v1 PodMonitor":
			v := &monitoringv1.PodMonitor{}
			o.podMonitors, obj = append(o.podMonitors, v), v
		case "monitoring.coreos.com/v1 PrometheusRule":
			v := &monitoringv1.PrometheusRule{}
			o.promRules, obj = append(o.promRules, v), v
		default:
			t.Fatalf("%s: %s: a kind this test does not decode (%s %s): add it to build", dir, r.CurId(), tm.APIVersion, tm.Kind)
		}
		if err := yaml.UnmarshalStrict(y, obj); err != nil {
			t.Fatalf("%s: %s %s: %v\n%s", dir, tm.Kind, r.GetName(), err, y)
		}
		o.kindsInOrder = append(o.kindsInOrder, tm.Kind)
	}
	return o
}

var (
	topOnce sync.Once
	top     *objects
)

// topLevel is everything the manifests deploy: the build of
// deploy/kubernetes itself (the namespace, the sinks and serves, the
// monitoring) and of the two runs, gen and load, applied on their own.
func topLevel(t *testing.T) *objects {
	t.Helper()
	topOnce.Do(func() {
		all := build(t, ".")
		for _, run := range runDirs {
			o := build(t, run)
			all.daemonSets = append(all.daemonSets, o.daemonSets...)
			all.jobs = append(all.jobs, o.jobs...)
			all.configMaps = append(all.configMaps, o.configMaps...)
			all.namespaces = append(all.namespaces, o.namespaces...)
			all.accounts = append(all.accounts, o.accounts...)
			all.podMonitors = append(all.podMonitors, o.podMonitors...)
			all.promRules = append(all.promRules, o.promRules...)
		}
		top = all
	})
	if top == nil {
		t.Fatal("the top-level build failed")
	}
	return top
}

// runDirs are the one-shot runs, applied each on its own: a top level that
// held them would start a run again, at a stale START_AT, whenever it was
// applied for a sink's change.
var runDirs = []string{"gen", "load"}

// TestKustomizations builds every kustomization, each as kubectl apply -k
// would, and checks that each object lands in the namespace fastpath.
func TestKustomizations(t *testing.T) {
	for _, dir := range kustomizations(t) {
		t.Run(dir, func(t *testing.T) {
			o := build(t, dir)
			if len(o.kindsInOrder) == 0 {
				t.Fatal("the build is empty")
			}
			for _, w := range o.workloads() {
				if ns := w.pod.Namespace; ns != "" && ns != "fastpath" {
					t.Errorf("%s %s: pod namespace %q", w.kind, w.name, ns)
				}
			}
			check := func(kind string, m metav1.ObjectMeta) {
				if m.Namespace != "fastpath" {
					t.Errorf("%s %s: namespace %q, want fastpath", kind, m.Name, m.Namespace)
				}
			}
			for _, v := range o.daemonSets {
				check("DaemonSet", v.ObjectMeta)
			}
			for _, v := range o.jobs {
				check("Job", v.ObjectMeta)
			}
			for _, v := range o.configMaps {
				check("ConfigMap", v.ObjectMeta)
			}
			for _, v := range o.podMonitors {
				check("PodMonitor", v.ObjectMeta)
			}
			for _, v := range o.promRules {
				check("PrometheusRule", v.ObjectMeta)
			}
		})
	}
	o := build(t, ".")
	if len(o.namespaces) != 1 || o.namespaces[0].Name != "fastpath" {
		t.Errorf("the top level should create the namespace fastpath, has %v", o.namespaces)
	} else if o.namespaces[0].Labels["pod-security.kubernetes.io/enforce"] != "privileged" {
		// hostNetwork and added capabilities are the privileged level's:
		// a namespace at baseline (a common default) rejects the pods.
		t.Error("the namespace does not allow the privileged Pod Security level")
	}
	want := map[string]string{"fastpath-sink": "DaemonSet", "fastpath-serve": "DaemonSet"}
	for _, w := range o.workloads() {
		if want[w.name] == w.kind {
			delete(want, w.name)
		}
	}
	if len(want) > 0 {
		t.Errorf("the top level lacks %v", want)
	}
	if len(o.jobs) > 0 {
		t.Errorf("the top level holds Jobs (%d): a run is applied on its own, from %v", len(o.jobs), runDirs)
	}
	if len(o.podMonitors) == 0 || len(o.promRules) == 0 {
		t.Error("the top level lacks the monitoring (PodMonitor, PrometheusRule)")
	}
	jobs := map[string]bool{}
	for _, j := range topLevel(t).jobs {
		jobs[j.Name] = true
		if d := j.Spec.ActiveDeadlineSeconds; d == nil || *d <= 0 {
			t.Errorf("Job %s has no activeDeadlineSeconds: a shard left Pending would hold it open for ever", j.Name)
		}
	}
	if !jobs["fastpath-gen"] || !jobs["fastpath-load"] {
		t.Errorf("the runs lack a Job: %v", jobs)
	}
}

// readmeCapabilities reads the capabilities the README names under "Root,
// or these capabilities", without CAP_ and without the asides in
// parentheses (CAP_SYS_ADMIN before 5.8).
func readmeCapabilities(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	start := slices.IndexFunc(lines, func(l string) bool { return strings.Contains(l, "Root, or these capabilities") })
	if start < 0 {
		t.Fatal(`README.md has no "Root, or these capabilities" list`)
	}
	aside := regexp.MustCompile(`\([^)]*\)`)
	capName := regexp.MustCompile("`CAP_([A-Z_]+)`")
	// The list's items, each with the lines that continue it, up to the
	// blank line that ends the list.
	var items []string
	for _, l := range lines[start+1:] {
		l = strings.TrimSpace(l)
		if l == "" {
			break
		}
		if strings.HasPrefix(l, "- ") || len(items) == 0 {
			items = append(items, l)
			continue
		}
		items[len(items)-1] += " " + l
	}
	var caps []string
	for _, item := range items {
		for _, m := range capName.FindAllStringSubmatch(aside.ReplaceAllString(item, ""), -1) {
			caps = append(caps, m[1])
		}
	}
	if len(caps) == 0 {
		t.Fatal(`no capabilities under the README's "Root, or these capabilities"`)
	}
	sort.Strings(caps)
	return caps
}

// flags turns a container's args into flag → value: --name=value, or
// --name value when the next arg is not a flag, or "" for a bool.
func flags(args []string) map[string]string {
	f := map[string]string{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "--") {
			continue
		}
		name, value, ok := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if !ok && i+1 < len(args) && !strings.HasPrefix(args[i+1], "--") {
			value = args[i+1]
			i++
		}
		f[name] = value
	}
	return f
}

var envRef = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

func port(t *testing.T, hostPort string) (string, int32) {
	t.Helper()
	i := strings.LastIndex(hostPort, ":")
	if i < 0 {
		t.Errorf("%q: no port", hostPort)
		return hostPort, 0
	}
	p, err := strconv.ParseInt(hostPort[i+1:], 10, 32)
	if err != nil {
		t.Errorf("%q: %v", hostPort, err)
	}
	return hostPort[:i], int32(p)
}

func namedPort(c corev1.Container, name string) (corev1.ContainerPort, bool) {
	for _, p := range c.Ports {
		if p.Name == name {
			return p, true
		}
	}
	return corev1.ContainerPort{}, false
}

// TestPods checks every fastpath pod: the node's network, the README's
// capabilities and no more, the bpffs and huge pages, Guaranteed
// resources, readiness from the loopback control API, metrics on the
// node's address, and every $(VAR) the args use defined.
func TestPods(t *testing.T) {
	o := topLevel(t)
	caps := readmeCapabilities(t)
	ws := o.workloads()
	if len(ws) == 0 {
		t.Fatal("no DaemonSets or Jobs")
	}
	hostPorts := map[string][]int32{}
	for _, w := range ws {
		t.Run(w.kind+"/"+w.name, func(t *testing.T) {
			spec := w.pod.Spec
			if !spec.HostNetwork {
				t.Error("hostNetwork is not true: AF_XDP needs the node's device")
			}
			if spec.DNSPolicy != corev1.DNSClusterFirstWithHostNet {
				t.Errorf("dnsPolicy %q, want ClusterFirstWithHostNet", spec.DNSPolicy)
			}
			vols := map[string]corev1.Volume{}
			for _, v := range spec.Volumes {
				vols[v.Name] = v
			}
			if len(spec.Containers) == 0 {
				t.Fatal("no containers")
			}
			for _, c := range spec.Containers {
				checkSecurity(t, c, caps)
				checkMounts(t, c, vols)
				checkResources(t, c)
				f := flags(c.Args)
				if _, ok := f["huge-pages"]; !ok {
					t.Errorf("%s: no --huge-pages", c.Name)
				}
				checkControl(t, c, f)
				checkMetrics(t, c, f)
				checkEnv(t, o, w, c)
				for _, p := range c.Ports {
					hostPorts[w.kind] = append(hostPorts[w.kind], p.ContainerPort)
				}
			}
		})
	}
	// Under hostNetwork a container port is a host port: a sink (a
	// DaemonSet) and a gen (a Job) may share a node only if theirs differ.
	for _, p := range hostPorts["DaemonSet"] {
		if slices.Contains(hostPorts["Job"], p) {
			t.Errorf("port %d is used by a DaemonSet and a Job: the scheduler will not put them on one node", p)
		}
	}
}

func checkSecurity(t *testing.T, c corev1.Container, caps []string) {
	t.Helper()
	sc := c.SecurityContext
	if sc == nil {
		t.Errorf("%s: no securityContext", c.Name)
		return
	}
	if sc.Privileged == nil || *sc.Privileged {
		t.Errorf("%s: privileged must be set, to false", c.Name)
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Errorf("%s: allowPrivilegeEscalation must be set, to false", c.Name)
	}
	if sc.RunAsUser == nil || *sc.RunAsUser != 0 {
		t.Errorf("%s: runAsUser must be 0 (added capabilities are granted to root)", c.Name)
	}
	if sc.Capabilities == nil {
		t.Errorf("%s: no capabilities", c.Name)
		return
	}
	var add []string
	for _, c := range sc.Capabilities.Add {
		add = append(add, string(c))
	}
	sort.Strings(add)
	if !slices.Equal(add, caps) {
		t.Errorf("%s: capabilities.add %v, want the README's %v", c.Name, add, caps)
	}
	if len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" {
		t.Errorf("%s: capabilities.drop %v, want [ALL]", c.Name, sc.Capabilities.Drop)
	}
}

func checkMounts(t *testing.T, c corev1.Container, vols map[string]corev1.Volume) {
	t.Helper()
	mounted := map[string]corev1.Volume{}
	for _, m := range c.VolumeMounts {
		v, ok := vols[m.Name]
		if !ok {
			t.Errorf("%s: mounts %q, which is not a volume", c.Name, m.Name)
		}
		mounted[m.MountPath] = v
	}
	bpffs := mounted["/sys/fs/bpf"]
	if hp := bpffs.HostPath; hp == nil || hp.Path != "/sys/fs/bpf" || hp.Type == nil || *hp.Type != corev1.HostPathDirectory {
		t.Errorf("%s: /sys/fs/bpf is not the node's bpffs (hostPath /sys/fs/bpf, type Directory): %+v", c.Name, bpffs)
	}
	huge := mounted["/dev/hugepages"]
	if ed := huge.EmptyDir; ed == nil || ed.Medium != corev1.StorageMediumHugePages {
		t.Errorf("%s: /dev/hugepages is not an emptyDir of medium HugePages: %+v", c.Name, huge)
	}
}

func checkResources(t *testing.T, c corev1.Container) {
	t.Helper()
	req, lim := c.Resources.Requests, c.Resources.Limits
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, "hugepages-2Mi"} {
		r, ok1 := req[name]
		l, ok2 := lim[name]
		if !ok1 || !ok2 || r.Cmp(l) != 0 {
			t.Errorf("%s: %s request %v and limit %v must both be set and equal (Guaranteed QoS)", c.Name, name, r.String(), l.String())
		}
	}
	// The static CPU manager gives whole cores only to whole-number requests.
	if cpu := req[corev1.ResourceCPU]; cpu.MilliValue()%1000 != 0 {
		t.Errorf("%s: cpu %s is not a whole number of cores", c.Name, cpu.String())
	}
	if h := req["hugepages-2Mi"]; h.Cmp(resource.MustParse("2Mi")) < 0 {
		t.Errorf("%s: hugepages-2Mi %s: not one page", c.Name, h.String())
	}
}

func checkControl(t *testing.T, c corev1.Container, f map[string]string) {
	t.Helper()
	ctl, ok := f["control"]
	if !ok {
		t.Errorf("%s: no --control", c.Name)
		return
	}
	host, p := port(t, ctl)
	if host != controlHost {
		t.Errorf("%s: --control %s: bind %s only (the control API can stop a run)", c.Name, ctl, controlHost)
	}
	if cp, ok := namedPort(c, "control"); !ok || cp.ContainerPort != p {
		t.Errorf("%s: no container port named control = %d (it reserves the port on the node)", c.Name, p)
	}
	rp := c.ReadinessProbe
	if rp == nil || rp.HTTPGet == nil {
		t.Errorf("%s: no readinessProbe httpGet", c.Name)
		return
	}
	g := rp.HTTPGet
	if g.Host != controlHost || g.Port.IntValue() != int(p) || g.Path != "/v1/ready" {
		t.Errorf("%s: readinessProbe gets %s:%s%s, want %s:%d/v1/ready", c.Name, g.Host, g.Port.String(), g.Path, controlHost, p)
	}
}

func checkMetrics(t *testing.T, c corev1.Container, f map[string]string) {
	t.Helper()
	m, ok := f["metrics"]
	if !ok {
		t.Errorf("%s: no --metrics", c.Name)
		return
	}
	host, p := port(t, m)
	// In brackets: the node's address may be IPv6, and Go's listen
	// takes an IPv4 address in brackets too.
	if host != "[$(POD_IP)]" {
		t.Errorf("%s: --metrics %s: want [$(POD_IP)]:PORT (the node's address under hostNetwork)", c.Name, m)
	}
	if mp, ok := namedPort(c, "metrics"); !ok || mp.ContainerPort != p {
		t.Errorf("%s: no container port named metrics = %d", c.Name, p)
	}
	var podIP bool
	for _, e := range c.Env {
		if e.Name == "POD_IP" && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "status.podIP" {
			podIP = true
		}
	}
	if !podIP {
		t.Errorf("%s: POD_IP does not come from status.podIP", c.Name)
	}
}

// checkEnv: Kubernetes leaves a $(VAR) it cannot resolve as it is, so an
// arg naming a variable that nothing defines would reach fastpath verbatim.
func checkEnv(t *testing.T, o *objects, w workload, c corev1.Container) {
	t.Helper()
	defined := map[string]bool{}
	for _, e := range c.Env {
		defined[e.Name] = true
	}
	for _, ef := range c.EnvFrom {
		if ef.ConfigMapRef == nil {
			t.Errorf("%s: envFrom other than a ConfigMap", c.Name)
			continue
		}
		cm := o.configMap(ef.ConfigMapRef.Name)
		if cm == nil {
			t.Errorf("%s: envFrom ConfigMap %q is not in the build", c.Name, ef.ConfigMapRef.Name)
			continue
		}
		for k := range cm.Data {
			defined[ef.Prefix+k] = true
		}
	}
	if w.kind == "Job" {
		// Set by the Job controller in Indexed mode.
		defined["JOB_COMPLETION_INDEX"] = true
	}
	for _, a := range c.Args {
		for _, m := range envRef.FindAllStringSubmatch(a, -1) {
			if !defined[m[1]] {
				t.Errorf("%s: arg %q uses $(%s), which nothing defines", c.Name, a, m[1])
			}
		}
	}
}

// params is the ConfigMap a container takes its environment from.
func params(t *testing.T, o *objects, c corev1.Container) map[string]string {
	t.Helper()
	for _, ef := range c.EnvFrom {
		if ef.ConfigMapRef != nil {
			if cm := o.configMap(ef.ConfigMapRef.Name); cm != nil {
				return cm.Data
			}
		}
	}
	t.Fatalf("%s: no params ConfigMap", c.Name)
	return nil
}

// TestJobs checks the coordinated runs: Indexed Jobs of SHARDS pods, the
// completion index as the shard, one start for all, no retries.
func TestJobs(t *testing.T) {
	o := topLevel(t)
	if len(o.jobs) == 0 {
		t.Fatal("no Jobs")
	}
	for _, j := range o.jobs {
		t.Run(j.Name, func(t *testing.T) {
			s := j.Spec
			if s.CompletionMode == nil || *s.CompletionMode != batchv1.IndexedCompletion {
				t.Error("completionMode is not Indexed")
			}
			c := s.Template.Spec.Containers[0]
			p := params(t, o, c)
			shards, err := strconv.Atoi(p["SHARDS"])
			if err != nil || shards < 1 {
				t.Fatalf("params SHARDS %q: not a count of shards", p["SHARDS"])
			}
			if s.Completions == nil || int(*s.Completions) != shards {
				t.Errorf("completions %v, want SHARDS = %d", deref(s.Completions), shards)
			}
			if s.Parallelism == nil || int(*s.Parallelism) != shards {
				t.Errorf("parallelism %v, want SHARDS = %d", deref(s.Parallelism), shards)
			}
			if s.BackoffLimit == nil || *s.BackoffLimit != 0 {
				t.Errorf("backoffLimit %v, want 0: a shard that restarts sends its share twice", deref(s.BackoffLimit))
			}
			if s.TTLSecondsAfterFinished == nil {
				t.Error("no ttlSecondsAfterFinished")
			}
			if rp := s.Template.Spec.RestartPolicy; rp != corev1.RestartPolicyNever {
				t.Errorf("restartPolicy %q, want Never", rp)
			}
			f := flags(c.Args)
			if f["shard"] != "$(JOB_COMPLETION_INDEX)/$(SHARDS)" {
				t.Errorf("--shard %q, want $(JOB_COMPLETION_INDEX)/$(SHARDS)", f["shard"])
			}
			if f["start-at"] != "$(START_AT)" {
				t.Errorf("--start-at %q, want $(START_AT)", f["start-at"])
			}
			if _, ok := p["START_AT"]; !ok {
				t.Error("params has no START_AT")
			}
			if _, ok := f["linger"]; !ok {
				t.Error("no --linger: the last scrape would miss the run's final totals")
			}
		})
	}
}

func deref(p *int32) any {
	if p == nil {
		return nil
	}
	return *p
}

// TestPodMonitor checks that the PodMonitor selects every fastpath pod
// and scrapes a port each of them has.
func TestPodMonitor(t *testing.T) {
	o := topLevel(t)
	if len(o.podMonitors) != 1 {
		t.Fatalf("%d PodMonitors, want 1", len(o.podMonitors))
	}
	pm := o.podMonitors[0]
	sel, err := metav1.LabelSelectorAsSelector(&pm.Spec.Selector)
	if err != nil {
		t.Fatal(err)
	}
	if sel.Empty() {
		t.Fatal("the PodMonitor selects every pod in the namespace")
	}
	if len(pm.Spec.PodMetricsEndpoints) == 0 {
		t.Fatal("no podMetricsEndpoints")
	}
	for _, w := range o.workloads() {
		if !sel.Matches(labels.Set(w.pod.Labels)) {
			t.Errorf("%s %s: its pods (%v) are not selected by %v", w.kind, w.name, w.pod.Labels, sel)
			continue
		}
		for _, ep := range pm.Spec.PodMetricsEndpoints {
			if ep.Port == nil {
				t.Errorf("an endpoint names no port")
				continue
			}
			var found bool
			for _, c := range w.pod.Spec.Containers {
				if _, ok := namedPort(c, *ep.Port); ok {
					found = true
				}
			}
			if !found {
				t.Errorf("%s %s: no container port named %q", w.kind, w.name, *ep.Port)
			}
		}
	}
}

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// TestMain removes the binary fastpath built.
func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// TestImageName: every container runs the image image/ sets (kustomize's
// images: entry, which must match the manifests' image name to apply),
// in this tree the tag make image writes (ociimage.DefaultTag).
func TestImageName(t *testing.T) {
	b, err := os.ReadFile("image/kustomization.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var k struct {
		Images []struct{ Name, NewName, NewTag string } `json:"images"`
	}
	if err := yaml.Unmarshal(b, &k); err != nil {
		t.Fatal(err)
	}
	if len(k.Images) != 1 {
		t.Fatalf("image/ sets %d images, want 1", len(k.Images))
	}
	im := k.Images[0]
	want := im.Name
	if im.NewName != "" {
		want = im.NewName
	}
	want += ":" + im.NewTag
	if want != ociimage.DefaultTag {
		t.Logf("image/ sets %s; make image IMAGE=%s writes it (the default is %s)", want, want, ociimage.DefaultTag)
	}
	for _, w := range topLevel(t).workloads() {
		for _, c := range w.pod.Spec.Containers {
			if c.Image != want {
				t.Errorf("%s %s: container %s runs %s, not image/'s %s", w.kind, w.name, c.Name, c.Image, want)
			}
		}
	}
}

// fastpath builds the image the manifests run, once, from the main
// module (a static binary, package ociimage), and returns its fastpath as
// a runtime would unpack it: the pods of TestFleet and the flags of
// TestFlags are the image's.
func fastpath(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "fastpath-deploy-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "fastpath")
		static := filepath.Join(dir, "fastpath-static")
		build := exec.Command("go", "build", "-C", "../..", "-o", static, "./cmd/fastpath")
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("CGO_ENABLED=0 go build ./cmd/fastpath: %v\n%s", err, out)
			return
		}
		img, _, err := ociimage.Write(static, filepath.Join(dir, "image.tar"), ociimage.DefaultTag)
		if err != nil {
			binErr = err
			return
		}
		b, mode, err := ociimage.ReadFile(img, ociimage.BinaryPath)
		if err == nil {
			err = os.WriteFile(binPath, b, mode.Perm())
		}
		binErr = err
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// TestFlags checks every flag in every container's args against the
// subcommand's --help, so that a renamed or removed flag fails here
// rather than in a pod.
func TestFlags(t *testing.T) {
	o := topLevel(t)
	bin := fastpath(t)
	helps := map[string]string{}
	var missing []string
	for _, w := range o.workloads() {
		for _, c := range w.pod.Spec.Containers {
			if len(c.Command) < 2 || c.Command[0] != "fastpath" {
				t.Errorf("%s %s: command %q, want [fastpath SUBCOMMAND]", w.kind, w.name, c.Command)
				continue
			}
			sub := c.Command[1]
			help, ok := helps[sub]
			if !ok {
				out, err := exec.Command(bin, sub, "--help").CombinedOutput()
				if err != nil {
					t.Fatalf("fastpath %s --help: %v\n%s", sub, err, out)
				}
				help, helps[sub] = string(out), string(out)
			}
			for name := range flags(c.Args) {
				if !regexp.MustCompile(`(?m)^\s+(-\w, )?--` + regexp.QuoteMeta(name) + `\s`).MatchString(help) {
					missing = append(missing, fmt.Sprintf("fastpath %s --%s (%s %s)", sub, name, w.kind, w.name))
				}
			}
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		t.Errorf("flags the binary built from ../.. does not have:\n\t%s", strings.Join(missing, "\n\t"))
	}
}

const (
	rulesFile    = "monitoring/rules.yml"
	promRuleFile = "monitoring/prometheusrule.yaml"
)

// promRuleHeader is prometheusrule.yaml above its spec, which is rules.yml.
const promRuleHeader = `# Generated from rules.yml by go test -run TestPrometheusRule -update (in
# deploy/kubernetes): edit rules.yml, not this file. Its spec is rules.yml
# for the Prometheus operator.
#
# A Prometheus of the operator loads only the PrometheusRules its
# ruleSelector matches: add the label yours selects (for
# kube-prometheus-stack, release: <the Helm release's name>).
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: fastpath
  labels:
    app.kubernetes.io/name: fastpath
spec:
`

// TestPrometheusRule checks that prometheusrule.yaml's spec is rules.yml,
// both decoded strictly; -update rewrites it from rules.yml.
func TestPrometheusRule(t *testing.T) {
	src, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		var b bytes.Buffer
		b.WriteString(promRuleHeader)
		for _, l := range strings.SplitAfter(string(src), "\n") {
			if strings.TrimSpace(l) != "" {
				b.WriteString("  ")
			}
			b.WriteString(l)
		}
		if err := os.WriteFile(promRuleFile, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var want monitoringv1.PrometheusRuleSpec
	if err := yaml.UnmarshalStrict(src, &want); err != nil {
		t.Fatalf("%s: %v", rulesFile, err)
	}
	b, err := os.ReadFile(promRuleFile)
	if err != nil {
		t.Fatal(err)
	}
	var got monitoringv1.PrometheusRule
	if err := yaml.UnmarshalStrict(b, &got); err != nil {
		t.Fatalf("%s: %v", promRuleFile, err)
	}
	if len(want.Groups) == 0 {
		t.Fatalf("%s has no groups", rulesFile)
	}
	if !reflect.DeepEqual(got.Spec, want) {
		t.Errorf("%s's spec differs from %s: regenerate it with\n\tcd deploy/kubernetes && go test -run TestPrometheusRule -update", promRuleFile, rulesFile)
	}
}

// promtool finds promtool, which CI installs (.ci/deps): a missing one is
// a failure, not a skip, so that CI cannot pass without running it.
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not found: install Debian's prometheus package (sudo make deps, or apt-get install --no-install-recommends prometheus)")
	}
	return p
}

func runPromtool(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command(promtool(t), args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// TestRules runs promtool over the rules: its checks, then the unit tests
// in rules_test.yml and rules_run_test.yml (a run as params.env ships it,
// under 30 s evaluations: its alerts fire while its pods exist).
func TestRules(t *testing.T) {
	runPromtool(t, "monitoring", "check", "rules", "rules.yml")
	runPromtool(t, "monitoring", "test", "rules", "rules_test.yml", "rules_run_test.yml")
}

type dashboard struct {
	SchemaVersion int `json:"schemaVersion"`
	Templating    struct {
		List []struct {
			Name  string          `json:"name"`
			Type  string          `json:"type"`
			Query json.RawMessage `json:"query"`
		} `json:"list"`
	} `json:"templating"`
	Panels []panel `json:"panels"`
}

type panel struct {
	Title      string `json:"title"`
	Datasource *struct {
		UID string `json:"uid"`
	} `json:"datasource"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
	Panels []panel `json:"panels"`
}

// grafanaVar is a use of a dashboard variable in a query: $name, ${name}
// or [[name]].
var grafanaVar = regexp.MustCompile(`\$\{(\w+)\}|\$(\w+)|\[\[(\w+)\]\]`)

// panelQuery is one of the dashboard's queries, its variables replaced:
// intervals by 1m, the others by .*.
type panelQuery struct{ panel, expr string }

// dashboardQueries reads monitoring/dashboard.json, checks that it has a
// datasource and a namespace variable, that every panel queries
// ${datasource} and uses only the dashboard's variables, and returns its
// queries and the file.
func dashboardQueries(t *testing.T) ([]panelQuery, []byte) {
	t.Helper()
	b, err := os.ReadFile("monitoring/dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("dashboard.json: %v", err)
	}
	if d.SchemaVersion < 36 {
		t.Errorf("schemaVersion %d, want 36 or newer", d.SchemaVersion)
	}
	vars := map[string]string{"__rate_interval": "1m", "__interval": "1m", "__range": "1m"}
	var hasDS, hasNS bool
	for _, v := range d.Templating.List {
		vars[v.Name] = ".*"
		if v.Name == "datasource" && v.Type == "datasource" && string(v.Query) == `"prometheus"` {
			hasDS = true
		}
		if v.Name == "namespace" {
			hasNS = true
		}
	}
	if !hasDS {
		t.Error(`no variable datasource of type datasource querying "prometheus"`)
	}
	if !hasNS {
		t.Error("no variable namespace")
	}
	var qs []panelQuery
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			walk(p.Panels)
			if len(p.Targets) > 0 && (p.Datasource == nil || p.Datasource.UID != "${datasource}") {
				t.Errorf("panel %q: its datasource is not ${datasource}", p.Title)
			}
			for _, tg := range p.Targets {
				expr := grafanaVar.ReplaceAllStringFunc(tg.Expr, func(s string) string {
					m := grafanaVar.FindStringSubmatch(s)
					name := m[1] + m[2] + m[3]
					v, ok := vars[name]
					if !ok {
						t.Errorf("panel %q: %s is not a dashboard variable", p.Title, s)
					}
					return v
				})
				qs = append(qs, panelQuery{p.Title, expr})
			}
		}
	}
	walk(d.Panels)
	if len(qs) == 0 {
		t.Fatal("no queries in the dashboard")
	}
	return qs, b
}

// TestDashboard checks the dashboard's variables and datasources
// (dashboardQueries), that every query parses (promtool) and uses only
// recording rules that rules.yml has, and that it ships in a ConfigMap
// for Grafana's sidecar. (TestFleet runs every query against a real
// Prometheus scraping a real fleet.)
func TestDashboard(t *testing.T) {
	qs, b := dashboardQueries(t)
	rules, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	recorded := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\s*- record: (\S+)`).FindAllStringSubmatch(string(rules), -1) {
		recorded[m[1]] = true
	}
	var tmp bytes.Buffer
	tmp.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	for n, q := range qs {
		for _, m := range regexp.MustCompile(`fleet:[a-z0-9_:]+`).FindAllString(q.expr, -1) {
			if !recorded[m] {
				t.Errorf("panel %q: %s is not a recording rule in %s", q.panel, m, rulesFile)
			}
		}
		j, _ := json.Marshal(q.expr)
		fmt.Fprintf(&tmp, "      - record: dashboard:panel_%d\n        expr: %s\n", n+1, j)
	}
	f := filepath.Join(t.TempDir(), "dashboard-rules.yml")
	if err := os.WriteFile(f, tmp.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	runPromtool(t, ".", "check", "rules", f)

	o := build(t, "monitoring")
	cm := o.configMap("fastpath-dashboard")
	if cm == nil {
		t.Fatal("no ConfigMap fastpath-dashboard (a name without kustomize's hash suffix)")
	}
	if cm.Labels["grafana_dashboard"] != "1" {
		t.Errorf(`ConfigMap fastpath-dashboard lacks the label grafana_dashboard: "1"`)
	}
	if cm.Data["dashboard.json"] != string(b) {
		t.Error("ConfigMap fastpath-dashboard does not hold dashboard.json")
	}
}
