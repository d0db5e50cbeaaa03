package main

import (
	"bytes"
	"testing"
	"time"

	"github.com/parley-im/parley/wire"
)

// The direct path of qtBody writes what wire.QtJSON writes, and anything
// it cannot write directly falls back to it.
func TestQtBodyMatchesQtJSON(t *testing.T) {
	for _, m := range []map[string]string{
		{},
		{"type": "ping"},
		{"type": "send_message", "message_body": "bench t=1764249000123456789", "file_path": " ", "send_id": "u00001"},
		{"b": "quote \" inside", "a": "plain"},
		{"x": "back\\slash", "y": "tab\there"},
		{"k": "caf\u00e9", "e": "<html>&"},
		{"bad": "\xff\xfe", "ls": "a\u2028b"},
		{"": ""},
	} {
		want, err := wire.QtJSON(m)
		if err != nil {
			t.Fatal(err)
		}
		if got := qtBody(m); !bytes.Equal(got, want) {
			t.Errorf("qtBody(%q) =\n%s\nwant\n%s", m, got, want)
		}
	}
}

// The login body is byte for byte the Qt client's (seed-protocol.md §1.2:
// 72 bytes, sorted keys, 4-space indent, trailing newline).
func TestQtBodyMatchesSeedExample(t *testing.T) {
	want := "{\n    \"type\": \"login\",\n    \"user_id\": \"1\",\n    \"user_password\": \"666\"\n}\n"
	if got := string(loginBody("1", "666")); got != want || len(got) != 72 {
		t.Fatalf("login body %q (%d bytes), want %q", got, len(got), want)
	}
	b := string(sendBody("1", "2", "hello", ""))
	if b[len(b)-2:] != "}\n" || len(b) != 229 {
		t.Fatalf("send_message body is %d bytes, the seed example is 229:\n%s", len(b), b)
	}
}

func TestFieldAndStamp(t *testing.T) {
	for _, body := range []string{
		`{"message_body":"bench t=123","status":"success","type":"receive_message"}`,
		"{\n    \"message_body\": \"bench t=123\",\n    \"type\": \"receive_message\"\n}\n",
	} {
		if got := string(field([]byte(body), "type")); got != "receive_message" {
			t.Fatalf("type = %q in %s", got, body)
		}
		if ts, ok := unstamp(field([]byte(body), "message_body")); !ok || ts.UnixNano() != 123 {
			t.Fatalf("unstamp = %v, %v", ts, ok)
		}
	}
	if ts, ok := unstamp([]byte(stamp(time.Unix(0, 42)))); !ok || ts.UnixNano() != 42 {
		t.Fatalf("stamp round trip = %v, %v", ts, ok)
	}
}
