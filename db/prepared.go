package db

import (
	"context"
	"database/sql"
	"strconv"
	"strings"
	"sync"

	"github.com/uptrace/bun"
)

// prepared is a statement prepared once on the pool, for the hot paths.
//
// Why: bun renders every query with its values inlined, so SQLite parses the
// full SQL text on every call; under load that parsing was 17–28 % of the
// server's CPU (docs/PERFORMANCE.md, "chat"). A prepared statement is parsed
// once per pooled connection (database/sql prepares it again, once, on each
// connection that runs it) and afterwards only binds values. The SQL text is
// still rendered by bun from the models, with bound placeholders in place of
// the values, and results are scanned by bun (ScanRows), so column lists and
// type conversions stay those of the rest of the store.
type prepared struct {
	// render returns the SQL for s's dialect, placeholders from Store.arg.
	render func(s *Store) string
}

// stmtCache holds a Store's prepared statements. The texts differ by
// dialect, so they are rendered per Store, not per process.
type stmtCache struct {
	mu sync.Mutex
	m  map[*prepared]*sql.Stmt
}

// stmt returns p prepared on s's pool; it prepares it on first use.
func (s *Store) stmt(ctx context.Context, p *prepared) (*sql.Stmt, error) {
	s.stmts.mu.Lock()
	defer s.stmts.mu.Unlock()
	if st := s.stmts.m[p]; st != nil {
		return st, nil
	}
	st, err := s.db.DB.PrepareContext(ctx, p.render(s))
	if err != nil {
		return nil, err
	}
	if s.stmts.m == nil {
		s.stmts.m = make(map[*prepared]*sql.Stmt)
	}
	s.stmts.m[p] = st
	return st, nil
}

// queryRow runs p with args and scans its first row into dest with bun;
// sql.ErrNoRows when there is none. tx, when not nil, runs it inside that
// transaction.
func (s *Store) queryRow(ctx context.Context, tx *bun.Tx, p *prepared, dest any, args ...any) error {
	st, err := s.stmt(ctx, p)
	if err != nil {
		return err
	}
	if tx != nil {
		st = tx.Tx.StmtContext(ctx, st)
		defer st.Close() // closes the transaction's copy only
	}
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return err
		}
		return sql.ErrNoRows
	}
	if err := s.db.ScanRow(ctx, rows, dest); err != nil {
		return err
	}
	return rows.Close()
}

// arg is the n-th (1-based) bound placeholder in the dialect's syntax, for
// rendering a prepared statement's text with bun: bun.Safe keeps it verbatim.
func (s *Store) arg(n int) bun.Safe {
	if s.pg {
		return bun.Safe("$" + strconv.Itoa(n))
	}
	return bun.Safe("?")
}

// args renders n placeholders starting at first, comma separated.
func (s *Store) args(first, n int) bun.Safe {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(string(s.arg(first + i)))
	}
	return bun.Safe(b.String())
}
