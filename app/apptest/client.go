package apptest

import (
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/parley-im/parley/wire"
)

// ReadTimeout bounds every Read; a frame that does not come in time fails the
// test instead of hanging it.
const ReadTimeout = 10 * time.Second

// Client is a raw protocol connection: it frames what it sends and unframes
// what it reads, and nothing else, so tests see the exact bytes.
type Client struct {
	t    testing.TB
	Conn net.Conn
	r    *wire.Reader
}

func newClient(t testing.TB, conn net.Conn) *Client {
	return &Client{t: t, Conn: conn, r: wire.NewReader(conn, 64<<20)}
}

// Send writes one frame with body.
func (c *Client) Send(body []byte) {
	c.t.Helper()
	c.SendRaw(wire.AppendFrame(nil, body))
}

// SendRaw writes bytes as they are (several frames, partial frames, garbage).
func (c *Client) SendRaw(b []byte) {
	c.t.Helper()
	_ = c.Conn.SetWriteDeadline(time.Now().Add(ReadTimeout))
	if _, err := c.Conn.Write(b); err != nil {
		c.t.Fatalf("apptest: write: %v", err)
	}
}

// Read returns the next frame body, failing the test after ReadTimeout.
func (c *Client) Read() []byte {
	c.t.Helper()
	body, err := c.ReadErr(ReadTimeout)
	if err != nil {
		c.t.Fatalf("apptest: read: %v", err)
	}
	return body
}

// ReadErr returns the next frame body or the error that prevented it.
func (c *Client) ReadErr(timeout time.Duration) ([]byte, error) {
	_ = c.Conn.SetReadDeadline(time.Now().Add(timeout))
	return c.r.ReadFrame()
}

// ReadJSON decodes the next frame into v.
func (c *Client) ReadJSON(v any) {
	c.t.Helper()
	body := c.Read()
	if err := json.Unmarshal(body, v); err != nil {
		c.t.Fatalf("apptest: decode %q: %v", body, err)
	}
}

// Object reads the next frame and decodes it as one JSON object.
func (c *Client) Object() map[string]any {
	c.t.Helper()
	var m map[string]any
	c.ReadJSON(&m)
	return m
}

// ExpectNoFrame asserts that nothing arrives for d.
func (c *Client) ExpectNoFrame(d time.Duration) {
	c.t.Helper()
	body, err := c.ReadErr(d)
	if err == nil {
		c.t.Fatalf("apptest: unexpected frame %s", body)
	}
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		c.t.Fatalf("apptest: connection failed while expecting silence: %v", err)
	}
}

// ExpectClosed asserts that the server closes the connection within d (frames
// still in flight, such as an error reply, are skipped).
func (c *Client) ExpectClosed(d time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(d)
	for {
		_, err := c.ReadErr(time.Until(deadline))
		if err == nil {
			continue
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || isReset(err) {
			return
		}
		c.t.Fatalf("apptest: connection not closed within %v: %v", d, err)
	}
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && !op.Timeout()
}

// QtJSON is wire.QtJSON for tests: the seed Qt client's exact bytes for v.
// Numbers stay numbers.
func QtJSON(v map[string]any) []byte {
	b, err := wire.QtJSON(v)
	if err != nil {
		panic(err)
	}
	return b
}
