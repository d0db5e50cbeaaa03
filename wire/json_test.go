package wire

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// TestMarshalDoesNotEscapeHTML is issue 11's amplification: a 64 KiB body
// of '<' came out of json.Marshal as 384 KiB. Out of Marshal it must stay
// its own size plus the envelope.
func TestMarshalDoesNotEscapeHTML(t *testing.T) {
	body := strings.Repeat("<", 64<<10)
	m := Message{MessageBody: body + "&>", Type: TypeReceiveMessage, Status: StatusSuccess}
	b, err := Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > len(body)+512 {
		t.Fatalf("a %d-byte body encoded to %d bytes", len(body), len(b))
	}
	if !bytes.Contains(b, []byte(`<<&>"`)) {
		t.Fatalf("HTML characters were escaped: %.80q", b[len(b)-200:])
	}
	var back Message
	if err := json.Unmarshal(b, &back); err != nil || back != m {
		t.Fatalf("round trip: %v", err)
	}
	if e := EncodeError("x<y", CodeInvalid, "<&>", 1); !bytes.Contains(e, []byte(`"x<y"`)) || !bytes.Contains(e, []byte(`"<&>"`)) {
		t.Fatalf("error reply escaped: %s", e)
	}
}

// TestMarshalMatchesStdlib: apart from HTML escaping, Marshal is
// json.Marshal (no trailing newline, same bytes), for values of every shape
// the server sends.
func TestMarshalMatchesStdlib(t *testing.T) {
	for _, v := range []any{
		Message{MessageBody: "héllo \"q\" \\ \n\t\x01 \u2028", MessageID: "7"},
		[]ChatItem{{CommID: "1", LastMessage: "hi"}},
		Null(TypeChatting, NullChatting),
		map[string]any{"a": 1, "b": []int{1, 2}},
		nil,
	} {
		got, err := Marshal(v)
		want, err2 := json.Marshal(v)
		if err != nil || err2 != nil || !bytes.Equal(got, want) {
			t.Errorf("Marshal(%v) = %s, %v; json.Marshal = %s, %v", v, got, err, want, err2)
		}
	}
	if _, err := Marshal(func() {}); err == nil {
		t.Error("Marshal of a func did not fail")
	}
}

func benchMessage() Message {
	return Message{
		ChatType: ChatTypeFriend, FilePath: NoFile, MessageBody: "I am 1000 what is 1001 doing? <b>bold</b> & more",
		MessageID: "123456", MessageTimestamp: "2025-07-14 11:04:00", MessageType: MessageTypeText,
		ReceiverID: "13700000002", SendID: "13700000001", Status: StatusSuccess, Type: TypeReceiveMessage,
	}
}

// BenchmarkMarshalMessage compares the server's encoder with json.Marshal
// on a receive_message push, the hottest encode.
func BenchmarkMarshalMessage(b *testing.B) {
	m := benchMessage()
	b.Run("wire", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Marshal(m); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("stdlib", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(m); err != nil {
				b.Fatal(err)
			}
		}
	})
}
