package fastpath_test

import (
	"bytes"
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/fastpathnet/fastpath"

// layer rules, from the house style: what each package may import. A wrong
// arrow fails here.
var rules = []struct {
	pkg string
	// allowed: every import must match one of these (prefixes; "std" is
	// the standard library); nil means anything not forbidden.
	allowed []string
	// forbidden: no import, direct or indirect, may match these.
	forbidden []string
}{
	// Pure protocol code: no unsafe, no system calls, no goroutine
	// plumbing, no clock; time and buffers are arguments.
	{pkg: "ether", forbidden: pureForbidden},
	{pkg: "arp", forbidden: pureForbidden},
	{pkg: "ipv4", forbidden: pureForbidden},
	{pkg: "tcp", forbidden: pureForbidden},
	// Rings: atomics and unsafe over any []byte, nothing else of ours.
	{pkg: "rings", allowed: []string{"sync/atomic", "unsafe", "errors", "fmt", "math/bits"}},
	{pkg: "umem", allowed: []string{"std", module + "/rings", "golang.org/x/sys/unix"}},
	{pkg: "xsk", allowed: []string{"std", module + "/rings", module + "/umem", "golang.org/x/sys/unix", "github.com/vishvananda/netlink"}},
	{pkg: "bpf", allowed: []string{"std", "github.com/cilium/ebpf"}},
	{pkg: "steering", forbidden: []string{module + "/stack", module + "/xsk", module + "/cmd", module + "/bench", module + "/internal/lab"}},
}

var pureForbidden = []string{"unsafe", "syscall", "golang.org/x/sys", "os", "os/exec", "net", "sync", "runtime", "time", module + "/rings", module + "/umem", module + "/xsk", module + "/bpf", module + "/stack"}

type pkgInfo struct {
	ImportPath string
	Imports    []string
	Deps       []string
	Standard   bool
}

func listPackages(t *testing.T) map[string]pkgInfo {
	t.Helper()
	out, err := exec.Command("go", "list", "-json", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	pkgs := map[string]pkgInfo{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p pkgInfo
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs[p.ImportPath] = p
	}
	return pkgs
}

func isStd(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".")
}

func matches(path, pattern string) bool {
	if pattern == "std" {
		return isStd(path)
	}
	return path == pattern || strings.HasPrefix(path, pattern+"/")
}

func TestDependencyDirection(t *testing.T) {
	pkgs := listPackages(t)
	for _, r := range rules {
		p, ok := pkgs[module+"/"+r.pkg]
		if !ok {
			continue // not written yet
		}
		if r.allowed != nil {
			for _, imp := range p.Imports {
				ok := false
				for _, a := range r.allowed {
					ok = ok || matches(imp, a)
				}
				if !ok {
					t.Errorf("%s imports %s; it may import only %v", r.pkg, imp, r.allowed)
				}
			}
		}
		for _, dep := range p.Deps {
			for _, f := range r.forbidden {
				if dep == f || (strings.HasPrefix(f, module) && matches(dep, f)) {
					t.Errorf("%s depends on %s, which it must not", r.pkg, dep)
				}
			}
		}
	}
	// Nothing imports a command, the benchmarks or, outside tests, the lab
	// (only cmd and bench may).
	for path, p := range pkgs {
		for _, imp := range p.Imports {
			if matches(imp, module+"/cmd") || matches(imp, module+"/bench") {
				t.Errorf("%s imports %s: nothing may import commands or benchmarks", path, imp)
			}
			if imp == module+"/internal/lab" && !matches(path, module+"/cmd") && !matches(path, module+"/bench") {
				t.Errorf("%s imports the test lab outside its tests", path)
			}
		}
	}
}

// TestRulesCatchViolations makes sure the checker is not vacuous: the
// datapath packages are present and a rule that is broken on purpose
// reports.
func TestRulesCatchViolations(t *testing.T) {
	pkgs := listPackages(t)
	for _, must := range []string{"rings", "umem", "xsk", "bpf"} {
		if _, ok := pkgs[module+"/"+must]; !ok {
			t.Errorf("package %s missing from go list", must)
		}
	}
	xsk := pkgs[module+"/xsk"]
	found := false
	for _, d := range xsk.Deps {
		found = found || d == module+"/rings"
	}
	if !found {
		t.Error("xsk's dependencies do not list rings: the checker reads the wrong field")
	}
}
