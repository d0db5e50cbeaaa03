package app_test

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/parley-im/parley/wire"
)

// hWant is what a hostile input must get.
type hWant int

const (
	hError hWant = iota // exactly one error reply (status "error"); the connection stays open
	hAny                // at least one reply, any status: odd but valid, served normally
	hPong               // exactly one pong: a valid frame that arrived in pieces (B4)
	hClose              // the connection is closed: after a bad length nothing can be resynchronised
	hFlood              // one error reply per frame, or a close (rate limits may disconnect a flood)
)

// hCase is one hostile input: the bytes, written in pieces with a pause
// between them, and what it must get.
type hCase struct {
	name   string
	pieces [][]byte
	want   hWant
	codes  []string // for hError, the acceptable codes ("" = any error)
	frames int      // for hFlood, how many frames were sent
	stored []string // for a message to Dave: its body once stored (any of these)
}

func hFrame(name, body string, want hWant, codes ...string) hCase {
	return hCase{name: name, pieces: [][]byte{wire.AppendFrame(nil, []byte(body))}, want: want, codes: codes}
}

// hostileCases lists the hostile inputs. user_id fields are identity fields,
// refused by the auth middleware before any handler; the others reach the
// router's typed decoders. login and register are rate limited per address,
// so for those a rate_limited refusal is as good as a bad_request.
func hostileCases(maxFrame int) []hCase {
	const bad, limited = wire.CodeBadRequest, wire.CodeRateLimited
	nested := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	toDave := func(body string) string {
		return `{"type":"send_message","receiver_id":"` + hDave + `","send_id":"` + hEve + `","message_body":` + body + `}`
	}
	ping := wire.AppendFrame(nil, []byte(`{"type":"ping","seq":77}`))
	badUTF8 := wire.AppendFrame(nil, []byte(toDave("\"caf\xc3(\"")))
	header := func(n uint32) []byte { return binary.BigEndian.AppendUint32(nil, n) }
	rng := rand.New(rand.NewPCG(5, 7))
	garbage := make([]byte, 512)
	for i := range garbage {
		garbage[i] = byte(rng.Uint32())
	}
	exact := toDave(`"` + strings.Repeat("x", maxFrame) + `"`)
	exact = toDave(`"` + strings.Repeat("x", maxFrame-(len(exact)-maxFrame)) + `"`)

	cases := []hCase{
		{name: "zero-length frame, last byte late", pieces: [][]byte{{0, 0, 0}, {0}}, want: hError, codes: []string{bad}},
		{name: "header split", pieces: [][]byte{ping[:2], ping[2:]}, want: hPong},
		{name: "invalid UTF-8, last 2 bytes late", pieces: [][]byte{badUTF8[:len(badUTF8)-2], badUTF8[len(badUTF8)-2:]}, want: hError, codes: []string{bad}},
		// Error replies echo the type: a long one must not come back whole
		// (JSON escapes made a 1 MiB type of '<' a 6 MiB reply).
		hFrame("type 64 KiB", `{"type":"`+strings.Repeat("t", 64<<10)+`"}`, hError, wire.CodeUnknownType, bad),
		hFrame("type of 1 MiB of '<'", `{"type":"`+strings.Repeat("<", maxFrame-11)+`"}`, hError, wire.CodeUnknownType, bad),
		hFrame("receive_message as a request", `{"type":"receive_message","message_body":"x"}`, hError, wire.CodeUnknownType),
		hFrame("group_text", `{"type":"group_text","user_id":"`+hEve+`"}`, hError, wire.CodeUnknownType),
		// Either refused, or stored and pushed identically (with or
		// without the NUL): what Dave sees live must be what sync returns.
		{name: "NUL escape in a message", pieces: [][]byte{wire.AppendFrame(nil, []byte(toDave(`"a\u0000b"`)))}, want: hAny, stored: []string{"a\x00b", "ab"}},
		{name: "lone surrogate in a message", pieces: [][]byte{wire.AppendFrame(nil, []byte(toDave(`"\ud800"`)))}, want: hAny, stored: []string{"\ufffd"}},
		{name: "message of 64 KiB", pieces: [][]byte{wire.AppendFrame(nil, []byte(toDave(`"`+strings.Repeat("é", 32<<10)+`"`)))}, want: hAny, stored: []string{strings.Repeat("é", 32<<10)}},
		hFrame("message over 64 KiB", toDave(`"`+strings.Repeat("x", 64<<10+1)+`"`), hError, wire.CodeTooLarge),
		hFrame("frame of exactly max_frame", exact, hError, wire.CodeTooLarge),
		hFrame("user_id object on ping (public, body unread)", `{"type":"ping","user_id":{"a":1}}`, hAny),
		hFrame("user_id 100 KiB", `{"type":"friends","user_id":"`+strings.Repeat("1", 100<<10)+`"}`, hError, wire.CodeForbidden),
		hFrame("user_id twice, other user last", `{"type":"friends","user_id":"`+hEve+`","user_id":"`+hAlice+`"}`, hError, wire.CodeForbidden),
		hFrame("user_id twice, other user first", `{"type":"friends","user_id":"`+hAlice+`","user_id":"`+hEve+`"}`, hError, wire.CodeForbidden),
		hFrame("user_id upper case", `{"type":"friends","USER_ID":"`+hAlice+`"}`, hError, wire.CodeForbidden),
		hFrame("user_id escaped", `{"type":"friends","user\u005fid":"`+hAlice+`"}`, hError, wire.CodeForbidden),
		hFrame("login user_id object", `{"type":"login","user_id":{"a":1},"user_password":"x"}`, hError, bad, limited),
		hFrame("login password array", `{"type":"login","user_id":"`+hEve+`","user_password":["x"]}`, hError, bad, limited),
		hFrame("register phone object", `{"type":"register","user_phone":{"a":1},"user_name":"x","user_password":"x"}`, hError, bad, limited),
		hFrame("register name 100 KiB", `{"type":"register","user_phone":"13799999999","user_name":"`+strings.Repeat("n", 100<<10)+`","user_password":"x"}`, hError, wire.CodeInvalid, limited),
		hFrame("search_id 100 KiB", `{"type":"search_user","search_id":"`+strings.Repeat("1", 100<<10)+`"}`, hAny),
		hFrame("search_id with NUL", `{"type":"search_user","search_id":"1\u0000"}`, hAny),
		hFrame("sync limit negative", `{"type":"sync","after_id":"0","limit":-1}`, hError, wire.CodeInvalid),
		hFrame("deeply nested, 5000", `{"type":"friends","x":`+nested(5000)+`}`, hAny),
	}
	// Every one of these is a bad_request, and the connection stays open.
	for _, nb := range [][2]string{
		{"root null", "null"},
		{"root true", "true"},
		{"root number", "42"},
		{"root string", `"login"`},
		{"root empty array", "[]"},
		{"root array", `[{"type":"ping"}]`},
		{"root nested 10001 deep", nested(10001)},
		{"no type", "{}"},
		{"truncated object", `{"type":"friends",`},
		{"two objects", `{"type":"ping"}{"type":"ping"}`},
		{"NUL bytes", "\x00\x00\x00\x00"},
		{"byte order mark", "\xef\xbb\xbf{\"type\":\"ping\"}"},
		{"type object", `{"type":{"a":1}}`},
		{"type number", `{"type":1}`},
		{"type null", `{"type":null}`},
		{"type empty", `{"type":""}`},
		{"type twice, object last", `{"type":"ping","type":{"a":1}}`},
		{"type twice, object first", `{"type":{"a":1},"type":"ping"}`},
		{"zero-length frame", ""},
		{"invalid UTF-8 in type", "{\"type\":\"pi\xffng\"}"},
		{"invalid UTF-8 in a key", "{\"type\":\"friends\",\"\xff\":\"x\"}"},
		{"invalid UTF-8 in a message", toDave("\"caf\xc3(\"")}, // refused, not stored: Dave's sync shows it
		{"overlong UTF-8", toDave("\"\xc0\xaf\"")},
		{"UTF-8 encoded surrogate", toDave("\"\xed\xa0\x80\"")},
		{"message body object", toDave(`{"a":1}`)},
		{"message body number", toDave(`1`)},
		{"receiver_id object", `{"type":"send_message","receiver_id":{"a":1},"message_body":"x"}`},
		{"send_id number", `{"type":"send_message","receiver_id":"` + hDave + `","send_id":7,"message_body":"x"}`},
		{"client_msg_id array", `{"type":"send_message","receiver_id":"` + hDave + `","client_msg_id":["x"],"message_body":"x"}`},
		{"user_id object", `{"type":"friends","user_id":{"a":1}}`},
		{"user_id number", `{"type":"chatting","user_id":1}`},
		{"user_id null", `{"type":"get_unread_messages","user_id":null}`},
		{"user_id twice, object first", `{"type":"friends","user_id":{"a":1},"user_id":"` + hEve + `"}`},
		{"search_id object", `{"type":"search_user","search_id":{"a":1}}`},
		{"friend_id object", `{"type":"add_friend","friend_id":{"a":1}}`},
		{"friend_id number", `{"type":"accept_friend","friend_id":1}`},
		{"friend_id array", `{"type":"delete_friend","friend_id":["x"]}`},
		{"resume token object", `{"type":"resume","token":{"a":1}}`},
		{"sync after_id number", `{"type":"sync","after_id":1}`},
		{"sync limit string", `{"type":"sync","after_id":"0","limit":"10"}`},
		{"sync limit huge", `{"type":"sync","after_id":"0","limit":1e30}`},
		{"ack message_id object", `{"type":"ack","message_id":{"a":1}}`},
		{"deeply nested, 10001", `{"type":"friends","x":` + nested(10001) + `}`},
		{"garbage, framed", string(garbage)},
	} {
		cases = append(cases, hFrame(nb[0], nb[1], hError, bad))
	}
	for _, n := range []struct {
		name, value string
		want        hWant
		codes       []string
	}{
		{"0", `0`, hAny, nil}, {"string", `"3"`, hAny, nil}, {"null", `null`, hAny, nil},
		{"float", `1.5`, hError, []string{bad}}, {"negative", `-1`, hError, []string{wire.CodeInvalid}},
		{"above int32", `2147483648`, hError, []string{wire.CodeInvalid}}, {"huge", `1e30`, hError, []string{bad}},
		{"huge string", `"99999999999999999999"`, hError, []string{bad}}, {"letters", `"x"`, hError, []string{bad}},
		{"object", `{}`, hError, []string{bad}},
	} {
		body := `{"type":"update_chat","comm_id":"` + hDave + `","chat_status":"chatting","unread_count":` + n.value + `}`
		cases = append(cases, hFrame("unread_count "+n.name, body, n.want, n.codes...))
	}
	for k := 1; k <= 4; k++ {
		cases = append(cases, hCase{name: fmt.Sprintf("ping, last %d bytes late", k), pieces: [][]byte{ping[:len(ping)-k], ping[len(ping)-k:]}, want: hPong})
	}
	var flood []byte
	floodBodies := []string{"", "null", "[1]", "{", `{"type":{"a":1}}`, "\xff", `{"type":"friends","user_id":{"a":1}}`,
		toDave(`{"a":1}`), `{"type":"update_chat","comm_id":"` + hDave + `","unread_count":1.5}`, `{"type":"receive_message"}`}
	for i := range 1000 {
		flood = wire.AppendFrame(flood, []byte(floodBodies[i%len(floodBodies)]))
	}
	return append(cases,
		hCase{name: "1000 pipelined bad frames", pieces: [][]byte{flood}, want: hFlood, frames: 1000},
		hCase{name: "frame just over max_frame", pieces: [][]byte{append(header(uint32(maxFrame)+1), make([]byte, 64<<10)...)}, want: hClose},
		hCase{name: "length near 2^32", pieces: [][]byte{append(header(0xfffffff0), "{}"...)}, want: hClose},
		hCase{name: "length 2^32-1, after a valid frame", pieces: [][]byte{append(slices.Clone(ping), header(0xffffffff)...)}, want: hClose},
		hCase{name: "garbage: an HTTP request", pieces: [][]byte{[]byte("GET / HTTP/1.1\r\nHost: parley\r\n\r\n")}, want: hClose},
		hCase{name: "garbage: a TLS client hello", pieces: [][]byte{{0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03}}, want: hClose},
	)
}
