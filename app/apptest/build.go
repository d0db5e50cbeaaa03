package apptest

import (
	"context"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// BuildParleyd builds cmd/parleyd into a temporary directory and returns the
// binary's path, for tests that run the real process (signals, kill -9,
// the bench's scenarios). Under go test -short it skips the test instead:
// building and running a process takes seconds.
func BuildParleyd(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs parleyd")
	}
	bin := filepath.Join(t.TempDir(), "parleyd")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/parley-im/parley/cmd/parleyd").CombinedOutput()
	if err != nil {
		t.Fatalf("go build parleyd: %v\n%s", err, out)
	}
	return bin
}
