package config

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestConfigIsALeaf: config imports no Parley package (issue 12), so every
// package that reads a setting can import it without pulling in pipeline,
// session, prometheus or zap. Direct imports suffice: with none, there is
// no Parley package among the transitive ones either.
func TestConfigIsALeaf(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if strings.HasPrefix(path, "github.com/parley-im/parley/") {
				t.Errorf("%s imports %s: config must stay a leaf", fset.Position(imp.Pos()), path)
			}
		}
	}
}
