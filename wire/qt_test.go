package wire

import "testing"

// The Qt client's exact bytes for a login (seed-protocol.md §1.3, the
// worked example in docs/PROTOCOL.md).
func TestQtJSON(t *testing.T) {
	got, err := QtJSON(map[string]any{"user_password": "666", "type": "login", "user_id": "1"})
	want := "{\n    \"type\": \"login\",\n    \"user_id\": \"1\",\n    \"user_password\": \"666\"\n}\n"
	if err != nil || string(got) != want {
		t.Fatalf("QtJSON = %q, %v; want %q", got, err, want)
	}
	got, _ = QtJSON(map[string]any{"message_body": "<你好> & \"q\""})
	if want := "{\n    \"message_body\": \"<你好> & \\\"q\\\"\"\n}\n"; string(got) != want {
		t.Fatalf("QtJSON = %q, want %q (non-ASCII and <>& raw)", got, want)
	}
}
