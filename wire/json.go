package wire

import (
	"bytes"
	"encoding/json"
	"io"
	"sync"
)

// Marshal encodes v as JSON the way every reply, push and error leaves the
// server: like json.Marshal, but without HTML escaping. json.Marshal writes
// '<', '>' and '&' as six-byte \u003c escapes, so a 64 KiB message of '<'
// became a 384 KiB push, and a dozen of them in one chat list or sync page
// passed transport.max_pending: other users could get a victim's connection
// closed at every login (issue 11). Nothing the server sends is embedded in
// HTML, so the escaping protected nothing. JSON still escapes control
// characters and U+2028/U+2029 (up to six bytes per input byte or three per
// character): every byte budget is therefore measured on encoded output,
// never on input length.
//
// Every JSON body the server writes goes through here (or through an
// Encoder from NewEncoder), so the rule lives in one place.
func Marshal(v any) ([]byte, error) {
	e := encoders.Get().(*pooledEncoder)
	e.buf.Reset()
	err := e.enc.Encode(v)
	var out []byte
	if err == nil {
		b := e.buf.Bytes()
		// Encode ends every value with '\n', which Marshal never writes.
		out = bytes.Clone(b[:len(b)-1])
	}
	if e.buf.Cap() <= maxPooledBuffer {
		encoders.Put(e)
	}
	return out, err
}

// NewEncoder returns a json.Encoder on w with the server's settings (no HTML
// escaping), for code that streams JSON instead of building a []byte.
func NewEncoder(w io.Writer) *json.Encoder {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc
}

// maxPooledBuffer keeps one huge reply from pinning its buffer in the pool.
const maxPooledBuffer = 64 << 10

type pooledEncoder struct {
	buf bytes.Buffer
	enc *json.Encoder
}

var encoders = sync.Pool{New: func() any {
	e := new(pooledEncoder)
	e.enc = NewEncoder(&e.buf)
	return e
}}
