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

// roleImports are the packages built on the engine and the port layer.
var roleImports = []string{module + "/gen", module + "/sink", module + "/xdpsock", module + "/tcpapp", module + "/load"}

var rules = []rule{
	{pkg: "ether", forbiddenImports: pureImports, forbiddenDeps: pureDeps},
	{pkg: "arp", forbiddenImports: pureImports, forbiddenDeps: pureDeps},
	{pkg: "ipv4", forbiddenImports: pureImports, forbiddenDeps: pureDeps},
	// IPv6 takes the Internet checksum from ipv4, MACs from ether, and
	// nothing else (slices: the route table's insertions).
	{pkg: "ipv6", allowed: []string{"encoding/binary", "errors", "net/netip", "slices", module + "/ipv4", module + "/ether"}},
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
	{pkg: "internal/ethtool", allowed: []string{"std", "golang.org/x/sys/unix"}},
	// A veth's peer: netlink, its namespace, ethtool.
	{pkg: "internal/veth", allowed: []string{"std", module + "/internal/ethtool", module + "/internal/nsexec", "github.com/vishvananda", "golang.org/x/sys/unix"}},
	// Running a function inside a named network namespace.
	{pkg: "internal/nsexec", allowed: []string{"std", "github.com/vishvananda/netns"}},
	{pkg: "internal/rss", allowed: []string{"std", module + "/internal/ethtool"}},
	// Prometheus exposition: the server, and the collectors that name the
	// counters each role publishes.
	{pkg: "internal/metrics", allowed: []string{"std", "github.com/prometheus/client_golang", module + "/port", module + "/stack",
		module + "/tcp", module + "/gen", module + "/sink", module + "/xdpsock", module + "/load", "github.com/HdrHistogram/hdrhistogram-go"}},
	{pkg: "internal/control", allowed: []string{"std"}},
	{pkg: "internal/testreport", allowed: []string{"std"}},
	// The port layer: the one way into a device, on xsk, umem and
	// steering; nothing above it (stack, gen, sink, xdpsock, cmd).
	{pkg: "port", allowed: []string{"std", module + "/xsk", module + "/umem", module + "/steering", module + "/ether",
		module + "/internal/ethtool", module + "/internal/kernel", module + "/internal/nsexec", "github.com/vishvananda", "golang.org/x/sys/unix"}},
	// The engine joins I/O to protocol code: the pure packages, the port
	// layer and what it stands on (its control plane: netlink). Not the
	// roles built on it, and no program of its own (bpf, cilium/ebpf: the
	// steering package's).
	{pkg: "stack", allowed: []string{"std", module + "/ether", module + "/arp", module + "/ipv4", module + "/ipv6", module + "/tcp",
		module + "/port", module + "/xsk", module + "/umem", module + "/rings", module + "/steering", module + "/internal",
		"github.com/vishvananda", "golang.org/x/sys/unix"},
		forbiddenImports: roleImports, forbiddenDeps: []string{module + "/gen", module + "/sink", module + "/xdpsock", module + "/tcpapp", module + "/load", module + "/internal/lab", module + "/internal/vmlab"}},
	// The roles: on the port layer and the engine; none reaches past port
	// to the rings' I/O setup (xsk.New is port's) or into another role's
	// package except gen's stamps and sender.
	{pkg: "gen", forbiddenImports: []string{module + "/sink", module + "/xdpsock", module + "/tcpapp", module + "/bpf", "github.com/cilium/ebpf"}, forbiddenDeps: []string{module + "/internal/lab"}},
	{pkg: "sink", allowed: []string{"std", module + "/stack", module + "/gen", module + "/port", module + "/internal/kernel"}},
	{pkg: "xdpsock", allowed: []string{"std", module + "/port", module + "/gen", module + "/rings", module + "/ether", module + "/steering"}},
	{pkg: "tcpapp", allowed: []string{"std", module + "/stack", module + "/tcp"}},
	// RFC 2544's method: the throughput search (pure: trials are a
	// function it is given), and the tester that makes trials with gen
	// and a receiver on the engine; its plots.
	{pkg: "rfc2544", allowed: []string{"std", module + "/gen", module + "/stack", module + "/port", module + "/ether", "gonum.org/v1/plot"}},
	// The load generator: clients on the engine's TCP, paced by gen's
	// token bucket, latencies in HdrHistograms.
	{pkg: "load", allowed: []string{"std", module + "/stack", module + "/tcp", module + "/gen", "github.com/HdrHistogram/hdrhistogram-go"}},
	// The command line parses flags, calls packages and prints: no ring,
	// socket, program or system call of its own.
	{pkg: "cmd/fastpath", forbiddenImports: []string{module + "/rings", module + "/xsk", module + "/umem", module + "/bpf", "github.com/cilium/ebpf", "golang.org/x/sys/unix", module + "/internal/xdpsys"}},
	// The benchmarks and their peers may import anything; only
	// bench/asavie, the peer's own program, imports the peer.
	{pkg: "bench", forbiddenImports: []string{"github.com/asavie/xdp"}},
	{pkg: "bench/asavie"},
	// The lab and the VM lab: test infrastructure, imported only by tests,
	// commands and each other (checked below).
	{pkg: "internal/lab", forbiddenDeps: []string{module + "/stack", module + "/gen", module + "/port", module + "/xsk"}},
	{pkg: "internal/vmlab", allowed: []string{"std", module + "/internal/lab", "github.com/vishvananda", "golang.org/x/sys/unix"}},
	{pkg: "internal/vmlab/vmrun", allowed: []string{"std", module + "/internal/vmlab"}},
	{pkg: "internal/vmtest", allowed: []string{}},
	{pkg: "internal/doctor", forbiddenDeps: []string{module + "/stack", module + "/gen", module + "/port"}},
	// The repository root holds only tests (this one).
	{pkg: "", allowed: []string{}},
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
		p, ok := pkgs[pathOf(r.pkg)]
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
	// Every package has a rule, and none but tests imports testing.
	for path, p := range pkgs {
		if !hasRule(path) {
			bad = append(bad, fmt.Sprintf("%s has no rule in deps_test.go: add one", path))
		}
		for _, imp := range p.Imports {
			if imp == "testing" {
				bad = append(bad, fmt.Sprintf("%s imports testing outside its tests", path))
			}
		}
	}
	return bad
}

// pathOf is the import path of a rule's package ("" is the module root).
func pathOf(pkg string) string {
	if pkg == "" {
		return module
	}
	return module + "/" + pkg
}

func hasRule(path string) bool {
	for _, r := range rules {
		if pathOf(r.pkg) == path {
			return true
		}
	}
	return false
}

func TestDependencyDirection(t *testing.T) {
	pkgs := listPackages(t)
	for _, must := range []string{"rings", "umem", "xsk", "bpf", "steering", "port", "stack", "tcpapp", "gen", "cmd/fastpath"} {
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
		{"cmd imports xsk", pkgInfo{"cmd/fastpath", []string{module + "/xsk"}, nil}, "cmd/fastpath imports " + module + "/xsk"},
		{"cmd makes system calls", pkgInfo{"cmd/fastpath", []string{"golang.org/x/sys/unix"}, nil}, "cmd/fastpath imports golang.org/x/sys/unix"},
		{"port imports the engine", pkgInfo{"port", []string{module + "/stack"}, nil}, "port imports " + module + "/stack"},
		{"stack imports a role", pkgInfo{"stack", []string{module + "/gen"}, nil}, "stack imports " + module + "/gen"},
		{"stack loads programs", pkgInfo{"stack", []string{"github.com/cilium/ebpf"}, nil}, "stack imports github.com/cilium/ebpf"},
		{"clean stack", pkgInfo{"stack", []string{"net/netip", module + "/port", module + "/xsk", module + "/internal/rss", "github.com/vishvananda/netlink", "golang.org/x/sys/unix"}, nil}, ""},
		{"tcpapp reaches past stack", pkgInfo{"tcpapp", []string{module + "/xsk"}, nil}, "tcpapp imports " + module + "/xsk"},
		{"tcpapp makes system calls", pkgInfo{"tcpapp", []string{"golang.org/x/sys/unix"}, nil}, "tcpapp imports golang.org/x/sys/unix"},
		{"library imports testing", pkgInfo{"gen", []string{"testing"}, nil}, "gen imports testing outside its tests"},
		{"package without a rule", pkgInfo{"newpkg", nil, nil}, "newpkg has no rule"},
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
