package wire

import (
	"encoding/json"
	"strings"

	"github.com/parley-im/parley/internal/jsonscan"
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
	ok = jsonscan.Members(b, func(quoted []byte, i int) (int, bool) {
		key := quoted[1 : len(quoted)-1]
		if !jsonscan.Plain(key) {
			return 0, false // an escaped or non-ASCII key: encoding/json decides
		}
		switch {
		case string(key) == "type":
			return scanTypeValue(b, i, &env)
		case string(key) == "seq":
			return scanSeqValue(b, i, &env)
		case len(key) == 4 && strings.EqualFold(string(key), "type"),
			len(key) == 3 && strings.EqualFold(string(key), "seq"):
			return 0, false
		}
		return jsonscan.Value(b, i)
	})
	return env, ok
}

// scanTypeValue reads the value of "type" at b[i:]: an escape-free string,
// or null (which encoding/json leaves as it was).
func scanTypeValue(b []byte, i int, env *Envelope) (int, bool) {
	if strings.HasPrefix(string(b[i:]), "null") {
		return i + 4, true
	}
	if i >= len(b) || b[i] != '"' {
		return i, false
	}
	end, ok := jsonscan.String(b, i)
	// Escapes and non-ASCII (encoding/json replaces invalid UTF-8) are left
	// to encoding/json; no known type has either.
	if !ok || !jsonscan.Plain(b[i+1:end-1]) {
		return i, false
	}
	v := b[i+1 : end-1]
	if t, ok := knownTypes[string(v)]; ok {
		env.Type = t
	} else {
		env.Type = string(v)
	}
	return end, true
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

// knownTypes interns the request and reply types this package names, so
// decoding their envelope allocates nothing.
var knownTypes = func() map[string]string {
	m := make(map[string]string)
	for _, t := range []string{TypeLogin, TypeRegister, TypeFriends, TypeChatting, TypeSendMessage,
		TypeReceiveMessage, TypeUpdateChat, TypeGetUnreadMessages, TypeSearchUser, TypeAddFriend,
		TypeAcceptFriend, TypeDeleteFriend, TypePing, TypePong, TypeResume, TypeSync, TypeAck, TypeGoAway, TypeHistory,
		TypeSyncHint} {
		m[t] = t
	}
	return m
}()

// decodeEnvelopeJSON is the general path: encoding/json, for every body the
// scanner leaves to it.
func decodeEnvelopeJSON(body []byte) (Envelope, error) {
	var env Envelope
	err := json.Unmarshal(body, &env)
	return env, ClientDecodeError(err)
}
