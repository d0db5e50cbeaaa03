package db

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"strings"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"
	"github.com/uptrace/bun/dialect/pgdialect"
	"github.com/uptrace/bun/dialect/sqlitedialect"
	"github.com/uptrace/bun/driver/pgdriver"
	"go.uber.org/zap"

	// The SQLite driver, registered as "sqlite3": SQLite compiled to Go
	// (wasm2go), no cgo (docs/PERFORMANCE.md, "Measured choices").
	_ "github.com/ncruces/go-sqlite3/driver"

	"github.com/parley-im/parley/config"
)

// sqlitePragmas are added to a SQLite DSN unless the DSN already sets that
// pragma. busy_timeout first: it must be in force before journal_mode, which
// may need a lock. WAL lets readers run beside the one writer; NORMAL
// synchronous is durable across process crashes in WAL mode and only risks
// the last transactions on power loss, the usual trade for a chat server.
var sqlitePragmas = []struct{ name, value string }{
	{"busy_timeout", "busy_timeout(5000)"},
	{"journal_mode", "journal_mode(WAL)"},
	{"foreign_keys", "foreign_keys(1)"},
	{"synchronous", "synchronous(NORMAL)"},
	// Checkpoints are the Checkpointer's job, off the committing thread;
	// the connection that commits checkpoints itself only past this many
	// WAL pages (~40 MiB), as a backstop (see checkpoint.go).
	{"wal_autocheckpoint", "wal_autocheckpoint(10000)"},
}

// Open connects to the database named by cfg, sizes the pool, checks the
// connection and applies pending migrations before returning. The caller
// owns the returned *bun.DB and closes it on shutdown. A database that cannot
// be reached yields an error wrapping ErrUnavailable.
func Open(ctx context.Context, cfg config.DB, log *zap.Logger) (*bun.DB, error) {
	if log == nil {
		log = zap.NewNop()
	}
	var (
		bdb *bun.DB
		err error
	)
	switch cfg.Driver {
	case "sqlite", "":
		bdb, err = openSQLite(cfg)
	case "postgres":
		bdb, err = openPostgres(cfg)
	default:
		return nil, fmt.Errorf("db: unknown driver %q (want sqlite or postgres)", cfg.Driver)
	}
	if err != nil {
		return nil, err
	}
	if err := bdb.PingContext(ctx); err != nil {
		_ = bdb.Close()
		return nil, fmt.Errorf("db: connect %s: %w", cfg.Driver, classify(err))
	}
	if err := migrateUp(ctx, bdb, log); err != nil {
		_ = bdb.Close()
		return nil, fmt.Errorf("db: migrate: %w", classify(err))
	}
	log.Info("db ready", zap.String("driver", bdb.Dialect().Name().String()),
		zap.Int("max_open_conns", bdb.Stats().MaxOpenConnections))
	return bdb, nil
}

func openPostgres(cfg config.DB) (*bun.DB, error) {
	if cfg.DSN == "" {
		return nil, fmt.Errorf("db: postgres needs a dsn (postgres://user@host:5432/db?sslmode=...)")
	}
	sqldb := sql.OpenDB(pgdriver.NewConnector(pgdriver.WithDSN(cfg.DSN)))
	setPool(sqldb, cfg)
	return bun.NewDB(sqldb, pgdialect.New()), nil
}

func openSQLite(cfg config.DB) (*bun.DB, error) {
	if cfg.DSN == "" {
		return nil, fmt.Errorf("db: sqlite needs a dsn (a file path or file: URI)")
	}
	dsn, err := sqliteDSN(cfg.DSN)
	if err != nil {
		return nil, err
	}
	sqldb, err := sql.Open("sqlite3", dsn)
	if err != nil {
		return nil, fmt.Errorf("db: open sqlite: %w", err)
	}
	setPool(sqldb, cfg)
	if isSQLiteMemory(cfg.DSN) {
		// An in-memory database lives only as long as a connection to it:
		// keep exactly one and never let the pool close it.
		sqldb.SetMaxOpenConns(1)
		sqldb.SetMaxIdleConns(1)
		sqldb.SetConnMaxIdleTime(0)
		sqldb.SetConnMaxLifetime(0)
	}
	return bun.NewDB(sqldb, sqlitedialect.New()), nil
}

// setPool applies cfg's pool sizes, zero meaning config.Default()'s. On
// SQLite the open connections beyond one serve concurrent readers (WAL);
// writers are serialised by the Store, so they never queue on the file lock.
func setPool(sqldb *sql.DB, cfg config.DB) {
	def := config.Default().DB
	maxOpen, maxIdle, idle := cfg.MaxOpenConns, cfg.MaxIdleConns, cfg.ConnMaxIdleTime
	if maxOpen <= 0 {
		maxOpen = def.MaxOpenConns
	}
	if maxIdle <= 0 {
		maxIdle = def.MaxIdleConns
	}
	if maxIdle > maxOpen {
		maxIdle = maxOpen
	}
	if idle <= 0 {
		idle = def.ConnMaxIdleTime
	}
	sqldb.SetMaxOpenConns(maxOpen)
	sqldb.SetMaxIdleConns(maxIdle)
	sqldb.SetConnMaxIdleTime(idle)
}

// sqliteDSN adds the pragmas the store relies on, and immediate transactions,
// to a file path or file: URI, keeping every parameter the operator set. The
// driver reads parameters only from a file: URI, so a plain path (with
// parameters after '?', as the configuration has always accepted) becomes
// one, its path escaped.
//
// Immediate transactions take the write lock at BEGIN: every Store
// transaction writes, and a deferred one that reads first and then writes
// fails at once with SQLITE_BUSY when another writer committed in between
// (WAL cannot upgrade a stale snapshot), whereas BEGIN IMMEDIATE simply waits
// under busy_timeout.
func sqliteDSN(dsn string) (string, error) {
	base, rawQuery, _ := strings.Cut(dsn, "?")
	if !strings.HasPrefix(base, "file:") {
		base = "file:" + (&url.URL{Path: base}).EscapedPath()
	}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return "", fmt.Errorf("db: sqlite dsn %q: %w", dsn, err)
	}
	have := make([]string, 0, len(q["_pragma"]))
	for _, p := range q["_pragma"] {
		have = append(have, strings.ToLower(strings.TrimSpace(p)))
	}
	for _, p := range sqlitePragmas {
		if !hasPragma(have, p.name) {
			q.Add("_pragma", p.value)
		}
	}
	if q.Get("_txlock") == "" {
		q.Set("_txlock", "immediate")
	}
	if q.Get("_timefmt") == "" {
		// Times are stored as bun writes them (timeLayout): read them back
		// with that layout, to the microsecond.
		q.Set("_timefmt", timeLayout)
	}
	return base + "?" + q.Encode(), nil
}

func hasPragma(have []string, name string) bool {
	for _, p := range have {
		if strings.HasPrefix(p, name) {
			rest := strings.TrimSpace(p[len(name):])
			if rest == "" || rest[0] == '(' || rest[0] == '=' {
				return true
			}
		}
	}
	return false
}

func isSQLiteMemory(dsn string) bool {
	return strings.HasPrefix(dsn, ":memory:") || strings.HasPrefix(dsn, "file::memory:") ||
		strings.Contains(dsn, "mode=memory")
}

func isPostgres(bdb *bun.DB) bool { return bdb.Dialect().Name() == dialect.PG }
