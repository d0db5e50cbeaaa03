package db

import (
	"context"
	"time"

	"github.com/uptrace/bun"
	"go.uber.org/zap"
)

// DefaultCheckpointEvery is how often the Checkpointer copies the SQLite
// write-ahead log back into the database file.
const DefaultCheckpointEvery = 250 * time.Millisecond

// StartCheckpointer runs SQLite's WAL checkpoints on a goroutine of their
// own, every interval, and returns the function that stops it (it waits for
// a checkpoint in progress). On PostgreSQL it does nothing.
//
// Why: SQLite checkpoints automatically on the connection that commits, so
// with the default wal_autocheckpoint every ~1,000 pages the message writer
// (one thread: SQLite has one writer) stopped to copy pages into the
// database file. The copy grows with the file (index pages are spread
// further), and in a chat run the writer's share of checkpointing went from
// 2 % to 14 % as the file grew from 11 to 65 MB, and throughput fell with
// it (lab notes, `git show d0db37a:docs/PERFORMANCE.md`, round 3, "Checkpoints"). A PASSIVE checkpoint
// takes no writer lock, so here it runs beside the writer, on the other
// core; the pragma in sqlitePragmas keeps the committing connection's own
// checkpoint as a backstop far above the usual WAL size.
func StartCheckpointer(bdb *bun.DB, every time.Duration, log *zap.Logger) (stop func()) {
	if isPostgres(bdb) {
		return func() {}
	}
	if every <= 0 {
		every = DefaultCheckpointEvery
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			// Three result columns (busy, log frames, checkpointed frames);
			// nothing to act on, so only failures are logged.
			var busy, logFrames, done int
			err := bdb.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &logFrames, &done)
			if err != nil && ctx.Err() == nil {
				log.Warn("wal checkpoint", zap.Error(err))
			}
		}
	}()
	return func() { cancel(); <-done }
}
