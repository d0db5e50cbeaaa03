package houserules

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

const module = "github.com/parley-im/parley"

// layers lists every package of the module (relative to the module path),
// lowest first. A package may import only packages of lower layers: not one of
// its own layer (peers stay independent) and never one above. A new package
// fails the test until it is given a layer here.
//
// Read bottom-up it is the frame's path of docs/ARCHITECTURE.md seen from the
// imports: the protocol (wire), then what a frame runs against (the
// connection, the storage), the contract every step shares (pipeline), the
// steps themselves (transport, middleware, handlers), and the assembly and
// entry points that put them together.
var layers = [][]string{
	{"internal/jsonscan", "internal/boundmap", "internal/passhash", "internal/groupcommit", "config", "internal/houserules", "web"},
	{"wire"},
	{"session", "db"},
	{"pipeline"},
	{"transport", "middleware", "handlers", "importseed", "cluster"},
	{"app", "client"},
	{"app/apptest", "cmd/parleyd", "cmd/parley-bench", "cmd/parley-try", "cmd/parley-cluster"},
}

// knownUpward are the imports that break the layering today, each with the
// work that removes it. The test fails when one of them is no longer there, so
// the list cannot outlive its reason.
var knownUpward = map[string]string{}

// pkg is what `go list -deps -json` says about one package.
type pkg struct {
	ImportPath   string
	Standard     bool
	Imports      []string
	TestImports  []string
	XTestImports []string
	Deps         []string
}

// listPackages returns what `go list -deps` says about the whole module: its
// packages and everything they depend on, standard library included.
func listPackages(t *testing.T) map[string]*pkg {
	t.Helper()
	pkgs, err := goList()
	if err != nil {
		t.Fatal(err)
	}
	return pkgs
}

// goList runs go list once for all the tests.
var goList = sync.OnceValues(func() (map[string]*pkg, error) {
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return nil, fmt.Errorf("go env GOMOD: %w", err)
	}
	cmd := exec.Command("go", "list", "-deps",
		"-json=ImportPath,Standard,Imports,TestImports,XTestImports,Deps", "./...")
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(gomod)))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list: %w\n%s", err, stderr.Bytes())
	}
	pkgs := make(map[string]*pkg)
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		p := new(pkg)
		if err := dec.Decode(p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("decoding go list output: %w", err)
		}
		pkgs[p.ImportPath] = p
	}
	if len(ours(pkgs)) == 0 {
		return nil, errors.New("go list found no package of " + module)
	}
	return pkgs, nil
})

// ours returns the module's own packages, by path relative to the module.
func ours(pkgs map[string]*pkg) map[string]*pkg {
	m := make(map[string]*pkg)
	for path, p := range pkgs {
		if rel, ok := strings.CutPrefix(path, module+"/"); ok {
			m[rel] = p
		}
	}
	return m
}

func under(rel, dir string) bool { return rel == dir || strings.HasPrefix(rel, dir+"/") }

// TestOnlyTransportImportsGev: gev is unmaintained and has known bugs; keeping
// its types inside transport/ lets another engine replace it in one package.
// Tests count too: a test outside transport that needs gev is testing the
// wrong package.
func TestOnlyTransportImportsGev(t *testing.T) {
	mine := ours(listPackages(t))
	for _, rel := range slices.Sorted(maps.Keys(mine)) {
		p := mine[rel]
		if under(rel, "transport") {
			continue
		}
		for _, imp := range slices.Concat(p.Imports, p.TestImports, p.XTestImports) {
			if strings.HasPrefix(imp, "github.com/Allenxuxu/") {
				t.Errorf("%s imports %s: only transport/ may import gev", rel, imp)
			}
		}
	}
}

// TestWireAndClientStayLight: wire is shared by the server and every Go
// client, and client is the SDK that applications embed; neither may drag in
// the server's dependencies (gev, fx, bun, zap, prometheus...).
func TestWireAndClientStayLight(t *testing.T) {
	pkgs := listPackages(t)
	allowed := map[string][]string{
		"wire":   {"internal/jsonscan"},
		"client": {"wire", "internal/jsonscan"},
	}
	for _, rel := range slices.Sorted(maps.Keys(allowed)) {
		ok := allowed[rel]
		allow := func(path string) bool {
			r, mine := strings.CutPrefix(path, module+"/")
			return mine && (r == rel || slices.Contains(ok, r)) || pkgs[path] != nil && pkgs[path].Standard
		}
		// Report where the dependencies leave the allowed set: the package
		// itself or an allowed one importing something else.
		for _, from := range append([]string{module + "/" + rel}, prefixed(ok)...) {
			p := pkgs[from]
			if p == nil {
				t.Fatalf("package %s not found", from)
			}
			if from != module+"/"+rel && !slices.Contains(pkgs[module+"/"+rel].Deps, from) {
				continue
			}
			for _, imp := range p.Imports {
				if !allow(imp) {
					t.Errorf("%s: %s imports %s; %s may use only the standard library and %v",
						rel, strings.TrimPrefix(from, module+"/"), imp, rel, ok)
				}
			}
		}
	}
}

func prefixed(rels []string) []string {
	out := make([]string, len(rels))
	for i, r := range rels {
		out[i] = module + "/" + r
	}
	return out
}

// TestFxOnlyInApp: the graph is assembled in app/ alone; every other package
// exports plain constructors, usable without fx by tests, the SDK and the
// bench. Test files may pass fx options to app/apptest, so only the code that
// ships is checked.
func TestFxOnlyInApp(t *testing.T) {
	pkgs := listPackages(t)
	isFx := func(path string) bool { return path == "go.uber.org/fx" || strings.HasPrefix(path, "go.uber.org/fx/") }
	mine := ours(pkgs)
	for _, rel := range slices.Sorted(maps.Keys(mine)) {
		if under(rel, "app") || rel == "cmd/parleyd" { // parleyd: checked below
			continue
		}
		for _, imp := range mine[rel].Imports {
			if isFx(imp) {
				t.Errorf("%s imports %s: only app/ may import fx", rel, imp)
			} else if d := pkgs[imp]; d != nil && slices.ContainsFunc(d.Deps, isFx) {
				t.Errorf("%s imports %s, which brings in fx: only app/ and cmd/parleyd may depend on fx", rel, imp)
			}
		}
	}
	// parleyd is flags -> app.New(cfgPath).Run(), nothing else.
	for _, imp := range pkgs[module+"/cmd/parleyd"].Imports {
		if d := pkgs[imp]; d != nil && d.Standard || imp == module+"/app" {
			continue
		}
		t.Errorf("cmd/parleyd imports %s: it may import app only (and the standard library)", imp)
	}
}

// TestNoUpwardImports: a package imports only packages of lower layers (see
// layers), so the layout keeps following the frame's path.
func TestNoUpwardImports(t *testing.T) {
	layer := make(map[string]int)
	for i, l := range layers {
		for _, rel := range l {
			if _, dup := layer[rel]; dup {
				t.Fatalf("%s is listed in two layers", rel)
			}
			layer[rel] = i
		}
	}
	mine := ours(listPackages(t))
	for rel := range layer {
		if mine[rel] == nil {
			t.Errorf("layers lists %s, which is not a package of the module: remove it", rel)
		}
	}
	seen := make(map[string]bool)
	for _, rel := range slices.Sorted(maps.Keys(mine)) {
		p := mine[rel]
		from, ok := layer[rel]
		if !ok {
			t.Errorf("package %s has no layer: add it to layers in this test (lowest layer it fits)", rel)
			continue
		}
		for _, imp := range p.Imports {
			to, ok := layer[strings.TrimPrefix(imp, module+"/")]
			if !strings.HasPrefix(imp, module+"/") || !ok || to < from {
				continue
			}
			edge := rel + " -> " + strings.TrimPrefix(imp, module+"/")
			if _, known := knownUpward[edge]; known {
				seen[edge] = true
				continue
			}
			what := "a layer above"
			if to == from {
				what = "its own layer"
			}
			t.Errorf("%s (layer %d) imports %s (layer %d), a package of %s: import only lower layers (see layers)",
				rel, from, strings.TrimPrefix(imp, module+"/"), to, what)
		}
	}
	for edge, why := range knownUpward {
		if !seen[edge] {
			t.Errorf("known exception %q no longer occurs (%s): remove it from knownUpward", edge, why)
		}
	}
}
