package main

import (
	"testing"
	"time"
)

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
