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

	"github.com/ncruces/go-sqlite3"
	"github.com/uptrace/bun/driver/pgdriver"
)

// The errors callers branch on. Every error a Store method returns either
// is nil, wraps exactly one of these, or is an internal failure (a bug, a
// corrupt database, a schema mismatch) that the caller should report as such.
var (
	// ErrNotFound: the row the call needs does not exist (a user, a chat, a
	// relation), including a referenced user missing under a foreign key.
	ErrNotFound = errors.New("not found")
	// ErrConflict: the row already exists or the request contradicts the
	// stored state (duplicate user id, existing relation, already accepted).
	ErrConflict = errors.New("conflict")
	// ErrUnavailable: the database could not answer in time or at all
	// (timeout, lost connection, locked file, too many connections, deadlock,
	// serialization failure). Retrying later may succeed; nothing was changed
	// by the failed call, because every multi-statement call is one transaction.
	ErrUnavailable = errors.New("unavailable")
	// ErrForbidden: the change is not the caller's to make (accepting a
	// friend request it sent itself).
	ErrForbidden = errors.New("forbidden")
	// ErrLimit: a per-user cap (FriendLimits) refused the change; a
	// *LimitError in the chain says which cap and whose.
	ErrLimit = errors.New("limit reached")
)

// The caps a LimitError names.
const (
	LimitIncoming = "incoming friend requests" // FriendLimits.MaxPending, the addressee's
	LimitOutgoing = "outgoing friend requests" // FriendLimits.MaxPending, the requester's
	LimitFriends  = "friends"                  // FriendLimits.MaxFriends, either side's
)

// LimitError says which cap refused a change: UserID already has Max of
// What. It matches ErrLimit under errors.Is.
type LimitError struct {
	UserID string
	What   string
	Max    int
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("limit reached: %s has %d %s", e.UserID, e.Max, e.What)
}

func (e *LimitError) Unwrap() error { return ErrLimit }

// IsUnavailable reports whether err means "the database cannot answer right
// now", so a handler replies "unavailable" instead of "internal".
func IsUnavailable(err error) bool { return errors.Is(err, ErrUnavailable) }

// SQLite result codes we branch on: classify reads the extended code, whose
// low byte is the primary code.
const (
	sqliteInterrupt       = 9
	sqliteBusy            = 5
	sqliteLocked          = 6
	sqliteIOErr           = 10
	sqliteFull            = 13
	sqliteCantOpen        = 14
	sqliteProtocol        = 15
	sqliteConstraintPK    = 1555
	sqliteConstraintUniq  = 2067
	sqliteConstraintFKey  = 787
	sqliteConstraintRowID = 2579
)

// sqliteCoder is the method the SQLite driver's *sqlite3.Error has (an
// interface, so that tests can build any code).
type sqliteCoder interface {
	ExtendedCode() sqlite3.ExtendedErrorCode
}

// errDBClosed is database/sql's message for a call on a closed *sql.DB; the
// package does not export the error value.
const errDBClosed = "sql: database is closed"

// classify turns a driver error into one of the package errors, keeping the
// original in the chain (errors.Is/As still see the driver error). Errors that
// are already classified pass through unchanged.
func classify(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrConflict) || errors.Is(err, ErrUnavailable) ||
		errors.Is(err, ErrForbidden) || errors.Is(err, ErrLimit) || errors.Is(err, ErrNotMember) {
		return err
	}
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	if errors.Is(err, context.Canceled) {
		// The caller gave up (its connection closed); nothing to report as
		// "unavailable", the caller will not read the answer anyway.
		return err
	}

	var pgErr pgdriver.Error
	if errors.As(err, &pgErr) {
		return classifyPostgres(pgErr, err)
	}
	var sqlErr sqliteCoder
	if errors.As(err, &sqlErr) {
		return classifySQLite(int(sqlErr.ExtendedCode()), err)
	}

	var netErr net.Error
	switch {
	case err.Error() == errDBClosed:
		// Shutdown closed the pool under a call still in flight.
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	case errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, driver.ErrBadConn),
		errors.Is(err, sql.ErrConnDone),
		errors.Is(err, io.EOF),
		errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE),
		errors.As(err, &netErr):
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}

func classifyPostgres(pgErr pgdriver.Error, err error) error {
	code := pgErr.Field('C')
	switch {
	case code == "23505": // unique_violation
		return fmt.Errorf("%w: %w", ErrConflict, err)
	case code == "23503": // foreign_key_violation: a referenced user is missing
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	case len(code) == 5 && (code[:2] == "08" || code[:2] == "53"),
		// connection exceptions; insufficient resources (too many connections, disk full)
		code == "57014",                                   // query_canceled (statement_timeout)
		code == "57P01", code == "57P02", code == "57P03", // shutdown, crash, cannot connect now
		code == "40001", code == "40P01", // serialization failure, deadlock detected
		code == "55P03": // lock_not_available
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}

func classifySQLite(code int, err error) error {
	switch code {
	case sqliteConstraintPK, sqliteConstraintUniq, sqliteConstraintRowID:
		return fmt.Errorf("%w: %w", ErrConflict, err)
	case sqliteConstraintFKey:
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	switch code & 0xff {
	case sqliteBusy, sqliteLocked, sqliteInterrupt, sqliteIOErr, sqliteFull, sqliteCantOpen, sqliteProtocol:
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}
