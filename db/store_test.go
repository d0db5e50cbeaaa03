package db

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/driver/pgdriver"
	"go.uber.org/zap/zaptest"

	"github.com/parley-im/parley/config"
)

// defaultPostgresDSN is the test database (trust auth). PARLEY_TEST_POSTGRES
// overrides it.
const defaultPostgresDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

func postgresDSN() string {
	if dsn := os.Getenv("PARLEY_TEST_POSTGRES"); dsn != "" {
		return dsn
	}
	return defaultPostgresDSN
}

// forEachStore runs fn against a fresh, migrated SQLite file and a fresh
// PostgreSQL schema, as parallel subtests "sqlite" and "postgres".
func forEachStore(t *testing.T, fn func(t *testing.T, s *Store)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		skipUnlessListed(t, "sqlite")
		fn(t, NewStore(openSQLiteTest(t), 10*time.Second))
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		skipUnlessListed(t, "postgres")
		fn(t, NewStore(openPostgresTest(t), 10*time.Second))
	})
}

// forEachConfig runs fn in parallel subtests, one per driver, each with a
// new database of its own (not opened): for tests of Open and migrations.
func forEachConfig(t *testing.T, fn func(t *testing.T, driver string, cfg config.DB)) {
	t.Helper()
	for _, tc := range []struct {
		driver string
		cfg    func(t testing.TB) config.DB
	}{{"sqlite", sqliteConfig}, {"postgres", postgresConfig}} {
		t.Run(tc.driver, func(t *testing.T) {
			t.Parallel()
			skipUnlessListed(t, tc.driver)
			fn(t, tc.driver, tc.cfg(t))
		})
	}
}

// skipUnlessListed honours PARLEY_TEST_DRIVERS (comma-separated), which
// `go tool task test:pg` sets to "postgres" to run the suites on PostgreSQL
// only. Unset, every driver runs.
func skipUnlessListed(t *testing.T, driver string) {
	if env := os.Getenv("PARLEY_TEST_DRIVERS"); env != "" && !slices.Contains(strings.Split(env, ","), driver) {
		t.Skipf("PARLEY_TEST_DRIVERS=%s excludes %s", env, driver)
	}
}

// sqliteConfig names a new database file in the test's temp dir.
func sqliteConfig(t testing.TB) config.DB {
	return config.DB{Driver: "sqlite", DSN: filepath.Join(t.TempDir(), "parley.db")}
}

func openSQLiteTest(t *testing.T) *bun.DB {
	t.Helper()
	return openTest(t, sqliteConfig(t))
}

func openTest(t *testing.T, cfg config.DB) *bun.DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bdb, err := Open(ctx, cfg, zaptest.NewLogger(t))
	if err != nil {
		t.Fatalf("Open(%s): %v", cfg.Driver, err)
	}
	t.Cleanup(func() { _ = bdb.Close() })
	return bdb
}

// postgresConfig creates a fresh schema and returns a config whose
// connections use it (search_path is passed on as a session parameter),
// dropping the schema when the test ends. Without a reachable server the
// test is skipped, or fails when CI=true.
func postgresConfig(t testing.TB) config.DB {
	t.Helper()
	base := postgresDSN()
	admin := sql.OpenDB(pgdriver.NewConnector(pgdriver.WithDSN(base), pgdriver.WithDialTimeout(2*time.Second)))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := admin.PingContext(ctx); err != nil {
		_ = admin.Close()
		if os.Getenv("CI") == "true" {
			t.Fatalf("postgres unreachable at %s: %v", base, err)
		}
		t.Skipf("postgres unreachable at %s: %v", base, err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "parley_test_" + hex.EncodeToString(b[:])
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		_ = admin.Close()
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
		_ = admin.Close()
	})
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return config.DB{Driver: "postgres", DSN: base + sep + "search_path=" + schema}
}

func openPostgresTest(t *testing.T) *bun.DB {
	t.Helper()
	return openTest(t, postgresConfig(t))
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// mustUsers creates users with these ids (phone = id, name = "n"+id).
func mustUsers(t *testing.T, s *Store, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if err := s.CreateUser(ctxT(t), &User{Phone: id, Name: "n" + id}); err != nil {
			t.Fatalf("CreateUser(%q): %v", id, err)
		}
	}
}

// mustFriends makes a and b friends (request by a, accepted by b, no greeting).
func mustFriends(t *testing.T, s *Store, a, b string) {
	t.Helper()
	if err := s.RequestFriend(ctxT(t), a, b); err != nil {
		t.Fatalf("RequestFriend(%s, %s): %v", a, b, err)
	}
	if _, err := s.AcceptFriend(ctxT(t), b, a, ""); err != nil {
		t.Fatalf("AcceptFriend(%s, %s): %v", b, a, err)
	}
}

func mustSend(t *testing.T, s *Store, from, to, body string) Message {
	t.Helper()
	m := Message{SenderID: from, ReceiverID: to, Body: body}
	if err := s.SaveMessage(ctxT(t), &m); err != nil {
		t.Fatalf("SaveMessage(%s->%s): %v", from, to, err)
	}
	return m
}

func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: err = %v, want %v", what, err, target)
	}
}

func chatOf(t *testing.T, s *Store, owner, peer string) Chat {
	t.Helper()
	chats, err := s.Chats(ctxT(t), owner)
	if err != nil {
		t.Fatalf("Chats(%s): %v", owner, err)
	}
	for _, c := range chats {
		if c.PeerID == peer {
			return c
		}
	}
	t.Fatalf("Chats(%s): no chat with %s in %+v", owner, peer, chats)
	return Chat{}
}

func TestPing(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		if err := s.Ping(ctxT(t)); err != nil {
			t.Fatalf("Ping: %v", err)
		}
	})
}
