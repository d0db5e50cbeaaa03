package wire

import (
	"encoding/json"
	"testing"
	"unicode/utf8"
)

// envelopeCases are bodies whose envelope the scanner must read exactly as
// encoding/json does (or leave to it).
var envelopeCases = []string{
	`{"type":"ping"}`,
	"{\n    \"type\": \"ping\"\n}\n",
	`{"seq":7,"type":"send_message","body":{"a":[1,2,{"type":"x"}],"b":"}\"{"}}`,
	`{"type":"a","type":"b"}`,
	`{"type":"a","type":null}`,
	`{"type":null}`,
	`{"Type":"ping"}`,
	`{"TYPE":"ping","type":"x"}`,
	`{"type":"ping","SEQ":3}`,
	`{"seq":null,"type":"t"}`,
	`{"seq":0,"type":"t"}`,
	`{"seq":18446744073709551615,"type":"t"}`,
	`{"seq":18446744073709551616,"type":"t"}`,
	`{"seq":1234567890123456789,"type":"t"}`,
	`{"seq":-1,"type":"t"}`,
	`{"seq":1.5,"type":"t"}`,
	`{"seq":1e3,"type":"t"}`,
	`{"seq":"1","type":"t"}`,
	`{"type":1}`,
	`{"type":true}`,
	`{"type":["ping"]}`,
	`{"type":"p\u0069ng"}`,
	`{"typ\u0065":"ping"}`,
	`{"ty` + "\u017f" + `e":"x","ſeq":5}`,
	`{"ſeq":5,"type":"x"}`,
	`{"type":"日本"}`,
	"{\"type\":\"\xc7\"}",
	`{"x":"\\","type":"y"}`,
	`{"x":"\"","type":"y"}`,
	`{"a":true,"b":false,"c":null,"d":-1.5e+3,"type":"z"}`,
	`{"a":{},"b":[],"type":"z"}`,
	`{}`,
	` { } `,
	`{"type":"unknown_but_fine"}`,
}

func decodeOld(body []byte) (Envelope, error) {
	var env Envelope
	err := json.Unmarshal(body, &env)
	return env, err
}

// checkScan fails if the scanner claims body and reads it differently from
// encoding/json, or claims a body encoding/json refuses.
func checkScan(t *testing.T, body []byte) {
	t.Helper()
	if !json.Valid(body) {
		return // DecodeEnvelope never scans invalid JSON
	}
	got, ok := scanEnvelope(body)
	if !ok {
		return
	}
	want, err := decodeOld(body)
	if err != nil {
		t.Fatalf("%q: scanner accepted (%+v), encoding/json: %v", body, got, err)
	}
	if got != want {
		t.Fatalf("%q: scanner %+v, encoding/json %+v", body, got, want)
	}
}

func TestScanEnvelopeMatchesJSON(t *testing.T) {
	for _, c := range envelopeCases {
		checkScan(t, []byte(c))
	}
	// The common shapes must take the fast path.
	for _, c := range []string{envelopeCases[0], envelopeCases[1], envelopeCases[2]} {
		if _, ok := scanEnvelope([]byte(c)); !ok {
			t.Errorf("%q left to encoding/json", c)
		}
	}
}

// DecodeEnvelope gives the same result with or without the scanner.
func TestDecodeEnvelopeSameAsJSON(t *testing.T) {
	for _, c := range envelopeCases {
		if !utf8.ValidString(c) {
			continue // refused before either path (ErrInvalidUTF8)
		}
		got, err := DecodeEnvelope([]byte(c))
		want, werr := decodeOld([]byte(c))
		if werr == nil && want.Type == "" {
			werr = ErrMissingType
		}
		if (err == nil) != (werr == nil) || (err == nil && got != want) {
			t.Errorf("%q: got %+v, %v; encoding/json %+v, %v", c, got, err, want, werr)
		}
	}
}

func FuzzScanEnvelope(f *testing.F) {
	for _, c := range envelopeCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, body []byte) { checkScan(t, body) })
}

func BenchmarkDecodeEnvelope(b *testing.B) {
	for _, bc := range []struct{ name, body string }{
		{"ping_qt", "{\n    \"type\": \"ping\"\n}\n"},
		{"send_message_qt", "{\n    \"chat_type\": \"friend\",\n    \"file_path\": \" \",\n    \"message_body\": \"bench t=1700000000000000000\",\n    \"message_timestamp\": \"2024-01-01 00:00:00\",\n    \"message_type\": \"text\",\n    \"receiver_id\": \"13000000001\",\n    \"send_id\": \"13000000000\",\n    \"type\": \"send_message\"\n}\n"},
	} {
		body := []byte(bc.body)
		b.Run(bc.name+"/scanner", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := DecodeEnvelope(body); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(bc.name+"/encoding_json", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := decodeOld(body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
