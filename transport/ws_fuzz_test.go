package transport

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/parley-im/parley/session"
)

// wsParse runs the WebSocket frame parser (feedWS) over data delivered in
// the given chunk sizes (the rest in one piece) and returns the messages it
// produced and the close code it ended with (0: none). The connection is
// marked closing so that control frames send nothing: this exercises the
// parser alone.
func wsParse(data []byte, chunks []int, maxFrame uint32) (msgs [][]byte, code uint16) {
	c := &conn{srv: &Server{cfg: settings{maxFrame: maxFrame}, now: time.Now}, ws: &wsConn{}}
	c.sess = session.New(1, "fuzz", c)
	c.closing.Store(true)
	feed := func(b []byte) bool {
		for len(b) > 0 {
			n, msg, err := c.feedWS(b)
			if err != nil {
				var e *wsError
				if !errors.As(err, &e) {
					panic(err)
				}
				code = e.code
				return false
			}
			if c.ws.closeCode.Load() != 0 {
				return false // the peer's close frame: the connection reads no further
			}
			if msg != nil {
				msgs = append(msgs, msg)
			}
			b = b[n:]
		}
		return true
	}
	for _, k := range chunks {
		k = min(k, len(data))
		if !feed(data[:k]) {
			return msgs, code
		}
		data = data[k:]
	}
	feed(data)
	return msgs, code
}

// FuzzWSParser: however the bytes are split across reads, the parser yields
// the same messages and the same close code, and every message is valid
// UTF-8 within max_frame.
func FuzzWSParser(f *testing.F) {
	closeFrame := frame(fin|opClose, true, binary.BigEndian.AppendUint16(nil, 1000))
	for _, seed := range [][]byte{
		text("hello"),
		append(text("a"), text("b")...),
		append(append(frame(opText, true, []byte("你")), frame(fin|opPing, true, []byte("p"))...), frame(fin|opContinuation, true, []byte("好"))...),
		frame(fin|opText, true, bytes.Repeat([]byte("x"), 300)),
		frame(fin|opText, false, []byte("unmasked")),
		frame(fin|opBinary, true, []byte{1, 2}),
		text("\xff"),
		append(closeFrame, text("after close")...),
		{0x81, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0},
	} {
		f.Add(seed, uint8(1), uint8(3))
	}
	f.Fuzz(func(t *testing.T, data []byte, a, b uint8) {
		const maxFrame = 256
		wantMsgs, wantCode := wsParse(data, nil, maxFrame)
		gotMsgs, gotCode := wsParse(data, []int{int(a), int(b), 1, int(a)}, maxFrame)
		if gotCode != wantCode || len(gotMsgs) != len(wantMsgs) {
			t.Fatalf("split %d,%d: %d messages, code %d; whole: %d messages, code %d", a, b, len(gotMsgs), gotCode, len(wantMsgs), wantCode)
		}
		for i := range gotMsgs {
			if !bytes.Equal(gotMsgs[i], wantMsgs[i]) {
				t.Fatalf("message %d differs: %q vs %q", i, gotMsgs[i], wantMsgs[i])
			}
			if len(gotMsgs[i]) > maxFrame || !utf8.Valid(gotMsgs[i]) {
				t.Fatalf("message %d: %d bytes, valid UTF-8 %v", i, len(gotMsgs[i]), utf8.Valid(gotMsgs[i]))
			}
		}
	})
}
