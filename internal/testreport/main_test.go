package main

import (
	"strings"
	"testing"
)

func TestReport(t *testing.T) {
	in := strings.Join([]string{
		`{"Action":"run","Package":"p","Test":"TestA"}`,
		`{"Action":"output","Package":"p","Test":"TestA","Output":"=== RUN   TestA\n"}`,
		`{"Action":"output","Package":"p","Test":"TestA","Output":"    a_test.go:9: skipping kernel test, missing: iptables (install iptables)\n"}`,
		`{"Action":"output","Package":"p","Test":"TestA","Output":"--- SKIP: TestA (0.00s)\n"}`,
		`{"Action":"skip","Package":"p","Test":"TestA"}`,
		`{"Action":"output","Package":"p","Test":"TestB","Output":"    b_test.go:3: wrong\n"}`,
		`{"Action":"fail","Package":"p","Test":"TestB"}`,
		`{"Action":"fail","Package":"p","Elapsed":0.5}`,
		`{"Action":"pass","Package":"q","Elapsed":0.25}`,
		`# a build error`,
		`{"ImportPath":"r","Action":"build-output","Output":"r/x.go:1:1: expected package\n"}`,
		`{"ImportPath":"r","Action":"build-fail"}`,
	}, "\n")
	var out strings.Builder
	if code := report(strings.NewReader(in), &out); code != 1 {
		t.Errorf("exit %d with a failed test, want 1", code)
	}
	for _, want := range []string{"b_test.go:3: wrong", "FAIL\tp\t0.500s", "ok  \tq\t0.250s", "# a build error", "r/x.go:1:1: expected package",
		"1 test(s) skipped", "p TestA: a_test.go:9: skipping kernel test, missing: iptables (install iptables)", "sudo make deps"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	if code := report(strings.NewReader(`{"Action":"pass","Package":"q"}`), &out); code != 0 || strings.Contains(out.String(), "skipped") {
		t.Errorf("all passed: exit %d\n%s", code, out.String())
	}
}
