package pipeline

import (
	"errors"
	"fmt"

	"github.com/parley-im/parley/wire"
)

// Error is a refusal the client should see: an error reply with Code and
// Message. The connection stays open.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// ErrUnauthenticated refuses a request that needs a logged-in session (the
// auth middleware, and handlers that check again). It is shared by every such
// refusal: never modify it; building it once keeps an unauthenticated flood
// from allocating.
var ErrUnauthenticated = &Error{Code: wire.CodeUnauthenticated, Message: "log in first"}

// Errorf returns an *Error with a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Disconnect is a refusal after which the connection is closed: the client gets
// the error reply, then the close. Use it only for clients that cannot be
// served any more (floods, protocol violations the seed client never makes).
type Disconnect struct {
	Code   string
	Reason string
}

func (d *Disconnect) Error() string { return "disconnect " + d.Code + ": " + d.Reason }

// Outcome names how a request ended, for logs and metrics.
type Outcome string

// The outcomes, in the vocabulary of metrics labels.
const (
	OutcomeOK         Outcome = "ok"
	OutcomeError      Outcome = "error"
	OutcomeDisconnect Outcome = "disconnect"
	OutcomeInternal   Outcome = "internal"
)

// Classify maps a handler result to its outcome and, for errors, the code the
// client sees.
func Classify(err error) (Outcome, string) {
	if err == nil {
		return OutcomeOK, ""
	}
	var pe *Error
	if errors.As(err, &pe) {
		return OutcomeError, pe.Code
	}
	var de *Disconnect
	if errors.As(err, &de) {
		return OutcomeDisconnect, de.Code
	}
	return OutcomeInternal, wire.CodeInternal
}
