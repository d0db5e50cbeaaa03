package db

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/ncruces/go-sqlite3"

	"github.com/parley-im/parley/config"
)

type fakeSQLiteError int

func (e fakeSQLiteError) Error() string { return fmt.Sprintf("sqlite error %d", int(e)) }
func (e fakeSQLiteError) ExtendedCode() sqlite3.ExtendedErrorCode {
	return sqlite3.ExtendedErrorCode(e)
}

func TestClassify(t *testing.T) {
	plain := errors.New("syntax error")
	for _, tc := range []struct {
		name string
		in   error
		want error // nil: passes through unclassified
	}{
		{"no rows", sql.ErrNoRows, ErrNotFound},
		{"deadline", context.DeadlineExceeded, ErrUnavailable},
		{"wrapped deadline", fmt.Errorf("query: %w", context.DeadlineExceeded), ErrUnavailable},
		{"bad conn", driver.ErrBadConn, ErrUnavailable},
		{"conn done", sql.ErrConnDone, ErrUnavailable},
		{"eof", io.EOF, ErrUnavailable},
		{"unexpected eof", io.ErrUnexpectedEOF, ErrUnavailable},
		{"refused", &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, ErrUnavailable},
		{"reset", fmt.Errorf("read: %w", syscall.ECONNRESET), ErrUnavailable},
		{"sqlite busy", fakeSQLiteError(sqliteBusy), ErrUnavailable},
		{"sqlite busy snapshot", fakeSQLiteError(sqliteBusy | 2<<8), ErrUnavailable},
		{"sqlite locked", fakeSQLiteError(sqliteLocked), ErrUnavailable},
		{"sqlite ioerr", fakeSQLiteError(sqliteIOErr | 3<<8), ErrUnavailable},
		{"sqlite full", fakeSQLiteError(sqliteFull), ErrUnavailable},
		{"sqlite cantopen", fakeSQLiteError(sqliteCantOpen), ErrUnavailable},
		{"sqlite interrupt", fakeSQLiteError(sqliteInterrupt), ErrUnavailable},
		{"sqlite unique", fakeSQLiteError(sqliteConstraintUniq), ErrConflict},
		{"sqlite primary key", fakeSQLiteError(sqliteConstraintPK), ErrConflict},
		{"sqlite foreign key", fakeSQLiteError(sqliteConstraintFKey), ErrNotFound},
		{"sqlite generic", fakeSQLiteError(1), nil},
		{"already classified", fmt.Errorf("x: %w", ErrConflict), ErrConflict},
		{"plain", plain, nil},
	} {
		got := classify(tc.in)
		if tc.want == nil {
			if got != tc.in {
				t.Errorf("%s: classify = %v, want it unchanged", tc.name, got)
			}
			continue
		}
		if !errors.Is(got, tc.want) || !errors.Is(got, tc.in) {
			t.Errorf("%s: classify = %v, want %v wrapping %v", tc.name, got, tc.want, tc.in)
		}
		for _, other := range []error{ErrNotFound, ErrConflict, ErrUnavailable} {
			if other != tc.want && errors.Is(got, other) {
				t.Errorf("%s: classify = %v is also %v", tc.name, got, other)
			}
		}
	}
	if classify(nil) != nil {
		t.Error("classify(nil) != nil")
	}
	if got := classify(context.Canceled); !errors.Is(got, context.Canceled) || IsUnavailable(got) {
		t.Errorf("classify(Canceled) = %v, want plain cancellation", got)
	}
}

// The driver's own errors, provoked on a real database, classify as the
// codes in TestClassify do: the driver's error type is the one classify
// matches.
func TestClassifyRealSQLiteErrors(t *testing.T) {
	skipUnlessListed(t, "sqlite")
	cfg := sqliteConfig(t)
	bdb := openTest(t, cfg)
	ctx := ctxT(t)
	insertUser := "INSERT INTO users (id, phone, name, email, created_at) VALUES ('1', '', '', '', '2024-01-01')"
	if _, err := bdb.ExecContext(ctx, insertUser); err != nil {
		t.Fatal(err)
	}
	_, err := bdb.ExecContext(ctx, insertUser)
	wantErr(t, "duplicate primary key", classify(err), ErrConflict)
	_, err = bdb.ExecContext(ctx, "INSERT INTO friendships (user_id, friend_id, created_at) VALUES ('1', 'nobody', '2024-01-01')")
	wantErr(t, "missing user under a foreign key", classify(err), ErrNotFound)

	// Another connection holds the write lock; this one does not wait.
	other := openTest(t, config.DB{Driver: "sqlite", DSN: "file:" + cfg.DSN + "?_pragma=busy_timeout(0)"})
	tx, err := bdb.BeginTx(ctx, nil) // immediate: takes the write lock now
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	_, err = other.BeginTx(ctx, nil)
	wantErr(t, "write lock held elsewhere", classify(err), ErrUnavailable)
}

// A database that does not answer within the query timeout yields
// ErrUnavailable, and the store recovers once it answers again.
func TestQueryTimeoutIsUnavailable(t *testing.T) {
	t.Run("sqlite/writer slot", func(t *testing.T) {
		s := NewStore(openSQLiteTest(t), 200*time.Millisecond)
		mustUsers(t, s, "1", "2")
		s.writeSem <- struct{}{} // a long write in progress
		m := Message{SenderID: "1", ReceiverID: "2", Body: "x"}
		err := s.SaveMessage(ctxT(t), &m)
		<-s.writeSem
		if !IsUnavailable(err) {
			t.Fatalf("SaveMessage behind a stuck writer: err = %v, want unavailable", err)
		}
		mustSend(t, s, "1", "2", "after")
	})
	t.Run("sqlite/file locked by another process", func(t *testing.T) {
		// Another process's lock is waited for under busy_timeout, which
		// SQLite does not cut short on cancellation; shorten it here.
		cfg := sqliteConfig(t)
		cfg.DSN = "file:" + cfg.DSN + "?_pragma=busy_timeout(300)"
		s := NewStore(openTest(t, cfg), 300*time.Millisecond)
		mustUsers(t, s, "1", "2")
		other := openTest(t, cfg) // stands for a second process on the same file
		tx, err := other.BeginTx(ctxT(t), nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.ExecContext(ctxT(t), "UPDATE users SET name = name"); err != nil {
			t.Fatal(err)
		}
		m := Message{SenderID: "1", ReceiverID: "2", Body: "x"}
		err = s.SaveMessage(ctxT(t), &m)
		_ = tx.Rollback()
		if !IsUnavailable(err) {
			t.Fatalf("SaveMessage on a locked file: err = %v, want unavailable", err)
		}
		mustSend(t, s, "1", "2", "after")
	})
	t.Run("postgres/lock wait", func(t *testing.T) {
		bdb := openPostgresTest(t)
		s := NewStore(bdb, 300*time.Millisecond)
		mustUsers(t, s, "1", "2")
		// Another transaction holds the receiver's lock, as a stuck writer would.
		tx, err := bdb.BeginTx(ctxT(t), nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.ExecContext(ctxT(t), "SELECT pg_advisory_xact_lock(?, hashtext(?))", receiverLockClass, "2"); err != nil {
			t.Fatal(err)
		}
		m := Message{SenderID: "1", ReceiverID: "2", Body: "x"}
		err = s.SaveMessage(ctxT(t), &m)
		_ = tx.Rollback()
		if !IsUnavailable(err) {
			t.Fatalf("SaveMessage behind a held lock: err = %v, want unavailable", err)
		}
		mustSend(t, s, "1", "2", "after")
		if err := s.Ping(ctxT(t)); err != nil {
			t.Fatalf("Ping after timeout: %v", err)
		}
	})
}

func TestClosedDatabase(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		if err := s.db.Close(); err != nil {
			t.Fatal(err)
		}
		if err := s.Ping(ctxT(t)); !IsUnavailable(err) {
			t.Fatalf("Ping on a closed database: err = %v, want unavailable", err)
		}
		if _, err := s.UserByID(ctxT(t), "1"); !IsUnavailable(err) {
			t.Fatalf("UserByID on a closed database: err = %v, want unavailable", err)
		}
	})
}
