package handlers_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/parley-im/parley/app/apptest"
	"github.com/parley-im/parley/db"
	"github.com/parley-im/parley/session"
	"github.com/parley-im/parley/wire"
)

// server is a whole Parley on real sockets, with a view of its session
// registry (to wait for a close to be processed) and its store (to look at
// what was stored).
type server struct {
	*apptest.Server
	reg   *session.Registry
	store *db.Store
}

// eachDriver runs f against a fresh server on every database the
// environment offers (SQLite always, PostgreSQL when reachable or CI=true).
func eachDriver(t *testing.T, f func(t *testing.T, srv *server)) {
	t.Helper()
	for _, d := range apptest.Drivers(t) {
		t.Run(d, func(t *testing.T) {
			srv := &server{}
			srv.Server = apptest.Start(t, apptest.WithDriver(d), apptest.WithFx(fx.Populate(&srv.reg, &srv.store)))
			f(t, srv)
		})
	}
}

// qt is a request body exactly as the Qt client encodes it; kv alternates
// keys and values.
func qt(kv ...any) []byte {
	m := make(map[string]any, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	return apptest.QtJSON(m)
}

// frames concatenates framed bodies, for requests that leave in one write.
func frames(bodies ...[]byte) []byte {
	var out []byte
	for _, b := range bodies {
		out = wire.AppendFrame(out, b)
	}
	return out
}

// obj decodes a frame that must be one JSON object.
func obj(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	d := json.NewDecoder(bytes.NewReader(b))
	if err := d.Decode(&m); err != nil || m == nil {
		t.Fatalf("want one JSON object, got %s (%v)", b, err)
	}
	return m
}

// arr decodes a frame that must be a JSON array of objects.
func arr(t *testing.T, b []byte) []map[string]any {
	t.Helper()
	var a []map[string]any
	if err := json.Unmarshal(b, &a); err != nil || a == nil {
		t.Fatalf("want a JSON array, got %s (%v)", b, err)
	}
	return a
}

// fields asserts that each listed field is present, is a JSON string, and
// has that value.
func fields(t *testing.T, m map[string]any, want map[string]string) {
	t.Helper()
	for k, v := range want {
		got, ok := m[k]
		switch {
		case !ok:
			t.Errorf("field %q missing in %v", k, m)
		case func() bool { _, s := got.(string); return !s }():
			t.Errorf("field %q is %T %v, want the JSON string %q", k, got, got, v)
		case got != v:
			t.Errorf("field %q = %q, want %q", k, got, v)
		}
	}
}

// strs asserts that every field except seq is a JSON string (the client
// reads every value with toString(), which turns numbers into "").
func strs(t *testing.T, m map[string]any) {
	t.Helper()
	for k, v := range m {
		if _, ok := v.(string); !ok && k != "seq" {
			t.Errorf("field %q is %T %v, want a JSON string", k, v, v)
		}
	}
}

// null asserts the seed's null object for an empty list of typ.
func null(t *testing.T, b []byte, typ, message string) {
	t.Helper()
	a := arr(t, b)
	if len(a) != 1 {
		t.Fatalf("want the one-element null array, got %s", b)
	}
	fields(t, a[0], map[string]string{"type": typ, "status": "null", "message": message})
}

// refused asserts an error reply of typ with code.
func refused(t *testing.T, b []byte, typ, code string) {
	t.Helper()
	fields(t, obj(t, b), map[string]string{"type": typ, "status": "error", "code": code})
}

// register creates an account from a fresh connection.
func (s *server) register(t *testing.T, phone, name, pw string) {
	t.Helper()
	c := s.Dial(t)
	c.Send(qt("type", "register", "user_phone", phone, "user_name", name, "user_password", pw))
	fields(t, obj(t, c.Read()), map[string]string{"type": "register", "status": "success", "user_id": phone})
	c.Conn.Close()
}

// login opens a connection logged in as id, checking the one-object reply.
func (s *server) login(t *testing.T, id, pw string) *apptest.Client {
	t.Helper()
	c := s.Dial(t)
	c.Send(qt("type", "login", "user_id", id, "user_password", pw))
	a := arr(t, c.Read())
	if len(a) != 1 {
		t.Fatalf("login reply has %d elements, want exactly 1", len(a))
	}
	fields(t, a[0], map[string]string{"type": "login", "status": "success", "user_id": id, "user_password": ""})
	return c
}

// befriend makes a and b friends: a asks, b accepts. Both must be logged in
// on the given connections; the pushes this causes are consumed.
func (s *server) befriend(t *testing.T, a *apptest.Client, aID string, b *apptest.Client, bID string) {
	t.Helper()
	a.Send(qt("type", "add_friend", "user_id", aID, "friend_id", bID))
	fields(t, obj(t, a.Read()), map[string]string{"type": "add_friend", "status": "success"})
	arr(t, b.Read()) // the request's row of B's friends list, pushed
	b.Send(qt("type", "accept_friend", "user_id", bID, "friend_id", aID))
	fields(t, obj(t, b.Read()), map[string]string{"type": "accept_friend", "status": "success"})
	fields(t, obj(t, a.Read()), map[string]string{"type": "receive_message"}) // greeting
	arr(t, a.Read())                                                          // A's chat list, pushed
}

// hangUp closes c and waits until the server has dropped the session, so a
// test that needs "user offline" does not race the server's close handling.
func (s *server) hangUp(t *testing.T, c *apptest.Client, userID string) {
	t.Helper()
	c.Conn.Close()
	s.waitOffline(t, userID)
}

func (s *server) waitOffline(t *testing.T, userID string) {
	t.Helper()
	deadline := time.Now().Add(apptest.ReadTimeout)
	for s.reg.Online(userID) {
		if time.Now().After(deadline) {
			t.Fatalf("user %s still online %v after the connection closed", userID, apptest.ReadTimeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// sendMessage is the Qt client's send_message body.
func sendMessage(from, to, body string) []byte {
	return qt("type", "send_message", "send_id", from, "receiver_id", to, "message_body", body,
		"chat_type", "friend", "file_path", " ", "message_type", "text",
		"message_timestamp", time.Now().Format(wire.TimeLayout))
}

// updateChat is the Qt client's update_chat body, unread_count a number.
func updateChat(user, peer, last string) []byte {
	return qt("type", "update_chat", "user_id", user, "comm_id", peer, "chat_status", "chatting",
		"chat_type", "friend", "last_message", last, "last_message_type", "text",
		"last_time", time.Now().Format(wire.TimeLayout), "unread_count", 0)
}
