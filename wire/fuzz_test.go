package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

// FuzzSplit feeds arbitrary bytes, cut into arbitrary chunks, through an
// accumulator that uses Split the way a server does. Whatever the chunking,
// the frames recovered must be exactly those of an unchunked pass, and the
// decoder must never panic, over-read or loop.
func FuzzSplit(f *testing.F) {
	f.Add(AppendFrame(nil, []byte(`{"type":"ping"}`)), uint8(3))
	f.Add(AppendFrame(AppendFrame(nil, nil), []byte(`{}`)), uint8(1))                 // zero-length frame first
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 'x'}, uint8(2))                              // length near 2^32
	f.Add(AppendFrame(nil, []byte("{\n    \"type\": \"login\"\n}\n"))[:10], uint8(4)) // last bytes late
	f.Add([]byte("[1,2,3]"), uint8(5))
	const max = 1 << 16
	f.Fuzz(func(t *testing.T, stream []byte, chunk uint8) {
		whole, wholeErr := splitAll(stream, max)
		size := int(chunk%16) + 1
		var acc []byte
		var got [][]byte
		var gotErr error
		for off := 0; off < len(stream) && gotErr == nil; off += size {
			end := min(off+size, len(stream))
			acc = append(acc, stream[off:end]...)
			for {
				body, n, err := Split(acc, max)
				if err != nil {
					gotErr = err
					break
				}
				if n == 0 {
					break
				}
				if n < HeaderSize || n > len(acc) || len(body) != n-HeaderSize {
					t.Fatalf("Split consumed %d of %d with body %d", n, len(acc), len(body))
				}
				got = append(got, append([]byte(nil), body...))
				acc = acc[n:]
			}
		}
		if (gotErr != nil) != (wholeErr != nil) {
			t.Fatalf("chunked err %v, whole err %v", gotErr, wholeErr)
		}
		if len(got) != len(whole) {
			t.Fatalf("chunked gave %d frames, whole gave %d", len(got), len(whole))
		}
		for i := range got {
			if !bytes.Equal(got[i], whole[i]) {
				t.Fatalf("frame %d differs", i)
			}
		}
	})
}

func splitAll(buf []byte, max uint32) ([][]byte, error) {
	var out [][]byte
	for {
		body, n, err := Split(buf, max)
		if err != nil {
			if !errors.Is(err, ErrFrameTooLarge) {
				panic(err)
			}
			return out, err
		}
		if n == 0 {
			return out, nil
		}
		out = append(out, body)
		buf = buf[n:]
	}
}

// FuzzDecodeEnvelope checks that no input panics the envelope decoder and that
// whatever it accepts really is a UTF-8 JSON object with a type.
func FuzzDecodeEnvelope(f *testing.F) {
	for _, s := range []string{
		"{\n    \"type\": \"login\",\n    \"user_id\": \"1\",\n    \"user_password\": \"666\"\n}\n",
		`{"type":"ping","seq":7}`,
		`[{"type":"ping"}]`, `"ping"`, `42`, `null`, ``, `{`, `{"type":{}}`, `{"type":"x","seq":"1"}`,
		`{"type":"send_message","message_body":"` + "\xff\xfe" + `"}`,
		`{"type":"x","user_id":{"a":1}}`, `{"seq":18446744073709551615,"type":"t"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		env, err := DecodeEnvelope(body)
		if err != nil {
			return
		}
		if env.Type == "" || !isObject(body) {
			t.Fatalf("accepted %q as %+v", body, env)
		}
		_ = WithSeq(body, env.Seq)
	})
}

func TestFuzzSeedsDecodeLikeTheOldServerNeverDid(t *testing.T) {
	// The inputs that killed or deafened the seed server (seed-protocol.md
	// §1.6) are all refused cleanly here.
	for _, s := range []string{`[1]`, `"x"`, `{"type":{}}`, "{\"type\":\"\xff\"}", ``, `{`} {
		if _, err := DecodeEnvelope([]byte(s)); err == nil {
			t.Errorf("DecodeEnvelope(%q) accepted", s)
		}
	}
	long := binary.BigEndian.AppendUint32(nil, 0xfffffff0)
	if _, _, err := Split(long, DefaultMaxFrame); !errors.Is(err, ErrFrameTooLarge) {
		t.Errorf("length near 2^32: %v", err)
	}
}
