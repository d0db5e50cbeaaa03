package wire

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestDecodeEnvelope(t *testing.T) {
	tests := []struct {
		body    string
		want    Envelope
		wantErr error
	}{
		// The seed client: sorted keys, 4-space indent, trailing newline.
		{"{\n    \"type\": \"login\",\n    \"user_id\": \"1\",\n    \"user_password\": \"666\"\n}\n", Envelope{Type: "login"}, nil},
		{"{\n    \"chat_type\": \"friend\",\n    \"type\": \"send_message\"\n}\n", Envelope{Type: "send_message"}, nil},
		{`  {"seq": 9, "type": "ping"}`, Envelope{Type: "ping", Seq: 9}, nil},
		{``, Envelope{}, ErrEmptyBody},
		{`[{"type":"ping"}]`, Envelope{}, ErrNotObject},
		{`"ping"`, Envelope{}, ErrNotObject},
		{"{\"type\":\"p\xffng\"}", Envelope{}, ErrInvalidUTF8},
		{`{"user_id":"1"}`, Envelope{}, ErrMissingType},
	}
	for _, tt := range tests {
		got, err := DecodeEnvelope([]byte(tt.body))
		if tt.wantErr != nil {
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("%q: err %v, want %v", tt.body, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%q: got %+v, %v; want %+v", tt.body, got, err, tt.want)
		}
	}
	for _, bad := range []string{`{"type":{}}`, `{"type":1}`, `{"type":"x","seq":"1"}`, `{"type":"x",}`} {
		if _, err := DecodeEnvelope([]byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestWithSeq(t *testing.T) {
	tests := []struct {
		body string
		seq  uint64
		want string
	}{
		{`{"type":"pong","status":"success"}`, 7, `{"seq":7,"type":"pong","status":"success"}`},
		{`{}`, 3, `{"seq":3}`},
		{`{"type":"pong"}`, 0, `{"type":"pong"}`},
		{`[{"type":"friends"}]`, 5, `[{"type":"friends"}]`},
	}
	for _, tt := range tests {
		got := string(WithSeq([]byte(tt.body), tt.seq))
		if got != tt.want {
			t.Errorf("WithSeq(%s, %d) = %s, want %s", tt.body, tt.seq, got, tt.want)
		}
		if !json.Valid([]byte(got)) {
			t.Errorf("WithSeq produced invalid JSON %s", got)
		}
	}
}

func TestEncodeError(t *testing.T) {
	var got ErrorReply
	if err := json.Unmarshal(EncodeError("login", CodeBadCredentials, "wrong \"password\"", 4), &got); err != nil {
		t.Fatal(err)
	}
	want := ErrorReply{Type: "login", Status: StatusError, Code: CodeBadCredentials, Message: `wrong "password"`, Seq: 4}
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}
