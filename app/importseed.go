package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/term"

	"github.com/parley-im/parley/config"
	"github.com/parley-im/parley/db"
	"github.com/parley-im/parley/importseed"
)

// importQueryTimeout bounds one import batch's transaction: a batch writes
// hundreds of rows, more than the server's per-query timeout is sized for.
const importQueryTimeout = 5 * time.Minute

// ImportSeedCommand implements `parleyd import-seed -from DSN`: it imports
// the C++ seed server's MySQL/MariaDB database into the configured Parley
// database (docs/MIGRATING.md). SIGINT or SIGTERM stops it after the current
// batch (a second one kills it; nothing half-written is committed); running
// it again continues. It prints the summary on stdout, logs the dirty rows
// and the progress on stderr (a bar when stderr is a terminal), and returns
// the exit code: 0 done, 1 failed, 2 bad usage, 130 interrupted.
func ImportSeedCommand(cfgPath string, args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // a second signal takes the default action: exit at once
		fmt.Fprintln(stderr, "\nimport-seed: stopping after the current batch (again to abort at once)")
	}()
	return importSeed(ctx, cfgPath, args, stdout, stderr)
}

func importSeed(ctx context.Context, cfgPath string, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("import-seed", flag.ContinueOnError)
	fs.SetOutput(stderr)
	from := fs.String("from", "", "the seed database, as a MySQL DSN: user:pass@tcp(host:3306)/animalchat")
	workers := fs.Int("workers", runtime.NumCPU(), "password hashing workers")
	batch := fs.Int("batch", importseed.DefaultBatch, "rows per batch (relations, chats, messages)")
	dry := fs.Bool("dry-run", false, "read and check everything, report what would be done, write nothing")
	tz := fs.String("timezone", "Local", "the seed server's time zone (its dates are local times), e.g. Asia/Shanghai")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *from == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "import-seed: -from DSN is required (and takes no arguments)")
		return 2
	}
	loc, err := time.LoadLocation(*tz)
	if err != nil {
		fmt.Fprintln(stderr, "import-seed: -timezone:", err)
		return 2
	}
	log := zap.New(zapcore.NewCore(zapcore.NewConsoleEncoder(zap.NewDevelopmentEncoderConfig()),
		zapcore.AddSync(stderr), zap.InfoLevel))
	opts := importseed.Options{Workers: *workers, Batch: *batch, DryRun: *dry, Location: loc, Log: log}
	if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		opts.Progress = importseed.NewBar(stderr)
	} else {
		opts.Progress = importseed.NewLogProgress(log, 5*time.Second)
	}
	sum, err := runImport(ctx, cfgPath, *from, opts)
	if sum != nil {
		sum.Write(stdout)
	}
	switch {
	case errors.Is(err, importseed.ErrInterrupted):
		fmt.Fprintln(stderr, "import-seed:", err)
		return 130
	case err != nil:
		fmt.Fprintln(stderr, "import-seed:", err)
		return 1
	}
	return 0
}

// runImport opens both databases and runs the import.
func runImport(ctx context.Context, cfgPath, from string, opts importseed.Options) (*importseed.Summary, error) {
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return nil, err
	}
	src, source, err := importseed.OpenSource(from)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	openCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	bdb, err := db.Open(openCtx, cfg.DB, zap.NewNop())
	if err != nil {
		return nil, err
	}
	defer bdb.Close()
	return importseed.Run(ctx, src, source, db.NewStore(bdb, importQueryTimeout), opts)
}
