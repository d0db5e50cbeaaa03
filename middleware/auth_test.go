package middleware

import (
	"context"
	"testing"

	"github.com/parley-im/parley/pipeline"
	"github.com/parley-im/parley/wire"
)

func TestAuth(t *testing.T) {
	// seedSend is a send_message exactly as the Qt client writes it: keys
	// sorted, indented, trailing newline.
	const seedSend = "{\n    \"chat_type\": \"friend\",\n    \"file_path\": \" \",\n    \"message_body\": \"hi \\\"user_id\\\": \\\"2\\\"\",\n" +
		"    \"message_timestamp\": \"2025-07-14 11:04:00\",\n    \"message_type\": \"text\",\n" +
		"    \"receiver_id\": \"2\",\n    \"send_id\": \"1\",\n    \"type\": \"send_message\"\n}\n"
	for _, tc := range []struct {
		name string
		with string // options, YAML; "" for the defaults
		user string // logged-in user, "" for none
		typ  string
		body string // "" for {"type": typ}
		want string // code, "" for served
	}{
		// Before login: only the public types.
		{name: "login before login", typ: "login", body: `{"type":"login","user_id":"1","user_password":"x"}`},
		{name: "register before login", typ: "register"},
		{name: "ping before login", typ: "ping"},
		{name: "resume before login", typ: "resume"},
		{name: "friends before login", typ: "friends", body: `{"type":"friends","user_id":"1"}`, want: wire.CodeUnauthenticated},
		{name: "unknown type before login", typ: "nope", want: wire.CodeUnauthenticated},
		{name: "empty public list", with: "{public: []}", typ: "ping", want: wire.CodeUnauthenticated},
		{name: "custom public list", with: "{public: [search_user]}", typ: "search_user"},

		// After login: identity fields must name the session's user.
		{name: "own user_id", user: "1", typ: "friends", body: `{"type":"friends","user_id":"1"}`},
		{name: "other user_id", user: "1", typ: "friends", body: `{"type":"friends","user_id":"2"}`, want: wire.CodeForbidden},
		{name: "seed client send_message", user: "1", typ: "send_message", body: seedSend},
		{name: "other send_id", user: "2", typ: "send_message", body: seedSend, want: wire.CodeForbidden},
		{name: "no identity field", user: "1", typ: "search_user", body: `{"type":"search_user","search_id":"2"}`},
		{name: "nested user_id is not top-level", user: "1", typ: "friends", body: `{"x":{"user_id":"2"},"y":["user_id","2"],"user_id":"1","type":"friends"}`},
		{name: "empty object", user: "1", typ: "friends", body: `{}`},
		{name: "number", user: "1", typ: "friends", body: `{"type":"friends","user_id":1}`, want: wire.CodeBadRequest},
		{name: "null", user: "1", typ: "friends", body: `{"type":"friends","user_id":null}`, want: wire.CodeBadRequest},
		{name: "object", user: "1", typ: "friends", body: `{"type":"friends","send_id":{"a":"1"}}`, want: wire.CodeBadRequest},
		{name: "empty string", user: "1", typ: "friends", body: `{"type":"friends","user_id":""}`, want: wire.CodeForbidden},
		{name: "public type skips the check", user: "1", typ: "login", body: `{"type":"login","user_id":"2","user_password":"x"}`},
		{name: "check turned off", with: "{identity_fields: []}", user: "1", typ: "friends", body: `{"type":"friends","user_id":"2"}`},
		{name: "custom identity field", with: "{identity_fields: [owner]}", user: "1", typ: "friends", body: `{"type":"friends","user_id":"2","owner":"1"}`},

		// What encoding/json would read as user_id must be checked as user_id.
		{name: "upper case key", user: "1", typ: "friends", body: `{"type":"friends","USER_ID":"2"}`, want: wire.CodeForbidden},
		{name: "escaped key", user: "1", typ: "friends", body: `{"type":"friends","user\u005fid":"2"}`, want: wire.CodeForbidden},
		{name: "long s folds to s", user: "1", typ: "send_message", body: `{"type":"send_message","ſend_id":"2"}`, want: wire.CodeForbidden},
		{name: "duplicate key, bad last", user: "1", typ: "friends", body: `{"user_id":"1","type":"friends","user_id":"2"}`, want: wire.CodeForbidden},
		{name: "duplicate key, bad first", user: "1", typ: "friends", body: `{"user_id":"2","type":"friends","user_id":"1"}`, want: wire.CodeForbidden},
		{name: "escaped value equal", user: "1", typ: "friends", body: `{"type":"friends","user_id":"\u0031"}`},
		{name: "escaped value different", user: "1", typ: "friends", body: `{"type":"friends","user_id":"\u0032"}`, want: wire.CodeForbidden},
		{name: "escaped quote in another key", user: "1", typ: "friends", body: `{"a\"user_id":"2","user_id":"1"}`},
		{name: "not an object", user: "1", typ: "friends", body: `["user_id","1"]`, want: wire.CodeBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := testDeps(nil)
			final := &counter{}
			h := one(t, "auth", tc.with, d, final.handle)
			s, conn := newSession(d.Sessions, "10.0.0.1:4000")
			if tc.user != "" {
				d.Sessions.Bind(s, tc.user)
			}
			var b []byte
			if tc.body != "" {
				b = []byte(tc.body)
			}

			_, err := h(context.Background(), request(s, tc.typ, b))

			if got := codeOf(err); got != tc.want {
				t.Fatalf("code %q (%v), want %q", got, err, tc.want)
			}
			if served := final.calls.Load() == 1; served != (tc.want == "") {
				t.Fatalf("handler called: %v, want %v", served, tc.want == "")
			}
			if isDisconnect(err) || conn.isClosed() {
				t.Fatal("auth must never close the connection")
			}
		})
	}
}

func TestAuthOptionErrors(t *testing.T) {
	for with, want := range map[string]string{
		`{identity_fields: [""]}`:        "plain ASCII",
		`{identity_fields: ["ſend_id"]}`: "plain ASCII",
		`{publik: [ping]}`:               `line 2: unknown option "publik"`,
	} {
		if got := buildErr(t, "auth", with, testDeps(nil)); !contains(got, want) {
			t.Errorf("%s: got %q, want %q", with, got, want)
		}
	}
}

// TestAuthRefusalsAreShared pins the no-allocation refusal: every
// unauthenticated request gets the same prebuilt error.
func TestAuthRefusalsAreShared(t *testing.T) {
	d := testDeps(nil)
	h := one(t, "auth", "", d, (&counter{}).handle)
	s, _ := newSession(d.Sessions, "10.0.0.1:4000")
	_, e1 := h(context.Background(), request(s, "friends", nil))
	_, e2 := h(context.Background(), request(s, "chatting", nil))
	if e1 != e2 || e1 != error(pipeline.ErrUnauthenticated) {
		t.Fatalf("refusals %p and %p are not the shared error", e1, e2)
	}
}
