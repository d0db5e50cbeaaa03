package middleware

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parley-im/parley/config"
	"github.com/parley-im/parley/pipeline"
)

// loadPipeline writes src as parley.yaml, loads it as the server does and
// returns its pipeline list and the file's path.
func loadPipeline(t *testing.T, src string) ([]config.Middleware, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "parley.yaml")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Pipeline, path
}

// TestMergeKeysInRateLimitWith: a merge key in a with: mapping is accepted by
// the configuration and by the middleware's options alike (issue 12: config
// accepted `{<<: *defaults, burst: 3}`, then pipeline.Build refused it with
// `unknown option "<<"`), and an unknown option is still refused, naming the
// file and its line.
func TestMergeKeysInRateLimitWith(t *testing.T) {
	const src = `pipeline:
  - use: ratelimit
    with:
      rules:
        login: {session: &defaults {rate: 1, burst: 1}}
        register: {session: {<<: *defaults, burst: 3}}
`
	list, _ := loadPipeline(t, src)
	if _, err := pipeline.Build(list, testDeps(nil), (&counter{}).handle); err != nil {
		t.Fatalf("merge key in with: refused: %v", err)
	}

	bad := strings.Replace(src, "burst: 3", "burst: 3, brust: 4", 1)
	list, path := loadPipeline(t, bad)
	_, err := pipeline.Build(list, testDeps(nil), (&counter{}).handle)
	want := fmt.Sprintf(`%s:2: ratelimit: line 6: unknown option "brust"`, path)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v; want %s", err, want)
	}
}
