package handlers

import (
	"context"
	"encoding/json"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/uptrace/bun"
	"go.uber.org/zap"

	"github.com/parley-im/parley/config"
	"github.com/parley-im/parley/db"
	"github.com/parley-im/parley/pipeline"
	"github.com/parley-im/parley/session"
)

// *db.Store is the production Store.
var _ Store = (*db.Store)(nil)

// *session.Registry is the production SessionDirectory.
var _ SessionDirectory = (*session.Registry)(nil)

// *db.MessageWriter is the production MessageSaver (app sets it).
var _ MessageSaver = (*db.MessageWriter)(nil)

// captureConn is a session.Conn that keeps every frame body it is sent.
type captureConn struct {
	mu     sync.Mutex
	frames [][]byte
	broken atomic.Bool // Send fails, as on a connection that just died
}

func (c *captureConn) Send(body []byte) error {
	if c.broken.Load() {
		return errBroken
	}
	c.mu.Lock()
	c.frames = append(c.frames, append([]byte(nil), body...))
	c.mu.Unlock()
	return nil
}

func (c *captureConn) Close() error { return nil }

// take returns and forgets the frames received so far.
func (c *captureConn) take() [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.frames
	c.frames = nil
	return out
}

type brokenErr struct{}

func (brokenErr) Error() string { return "connection broken" }

var errBroken = brokenErr{}

// env is the handlers over a real SQLite store and a real session registry,
// driven through the real edge so replies and error replies are the bytes a
// client would get.
type env struct {
	t     *testing.T
	store *db.Store
	bdb   *bun.DB
	reg   *session.Registry
	svc   *Areas
	edge  *pipeline.Edge
	ids   atomic.Uint64
}

// newEnv builds the env; each option may change the service's Deps (with
// e.store already open) before the service is built.
func newEnv(t *testing.T, opts ...func(*env, *Deps)) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bdb, err := db.Open(ctx, config.DB{Driver: "sqlite", DSN: filepath.Join(t.TempDir(), "parley.db")}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bdb.Close() })
	e := &env{t: t, store: db.NewStore(bdb, 10*time.Second), bdb: bdb, reg: session.NewRegistry()}
	d := Deps{
		Store: e.store, Sessions: e.reg,
		Accounts: config.Accounts{HashWorkers: 2, CredentialCacheSize: 64, CredentialCacheTTL: time.Minute},
	}
	for _, o := range opts {
		o(e, &d)
	}
	e.svc = New(d)
	t.Cleanup(e.svc.Close)
	r := NewRouter()
	e.svc.Register(r)
	e.edge = pipeline.NewEdge(r.Handle, zap.NewNop())
	return e
}

// conn is one fake client connection.
type conn struct {
	e   *env
	s   *session.Session
	cap *captureConn
}

func (e *env) dial() *conn {
	c := &captureConn{}
	s := session.New(e.ids.Add(1), "127.0.0.1:1", c)
	e.t.Cleanup(func() { e.reg.Remove(s) })
	return &conn{e: e, s: s, cap: c}
}

// do sends one request and returns every frame the connection got meanwhile.
func (c *conn) do(req map[string]any) [][]byte {
	c.e.t.Helper()
	body, err := json.Marshal(req)
	if err != nil {
		c.e.t.Fatal(err)
	}
	c.e.edge.Serve(context.Background(), c.s, body)
	return c.cap.take()
}

// one sends a request and returns its single reply frame.
func (c *conn) one(req map[string]any) []byte {
	c.e.t.Helper()
	frames := c.do(req)
	if len(frames) != 1 {
		c.e.t.Fatalf("%v: got %d frames, want 1: %q", req["type"], len(frames), frames)
	}
	return frames[0]
}

// object decodes a frame that must be one JSON object.
func object(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("not an object: %s (%v)", b, err)
	}
	return m
}

// array decodes a frame that must be a JSON array of objects.
func array(t *testing.T, b []byte) []map[string]any {
	t.Helper()
	var a []map[string]any
	if err := json.Unmarshal(b, &a); err != nil {
		t.Fatalf("not an array: %s (%v)", b, err)
	}
	return a
}

// want checks that every listed field is present and is that exact string.
func want(t *testing.T, m map[string]any, fields map[string]string) {
	t.Helper()
	for k, v := range fields {
		got, ok := m[k]
		if !ok {
			t.Errorf("field %q missing in %v", k, m)
			continue
		}
		s, isString := got.(string)
		if !isString {
			t.Errorf("field %q is %T (%v), want a JSON string", k, got, got)
			continue
		}
		if s != v {
			t.Errorf("field %q = %q, want %q", k, s, v)
		}
	}
}

// allStrings checks that every field of m is a JSON string.
func allStrings(t *testing.T, m map[string]any) {
	t.Helper()
	for k, v := range m {
		if _, ok := v.(string); !ok {
			t.Errorf("field %q is %T (%v), want a JSON string", k, v, v)
		}
	}
}

// register creates an account through the protocol.
func (e *env) register(phone, name, pw string) {
	e.t.Helper()
	c := e.dial()
	want(e.t, object(e.t, c.one(map[string]any{"type": "register", "user_phone": phone, "user_name": name, "user_password": pw})),
		map[string]string{"status": "success", "type": "register", "user_id": phone})
}

// login opens a connection logged in as id.
func (e *env) login(id, pw string) *conn {
	e.t.Helper()
	c := e.dial()
	a := array(e.t, c.one(map[string]any{"type": "login", "user_id": id, "user_password": pw}))
	if len(a) != 1 || a[0]["status"] != "success" {
		e.t.Fatalf("login %s: %v", id, a)
	}
	return c
}

// befriend makes a and b friends through the protocol (a asks, b accepts).
// friends registers users "1" (a) and "2" (b), password "666", logs both
// in and makes them friends: the start of most message tests.
func (e *env) friends() (a, b *conn) {
	e.t.Helper()
	e.register("1", "a", "666")
	e.register("2", "b", "666")
	a, b = e.login("1", "666"), e.login("2", "666")
	e.befriend(a, b)
	return a, b
}

func (e *env) befriend(a, b *conn) {
	e.t.Helper()
	ida, idb := a.s.UserID(), b.s.UserID()
	want(e.t, object(e.t, a.one(map[string]any{"type": "add_friend", "user_id": ida, "friend_id": idb})),
		map[string]string{"status": "success"})
	b.cap.take() // the pushed friends list
	want(e.t, object(e.t, b.one(map[string]any{"type": "accept_friend", "user_id": idb, "friend_id": ida})),
		map[string]string{"status": "success"})
	a.cap.take() // greeting and chat list pushes
}
