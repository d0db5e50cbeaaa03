package handlers

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/db"
)

// loginToken logs in and returns the connection and its resume token.
func (e *env) loginToken(id, pw string) (*conn, string) {
	e.t.Helper()
	c := e.dial()
	a := array(e.t, c.one(map[string]any{"type": "login", "user_id": id, "user_password": pw, "want_token": true}))
	if len(a) != 1 || a[0]["status"] != "success" {
		e.t.Fatalf("login %s: %v", id, a)
	}
	tok, _ := a[0]["token"].(string)
	return c, tok
}

func TestLoginIssuesResumeToken(t *testing.T) {
	e := newEnv(t)
	e.svc.Accounts.resumeTTL = time.Hour
	e.register("1", "a", "666")
	_, tok := e.loginToken("1", "666")
	if len(tok) != 43 || strings.ContainsAny(tok, "+/=") {
		t.Fatalf("token %q: want 32 bytes, unpadded base64url", tok)
	}
	_, tok2 := e.loginToken("1", "666")
	if tok2 == "" || tok2 == tok {
		t.Fatalf("second login token %q (first %q)", tok2, tok)
	}
	// Stored hashed: looking the token itself up finds nothing.
	ctx := context.Background()
	if _, err := e.store.ResumeTokenUser(ctx, tok, time.Now()); !errors.Is(err, db.ErrNotFound) {
		t.Fatalf("token stored in clear? lookup by the token: %v", err)
	}
	if u, err := e.store.ResumeTokenUser(ctx, hashToken(tok), time.Now()); err != nil || u != "1" {
		t.Fatalf("lookup by hash: %q %v", u, err)
	}
}

func TestResume(t *testing.T) {
	e := newEnv(t)
	e.svc.Accounts.resumeTTL = time.Hour
	e.register("1", "a", "666")
	e.register("2", "b", "666")
	_, tok := e.loginToken("1", "666")

	c := e.dial()
	// Before resume the connection is anonymous.
	r := object(t, c.one(map[string]any{"type": "resume", "seq": 4, "token": tok}))
	want(t, r, map[string]string{"type": "resume", "status": "success", "user_id": "1"})
	if r["seq"] != float64(4) {
		t.Fatalf("seq not echoed: %v", r)
	}
	if c.s.UserID() != "1" {
		t.Fatalf("session user %q after resume", c.s.UserID())
	}
	// The resumed session is a full login: it can act and receive pushes.
	b := e.login("2", "666")
	e.befriend(c, b)

	for name, bad := range map[string]string{
		"unknown": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "empty": "", "huge": strings.Repeat("x", 1000),
	} {
		got := object(t, e.dial().one(map[string]any{"type": "resume", "token": bad}))
		want(t, got, map[string]string{"status": "error", "code": "unauthenticated"})
		_ = name
	}

	// Expired.
	e.svc.Accounts.now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	got := object(t, e.dial().one(map[string]any{"type": "resume", "token": tok}))
	want(t, got, map[string]string{"status": "error", "code": "unauthenticated"})
	e.svc.Accounts.now = time.Now

	// Revoked.
	if err := e.svc.Accounts.RevokeResumeTokens(context.Background(), "1"); err != nil {
		t.Fatal(err)
	}
	got = object(t, e.dial().one(map[string]any{"type": "resume", "token": tok}))
	want(t, got, map[string]string{"status": "error", "code": "unauthenticated"})
}

// With resume_ttl 0 no token is issued and the login reply has no token key.
func TestNoTokenWithoutTTL(t *testing.T) {
	e := newEnv(t)
	e.register("1", "a", "666")
	c := e.dial()
	a := array(t, c.one(map[string]any{"type": "login", "user_id": "1", "user_password": "666", "want_token": true}))
	if _, ok := a[0]["token"]; ok {
		t.Fatalf("token issued with resume disabled: %v", a[0])
	}
}

// resumeTokens counts the stored resume tokens of user.
func (e *env) resumeTokens(user string) int {
	e.t.Helper()
	n, err := e.bdb.NewSelect().Table("resume_tokens").Where("user_id = ?", user).Count(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

// A login that does not ask for a token (the seed client's) gets none and
// stores none: a warm seed login writes nothing to the database.
func TestSeedLoginStoresNoToken(t *testing.T) {
	e := newEnv(t)
	e.svc.Accounts.resumeTTL = time.Hour
	e.register("1", "a", "666")
	a := array(t, e.dial().one(map[string]any{"type": "login", "user_id": "1", "user_password": "666"}))
	if len(a) != 1 || a[0]["status"] != "success" {
		t.Fatalf("login: %v", a)
	}
	if _, ok := a[0]["token"]; ok {
		t.Fatalf("token issued without want_token: %v", a[0])
	}
	if n := e.resumeTokens("1"); n != 0 {
		t.Fatalf("%d resume tokens stored for a seed login, want 0", n)
	}
	e.loginToken("1", "666")
	if n := e.resumeTokens("1"); n != 1 {
		t.Fatalf("%d resume tokens stored after a login with want_token, want 1", n)
	}
}
