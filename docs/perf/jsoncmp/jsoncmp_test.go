package jsoncmp

import (
	"encoding/json"
	"strings"
	"testing"

	gojson "github.com/goccy/go-json"
	jsoniter "github.com/json-iterator/go"

	"github.com/parley-im/parley/wire"
)

// qtSendMessage is a send_message body exactly as the Qt client writes it
// (sorted keys, 4-space indent, trailing newline) with a 200-byte message.
var qtSendMessage = []byte("{\n" +
	"    \"chat_type\": \"friend\",\n" +
	"    \"file_path\": \" \",\n" +
	"    \"message_body\": \"" + strings.Repeat("héllo wörld ", 16) + "\",\n" +
	"    \"message_timestamp\": \"2025-07-14 11:00:00\",\n" +
	"    \"message_type\": \"text\",\n" +
	"    \"receiver_id\": \"13800009399\",\n" +
	"    \"send_id\": \"13900004671\",\n" +
	"    \"type\": \"send_message\"\n" +
	"}\n")

var push = wire.Message{
	ChatType: "friend", FilePath: " ", MessageBody: strings.Repeat("héllo wörld ", 16), MessageID: "123456",
	MessageTimestamp: "2025-07-14 11:00:00", MessageType: "text", ReceiverID: "13800009399",
	SendID: "13900004671", Status: "success", Type: "receive_message",
}

var iter = jsoniter.ConfigCompatibleWithStandardLibrary

var codecs = []struct {
	name      string
	unmarshal func([]byte, any) error
	marshal   func(any) ([]byte, error)
}{
	{"encoding-json", json.Unmarshal, json.Marshal},
	{"goccy-go-json", gojson.Unmarshal, gojson.Marshal},
	{"json-iterator", iter.Unmarshal, iter.Marshal},
}

// The three agree on these inputs (a benchmark of a codec that decodes
// something else would be meaningless).
func TestCodecsAgree(t *testing.T) {
	var want wire.SendMessageRequest
	if err := json.Unmarshal(qtSendMessage, &want); err != nil {
		t.Fatal(err)
	}
	wantPush, _ := json.Marshal(push)
	for _, c := range codecs {
		var got wire.SendMessageRequest
		if err := c.unmarshal(qtSendMessage, &got); err != nil || got != want {
			t.Fatalf("%s decoded %+v, %v", c.name, got, err)
		}
		b, err := c.marshal(push)
		if err != nil || string(b) != string(wantPush) {
			t.Fatalf("%s encoded %s, %v", c.name, b, err)
		}
	}
}

func BenchmarkDecodeSendMessage(b *testing.B) {
	for _, c := range codecs {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(qtSendMessage)))
			for b.Loop() {
				var in wire.SendMessageRequest
				if err := c.unmarshal(qtSendMessage, &in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkEncodePush(b *testing.B) {
	for _, c := range codecs {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.marshal(push); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
