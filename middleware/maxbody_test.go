package middleware

import (
	"context"
	"strings"
	"testing"

	"github.com/parley-im/parley/wire"
)

func TestMaxBody(t *testing.T) {
	sized := func(n int) []byte {
		return []byte(`{"type":"x","pad":"` + strings.Repeat("a", n-len(`{"type":"x","pad":""}`)) + `"}`)
	}
	for _, tc := range []struct {
		name string
		with string
		typ  string
		size int
		want string
	}{
		{name: "under the default", typ: "friends", size: 1000},
		{name: "at the default", typ: "friends", size: 65536},
		{name: "over the default", typ: "friends", size: 65537, want: wire.CodeTooLarge},
		{name: "custom default", with: "{default: 100}", typ: "friends", size: 101, want: wire.CodeTooLarge},
		{name: "per-type limit, under", with: "{limits: {send_message: 200000}}", typ: "send_message", size: 100000},
		{name: "per-type limit, over", with: "{limits: {login: 100}}", typ: "login", size: 101, want: wire.CodeTooLarge},
		{name: "other types keep the default", with: "{limits: {login: 100}}", typ: "friends", size: 101},
		{name: "unknown types get the default", with: "{default: 100}", typ: "no_such_type", size: 101, want: wire.CodeTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := testDeps(nil)
			final := &counter{}
			h := one(t, "maxbody", tc.with, d, final.handle)
			s, conn := newSession(d.Sessions, "10.0.0.1:1")

			_, err := h(context.Background(), request(s, tc.typ, sized(tc.size)))

			if got := codeOf(err); got != tc.want {
				t.Fatalf("code %q (%v), want %q", got, err, tc.want)
			}
			if served := final.calls.Load() == 1; served != (tc.want == "") {
				t.Fatalf("served %v, want %v", served, tc.want == "")
			}
			if isDisconnect(err) || conn.isClosed() {
				t.Fatal("maxbody must leave the connection open")
			}
		})
	}
}

func TestMaxBodyOptionErrors(t *testing.T) {
	for with, want := range map[string]string{
		"{default: -1}":               "default: -1",
		"{limits: {login: 0}}":        "limits: login: 0",
		"{limits: {logn: 100}}":       `limits: no message type "logn"`,
		"{limit: {login: 100}}":       `line 2: unknown option "limit"`,
		"{limits: {login: lots}}":     `line 2: limits.login: want a whole number, got "lots"`,
		"{limits: {send_message: 1}}": "",
	} {
		if got := buildErr(t, "maxbody", with, testDeps(nil)); !contains(got, want) || (want == "") != (got == "") {
			t.Errorf("%s: got %q, want %q", with, got, want)
		}
	}
}
