package handlers_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/parley-im/parley/config"
	"github.com/parley-im/parley/db"
	"github.com/parley-im/parley/handlers"
	"github.com/parley-im/parley/pipeline"
	"github.com/parley-im/parley/session"
)

// The handler benchmarks drive requests through the real edge and router
// into the handlers, over a real SQLite store, with replies and pushes
// going to a connection that only counts them. They use only the exported
// constructor and Register, so the same file measures any version of the
// package (see docs/PERFORMANCE.md for how to compare two commits).

// countConn is a session.Conn that counts what it is sent.
type countConn struct{ frames atomic.Int64 }

func (c *countConn) Send([]byte) error { c.frames.Add(1); return nil }
func (c *countConn) Close() error      { return nil }

// benchPair is two logged-in users, "1" and "2", friends, over one edge.
type benchPair struct {
	edge  *pipeline.Edge
	a, b  *session.Session
	aConn *countConn
}

func newBenchPair(b *testing.B) *benchPair {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bdb, err := db.Open(ctx, config.DB{Driver: "sqlite", DSN: filepath.Join(b.TempDir(), "parley.db")}, zap.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = bdb.Close() })
	reg := session.NewRegistry()
	h := handlers.New(handlers.Deps{
		Store: db.NewStore(bdb, 10*time.Second), Sessions: reg,
		Accounts: config.Accounts{HashWorkers: 1, CredentialCacheSize: 64, CredentialCacheTTL: time.Hour},
	})
	r := handlers.NewRouter()
	h.Register(r)
	p := &benchPair{edge: pipeline.NewEdge(r.Handle, zap.NewNop()), aConn: &countConn{}}
	p.a = session.New(1, "127.0.0.1:1", p.aConn)
	p.b = session.New(2, "127.0.0.1:2", &countConn{})
	b.Cleanup(func() { reg.Remove(p.a); reg.Remove(p.b) })
	for _, id := range []string{"1", "2"} {
		p.serve(b, p.a, map[string]any{"type": "register", "user_phone": id, "user_name": "u" + id, "user_password": "pw"})
	}
	p.serve(b, p.a, map[string]any{"type": "login", "user_id": "1", "user_password": "pw"})
	p.serve(b, p.b, map[string]any{"type": "login", "user_id": "2", "user_password": "pw"})
	p.serve(b, p.a, map[string]any{"type": "add_friend", "user_id": "1", "friend_id": "2"})
	p.serve(b, p.b, map[string]any{"type": "accept_friend", "user_id": "2", "friend_id": "1"})
	if p.a.UserID() != "1" || p.b.UserID() != "2" {
		b.Fatal("login failed")
	}
	return p
}

func (p *benchPair) serve(b *testing.B, s *session.Session, req map[string]any) {
	body, err := json.Marshal(req)
	if err != nil {
		b.Fatal(err)
	}
	p.edge.Serve(context.Background(), s, body)
}

func body(b *testing.B, req map[string]any) []byte {
	out, err := json.Marshal(req)
	if err != nil {
		b.Fatal(err)
	}
	return out
}

// BenchmarkHandlerSendMessage: one stored, acknowledged and pushed message
// per op (the receiver is online): the full send path, database included.
func BenchmarkHandlerSendMessage(b *testing.B) {
	p := newBenchPair(b)
	msg := body(b, map[string]any{"type": "send_message", "send_id": "1", "receiver_id": "2", "message_body": "hello",
		"chat_type": "friend", "file_path": " ", "message_type": "text"})
	before := p.aConn.frames.Load()
	b.ReportAllocs()
	for b.Loop() {
		p.edge.Serve(context.Background(), p.a, msg)
	}
	if got := p.aConn.frames.Load() - before; got != int64(b.N) {
		b.Fatalf("%d acks for %d messages", got, b.N)
	}
}

// BenchmarkHandlerRefusal: a send_message refused before any query (body
// over messages.max_body): decode, route, validation and the error reply,
// no database.
func BenchmarkHandlerRefusal(b *testing.B) {
	p := newBenchPair(b)
	msg := body(b, map[string]any{"type": "send_message", "send_id": "1", "receiver_id": "2",
		"message_body": strings.Repeat("x", config.Default().Messages.MaxBody+1)})
	b.ReportAllocs()
	for b.Loop() {
		p.edge.Serve(context.Background(), p.a, msg)
	}
}

// BenchmarkHandlerChatting: the chat list of a user with one chat: one
// query and the bounded array encoding.
func BenchmarkHandlerChatting(b *testing.B) {
	p := newBenchPair(b)
	req := body(b, map[string]any{"type": "chatting", "user_id": "1"})
	b.ReportAllocs()
	for b.Loop() {
		p.edge.Serve(context.Background(), p.a, req)
	}
}
