package importseed_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/parley-im/parley/app/apptest"
	"github.com/parley-im/parley/importseed"
)

// TestCommandCtrlCStopsAfterBatchAndResumes runs the real parleyd
// import-seed, sends SIGINT once the users step has started (stderr is a
// pipe, so progress comes as log lines), and checks that it stops after the
// batch with exit code 130 and a summary; the same command then finishes
// the import, and a third run changes nothing.
func TestCommandCtrlCStopsAfterBatchAndResumes(t *testing.T) {
	bin := apptest.BuildParleyd(t)
	dsn := seedDB(t)
	loadFixture(t, dsn)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "parley.yaml")
	if err := os.WriteFile(cfg, []byte("db:\n  driver: sqlite\n  dsn: "+filepath.Join(dir, "parley.db")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(interrupt bool) (int, string, string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		// One worker: a users batch is 16 hashes, so the fixture's 33
		// users take three batches and the signal lands in the first.
		cmd := exec.CommandContext(ctx, bin, "-config", cfg, "import-seed", "-from", dsn, "-workers", "1")
		var stdout, stderr bytes.Buffer
		cmd.Stdout = &stdout
		pipe, err := cmd.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(pipe)
		signalled := false
		for sc.Scan() {
			line := sc.Text()
			stderr.WriteString(line + "\n")
			if interrupt && !signalled && strings.Contains(line, "import step") && strings.Contains(line, `"step": "users"`) {
				if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
					t.Fatal(err)
				}
				signalled = true
			}
		}
		err = cmd.Wait()
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			t.Fatal(err)
		}
		if interrupt && !signalled {
			t.Fatalf("the users step never started:\n%s", stderr.String())
		}
		return cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()
	}

	code, out, errOut := run(true)
	if code != 130 || !strings.Contains(out, "INTERRUPTED") || !strings.Contains(errOut, "stopping after the current batch") {
		t.Fatalf("interrupted run: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	code, out, errOut = run(false)
	if code != 0 || !strings.Contains(out, "import-seed:") || strings.Contains(out, " 0 changes") {
		t.Fatalf("resumed run: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if !strings.Contains(errOut, "import step done") || !strings.Contains(errOut, "rows_per_s") {
		t.Errorf("no progress lines on a non-terminal stderr:\n%s", errOut)
	}
	code, out, _ = run(false)
	if code != 0 || !strings.Contains(out, "import-seed: 0 changes") {
		t.Errorf("third run: exit %d, want 0 changes:\n%s", code, out)
	}
	for _, pw := range passwords() {
		if strings.Contains(errOut, pw) || strings.Contains(out, pw) {
			t.Errorf("password %q in the command's output", pw)
		}
	}
}

// TestProgressOutputs: the terminal bar shows the step, the count and the
// rate; the log lines carry the rate and the time left.
func TestProgressOutputs(t *testing.T) {
	var buf bytes.Buffer
	bar := importseed.NewBar(&buf)
	bar.Start("messages", 1000)
	for range 10 {
		bar.Add(100)
	}
	bar.Finish()
	if s := buf.String(); !strings.Contains(s, "messages") || !strings.Contains(s, "1000/1000") || !strings.Contains(s, "rows/s") {
		t.Errorf("bar output: %q", s)
	}

	core, logs := observer.New(zap.InfoLevel)
	p := importseed.NewLogProgress(zap.New(core), 0) // a line per batch
	p.Start("users", 300)
	p.Add(100)
	p.Finish()
	entries := logs.All()
	if len(entries) != 3 || entries[1].Message != "import progress" {
		t.Fatalf("log lines: %+v", entries)
	}
	f := entries[1].ContextMap()
	if f["step"] != "users" || f["done"] != int64(100) || f["total"] != int64(300) || f["eta"] == nil || f["rows_per_s"] == nil {
		t.Errorf("progress line fields: %v", f)
	}
}
