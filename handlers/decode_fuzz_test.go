package handlers_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/parley-im/parley/config"
	"github.com/parley-im/parley/db"
	"github.com/parley-im/parley/handlers"
	"github.com/parley-im/parley/pipeline"
	"github.com/parley-im/parley/session"
	"github.com/parley-im/parley/wire"
)

// FuzzRouter sends arbitrary bodies to every route of a real Router over a
// real handlers and SQLite store, as a logged-in user who has a friend online.
// It calls Router.Handle directly, without the edge or the recover
// middleware, so a panic anywhere in decoding or in a handler fails the fuzz
// run instead of becoming an "internal" reply. kind picks the route (the
// router dispatches on the envelope's type, not on the body), so every
// handler sees every input, well-formed or not.
//
// The properties, for any body:
//   - no panic;
//   - a reply is valid UTF-8 JSON, and stays so with the seq added;
//   - an error is a classified refusal (*pipeline.Error or Disconnect) with
//     a code from wire.Codes other than "internal": anything else would be an
//     internal error reply, which the service reserves for bugs;
//   - every frame pushed meanwhile (to the user or to the friend) is valid
//     UTF-8 JSON.
//
// Run it with:
//
//	go test -run '^$' -fuzz '^FuzzRouter$' -fuzztime 20s -fuzzminimizetime 5s ./handlers
func FuzzRouter(f *testing.F) {
	fx := newFzRouter(f)
	for i, typ := range fx.types {
		for _, body := range fzSeedBodies(typ) {
			f.Add([]byte(body), uint8(i))
		}
	}
	f.Fuzz(func(t *testing.T, body []byte, kind uint8) {
		typ := fx.types[int(kind)%len(fx.types)]
		me := &fzConn{}
		s := session.New(fx.ids.Add(1), "127.0.0.1:1", me)
		fx.reg.Bind(s, fzUser)
		defer fx.reg.Remove(s)

		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		req := &pipeline.Request{Session: s, Type: typ, Seq: 9, Body: body, Received: time.Now()}
		reply, err := fx.router.Handle(ctx, req)
		if err != nil {
			fzCheckError(t, typ, err)
		} else if reply != nil {
			fzCheckJSON(t, typ+" reply", reply)
			fzCheckJSON(t, typ+" reply with seq", wire.WithSeq(reply, 9))
		}
		for _, b := range me.take() {
			fzCheckJSON(t, typ+" frame to the sender", b)
		}
		for _, b := range fx.friend.take() {
			fzCheckJSON(t, typ+" push to the friend", b)
		}
	})
}

const (
	fzUser     = "13800000001"
	fzFriend   = "13800000002"
	fzPassword = "666"
)

// fzRouter is the fixture: one store, one registry, one router, shared by
// every input of a fuzz worker.
type fzRouter struct {
	router *handlers.Router
	reg    *session.Registry
	types  []string
	friend *fzConn // the friend's session, online for the whole run
	ids    atomic.Uint64
}

func newFzRouter(f *testing.F) *fzRouter {
	f.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bdb, err := db.Open(ctx, config.DB{Driver: "sqlite", DSN: filepath.Join(f.TempDir(), "parley.db")}, zap.NewNop())
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = bdb.Close() })
	fx := &fzRouter{router: handlers.NewRouter(), reg: session.NewRegistry(), friend: &fzConn{}}
	svc := handlers.New(handlers.Deps{
		Store: db.NewStore(bdb, 10*time.Second), Sessions: fx.reg,
		Accounts: config.Accounts{HashWorkers: 2, CredentialCacheSize: 64, CredentialCacheTTL: time.Hour, ResumeTTL: time.Hour},
	})
	svc.Register(fx.router)
	fx.types = fx.router.Types()

	// Two accounts, friends, the friend online: send_message, pushes and the
	// friend handlers then reach the store instead of stopping at not_found.
	mine := session.New(fx.ids.Add(1), "127.0.0.1:1", &fzConn{})
	theirs := session.New(fx.ids.Add(1), "127.0.0.1:2", fx.friend)
	for _, step := range []struct {
		s    *session.Session
		typ  string
		body string
	}{
		{mine, wire.TypeRegister, `{"user_phone":"` + fzUser + `","user_name":"me","user_password":"` + fzPassword + `"}`},
		{mine, wire.TypeRegister, `{"user_phone":"` + fzFriend + `","user_name":"friend","user_password":"` + fzPassword + `"}`},
		{mine, wire.TypeLogin, `{"user_id":"` + fzUser + `","user_password":"` + fzPassword + `"}`},
		{theirs, wire.TypeLogin, `{"user_id":"` + fzFriend + `","user_password":"` + fzPassword + `"}`},
		{mine, wire.TypeAddFriend, `{"user_id":"` + fzUser + `","friend_id":"` + fzFriend + `"}`},
		{theirs, wire.TypeAcceptFriend, `{"user_id":"` + fzFriend + `","friend_id":"` + fzUser + `"}`},
	} {
		req := &pipeline.Request{Session: step.s, Type: step.typ, Body: []byte(step.body), Received: time.Now()}
		if _, err := fx.router.Handle(ctx, req); err != nil {
			f.Fatalf("setup %s: %v", step.typ, err)
		}
	}
	fx.reg.Remove(mine)
	fx.friend.take()
	return fx
}

func fzCheckError(t *testing.T, typ string, err error) {
	t.Helper()
	var pe *pipeline.Error
	var de *pipeline.Disconnect
	var code, msg string
	switch {
	case errors.As(err, &pe):
		code, msg = pe.Code, pe.Message
	case errors.As(err, &de):
		code, msg = de.Code, de.Reason
	default:
		t.Fatalf("%s: unclassified error (an internal error reply): %v", typ, err)
	}
	if !slices.Contains(wire.Codes, code) || code == wire.CodeInternal {
		t.Fatalf("%s: error code %q (%s)", typ, code, msg)
	}
	fzCheckJSON(t, typ+" error reply", wire.EncodeError(typ, code, msg, 9))
}

func fzCheckJSON(t *testing.T, what string, b []byte) {
	t.Helper()
	if !utf8.Valid(b) || !json.Valid(b) {
		t.Fatalf("%s is not valid UTF-8 JSON: %.300q", what, b)
	}
}

// fzSeedBodies are the seeds for one route: a well-formed body, then the
// inputs that crashed or deafened the seed server (seed-protocol.md §1.6).
// wire's FuzzDecodeRequests has the full committed corpus; these are the
// ones that matter once a handler runs.
func fzSeedBodies(typ string) []string {
	valid := map[string]string{
		wire.TypeLogin:       `{"type":"login","user_id":"` + fzUser + `","user_password":"` + fzPassword + `"}`,
		wire.TypeRegister:    `{"type":"register","user_phone":"13900000000","user_name":"n","user_password":"p"}`,
		wire.TypeSendMessage: `{"type":"send_message","chat_type":"friend","file_path":" ","message_body":"hi","message_timestamp":"2025-07-14 11:04:00","message_type":"text","receiver_id":"` + fzFriend + `","send_id":"` + fzUser + `","client_msg_id":"c1"}`,
		wire.TypeUpdateChat:  `{"type":"update_chat","chat_status":"chatting","chat_type":"friend","comm_id":"` + fzFriend + `","last_message":"hi","last_message_type":"text","last_time":"2025-07-14 11:04:00","unread_count":0,"user_id":"` + fzUser + `"}`,
		wire.TypeSearchUser:  `{"type":"search_user","search_id":"` + fzFriend + `","user_id":"` + fzUser + `"}`,
		wire.TypeSync:        `{"type":"sync","after_id":"0","limit":10}`,
		wire.TypeAck:         `{"type":"ack","message_id":"1"}`,
		wire.TypeResume:      `{"type":"resume","token":"abc"}`,
		wire.TypeAddFriend:   `{"type":"add_friend","friend_id":"` + fzFriend + `","user_id":"` + fzUser + `"}`,
	}
	v, ok := valid[typ]
	if !ok {
		v = `{"type":"` + typ + `","user_id":"` + fzUser + `"}`
	}
	out := []string{
		v, "", "null", "42", `"x"`, "[]", "[" + v + "]", "{}", v[:len(v)/2],
		strings.Replace(v, `"type"`, `"user_id":{"a":1},"type"`, 1),
		strings.Replace(v, `"type"`, `"user_id":7,"type"`, 1),
		strings.Replace(v, `"type"`, `"friend_id":{"a":1},"receiver_id":["x"],"type"`, 1),
		strings.Replace(v, `"type"`, "\"message_body\":\"\xff\xfe\",\"type\"", 1),
		strings.Replace(v, `"type"`, `"message_body":"\ud800\u0000","type"`, 1),
		strings.Replace(v, `"type"`, `"message_body":"`+strings.Repeat("x", 64<<10+1)+`","type"`, 1),
		strings.Replace(v, `"type"`, `"x":`+strings.Repeat("[", 10001)+strings.Repeat("]", 10001)+`,"type"`, 1),
		v[:len(v)-1] + `,"user_id":"` + fzFriend + `"}`, // duplicate key, another user last
		v[:len(v)-1] + `,"USER_ID":"` + fzFriend + `"}`, // case-folded duplicate
	}
	for _, n := range []string{`"3"`, `1.5`, `-1`, `1e30`, `"99999999999999999999"`, `9223372036854775808`, `""`, `null`, `{}`} {
		out = append(out, v[:len(v)-1]+`,"unread_count":`+n+`,"limit":`+n+`}`)
	}
	for _, id := range []string{`""`, `"0"`, `"-1"`, `"9223372036854775808"`, `"1e3"`, `" 1"`, `"` + strings.Repeat("9", 30) + `"`} {
		out = append(out, fmt.Sprintf(`{"type":%q,"after_id":%s,"message_id":%s}`, typ, id, id))
	}
	return out
}

// fzConn is a session.Conn that keeps what it is sent, up to a bound.
type fzConn struct {
	mu     sync.Mutex
	frames [][]byte
}

func (c *fzConn) Send(body []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.frames) < 10000 {
		c.frames = append(c.frames, append([]byte(nil), body...))
	}
	return nil
}

func (c *fzConn) Close() error { return nil }

func (c *fzConn) take() [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.frames
	c.frames = nil
	return out
}
