package db

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
)

// The committing connection no longer checkpoints below ~10,000 WAL pages;
// the Checkpointer copies the log into the database file instead. Without
// it the file would not grow while a few hundred pages are written.
func TestCheckpointerCopiesTheLog(t *testing.T) {
	cfg := sqliteConfig(t)
	bdb := openTest(t, cfg)
	s := NewStore(bdb, 10*time.Second)
	mustUsers(t, s, "a", "b")
	var auto int
	if err := bdb.QueryRowContext(ctxT(t), "PRAGMA wal_autocheckpoint").Scan(&auto); err != nil || auto != 10000 {
		t.Fatalf("wal_autocheckpoint = %d (%v), want 10000", auto, err)
	}
	size := func() int64 {
		fi, err := os.Stat(cfg.DSN)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	before := size()
	body := strings.Repeat("x", 2000) // 400 of them: ~200 pages, far below 10,000
	for range 400 {
		m := Message{SenderID: "a", ReceiverID: "b", Body: body}
		if err := s.SaveMessage(ctxT(t), &m); err != nil {
			t.Fatal(err)
		}
	}
	if got := size(); got != before {
		t.Fatalf("database file grew from %d to %d bytes before any checkpoint ran", before, got)
	}
	stop := StartCheckpointer(bdb, 10*time.Millisecond, zap.NewNop())
	defer stop()
	waitFor(t, func() bool { return size() > before })
}

// stop returns promptly on both databases (on PostgreSQL the Checkpointer
// does nothing).
func TestCheckpointerStops(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		stop := StartCheckpointer(s.db, time.Millisecond, zap.NewNop())
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		go func() { stop(); cancel() }()
		<-ctx.Done()
		if ctx.Err() == context.DeadlineExceeded {
			t.Fatal("stop did not return")
		}
	})
}
