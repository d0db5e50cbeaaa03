package middleware

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/parley-im/parley/pipeline"
	"github.com/parley-im/parley/wire"
)

// identityCheck verifies, for the auth middleware, that every identity field
// a request body names (user_id, send_id, ...) carries the logged-in user.
//
// It reads the raw body once, top-level members only, without decoding it
// into a map: the common case allocates nothing. What it must get exactly
// right is agreement with the decoder the handler will use (encoding/json),
// or a client could send a body that passes here and decodes to another user
// there. So, like encoding/json:
//   - keys match case-insensitively with Unicode simple folding ("USER_ID"
//     is user_id, and "ſend_id", spelled with a long s, is send_id);
//   - escapes are decoded ("user\u005fid" is "user_id");
//   - a key may repeat and the decoder keeps the last value, so every
//     occurrence is checked, not just the first.
//
// Any string containing a backslash or a non-ASCII byte is decoded with
// encoding/json itself rather than by a second, hand-written unquoter.
type identityCheck struct {
	fields    []string
	forbidden []*pipeline.Error // per field, built once: refusals do not allocate
	badType   []*pipeline.Error // per field
}

// errMalformed is returned for a body that is not one JSON object. The edge
// validates every body before the chain runs, so this only guards against a
// chain used without the edge.
var errMalformed = &pipeline.Error{Code: wire.CodeBadRequest, Message: "body is not a JSON object"}

func newIdentityCheck(fields []string) *identityCheck {
	c := &identityCheck{fields: fields}
	for _, f := range fields {
		c.forbidden = append(c.forbidden, &pipeline.Error{Code: wire.CodeForbidden, Message: f + " is not the logged-in user"})
		c.badType = append(c.badType, &pipeline.Error{Code: wire.CodeBadRequest, Message: f + " must be a string"})
	}
	return c
}

// check returns nil when every identity field present in body equals user,
// CodeForbidden when one does not, and CodeBadRequest when one is not a
// string (null included) or the body is not an object. Absent fields pass:
// whether a type requires one is the handler's business.
func (c *identityCheck) check(body []byte, user string) error {
	if len(c.fields) == 0 {
		return nil
	}
	i := skipSpace(body, 0)
	if i >= len(body) || body[i] != '{' {
		return errMalformed
	}
	i = skipSpace(body, i+1)
	if i < len(body) && body[i] == '}' {
		return nil
	}
	for {
		if i >= len(body) || body[i] != '"' {
			return errMalformed
		}
		end, ok := skipString(body, i)
		if !ok {
			return errMalformed
		}
		field := c.match(body[i:end])
		i = skipSpace(body, end)
		if i >= len(body) || body[i] != ':' {
			return errMalformed
		}
		i = skipSpace(body, i+1)
		if field >= 0 {
			if i >= len(body) || body[i] != '"' {
				return c.badType[field]
			}
			end, ok = skipString(body, i)
			if !ok {
				return errMalformed
			}
			if !stringIs(body[i:end], user) {
				return c.forbidden[field]
			}
		} else if end, ok = skipValue(body, i); !ok {
			return errMalformed
		}
		i = skipSpace(body, end)
		if i >= len(body) {
			return errMalformed
		}
		switch body[i] {
		case ',':
			i = skipSpace(body, i+1)
		case '}':
			return nil
		default:
			return errMalformed
		}
	}
}

// match returns the index of the identity field that the quoted key names,
// or -1.
func (c *identityCheck) match(quoted []byte) int {
	raw := quoted[1 : len(quoted)-1]
	if plain(raw) {
		for i, f := range c.fields {
			if len(raw) == len(f) && asciiEqualFold(raw, f) {
				return i
			}
		}
		return -1
	}
	var key string
	if json.Unmarshal(quoted, &key) != nil {
		return -1
	}
	for i, f := range c.fields {
		if strings.EqualFold(key, f) {
			return i
		}
	}
	return -1
}

// stringIs reports whether the quoted JSON string decodes to want.
func stringIs(quoted []byte, want string) bool {
	raw := quoted[1 : len(quoted)-1]
	if plain(raw) {
		return string(raw) == want // compiled without a conversion
	}
	var got string
	return json.Unmarshal(quoted, &got) == nil && got == want
}

// plain reports whether raw (the inside of a JSON string) means exactly its
// bytes: no escape, and ASCII only, so that no decoder can read it otherwise.
func plain(raw []byte) bool {
	for _, b := range raw {
		if b == '\\' || b >= 0x80 {
			return false
		}
	}
	return true
}

// asciiEqualFold compares ASCII bytes with an ASCII field name, ignoring case.
// Non-ASCII keys never reach it (see plain), so folding 'A'-'Z' is complete.
func asciiEqualFold(b []byte, s string) bool {
	for i := range b {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

func skipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\r', '\n':
			i++
		default:
			return i
		}
	}
	return i
}

// skipString returns the index just past the string that opens at b[i] (a
// quote). It jumps from quote to quote with bytes.IndexByte (vectorised, which
// matters for a long message_body); a quote preceded by an odd run of
// backslashes is escaped and does not end the string.
func skipString(b []byte, i int) (int, bool) {
	for j := i + 1; j < len(b); {
		k := bytes.IndexByte(b[j:], '"')
		if k < 0 {
			return 0, false
		}
		q := j + k
		escapes := 0
		for p := q - 1; p > i && b[p] == '\\'; p-- {
			escapes++
		}
		if escapes%2 == 0 {
			return q + 1, true
		}
		j = q + 1
	}
	return 0, false
}

// skipValue returns the index just past the value that starts at b[i]:
// a string, an object or array (nested to any depth), or a scalar.
func skipValue(b []byte, i int) (int, bool) {
	if i >= len(b) {
		return 0, false
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				end, ok := skipString(b, j)
				if !ok {
					return 0, false
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, true
				}
			}
		}
		return 0, false
	default:
		j := i
		for j < len(b) && !endsScalar(b[j]) {
			j++
		}
		return j, j > i
	}
}

// endsScalar reports whether c ends a number or a literal (true, false, null).
func endsScalar(c byte) bool {
	switch c {
	case ' ', '\t', '\r', '\n', ',', '}', ']':
		return true
	}
	return false
}
