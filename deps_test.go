package fastpath_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/fastpathnet/fastpath"

// rule says what one package may import. A wrong arrow fails
// TestDependencyDirection.
type rule struct {
	pkg string
	// allowed: every direct import must match one of these ("std" is the
	// standard library); nil allows anything not forbidden.
	allowed []string
	// forbiddenImports: direct imports that must not appear (standard
	// library packages are checked here: every package depends on
	// runtime and unsafe indirectly).
	forbiddenImports []string
	// forbiddenDeps: packages outside the standard library that must not
	// appear among the dependencies, direct or indirect (prefixes).
	forbiddenDeps []string
}

// Pure protocol code: no unsafe, no system calls, no goroutine plumbing,
// no clock (time is an argument); nothing of the I/O layers below it.
var (
	pureImports = []string{"unsafe", "syscall", "os", "os/exec", "os/signal", "net", "sync", "sync/atomic", "runtime", "time", "reflect"}
	pureDeps    = []string{"golang.org/x/sys", "github.com/cilium", "github.com/vishvananda", module + "/rings", module + "/umem", module + "/xsk", module + "/bpf", module + "/steering", module + "/stack", module + "/internal/lab"}
)

var rules = []rule{
	{pkg: "ether", forbiddenImports: pureImports, forbiddenDeps: pureDeps},
	{pkg: "arp", forbiddenImports: pureImports, forbiddenDeps: pureDeps},
	{pkg: "ipv4", forbiddenImports: pureImports, forbiddenDeps: pureDeps},
	// tcp's Buffer is the one place a connection meets another goroutine
	// (its reader or writer): a single-producer single-consumer ring
	// whose two indices need atomic loads and stores, and nothing more.
	{pkg: "tcp", forbiddenImports: without(pureImports, "sync/atomic"), forbiddenDeps: pureDeps},
	// Rings: atomics and unsafe over any []byte; errors for the
	// constructors; nothing else.
	{pkg: "rings", allowed: []string{"sync/atomic", "unsafe", "errors", "fmt", "math/bits"}},
	{pkg: "umem", allowed: []string{"std", module + "/rings", module + "/internal/xdpsys", module + "/internal/kernel", "golang.org/x/sys/unix"}},
	// The system calls umem and xsk share, and the kernel's version.
	{pkg: "internal/xdpsys", allowed: []string{"std", module + "/rings", "golang.org/x/sys/unix"}},
	{pkg: "internal/kernel", allowed: []string{"std", "golang.org/x/sys/unix"}},
	{pkg: "xsk", allowed: []string{"std", module + "/rings", module + "/umem", module + "/internal/xdpsys", "golang.org/x/sys/unix", "github.com/vishvananda/netlink"}},
	{pkg: "bpf", allowed: []string{"std", "github.com/cilium/ebpf"}},
	{pkg: "steering", forbiddenDeps: []string{module + "/stack", module + "/xsk", module + "/umem", module + "/rings", module + "/cmd", module + "/bench", module + "/internal/lab"}},
}

type pkgInfo struct {
	ImportPath string
	Imports    []string
	Deps       []string
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

// violations returns what breaks the rules in pkgs.
func violations(pkgs map[string]pkgInfo) []string {
	var bad []string
	for _, r := range rules {
		p, ok := pkgs[module+"/"+r.pkg]
		if !ok {
			continue // not written yet
		}
		for _, imp := range p.Imports {
			if r.allowed != nil {
				ok := false
				for _, a := range r.allowed {
					ok = ok || matches(imp, a)
				}
				if !ok {
					bad = append(bad, fmt.Sprintf("%s imports %s; it may import only %v", r.pkg, imp, r.allowed))
				}
			}
			for _, f := range r.forbiddenImports {
				if imp == f {
					bad = append(bad, fmt.Sprintf("%s imports %s, which it must not", r.pkg, imp))
				}
			}
		}
		for _, dep := range p.Deps {
			for _, f := range r.forbiddenDeps {
				if matches(dep, f) {
					bad = append(bad, fmt.Sprintf("%s depends on %s, which it must not", r.pkg, dep))
				}
			}
		}
	}
	// Nothing imports a command or the benchmarks; only commands,
	// benchmarks and the VM lab (which builds its host side on it) import
	// the lab outside tests, and only the VM lab's own command imports the
	// VM lab.
	for path, p := range pkgs {
		for _, imp := range p.Imports {
			if matches(imp, module+"/cmd") || matches(imp, module+"/bench") {
				bad = append(bad, fmt.Sprintf("%s imports %s: nothing may import commands or benchmarks", path, imp))
			}
			if imp == module+"/internal/lab" && !matches(path, module+"/cmd") && !matches(path, module+"/bench") && !matches(path, module+"/internal/vmlab") {
				bad = append(bad, fmt.Sprintf("%s imports the test lab outside its tests", path))
			}
			if imp == module+"/internal/vmlab" && !matches(path, module+"/internal/vmlab") {
				bad = append(bad, fmt.Sprintf("%s imports the VM lab outside its tests", path))
			}
		}
	}
	return bad
}

func TestDependencyDirection(t *testing.T) {
	pkgs := listPackages(t)
	for _, must := range []string{"rings", "umem", "xsk", "bpf", "steering"} {
		if _, ok := pkgs[module+"/"+must]; !ok {
			t.Errorf("package %s missing from go list", must)
		}
	}
	for _, v := range violations(pkgs) {
		t.Error(v)
	}
}

// TestRulesCatchViolations feeds the checker made-up packages, one arrow
// wrong each, and a clean pure package.
func TestRulesCatchViolations(t *testing.T) {
	std := []string{"errors", "internal/reflectlite", "runtime", "sync", "unsafe"}
	for _, tc := range []struct {
		name string
		pkg  pkgInfo
		want string // "" means clean
	}{
		{"clean pure package", pkgInfo{"ipv4", []string{"encoding/binary", "errors", "net/netip"}, std}, ""},
		{"pure imports unsafe", pkgInfo{"ipv4", []string{"unsafe"}, std}, "ipv4 imports unsafe"},
		{"pure imports time", pkgInfo{"tcp", []string{"time"}, std}, "tcp imports time"},
		{"pure reaches x/sys/unix", pkgInfo{"tcp", []string{"encoding/binary"}, append(std, "golang.org/x/sys/unix")}, "depends on golang.org/x/sys/unix"},
		{"pure reaches the rings", pkgInfo{"arp", nil, append(std, module+"/rings")}, "depends on " + module + "/rings"},
		{"rings imports os", pkgInfo{"rings", []string{"os"}, std}, "rings imports os"},
		{"umem imports xsk", pkgInfo{"umem", []string{module + "/xsk"}, std}, "umem imports " + module + "/xsk"},
		{"steering reaches xsk", pkgInfo{"steering", nil, []string{module + "/xsk"}}, "steering depends on " + module + "/xsk"},
		{"library imports the lab", pkgInfo{"xsk", []string{module + "/internal/lab"}, nil}, "imports the test lab"},
		{"library imports the VM lab", pkgInfo{"stack", []string{module + "/internal/vmlab"}, nil}, "imports the VM lab"},
		{"library imports a command", pkgInfo{"stack", []string{module + "/cmd/fastpath"}, nil}, "nothing may import commands"},
	} {
		tc.pkg.ImportPath = module + "/" + tc.pkg.ImportPath
		got := violations(map[string]pkgInfo{tc.pkg.ImportPath: tc.pkg})
		switch {
		case tc.want == "" && len(got) > 0:
			t.Errorf("%s: reported %v", tc.name, got)
		case tc.want != "" && !strings.Contains(strings.Join(got, "\n"), tc.want):
			t.Errorf("%s: reported %v, want %q", tc.name, got, tc.want)
		}
	}
}

// without returns list less drop.
func without(list []string, drop string) []string {
	var out []string
	for _, s := range list {
		if s != drop {
			out = append(out, s)
		}
	}
	return out
}
