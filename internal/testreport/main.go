// Command testreport reads `go test -json` on its standard input and prints
// what `go test` would (a line per package, the output of failed tests),
// then every test that skipped, with the reason it gave, and the command
// that installs what the skipped tests need. It exits 1 when a package or
// a test failed, so that `go test -json ... | testreport` fails as go test
// would. `make test` runs the tests through it.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// event is one line of go test -json (cmd/test2json).
type event struct {
	Action  string
	Package string
	Test    string
	Elapsed float64
	Output  string
}

func main() {
	os.Exit(report(os.Stdin, os.Stdout))
}

// report prints the summary of the events on r to w and returns the exit
// status.
func report(r io.Reader, w io.Writer) int {
	output := map[string][]string{} // package/test -> its output lines
	var skipped []string
	failed := false
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			fmt.Fprintln(w, sc.Text()) // not an event: a build error, say
			continue
		}
		key := e.Package + " " + e.Test
		switch e.Action {
		case "build-output":
			fmt.Fprint(w, e.Output)
		case "build-fail":
			failed = true
		case "output":
			output[key] = append(output[key], e.Output)
		case "skip":
			if e.Test != "" {
				skipped = append(skipped, fmt.Sprintf("%s %s: %s", e.Package, e.Test, reason(output[key])))
			}
			delete(output, key)
		case "pass":
			if e.Test == "" {
				fmt.Fprintf(w, "ok  \t%s\t%.3fs\n", e.Package, e.Elapsed)
			}
			delete(output, key)
		case "fail":
			failed = true
			if e.Test == "" {
				for _, l := range output[key] {
					fmt.Fprint(w, l)
				}
				fmt.Fprintf(w, "FAIL\t%s\t%.3fs\n", e.Package, e.Elapsed)
			} else {
				for _, l := range output[key] {
					fmt.Fprint(w, l)
				}
			}
			delete(output, key)
		}
	}
	if len(skipped) > 0 {
		sort.Strings(skipped)
		fmt.Fprintf(w, "\n%d test(s) skipped:\n", len(skipped))
		for _, s := range skipped {
			fmt.Fprintln(w, "  "+s)
		}
		fmt.Fprintln(w, "Install what they need with: sudo make deps, and run as root: sudo make test (the VM tests: sudo make vm-deps vmtest)")
	}
	if failed {
		return 1
	}
	return 0
}

// reason is the message a skipped test gave: its last output line that is
// not the --- SKIP line itself.
func reason(lines []string) string {
	for i := len(lines) - 1; i >= 0; i-- {
		l := strings.TrimSpace(lines[i])
		if l != "" && !strings.HasPrefix(l, "--- SKIP") && !strings.HasPrefix(l, "=== ") {
			return l
		}
	}
	return "no reason given"
}
