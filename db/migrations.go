package db

import (
	"context"
	"database/sql/driver"
	"fmt"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/migrate"
	"go.uber.org/zap"
)

// Migration bookkeeping tables. Named for Parley so they cannot collide with
// another bun application sharing the PostgreSQL schema.
const (
	migrationsTable     = "parley_migrations"
	migrationLocksTable = "parley_migration_locks"
)

// migrationLockClass is the first key of the PostgreSQL advisory lock that
// serialises migrations across nodes; the second key is a hash of the schema.
// bun's own Lock (a row in the locks table) would survive a crash and block
// every later start, while a session advisory lock dies with its connection.
const migrationLockClass = 0x50617231 // "Par1"

// inTx makes a migration whose up and down steps each run in one
// transaction, so a failed step leaves the schema as it was.
func inTx(name, comment string, up, down func(context.Context, bun.Tx) error) migrate.Migration {
	return migrate.Migration{
		Name: name, Comment: comment,
		Up: func(ctx context.Context, m *migrate.Migrator, _ *migrate.Migration) error {
			return m.DB().RunInTx(ctx, nil, up)
		},
		Down: func(ctx context.Context, m *migrate.Migrator, _ *migrate.Migration) error {
			return m.DB().RunInTx(ctx, nil, down)
		},
	}
}

// newMigrations lists every migration, in order. Migrations are Go code, so
// one definition yields the right DDL for SQLite and PostgreSQL. Each one
// describes the schema with its own frozen structs: the store's row types may
// change later, an applied migration must not.
func newMigrations() *migrate.Migrations {
	ms := migrate.NewMigrations()
	ms.Add(inTx("20250101000001", "initial", m0001Up, m0001Down))
	ms.Add(inTx("20250101000002", "resume tokens", m0002Up, m0002Down))
	ms.Add(inTx("20250101000003", "fewer index updates per message", m0003Up, m0003Down))
	ms.Add(inTx("20250101000004", "partial client_msg_id index", m0004Up, m0004Down))
	ms.Add(inTx("20250101000005", "friend requests record their requester", m0005Up, m0005Down))
	ms.Add(inTx("20250101000006", "conversation index for history", m0006Up, m0006Down))
	ms.Add(inTx("20250101000007", "group chats", m0007Up, m0007Down))
	return ms
}

// migrateUp brings the schema up to date. It is safe to call on every start
// and from several processes at once: on PostgreSQL an advisory lock
// serialises the runners; on SQLite one process owns the file (see doc.go),
// and every statement of a migration is idempotent (IF NOT EXISTS) in case a
// crash lands between the migration and its bookkeeping row.
func migrateUp(ctx context.Context, bdb *bun.DB, log *zap.Logger) error {
	unlock, err := lockMigrations(ctx, bdb)
	if err != nil {
		return err
	}
	defer unlock()

	migrator := migrate.NewMigrator(bdb, newMigrations(),
		migrate.WithTableName(migrationsTable),
		migrate.WithLocksTableName(migrationLocksTable),
		migrate.WithMarkAppliedOnSuccess(true),
	)
	if err := migrator.Init(ctx); err != nil {
		return fmt.Errorf("init migration tables: %w", err)
	}
	group, err := migrator.Migrate(ctx)
	if err != nil {
		return err
	}
	if group.IsZero() {
		log.Debug("db schema up to date")
		return nil
	}
	for _, m := range group.Migrations {
		log.Info("db migration applied", zap.String("migration", m.String()), zap.Int64("group", group.ID))
	}
	return nil
}

// lockMigrations takes the cross-node migration lock on PostgreSQL. The lock
// is held by one pinned connection, released (and the connection returned)
// by the function it returns.
func lockMigrations(ctx context.Context, bdb *bun.DB) (func(), error) {
	if !isPostgres(bdb) {
		return func() {}, nil
	}
	conn, err := bdb.Conn(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock(?, hashtext(current_schema()))", migrationLockClass); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("migration lock: %w", err)
	}
	return func() {
		// A fresh context: the caller's may be done, and the lock must go.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_unlock(?, hashtext(current_schema()))", migrationLockClass); err != nil {
			// The session may still hold the lock: never return it to the
			// pool. ErrBadConn from Raw makes database/sql discard it, and
			// PostgreSQL releases the lock when the session ends.
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
		_ = conn.Close()
	}, nil
}
