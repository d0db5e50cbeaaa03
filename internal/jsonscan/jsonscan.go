// Package jsonscan walks the top-level members of a JSON object in place,
// without decoding it: the framing edge (wire's envelope scanner) and the
// auth middleware's identity check both read a few members of every request
// body and must not allocate or reflect to do it. It finds where keys and
// values start and end; what a key or a value means (escapes, case folding)
// is the caller's business, since each must agree with encoding/json in its
// own way.
package jsonscan

import "bytes"

// Members walks the members of the JSON object that starts b (after white
// space). For each member it calls member with the key, quotes included and
// escapes left as they are, and the index in b where the value starts;
// member returns the index just past the value (Value does that for a value
// it does not read), or false to stop. Members reports whether b held one
// well-formed object, up to its closing brace, and every call returned true.
func Members(b []byte, member func(key []byte, value int) (end int, ok bool)) bool {
	i := Space(b, 0)
	if i >= len(b) || b[i] != '{' {
		return false
	}
	i = Space(b, i+1)
	if i < len(b) && b[i] == '}' {
		return true
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return false
		}
		end, ok := String(b, i)
		if !ok {
			return false
		}
		key := b[i:end]
		i = Space(b, end)
		if i >= len(b) || b[i] != ':' {
			return false
		}
		if end, ok = member(key, Space(b, i+1)); !ok {
			return false
		}
		i = Space(b, end)
		if i >= len(b) {
			return false
		}
		switch b[i] {
		case ',':
			i = Space(b, i+1)
		case '}':
			return true
		default:
			return false
		}
	}
}

// Space returns the index of the first byte at or after i that is not JSON
// white space.
func Space(b []byte, i int) int {
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

// String returns the index just past the string that opens at b[i] (a
// quote). It jumps from quote to quote with bytes.IndexByte (vectorised,
// which matters for a long message_body); a quote preceded by an odd run of
// backslashes is escaped and does not end the string.
func String(b []byte, i int) (int, bool) {
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

// Value returns the index just past the value that starts at b[i]: a
// string, an object or array (nested to any depth), or a scalar.
func Value(b []byte, i int) (int, bool) {
	if i >= len(b) {
		return 0, false
	}
	switch b[i] {
	case '"':
		return String(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				end, ok := String(b, j)
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

// Plain reports whether raw, the inside of a JSON string, means exactly its
// bytes: no escape, and ASCII only, so that no decoder can read it otherwise
// (encoding/json replaces invalid UTF-8). Callers decode anything else with
// encoding/json.
func Plain(raw []byte) bool {
	for _, c := range raw {
		if c == '\\' || c >= 0x80 {
			return false
		}
	}
	return true
}

// endsScalar reports whether c ends a number or a literal (true, false, null).
func endsScalar(c byte) bool {
	switch c {
	case ' ', '\t', '\r', '\n', ',', '}', ']':
		return true
	}
	return false
}
