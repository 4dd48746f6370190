package fastpath_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// TestExamplesRun: every Example function has an // Output: comment, so
// that go test runs it and checks what it prints, or says in its doc
// comment why it is only compiled ("Not run:", e.g. it needs a device
// and root). An example without either is compiled and never run, which
// looks like a test and is none.
func TestExamplesRun(t *testing.T) {
	fset := token.NewFileSet()
	n := 0
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != "." && strings.HasPrefix(d.Name(), ".") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
		if err != nil {
			return err
		}
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Recv != nil || !strings.HasPrefix(fn.Name.Name, "Example") {
				continue
			}
			n++
			output := false
			for _, cg := range f.Comments {
				if cg.Pos() > fn.Body.Lbrace && cg.End() < fn.Body.Rbrace {
					text := cg.Text()
					output = output || strings.HasPrefix(text, "Output:") || strings.HasPrefix(text, "Unordered output:")
				}
			}
			if !output && (fn.Doc == nil || !strings.Contains(fn.Doc.Text(), "Not run:")) {
				t.Errorf("%s: %s has no // Output: (so it never runs) and its doc does not say why (\"Not run: ...\")", path, fn.Name.Name)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 9 {
		t.Errorf("found %d examples, want at least the 9 there are", n)
	}
}
