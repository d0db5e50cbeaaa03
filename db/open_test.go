package db

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/uptrace/bun"
	"go.uber.org/zap/zaptest"

	"github.com/parley-im/parley/config"
)

// Opening the same database twice applies the migrations once and keeps the
// data: Open runs on every start.
func TestOpenTwiceIsIdempotent(t *testing.T) {
	forEachConfig(t, func(t *testing.T, driver string, cfg config.DB) {
		first := openTest(t, cfg)
		s := NewStore(first, 0)
		mustUsers(t, s, "1", "2")
		mustFriends(t, s, "1", "2")
		mustSend(t, s, "1", "2", "kept")
		if err := first.Close(); err != nil {
			t.Fatal(err)
		}

		second := openTest(t, cfg)
		if n := countMigrations(t, second); n != len(newMigrations().Sorted()) {
			t.Fatalf("%d migration rows after two opens, want %d", n, len(newMigrations().Sorted()))
		}
		s = NewStore(second, 0)
		un, err := s.Undelivered(ctxT(t), "2", 0)
		if err != nil || len(un) != 1 || un[0].Body != "kept" {
			t.Fatalf("data after reopen: %+v, %v", un, err)
		}
		// The id sequence continues after a reopen.
		if m := mustSend(t, s, "1", "2", "next"); m.ID <= un[0].ID {
			t.Fatalf("id %d after reopen, not above %d", m.ID, un[0].ID)
		}
		// A third, concurrent-with-use open is also a no-op.
		third := openTest(t, cfg)
		if n := countMigrations(t, third); n != len(newMigrations().Sorted()) {
			t.Fatalf("%d migration rows after three opens", n)
		}
	})
}

// Several processes (nodes) starting at once against one PostgreSQL schema:
// the advisory lock lets one migrate and the others find nothing to do.
func TestOpenPostgresConcurrentStarts(t *testing.T) {
	cfg := postgresConfig(t)
	const n = 4
	errs := make(chan error, n)
	for range n {
		go func() {
			bdb, err := Open(context.Background(), cfg, zaptest.NewLogger(t))
			if err == nil {
				err = bdb.Close()
			}
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatalf("concurrent Open: %v", err)
		}
	}
	bdb := openTest(t, cfg)
	if got := countMigrations(t, bdb); got != len(newMigrations().Sorted()) {
		t.Fatalf("%d migration rows after %d concurrent opens", got, n)
	}
}

func countMigrations(t *testing.T, bdb *bun.DB) int {
	t.Helper()
	n, err := bdb.NewSelect().TableExpr(migrationsTable).Count(ctxT(t))
	if err != nil {
		t.Fatalf("count migrations: %v", err)
	}
	return n
}

func TestOpenSQLitePragmasAndPool(t *testing.T) {
	bdb := openSQLiteTest(t)
	ctx := ctxT(t)
	for _, tc := range []struct{ pragma, want string }{
		{"journal_mode", "wal"},
		{"foreign_keys", "1"},
		{"busy_timeout", "5000"},
		{"synchronous", "1"}, // NORMAL
	} {
		var got string
		if err := bdb.NewRaw("PRAGMA "+tc.pragma).Scan(ctx, &got); err != nil {
			t.Fatalf("PRAGMA %s: %v", tc.pragma, err)
		}
		if got != tc.want {
			t.Fatalf("PRAGMA %s = %q, want %q", tc.pragma, got, tc.want)
		}
	}
	st := bdb.Stats()
	if st.MaxOpenConnections != config.Default().DB.MaxOpenConns {
		t.Fatalf("MaxOpenConnections = %d, want default %d", st.MaxOpenConnections, config.Default().DB.MaxOpenConns)
	}
}

func TestOpenPoolFromConfig(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		cfg := sqliteConfig(t)
		cfg.MaxOpenConns, cfg.MaxIdleConns, cfg.ConnMaxIdleTime = 3, 2, time.Minute
		if got := openTest(t, cfg).Stats().MaxOpenConnections; got != 3 {
			t.Fatalf("MaxOpenConnections = %d, want 3", got)
		}
	})
	t.Run("postgres", func(t *testing.T) {
		cfg := postgresConfig(t)
		cfg.MaxOpenConns = 5
		if got := openTest(t, cfg).Stats().MaxOpenConnections; got != 5 {
			t.Fatalf("MaxOpenConnections = %d, want 5", got)
		}
		cfg.MaxOpenConns = 0
		if got := openTest(t, cfg).Stats().MaxOpenConnections; got != config.Default().DB.MaxOpenConns {
			t.Fatalf("MaxOpenConnections = %d, want default %d", got, config.Default().DB.MaxOpenConns)
		}
	})
}

// The operator's own settings win; the store's pragmas are only added.
func TestSQLiteDSN(t *testing.T) {
	for _, tc := range []struct {
		in, wantBase string
		wantPragmas  []string
		wantTxLock   string
	}{
		{"parley.db", "file:parley.db",
			[]string{"busy_timeout(5000)", "journal_mode(WAL)", "foreign_keys(1)", "synchronous(NORMAL)", "wal_autocheckpoint(10000)"}, "immediate"},
		{"/var/lib/parley/chat.db", "file:/var/lib/parley/chat.db",
			[]string{"busy_timeout(5000)", "journal_mode(WAL)", "foreign_keys(1)", "synchronous(NORMAL)", "wal_autocheckpoint(10000)"}, "immediate"},
		{"file:chat.db?_pragma=busy_timeout(100)&_pragma=synchronous%3DFULL&_txlock=deferred", "file:chat.db",
			[]string{"busy_timeout(100)", "synchronous=FULL", "journal_mode(WAL)", "foreign_keys(1)", "wal_autocheckpoint(10000)"}, "deferred"},
		{"file:chat.db?mode=rwc&_pragma=journal_mode(DELETE)", "file:chat.db",
			[]string{"journal_mode(DELETE)", "busy_timeout(5000)", "foreign_keys(1)", "synchronous(NORMAL)", "wal_autocheckpoint(10000)"}, "immediate"},
	} {
		got, err := sqliteDSN(tc.in)
		if err != nil {
			t.Fatalf("sqliteDSN(%q): %v", tc.in, err)
		}
		base, raw, _ := strings.Cut(got, "?")
		q, err := url.ParseQuery(raw)
		if err != nil {
			t.Fatalf("sqliteDSN(%q) = %q: %v", tc.in, got, err)
		}
		if base != tc.wantBase || !sameSet(q["_pragma"], tc.wantPragmas) || q.Get("_txlock") != tc.wantTxLock {
			t.Fatalf("sqliteDSN(%q) = %q\nbase %q pragmas %q txlock %q", tc.in, got, base, q["_pragma"], q.Get("_txlock"))
		}
		if tc.in == "file:chat.db?mode=rwc&_pragma=journal_mode(DELETE)" && q.Get("mode") != "rwc" {
			t.Fatalf("operator parameter lost: %q", got)
		}
	}
}

// A plain path becomes a file: URI for the driver: characters that mean
// something in a URI are escaped, and the file is the one named.
func TestOpenSQLitePlainPathWithURICharacters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a b#c%d.db")
	s := NewStore(openTest(t, config.DB{Driver: "sqlite", DSN: path}), 0)
	mustUsers(t, s, "1")
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database file: %v", err)
	}
}

func TestOpenSQLiteFileURIAndMemory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "uri.db")
	s := NewStore(openTest(t, config.DB{Driver: "sqlite", DSN: "file:" + path + "?_pragma=busy_timeout(1000)"}), 0)
	mustUsers(t, s, "1")

	// An in-memory database keeps one connection, so every call sees the
	// same database.
	mem := NewStore(openTest(t, config.DB{Driver: "sqlite", DSN: ":memory:", MaxOpenConns: 8}), 0)
	mustUsers(t, mem, "1", "2")
	mustFriends(t, mem, "1", "2")
	if ok, err := mem.AreFriends(ctxT(t), "1", "2"); err != nil || !ok {
		t.Fatalf("in-memory store: %v, %v", ok, err)
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := ctxT(t)
	log := zaptest.NewLogger(t)
	if _, err := Open(ctx, config.DB{Driver: "mysql", DSN: "x"}, log); err == nil {
		t.Fatal("unknown driver accepted")
	}
	if _, err := Open(ctx, config.DB{Driver: "postgres"}, log); err == nil {
		t.Fatal("postgres without dsn accepted")
	}
	if _, err := Open(ctx, config.DB{Driver: "sqlite"}, log); err == nil {
		t.Fatal("sqlite without dsn accepted")
	}
	// Nothing listens on port 1: the caller can tell "down" from "misconfigured".
	_, err := Open(ctx, config.DB{Driver: "postgres",
		DSN: "postgres://postgres@127.0.0.1:1/test?sslmode=disable&dial_timeout=1s"}, nil)
	if !IsUnavailable(err) {
		t.Fatalf("unreachable postgres: err = %v, want unavailable", err)
	}
	_, err = Open(ctx, config.DB{Driver: "sqlite", DSN: filepath.Join(t.TempDir(), "no", "such", "dir.db")}, nil)
	if !IsUnavailable(err) {
		t.Fatalf("unopenable sqlite file: err = %v, want unavailable", err)
	}
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	seen := map[string]int{}
	for _, s := range a {
		seen[s]++
	}
	for _, s := range b {
		if seen[s] == 0 {
			return false
		}
		seen[s]--
	}
	return true
}
