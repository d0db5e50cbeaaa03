package wire

import (
	"encoding/json"
	"strings"
)

// scanEnvelope is DecodeEnvelope's fast path: it reads the top-level "type"
// and "seq" members of a body already known to be a valid JSON object
// (json.Valid), without reflection and, for the types this package names,
// without allocating. It handles what clients send: plain keys, an ASCII
// string type without escapes, a non-negative integer seq (or null). For anything
// else whose meaning encoding/json decides in a subtle way - an escaped or
// non-ASCII key, a key that matches "type" or "seq" only case-insensitively
// (encoding/json accepts those), an escaped type, a value of the wrong JSON
// type, a seq that is not a small integer - it returns ok=false and the
// caller decodes with encoding/json, so the result is always the same as
// json.Unmarshal's (TestScanEnvelopeMatchesJSON, FuzzScanEnvelope).
func scanEnvelope(b []byte) (env Envelope, ok bool) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return env, false
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return env, true
	}
	for i < len(b) {
		// Key.
		if b[i] != '"' {
			return env, false
		}
		start := i + 1
		j := start
		for j < len(b) && b[j] != '"' {
			if b[j] == '\\' || b[j] >= 0x80 {
				return env, false
			}
			j++
		}
		if j >= len(b) {
			return env, false
		}
		key := b[start:j]
		i = skipSpace(b, j+1)
		if i >= len(b) || b[i] != ':' {
			return env, false
		}
		i = skipSpace(b, i+1)
		switch {
		case string(key) == "type":
			if i, ok = scanTypeValue(b, i, &env); !ok {
				return env, false
			}
		case string(key) == "seq":
			if i, ok = scanSeqValue(b, i, &env); !ok {
				return env, false
			}
		case len(key) == 4 && strings.EqualFold(string(key), "type"),
			len(key) == 3 && strings.EqualFold(string(key), "seq"):
			return env, false
		default:
			if i, ok = skipValue(b, i); !ok {
				return env, false
			}
		}
		i = skipSpace(b, i)
		if i >= len(b) {
			return env, false
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case '}':
			return env, true
		default:
			return env, false
		}
	}
	return env, false
}

// scanTypeValue reads the value of "type" at b[i:]: an escape-free string,
// or null (which encoding/json leaves as it was).
func scanTypeValue(b []byte, i int, env *Envelope) (int, bool) {
	if strings.HasPrefix(string(b[i:]), "null") {
		return i + 4, true
	}
	if b[i] != '"' {
		return i, false
	}
	j := i + 1
	for j < len(b) && b[j] != '"' {
		// Escapes and non-ASCII (encoding/json replaces invalid UTF-8)
		// are left to encoding/json; no known type has either.
		if b[j] == '\\' || b[j] >= 0x80 {
			return i, false
		}
		j++
	}
	if j >= len(b) {
		return i, false
	}
	v := b[i+1 : j]
	if t, ok := knownTypes[string(v)]; ok {
		env.Type = t
	} else {
		env.Type = string(v)
	}
	return j + 1, true
}

// scanSeqValue reads the value of "seq": digits only (the body is valid
// JSON, so there is no leading zero), at most 19 of them so the uint64
// cannot overflow, or null.
func scanSeqValue(b []byte, i int, env *Envelope) (int, bool) {
	if strings.HasPrefix(string(b[i:]), "null") {
		return i + 4, true
	}
	var n uint64
	j := i
	for j < len(b) && b[j] >= '0' && b[j] <= '9' {
		n = n*10 + uint64(b[j]-'0')
		j++
	}
	if j == i || j-i > 19 {
		return i, false
	}
	if j < len(b) {
		switch b[j] {
		case '.', 'e', 'E':
			return i, false // a float: encoding/json refuses it for a uint64
		}
	}
	env.Seq = n
	return j, true
}

// skipValue skips one JSON value of a valid document.
func skipValue(b []byte, i int) (int, bool) {
	if i >= len(b) {
		return i, false
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				var ok bool
				if i, ok = skipString(b, i); !ok {
					return i, false
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1, true
				}
			}
			i++
		}
		return i, false
	default: // number, true, false, null
		for i < len(b) {
			switch b[i] {
			case ',', '}', ']', ' ', '\t', '\r', '\n':
				return i, true
			}
			i++
		}
		return i, true
	}
}

// skipString skips the string starting at b[i] == '"'.
func skipString(b []byte, i int) (int, bool) {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1, true
		}
	}
	return len(b), false
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

// knownTypes interns the request and reply types this package names, so
// decoding their envelope allocates nothing.
var knownTypes = func() map[string]string {
	m := make(map[string]string)
	for _, t := range []string{TypeLogin, TypeRegister, TypeFriends, TypeChatting, TypeSendMessage,
		TypeReceiveMessage, TypeUpdateChat, TypeGetUnreadMessages, TypeSearchUser, TypeAddFriend,
		TypeAcceptFriend, TypeDeleteFriend, TypePing, TypePong, TypeResume, TypeSync, TypeAck, TypeGoAway} {
		m[t] = t
	}
	return m
}()

// decodeEnvelopeJSON is the general path: encoding/json, for every body the
// scanner leaves to it.
func decodeEnvelopeJSON(body []byte) (Envelope, error) {
	var env Envelope
	err := json.Unmarshal(body, &env)
	return env, err
}
