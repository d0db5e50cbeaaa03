package wire

import (
	"encoding/json"
	"errors"
	"strconv"
	"unicode/utf8"
)

// Status values. The seed client treats exactly "success" as success and
// anything else as failure; "null" is what the seed sends for empty lists.
const (
	StatusSuccess = "success"
	StatusError   = "error"
	StatusNull    = "null"
)

// Error codes carried in the "code" field of an error reply. They are the
// whole vocabulary; docs/PROTOCOL.md explains when each is used.
const (
	CodeBadRequest      = "bad_request"     // not a JSON object, invalid UTF-8, wrong field types
	CodeInvalid         = "invalid"         // well-formed but a value is missing or out of range
	CodeUnknownType     = "unknown_type"    // no handler for this "type"
	CodeUnauthenticated = "unauthenticated" // the type needs a logged-in session
	CodeForbidden       = "forbidden"       // an identity field is not the session's user
	CodeRateLimited     = "rate_limited"    // a rate limit refused the request
	CodeTooLarge        = "too_large"       // the body is above a configured limit
	CodeNotFound        = "not_found"       // the thing asked for does not exist
	CodeConflict        = "conflict"        // it already exists / already done
	CodeBadCredentials  = "bad_credentials" // login refused
	CodeUnavailable     = "unavailable"     // the database (or another dependency) is down; retry
	CodeOverloaded      = "overloaded"      // the server shed this request or connection
	CodeInternal        = "internal"        // a bug; logged with a stack on the server
	CodeGoingAway       = "going_away"      // the server is shutting down
	CodeLimitReached    = "limit_reached"   // a per-user cap (pending requests, friends) is full
	CodeNotMember       = "not_member"      // the user is not (or no longer) a member of the group
)

// Codes lists every error code above, for code that must bound a label set
// or validate a configuration against the vocabulary.
var Codes = []string{
	CodeBadRequest, CodeInvalid, CodeUnknownType, CodeUnauthenticated,
	CodeForbidden, CodeRateLimited, CodeTooLarge, CodeNotFound,
	CodeConflict, CodeBadCredentials, CodeUnavailable, CodeOverloaded,
	CodeInternal, CodeGoingAway, CodeLimitReached,
}

// Envelope is the part every request shares. Seq is optional and chosen by the
// client (Parley clients number requests from 1); zero means absent. When it is
// present, object replies echo it so a client can match replies to requests.
type Envelope struct {
	Type string `json:"type"`
	Seq  uint64 `json:"seq,omitempty"`
}

// Errors returned by DecodeEnvelope. All of them mean CodeBadRequest.
var (
	ErrEmptyBody   = errors.New("empty frame")
	ErrInvalidUTF8 = errors.New("body is not valid UTF-8")
	ErrNotObject   = errors.New("body is not a JSON object")
	ErrMissingType = errors.New(`missing "type"`)
	ErrTypeTooLong = errors.New(`"type" is too long`)
)

// DecodeEnvelope validates that body is one UTF-8 JSON object and extracts its
// type and seq. Key order and whitespace do not matter.
func DecodeEnvelope(body []byte) (Envelope, error) {
	var env Envelope
	if len(body) == 0 {
		return env, ErrEmptyBody
	}
	if !utf8.Valid(body) {
		return env, ErrInvalidUTF8
	}
	if !isObject(body) {
		return env, ErrNotObject
	}
	fast := false
	if json.Valid(body) {
		env, fast = scanEnvelope(body)
	}
	if !fast {
		var err error
		if env, err = decodeEnvelopeJSON(body); err != nil {
			if len(env.Type) > MaxTypeLen {
				env.Type = ""
			}
			return env, err
		}
	}
	if env.Type == "" {
		return env, ErrMissingType
	}
	if len(env.Type) > MaxTypeLen {
		return Envelope{Seq: env.Seq}, ErrTypeTooLong
	}
	return env, nil
}

// MaxTypeLen bounds the "type" of a request. The longest real type is 19
// bytes (get_unread_messages); a longer one cannot name a handler. Error
// replies echo the type, so an unbounded one let a hostile frame amplify
// itself: a 1 MiB type of '<' came back as a 6 MiB reply, even before login.
const MaxTypeLen = 64

// isObject reports whether the first non-space byte opens an object, so that
// arrays, strings and numbers are refused before any decoding.
func isObject(b []byte) bool {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		case '{':
			return true
		default:
			return false
		}
	}
	return false
}

// ErrorReply is the body of every error answer:
// {"type": T, "status": "error", "code": C, "message": M, "seq": N}.
type ErrorReply struct {
	Type    string `json:"type"`
	Status  string `json:"status"`
	Code    string `json:"code"`
	Message string `json:"message,omitempty"`
	Seq     uint64 `json:"seq,omitempty"`
}

// EncodeError returns the body of an error reply.
func EncodeError(typ, code, message string, seq uint64) []byte {
	b, _ := Marshal(ErrorReply{Type: typ, Status: StatusError, Code: code, Message: message, Seq: seq})
	return b
}

// WithSeq returns an object body with "seq": seq added as its first member, or
// body unchanged when seq is zero or body is not an object. It lets handlers
// encode replies without knowing about sequence numbers.
func WithSeq(body []byte, seq uint64) []byte {
	if seq == 0 || len(body) < 2 || body[0] != '{' {
		return body
	}
	out := make([]byte, 0, len(body)+24)
	out = append(out, `{"seq":`...)
	out = strconv.AppendUint(out, seq, 10)
	if body[1] != '}' {
		out = append(out, ',')
	}
	return append(out, body[1:]...)
}

// Ping is a heartbeat request; the server answers with Pong (type "pong").
// Both are Parley extensions: the seed client never sends them. Like every
// object reply, the pong echoes the request's seq.
type Ping struct {
	Type string `json:"type"`
}

// Pong answers Ping.
type Pong struct {
	Type   string `json:"type"`
	Status string `json:"status"`
}
