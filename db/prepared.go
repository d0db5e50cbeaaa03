package db

import (
	"context"
	"database/sql"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

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
// sql.ErrNoRows when there is none. tx as in stmtIn.
func (s *Store) queryRow(ctx context.Context, tx *bun.Tx, p *prepared, dest any, args ...any) error {
	found := false
	err := s.query(ctx, tx, p, func(rows *sql.Rows) error {
		if found {
			return nil // only the first row counts
		}
		found = true
		return s.db.ScanRow(ctx, rows, dest)
	}, args...)
	if err == nil && !found {
		return sql.ErrNoRows
	}
	return err
}

// stmtIn returns p's statement, bound to tx when tx is not nil; done
// releases the transaction's copy (the cached statement stays prepared).
//
// On a pool of one connection (an in-memory database) a statement inside a
// transaction is prepared on tx itself, for this call: preparing it on the
// pool needs a free connection, and the only one is tx's, so that waited
// until the transaction timed out. Larger pools prepare on another
// connection once and cache it.
func (s *Store) stmtIn(ctx context.Context, tx *bun.Tx, p *prepared) (st *sql.Stmt, done func(), err error) {
	if tx != nil && s.oneConn {
		if st, err = tx.Tx.PrepareContext(ctx, p.render(s)); err != nil {
			return nil, nil, err
		}
		return st, func() { _ = st.Close() }, nil
	}
	if st, err = s.stmt(ctx, p); err != nil {
		return nil, nil, err
	}
	if tx == nil {
		return st, func() {}, nil
	}
	st = tx.Tx.StmtContext(ctx, st)
	return st, func() { _ = st.Close() }, nil
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

// exec runs p with args; tx, when not nil, runs it inside that transaction.
func (s *Store) exec(ctx context.Context, tx *bun.Tx, p *prepared, args ...any) (sql.Result, error) {
	st, done, err := s.stmtIn(ctx, tx, p)
	if err != nil {
		return nil, err
	}
	defer done()
	return st.ExecContext(ctx, args...)
}

// query runs p with args and calls scan for each row (scan calls
// rows.Scan); tx as in stmtIn. The rows are closed before it returns.
func (s *Store) query(ctx context.Context, tx *bun.Tx, p *prepared, scan func(*sql.Rows) error, args ...any) error {
	rows, done, err := s.rows(ctx, tx, p, args...)
	if err != nil {
		return err
	}
	defer done() // after the rows
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return rows.Close()
}

// queryAll runs p with args and scans every row into dest, a pointer to a
// slice, with bun's ScanRows: one model and one column list for all rows,
// where ScanRow per row (queryRow, query) builds them again for each. tx as
// in stmtIn.
func (s *Store) queryAll(ctx context.Context, tx *bun.Tx, p *prepared, dest any, args ...any) error {
	rows, done, err := s.rows(ctx, tx, p, args...)
	if err != nil {
		return err
	}
	defer done()                          // after the rows
	return s.db.ScanRows(ctx, rows, dest) // closes rows
}

// rows runs p with args (tx as in stmtIn); the caller closes the rows, then
// calls done.
func (s *Store) rows(ctx context.Context, tx *bun.Tx, p *prepared, args ...any) (*sql.Rows, func(), error) {
	st, done, err := s.stmtIn(ctx, tx, p)
	if err != nil {
		return nil, nil, err
	}
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		done()
		return nil, nil, err
	}
	return rows, done, nil
}

// preparedRows is a family of statements whose text depends on a row count,
// such as a multi-row INSERT: one prepared statement per count in use. The
// counts a caller uses must be few (e.g. powers of two), since each is
// prepared on every pooled connection that runs it.
type preparedRows struct {
	// render returns the SQL for n rows, placeholders from Store.arg.
	render func(s *Store, n int) string

	mu sync.Mutex
	m  map[int]*prepared // stable pointers: they key Store.stmts
}

// rows returns the statement for n rows.
func (f *preparedRows) rows(n int) *prepared {
	f.mu.Lock()
	defer f.mu.Unlock()
	if p := f.m[n]; p != nil {
		return p
	}
	if f.m == nil {
		f.m = make(map[int]*prepared)
	}
	p := &prepared{render: func(s *Store) string { return f.render(s, n) }}
	f.m[n] = p
	return p
}

// valuesRows renders n rows of cols placeholders for a VALUES list:
// "(?, ?), (?, ?)" or "($1, $2), ($3, $4)".
func (s *Store) valuesRows(n, cols int) bun.Safe {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		b.WriteString(string(s.args(1+i*cols, cols)))
		b.WriteByte(')')
	}
	return bun.Safe(b.String())
}

// Bound values must be stored exactly as bun stores the same value inlined,
// or rows written by a prepared statement would differ from the rest (and
// SQLite compares times as text). textArg, timeArg and boolArg give the
// value bun would have written.

// textArg is s as bun inlines a string: NUL characters dropped, invalid
// UTF-8 replaced by U+FFFD.
func textArg(s string) string {
	if strings.IndexByte(s, 0) < 0 && utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for _, r := range s { // ranging turns each invalid byte into U+FFFD
		if r != 0 {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// timeLayout is bun's time literal (schema.BaseDialect.AppendTime), which
// both dialects use.
const timeLayout = "2006-01-02 15:04:05.999999-07:00"

// timeArg is t as bun inlines it: UTC, microseconds, explicit offset.
func timeArg(t time.Time) string { return t.UTC().Format(timeLayout) }

// pgArray builds the text form of a PostgreSQL array of n elements, for one
// bound parameter cast in SQL ($1::text[]): pgdriver binds strings, not Go
// slices. elem returns element i and whether it is NULL.
func pgArray(n int, elem func(i int) (v string, null bool)) string {
	var b strings.Builder
	b.WriteByte('{')
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		v, null := elem(i)
		if null {
			b.WriteString("NULL")
			continue
		}
		b.WriteByte('"')
		for j := 0; j < len(v); j++ {
			if c := v[j]; c == '"' || c == '\\' {
				b.WriteByte('\\')
			}
			b.WriteByte(v[j])
		}
		b.WriteByte('"')
	}
	b.WriteByte('}')
	// pgdriver sends string parameters as bun sends literals (NULs dropped,
	// invalid UTF-8 replaced), so the elements need no further cleaning.
	return b.String()
}

// execEach runs p n times in tx, with args(i) for the i-th run, and hands
// each result to done (nil: ignored). The statement is bound to tx once.
func (s *Store) execEach(ctx context.Context, tx *bun.Tx, p *prepared, n int,
	args func(i int) []any, done func(i int, res sql.Result) error) error {
	if n == 0 {
		return nil
	}
	st, release, err := s.stmtIn(ctx, tx, p)
	if err != nil {
		return err
	}
	defer release()
	for i := range n {
		res, err := st.ExecContext(ctx, args(i)...)
		if err != nil {
			return err
		}
		if done != nil {
			if err := done(i, res); err != nil {
				return err
			}
		}
	}
	return nil
}
