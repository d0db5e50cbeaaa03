package db

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/uptrace/bun"

	"github.com/parley-im/parley/config"
)

// Store is Parley's storage API over one *bun.DB (SQLite or PostgreSQL, the
// same code for both). It is safe for concurrent use by any goroutine; every
// method may block on the database, so never call it on a network loop.
type Store struct {
	db      *bun.DB
	timeout time.Duration
	pg      bool
	// oneConn: the pool holds a single connection (an in-memory SQLite
	// database), read once here instead of per statement (stmtIn).
	oneConn bool
	// writeSem serialises writes on SQLite, which has one writer at a time.
	// Waiting here (cancellable, bounded by the call's timeout) is cheaper and
	// fairer than every writer polling the file lock under busy_timeout.
	// nil on PostgreSQL, where writers run concurrently.
	writeSem chan struct{}
	// wconn is the connection every transaction runs on while a
	// MessageWriter holds it (holdWriterConn), so the writer's page cache
	// stays valid between its commits: an SQLite connection drops its whole
	// cache when it begins a transaction after another connection wrote,
	// and a pool hands out whichever connection is idle. wconn and wholds
	// are guarded by writeSem.
	wconn  *bun.Conn
	wholds int
	// stmts are the prepared statements of the hot paths (prepared.go).
	stmts stmtCache
	// friendLimits are the per-user friend caps (WithFriendLimits).
	friendLimits FriendLimits
	// groupLimits are the group caps (WithGroupLimits).
	groupLimits GroupLimits
}

// NewStore wraps an opened and migrated database (see Open). queryTimeout
// bounds every call, including waiting for a connection or, on SQLite, for
// the writer slot; zero means config.Default()'s db.query_timeout (a stuck
// database must never hold a worker forever).
func NewStore(db *bun.DB, queryTimeout time.Duration, opts ...StoreOption) *Store {
	if queryTimeout <= 0 {
		queryTimeout = config.Default().DB.QueryTimeout
	}
	s := &Store{db: db, timeout: queryTimeout, pg: isPostgres(db), oneConn: db.Stats().MaxOpenConnections == 1}
	if !s.pg {
		s.writeSem = make(chan struct{}, 1)
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// StoreOption sets a Store up at NewStore, so a Store is complete before its
// first call (WithFriendLimits).
type StoreOption func(*Store)

// Ping checks that the database answers, for readiness probes.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	return s.fail("ping", s.db.PingContext(ctx))
}

// bound applies the store's query timeout to one call.
func (s *Store) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.timeout)
}

// read runs fn, a read-only call, under the query timeout.
func (s *Store) read(ctx context.Context, op string, fn func(ctx context.Context) error) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	return s.fail(op, fn(ctx))
}

// write runs fn, a single-statement write, under the query timeout and, on
// SQLite, the writer slot.
func (s *Store) write(ctx context.Context, op string, fn func(ctx context.Context) error) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if err := s.acquireWriter(ctx); err != nil {
		return s.fail(op, err)
	}
	defer s.releaseWriter()
	return s.fail(op, fn(ctx))
}

// tx runs fn in one transaction under the query timeout and, on SQLite, the
// writer slot. fn's error (or a panic) rolls everything back.
func (s *Store) tx(ctx context.Context, op string, fn func(ctx context.Context, tx bun.Tx) error) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if err := s.acquireWriter(ctx); err != nil {
		return s.fail(op, err)
	}
	defer s.releaseWriter()
	if s.wholds == 0 {
		return s.fail(op, s.db.RunInTx(ctx, nil, fn))
	}
	if s.wconn == nil {
		c, err := s.db.Conn(ctx)
		if err != nil {
			return s.fail(op, err)
		}
		s.wconn = &c
	}
	err := s.wconn.RunInTx(ctx, nil, fn)
	if errors.Is(err, sql.ErrConnDone) || errors.Is(err, driver.ErrBadConn) {
		_ = s.wconn.Close() // broken: the next transaction takes another
		s.wconn = nil
	}
	return s.fail(op, err)
}

// holdWriterConn makes transactions run on one connection of their own
// until release is called (holds nest). Only on SQLite with a pool of more
// than one connection: an in-memory database has exactly one, which the
// readers need too.
func (s *Store) holdWriterConn() (release func()) {
	if s.writeSem == nil || s.oneConn {
		return func() {}
	}
	s.writeSem <- struct{}{}
	s.wholds++
	<-s.writeSem
	var once sync.Once
	return func() {
		once.Do(func() {
			s.writeSem <- struct{}{}
			defer func() { <-s.writeSem }()
			if s.wholds--; s.wholds == 0 && s.wconn != nil {
				_ = s.wconn.Close() // back to the pool
				s.wconn = nil
			}
		})
	}
}

func (s *Store) acquireWriter(ctx context.Context) error {
	if s.writeSem == nil {
		return nil
	}
	select {
	case s.writeSem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Store) releaseWriter() {
	if s.writeSem != nil {
		<-s.writeSem
	}
}

// fail classifies err and names the operation, once, here: methods return
// package errors (ErrNotFound...) or raw driver errors and never wrap twice.
func (s *Store) fail(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("db: %s: %w", op, classify(err))
}

// now is the store's clock: UTC, second precision, like the wire format.
func now() time.Time { return time.Now().UTC().Truncate(time.Second) }

// utc normalises a caller's time for storage: UTC (so SQLite's text times
// order correctly) and microseconds (PostgreSQL's precision, so a value reads
// back equal on both databases).
func utc(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }
