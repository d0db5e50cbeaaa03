package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/parley-im/parley/app/apptest"
)

func TestTryItAgainstARealServer(t *testing.T) {
	srv := apptest.Start(t)
	var out bytes.Buffer
	if err := run(srv.Addr(), &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	text := out.String()
	for _, want := range []string{
		`"type":"register","user_id"`,
		`"status":"success","type":"login"`,
		`"type":"add_friend"`,
		`"type":"accept_friend"`,
		`"message_body":"hello, bob"`,
		`"type":"receive_message"`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %s:\n%s", want, text)
		}
	}
	if strings.Contains(text, `"status":"error"`) {
		t.Errorf("an error reply in the transcript:\n%s", text)
	}
}
