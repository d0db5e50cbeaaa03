package config

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// examplePath is parley.example.yaml at the repository root.
var examplePath = filepath.Join("..", "parley.example.yaml")

// TestExampleFileEqualsDefaults keeps the documented example and Default()
// from drifting: every value in the file is the default. Pipeline entries are
// compared by use/only/except; Pos and With legitimately differ.
func TestExampleFileEqualsDefaults(t *testing.T) {
	cfg, err := load(examplePath, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, want := comparable(*cfg), comparable(Default())
	for _, sec := range fieldsOf(reflect.TypeOf(Config{})) {
		g, w := reflect.ValueOf(got).Field(sec.index).Interface(), reflect.ValueOf(want).Field(sec.index).Interface()
		if !reflect.DeepEqual(g, w) {
			t.Errorf("%s in %s:\n got  %+v\n want %+v (Default)", sec.name, examplePath, g, w)
		}
	}
}

// TestExampleFileSetsEveryKey makes "documents every key" checkable: a key
// missing from the example would silently take its default and pass the
// equality test above.
func TestExampleFileSetsEveryKey(t *testing.T) {
	cfg, err := load(examplePath, nil)
	if err != nil {
		t.Fatal(err)
	}
	var missing []string
	for _, l := range envLeaves() {
		if o, ok := cfg.origins[l.key]; !ok || o.file == "" {
			missing = append(missing, l.key)
		}
	}
	if _, ok := cfg.origins["pipeline"]; !ok {
		missing = append(missing, "pipeline")
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("%s does not set: %v", examplePath, missing)
	}
}

// comparable strips what differs between a loaded and a built-in Config
// without being configuration: Source, origins, and each pipeline entry's Pos
// and With.
func comparable(c Config) Config {
	c.Source, c.origins = "", nil
	specs := make([]Middleware, len(c.Pipeline))
	for i, sp := range c.Pipeline {
		specs[i] = Middleware{Use: sp.Use, Only: sp.Only, Except: sp.Except}
	}
	c.Pipeline = specs
	return c
}

// TestExampleFileStatesComputedDefaults guards what the equality test cannot
// see: keys whose default is 0 ("computed") state in a comment what 0 means,
// and those numbers must be the constants the server computes with.
func TestExampleFileStatesComputedDefaults(t *testing.T) {
	data, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Join(strings.Fields(strings.ReplaceAll(string(data), "#", " ")), " ")
	for _, want := range []string{
		fmt.Sprintf("0 = %d per CPU, %d per CPU with db.driver postgres", WorkersPerCPU, WorkersPerCPUPostgres),
		fmt.Sprintf("0 = %d per CPU.", LoginWorkersPerCPU),
		fmt.Sprintf("0 = %d on SQLite, %d on PostgreSQL", WriterMaxBatch, WriterMaxBatchPostgres),
	} {
		if !strings.Contains(text, want) {
			t.Errorf("%s does not say %q", examplePath, want)
		}
	}
}
