package middleware

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.yaml.in/yaml/v3"

	"github.com/parley-im/parley/config"
	"github.com/parley-im/parley/pipeline"
	"github.com/parley-im/parley/session"
	"github.com/parley-im/parley/wire"
)

// testTypes are the types the test router "serves" (Deps.Types).
var testTypes = []string{
	wire.TypeLogin, wire.TypeRegister, wire.TypeFriends, wire.TypeChatting, wire.TypeSendMessage,
	wire.TypeUpdateChat, wire.TypeGetUnreadMessages, wire.TypeSearchUser, wire.TypeAddFriend,
	wire.TypeAcceptFriend, wire.TypeDeleteFriend, wire.TypePing,
}

// fakeConn is the transport side of a test session: it records every body
// sent and whether the connection was closed.
type fakeConn struct {
	mu     sync.Mutex
	sent   [][]byte
	closed bool
}

func (c *fakeConn) Send(b []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sent = append(c.sent, append([]byte(nil), b...))
	return nil
}

func (c *fakeConn) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	return nil
}

func (c *fakeConn) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// replies decodes what was sent so far as error replies (or successes).
func (c *fakeConn) replies(t testing.TB) []wire.ErrorReply {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]wire.ErrorReply, 0, len(c.sent))
	for _, b := range c.sent {
		var r wire.ErrorReply
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatalf("reply %q is not JSON: %v", b, err)
		}
		out = append(out, r)
	}
	return out
}

var nextSessionID atomic.Uint64

// newSession returns a real session over a fakeConn. reg is not used: a
// session joins the registry only when it logs in (Bind).
func newSession(reg *session.Registry, peer string) (*session.Session, *fakeConn) {
	c := &fakeConn{}
	s := session.New(nextSessionID.Add(1), peer, c)
	return s, c
}

// testDeps are the dependencies a chain gets at start-up, with a fresh
// registry of metrics and an accept gate.
func testDeps(log *zap.Logger) pipeline.Deps {
	if log == nil {
		log = zap.NewNop()
	}
	return pipeline.Deps{
		Log:      log,
		Sessions: session.NewRegistry(),
		Metrics:  prometheus.NewRegistry(),
		Types:    testTypes,
		Accept:   new(pipeline.AcceptGate),
	}
}

// body encodes a request body of type typ with string fields kv (pairs).
func body(typ string, kv ...string) []byte {
	m := map[string]string{"type": typ}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	b, _ := json.Marshal(m)
	return b
}

func request(s *session.Session, typ string, b []byte) *pipeline.Request {
	if b == nil {
		b = body(typ)
	}
	return &pipeline.Request{Session: s, Type: typ, Body: b}
}

// okReply is what the fake final handler answers.
var okReply = pipeline.Reply(`{"type":"ok","status":"success"}`)

// counter is a final handler that answers okReply and counts its calls.
type counter struct{ calls atomic.Int64 }

func (c *counter) handle(context.Context, *pipeline.Request) (pipeline.Reply, error) {
	c.calls.Add(1)
	return okReply, nil
}

// specs parses a YAML pipeline list the way the configuration does.
func specs(t testing.TB, src string) []config.Middleware {
	t.Helper()
	var out []config.Middleware
	if err := yaml.Unmarshal([]byte(src), &out); err != nil {
		t.Fatalf("yaml: %v", err)
	}
	return out
}

// one builds a chain of the single middleware name with options with (YAML,
// may be empty) around final.
func one(t testing.TB, name, with string, d pipeline.Deps, final pipeline.Handler) pipeline.Handler {
	t.Helper()
	src := "- use: " + name + "\n"
	if with != "" {
		src += "  with: " + with + "\n"
	}
	h, err := pipeline.Build(specs(t, src), d, final)
	if err != nil {
		t.Fatalf("build %s: %v", name, err)
	}
	return h
}

// buildErr builds name with options with and returns the error text ("" if
// it built).
func buildErr(t testing.TB, name, with string, d pipeline.Deps) string {
	t.Helper()
	_, err := pipeline.Build(specs(t, "- use: "+name+"\n  with: "+with+"\n"), d, (&counter{}).handle)
	if err == nil {
		return ""
	}
	return err.Error()
}

// codeOf is the code a client would see for err ("" for success).
func codeOf(err error) string {
	_, code := pipeline.Classify(err)
	return code
}

func isDisconnect(err error) bool {
	var d *pipeline.Disconnect
	return errors.As(err, &d)
}

func contains(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
