package middleware

import (
	"encoding/json"
	"strings"

	"github.com/parley-im/parley/internal/jsonscan"
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
	var refusal error
	ok := jsonscan.Members(body, func(key []byte, i int) (int, bool) {
		field := c.match(key)
		if field < 0 {
			return jsonscan.Value(body, i)
		}
		if i >= len(body) || body[i] != '"' {
			refusal = c.badType[field]
			return 0, false
		}
		end, ok := jsonscan.String(body, i)
		if ok && !stringIs(body[i:end], user) {
			refusal = c.forbidden[field]
			return 0, false
		}
		return end, ok
	})
	switch {
	case refusal != nil:
		return refusal
	case !ok:
		return errMalformed
	}
	return nil
}

// match returns the index of the identity field that the quoted key names,
// or -1.
func (c *identityCheck) match(quoted []byte) int {
	raw := quoted[1 : len(quoted)-1]
	if jsonscan.Plain(raw) {
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
	if jsonscan.Plain(raw) {
		return string(raw) == want // compiled without a conversion
	}
	var got string
	return json.Unmarshal(quoted, &got) == nil && got == want
}

// asciiEqualFold compares ASCII bytes with an ASCII field name, ignoring case.
// Non-ASCII keys never reach it (see jsonscan.Plain), so folding 'A'-'Z' is complete.
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
