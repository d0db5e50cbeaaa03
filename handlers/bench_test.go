package handlers_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strconv"
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

// BenchmarkHandlerQtLogin: a warm login as the seed's Qt client makes it,
// per op: login (the verified-credential cache holds the password),
// get_unread_messages (nothing waiting: the null reply) and chatting (one
// chat), on a session that logs in again each time.
func BenchmarkHandlerQtLogin(b *testing.B) {
	p := newBenchPair(b)
	login := body(b, map[string]any{"type": "login", "user_id": "1", "user_password": "pw"})
	unread := body(b, map[string]any{"type": "get_unread_messages", "user_id": "1"})
	chatting := body(b, map[string]any{"type": "chatting", "user_id": "1"})
	before := p.aConn.frames.Load()
	b.ReportAllocs()
	for b.Loop() {
		p.edge.Serve(context.Background(), p.a, login)
		p.edge.Serve(context.Background(), p.a, unread)
		p.edge.Serve(context.Background(), p.a, chatting)
	}
	if got := p.aConn.frames.Load() - before; got != 3*int64(b.N) {
		b.Fatalf("%d replies for %d logins, want 3 each", got, b.N)
	}
}

// BenchmarkHandlerGroupSend: how long group_send holds its worker, for a
// group of 10 and one of 1,000 members, every member online, interleaved
// send by send in one server (so a loaded machine slows both alike). The
// handler returns once the message is stored and queued for the fan-out;
// the pushes run beside it. Reported as µs/send-N; the pushes that reached
// members are checked at the end.
//
//	go test -run '^$' -bench 'HandlerGroupSend' -benchtime 2000x ./handlers/
func BenchmarkHandlerGroupSend(b *testing.B) {
	ctx := context.Background()
	bdb, err := db.Open(ctx, config.DB{Driver: "sqlite", DSN: filepath.Join(b.TempDir(), "parley.db")}, zap.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = bdb.Close() })
	st := db.NewStore(bdb, 30*time.Second)
	w := db.NewMessageWriter(st, db.WriterOptions{})
	w.Start()
	b.Cleanup(func() { _ = w.Close(ctx) })
	reg := session.NewRegistry()
	h := handlers.New(handlers.Deps{Store: st, Messages: w, Sessions: reg,
		Accounts: config.Accounts{HashWorkers: 1, CredentialCacheSize: 64, CredentialCacheTTL: time.Hour}})
	b.Cleanup(h.Close)
	r := handlers.NewRouter()
	h.Register(r)
	edge := pipeline.NewEdge(r.Handle, zap.NewNop())

	sizes := []int{10, 1000}
	members := &countConn{} // every member's session counts into one
	owner := session.New(1, "127.0.0.1:1", &countConn{})
	if err := st.CreateUser(ctx, &db.User{Phone: "1"}); err != nil {
		b.Fatal(err)
	}
	reg.Bind(owner, "1")
	gids := make([]string, len(sizes))
	next := 2
	for k, n := range sizes {
		var ids []string
		for range n - 1 {
			id := strconv.Itoa(next)
			next++
			if err := st.CreateUser(ctx, &db.User{Phone: id}); err != nil {
				b.Fatal(err)
			}
			if err := st.RequestFriend(ctx, id, "1"); err != nil {
				b.Fatal(err)
			}
			if _, err := st.AcceptFriend(ctx, "1", id, ""); err != nil {
				b.Fatal(err)
			}
			reg.Bind(session.New(uint64(next), "127.0.0.1:2", members), id)
			ids = append(ids, id)
		}
		g, _, err := st.CreateGroup(ctx, "1", "bench", ids)
		if err != nil {
			b.Fatal(err)
		}
		gids[k] = strconv.Itoa(int(g.ID))
	}
	reqs := make([][]byte, len(sizes))
	for k := range sizes {
		reqs[k] = body(b, map[string]any{"type": "group_send", "group_id": gids[k], "body": "hello"})
	}
	spent := make([]time.Duration, len(sizes))
	sends := make([]int, len(sizes))
	b.ResetTimer()
	for i := range b.N {
		k := i % len(sizes)
		t0 := time.Now()
		edge.Serve(ctx, owner, reqs[k])
		spent[k] += time.Since(t0)
		sends[k]++
	}
	b.StopTimer()
	for k, n := range sizes {
		if sends[k] > 0 {
			b.ReportMetric(float64(spent[k].Microseconds())/float64(sends[k]), "µs/send-"+strconv.Itoa(n))
		}
	}
	// Every member but the sender gets each message (the sender's session
	// counts apart): wait for the fan-out to finish, then check.
	want := int64(0)
	for k, n := range sizes {
		want += int64(sends[k]) * int64(n-1)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for members.frames.Load() < want && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond) // polling with a deadline
	}
	if got := members.frames.Load(); got < want {
		b.Fatalf("%d pushes reached members, want at least %d", got, want)
	}
}
