package handlers

import (
	"context"
	"strings"
	"testing"
)

func TestRegisterThenLogin(t *testing.T) {
	e := newEnv(t)
	e.register("13800000000", "alice", "pw'1")

	u, err := e.store.UserByID(context.Background(), "13800000000")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(u.PasswordHash, "$argon2id$v=19$m=19456,t=2,p=1$") || strings.Contains(u.PasswordHash, "pw'1") {
		t.Fatalf("stored password is not an argon2id hash: %q", u.PasswordHash)
	}

	c := e.dial()
	frames := c.do(map[string]any{"type": "login", "user_id": "13800000000", "user_password": "pw'1"})
	if len(frames) != 1 {
		t.Fatalf("login produced %d frames, want exactly 1", len(frames))
	}
	a := array(t, frames[0])
	if len(a) != 1 {
		t.Fatalf("login reply has %d elements, want exactly 1: %s", len(a), frames[0])
	}
	allStrings(t, a[0])
	want(t, a[0], map[string]string{
		"status": "success", "type": "login", "user_id": "13800000000", "user_phone": "13800000000",
		"user_name": "alice", "user_email": "13800000000@an.com", "user_avatar": "/default.jpg",
		"user_status": "inactive", "user_password": "",
	})
	if ts, _ := a[0]["user_created"].(string); len(ts) != len("2006-01-02 15:04:05") {
		t.Errorf("user_created = %q", ts)
	}
	if c.s.UserID() != "13800000000" || !e.reg.Online("13800000000") {
		t.Fatal("login did not bind the session")
	}
	if strings.Contains(string(frames[0]), "argon2") {
		t.Fatal("login reply carries the hash")
	}
}

func TestLoginRefusals(t *testing.T) {
	e := newEnv(t)
	e.register("1", "a", "666")
	for _, tc := range []struct{ id, pw string }{
		{"1", "667"}, {"1", ""}, {"2", "666"}, {"", "666"}, {"1' OR '1'='1", "x' OR '1'='1"},
		{"1", strings.Repeat("6", MaxPasswordBytes+1)},
	} {
		c := e.dial()
		m := object(t, c.one(map[string]any{"type": "login", "user_id": tc.id, "user_password": tc.pw}))
		want(t, m, map[string]string{"type": "login", "status": "error", "code": "bad_credentials"})
		if c.s.UserID() != "" {
			t.Fatalf("refused login %q bound the session", tc.id)
		}
	}
}

func TestLoginSeqEcho(t *testing.T) {
	e := newEnv(t)
	e.register("1", "a", "666")
	c := e.dial()
	b := c.one(map[string]any{"type": "login", "user_id": "1", "user_password": "nope", "seq": 7})
	if object(t, b)["seq"] != float64(7) {
		t.Fatalf("error reply does not echo seq: %s", b)
	}
}

func TestLegacyPlaintextRowIsRehashed(t *testing.T) {
	e := newEnv(t)
	e.register("1", "a", "ignored")
	ctx := context.Background()
	// A row imported from the seed database holds the plaintext.
	if err := e.store.SetPasswordHash(ctx, "1", "666"); err != nil {
		t.Fatal(err)
	}
	e.login("1", "666")
	u, _ := e.store.UserByID(ctx, "1")
	if !strings.HasPrefix(u.PasswordHash, "$argon2id$") {
		t.Fatalf("legacy password not rehashed: %q", u.PasswordHash)
	}
	e.login("1", "666")
}

func TestRegisterValidation(t *testing.T) {
	e := newEnv(t)
	long := strings.Repeat("x", 256)
	for _, tc := range []struct{ phone, name, pw, code string }{
		{"", "a", "p", "invalid"},
		{"12a", "a", "p", "invalid"},
		{"123456789012345678901", "a", "p", "invalid"},
		{"1", "", "p", "invalid"},
		{"1", long, "p", "invalid"},
		{"1", "a", "", "invalid"},
		{"1", "a", strings.Repeat("p", MaxPasswordBytes+1), "invalid"},
	} {
		c := e.dial()
		m := object(t, c.one(map[string]any{"type": "register", "user_phone": tc.phone, "user_name": tc.name, "user_password": tc.pw}))
		want(t, m, map[string]string{"type": "register", "status": "error", "code": tc.code})
	}
	// 255 characters (not bytes) is fine.
	e.register("2", strings.Repeat("名", 255), "p")
	c := e.dial()
	m := object(t, c.one(map[string]any{"type": "register", "user_phone": "2", "user_name": "b", "user_password": "p"}))
	want(t, m, map[string]string{"type": "register", "status": "error", "code": "conflict"})
}

func TestSearchUser(t *testing.T) {
	e := newEnv(t)
	e.register("1", "a", "666")
	e.register("1000", "O'Brien", "secret")
	c := e.login("1", "666")

	b := c.one(map[string]any{"type": "search_user", "user_id": "1", "search_id": "1000"})
	if strings.Contains(string(b), "password") || strings.Contains(string(b), "secret") || strings.Contains(string(b), "argon2") {
		t.Fatalf("search_user leaks a password: %s", b)
	}
	a := array(t, b)
	if len(a) != 1 {
		t.Fatalf("want one element: %s", b)
	}
	allStrings(t, a[0])
	want(t, a[0], map[string]string{"status": "success", "type": "search_user", "user_id": "1000", "user_name": "O'Brien"})

	a = array(t, c.one(map[string]any{"type": "search_user", "user_id": "1", "search_id": "' OR 1=1 --"}))
	if len(a) != 1 {
		t.Fatalf("want the null object: %v", a)
	}
	want(t, a[0], map[string]string{"status": "null", "type": "search_user", "message": "don't have messages"})
}

func TestUnauthenticatedAndForbidden(t *testing.T) {
	e := newEnv(t)
	e.register("1", "a", "666")
	e.register("2", "b", "666")
	anon := e.dial()
	for _, typ := range []string{"friends", "chatting", "get_unread_messages", "search_user", "add_friend", "accept_friend", "delete_friend", "update_chat", "send_message"} {
		m := object(t, anon.one(map[string]any{"type": typ, "user_id": "1", "send_id": "1"}))
		want(t, m, map[string]string{"type": typ, "status": "error", "code": "unauthenticated"})
	}
	c := e.login("1", "666")
	for _, typ := range []string{"friends", "chatting", "get_unread_messages", "search_user", "add_friend", "accept_friend", "delete_friend", "update_chat"} {
		m := object(t, c.one(map[string]any{"type": typ, "user_id": "2", "friend_id": "1", "comm_id": "1", "search_id": "1"}))
		want(t, m, map[string]string{"type": typ, "status": "error", "code": "forbidden"})
	}
	m := object(t, c.one(map[string]any{"type": "send_message", "send_id": "2", "receiver_id": "1", "message_body": "x"}))
	want(t, m, map[string]string{"type": "send_message", "status": "error", "code": "forbidden"})
}

func TestPingAndUnknownTypes(t *testing.T) {
	e := newEnv(t)
	c := e.dial()
	want(t, object(t, c.one(map[string]any{"type": "ping", "seq": 3})), map[string]string{"type": "pong", "status": "success"})
	want(t, object(t, c.one(map[string]any{"type": "receive_message"})), map[string]string{"status": "error", "code": "unknown_type"})
	want(t, object(t, c.one(map[string]any{"type": "group_text"})), map[string]string{"status": "error", "code": "unknown_type"})
	want(t, object(t, c.one(map[string]any{"type": "login", "user_id": 1})), map[string]string{"status": "error", "code": "bad_request"})
}
