package client

import (
	"errors"

	"github.com/parley-im/parley/wire"
)

// ServerError is an error reply from the server: a frame with a status other
// than "success". Code is one of the wire.Code* values; replies in the seed's
// style carry no code, and the client fills in the closest one (a refused
// login is bad_credentials, a "null" search result is not_found).
//
// Compare with errors.Is against the sentinel errors below:
//
//	if errors.Is(err, client.ErrRateLimited) { ... }
type ServerError struct {
	Type    string // the request type the reply answers
	Code    string // a wire.Code* value
	Message string // the server's human-readable explanation
}

func (e *ServerError) Error() string {
	if e.Message == "" {
		return "parley: " + e.Type + ": " + e.Code
	}
	return "parley: " + e.Type + ": " + e.Code + ": " + e.Message
}

// Is matches the sentinel error of e's code, so callers branch on the code
// without type assertions.
func (e *ServerError) Is(target error) bool {
	s, ok := target.(*codeError)
	return ok && s.code == e.Code
}

// codeError is the type of the sentinels: one per server error code.
type codeError struct{ code string }

func (c *codeError) Error() string { return "parley: " + c.code }

// Sentinels for the server's error codes (wire.Code*). A *ServerError matches
// the one for its code under errors.Is.
var (
	ErrBadRequest      error = &codeError{wire.CodeBadRequest}
	ErrInvalid         error = &codeError{wire.CodeInvalid}
	ErrUnknownType     error = &codeError{wire.CodeUnknownType}
	ErrUnauthenticated error = &codeError{wire.CodeUnauthenticated}
	ErrForbidden       error = &codeError{wire.CodeForbidden}
	ErrRateLimited     error = &codeError{wire.CodeRateLimited}
	ErrTooLarge        error = &codeError{wire.CodeTooLarge}
	ErrNotFound        error = &codeError{wire.CodeNotFound}
	ErrConflict        error = &codeError{wire.CodeConflict}
	ErrBadCredentials  error = &codeError{wire.CodeBadCredentials}
	ErrUnavailable     error = &codeError{wire.CodeUnavailable}
	ErrOverloaded      error = &codeError{wire.CodeOverloaded}
	ErrInternal        error = &codeError{wire.CodeInternal}
	ErrGoingAway       error = &codeError{wire.CodeGoingAway}
	ErrLimitReached    error = &codeError{wire.CodeLimitReached}
	ErrNotMember       error = &codeError{wire.CodeNotMember}
)

// Errors of the client itself.
var (
	// ErrClosed is returned by every call after Close (or, without
	// reconnection, after the connection ended).
	ErrClosed = errors.New("parley: client closed")
	// ErrConnLost means the connection broke after the request was written
	// and before its reply arrived: the server may or may not have acted on
	// it. Calls that are safe to repeat (Send, lists, Login) are retried on
	// the next connection instead of returning it.
	ErrConnLost = errors.New("parley: connection lost before the reply")
	// ErrTooManyInFlight is returned when MaxInFlight requests already wait
	// for replies on the connection.
	ErrTooManyInFlight = errors.New("parley: too many requests in flight")
	// ErrNotLoggedIn is returned by calls that need a user before Login or
	// Resume succeeded.
	ErrNotLoggedIn = errors.New("parley: not logged in")
)
