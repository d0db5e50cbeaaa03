package handlers_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/parley-im/parley/app/apptest"
	"github.com/parley-im/parley/config"
	"github.com/parley-im/parley/db"
	"github.com/parley-im/parley/handlers"
	"github.com/parley-im/parley/session"
	"github.com/parley-im/parley/wire"
)

// Issue 11 for friend relations, over real sockets: who may accept, what a
// request pushes, and what other users can do to one user's list.

// eachDriverWith is eachDriver with a configuration change.
func eachDriverWith(t *testing.T, cfg func(*config.Config), f func(t *testing.T, srv *server)) {
	t.Helper()
	for _, d := range apptest.Drivers(t) {
		t.Run(d, func(t *testing.T) {
			srv := &server{}
			srv.Server = apptest.Start(t, apptest.WithDriver(d), apptest.WithConfig(cfg),
				apptest.WithFx(fx.Populate(&srv.reg, &srv.store)))
			f(t, srv)
		})
	}
}

// accounts creates users straight in the store, each with a resume token
// (its id prefixed "tok-"), so a test can log in thousands of them without
// a password hash each. name is each one's user_name.
func (s *server) accounts(t *testing.T, name string, ids ...string) {
	t.Helper()
	ctx := context.Background()
	for _, id := range ids {
		if err := s.store.CreateUser(ctx, &db.User{Phone: id, Name: name}); err != nil {
			t.Fatalf("create %s: %v", id, err)
		}
		sum := sha256.Sum256([]byte("tok-" + id))
		if err := s.store.SaveResumeToken(ctx, db.ResumeToken{
			Hash: hex.EncodeToString(sum[:]), UserID: id, ExpiresAt: time.Now().Add(time.Hour),
		}); err != nil {
			t.Fatal(err)
		}
	}
}

// resume logs c in as id (an account made by accounts).
func resume(t *testing.T, c *apptest.Client, id string) {
	t.Helper()
	c.Send(qt("type", "resume", "token", "tok-"+id))
	fields(t, obj(t, c.Read()), map[string]string{"type": "resume", "status": "success", "user_id": id})
}

// pushedRow reads one frame that must be a one-element friends array (the
// push of one changed relation) and returns that element.
func pushedRow(t *testing.T, c *apptest.Client) map[string]any {
	t.Helper()
	b := c.Read()
	a := arr(t, b)
	if len(a) != 1 {
		t.Fatalf("want a friends push of exactly one row, got %d: %.300s", len(a), b)
	}
	strs(t, a[0])
	return a[0]
}

// TestRequesterCannotAcceptOwnRequest: the Qt client shows an accept button
// on both sides of a pending request. The requester pressing it must be
// refused (before issue 11 it made the two friends without the addressee's
// consent); the addressee can still accept, and the greeting goes from the
// addressee to the requester.
func TestRequesterCannotAcceptOwnRequest(t *testing.T) {
	eachDriver(t, func(t *testing.T, srv *server) {
		srv.accounts(t, "someone", "13900000001", "13900000002")
		x, v := srv.Dial(t), srv.Dial(t)
		resume(t, x, "13900000001")
		resume(t, v, "13900000002")

		x.Send(qt("type", "add_friend", "user_id", "13900000001", "friend_id", "13900000002"))
		fields(t, obj(t, x.Read()), map[string]string{"type": "add_friend", "status": "success"})
		fields(t, pushedRow(t, v), map[string]string{"user_id": "13900000001", "friend_relation": "pending"})

		// Both sides see the request as pending, as the seed client expects.
		for _, side := range []struct {
			c         *apptest.Client
			me, other string
		}{{x, "13900000001", "13900000002"}, {v, "13900000002", "13900000001"}} {
			side.c.Send(qt("type", "friends", "user_id", side.me))
			list := arr(t, side.c.Read())
			if len(list) != 1 {
				t.Fatalf("%s's list: %v", side.me, list)
			}
			fields(t, list[0], map[string]string{"user_id": side.other, "friend_relation": "pending"})
		}

		x.Send(qt("type", "accept_friend", "user_id", "13900000001", "friend_id", "13900000002"))
		refused(t, x.Read(), "accept_friend", wire.CodeForbidden)
		if ok, err := srv.store.AreFriends(context.Background(), "13900000002", "13900000001"); err != nil || ok {
			t.Fatalf("after the requester's accept, friends = %v, %v", ok, err)
		}
		// No greeting, no chat list went anywhere.
		v.ExpectNoFrame(200 * time.Millisecond)
		x.Send(sendMessage("13900000001", "13900000002", "hi"))
		refused(t, x.Read(), "send_message", wire.CodeForbidden)

		v.Send(qt("type", "accept_friend", "user_id", "13900000002", "friend_id", "13900000001"))
		fields(t, obj(t, v.Read()), map[string]string{"type": "accept_friend", "status": "success"})
		fields(t, obj(t, x.Read()), map[string]string{
			"type": "receive_message", "send_id": "13900000002", "receiver_id": "13900000001", "message_body": handlers.Greeting,
		})
		fields(t, arr(t, x.Read())[0], map[string]string{"type": "chatting", "comm_id": "13900000002"})
	})
}

// TestFriendRequestPushesOneRow: the target of add_friend is pushed the one
// new relation, never their whole list (which a user receiving many requests
// got once per request, and which the Qt client added to its list again).
func TestFriendRequestPushesOneRow(t *testing.T) {
	eachDriver(t, func(t *testing.T, srv *server) {
		srv.accounts(t, "someone", "1", "2", "3", "4", "5")
		v := srv.Dial(t)
		resume(t, v, "1")
		others := map[string]*apptest.Client{}
		for _, id := range []string{"2", "3", "4", "5"} {
			others[id] = srv.Dial(t)
			resume(t, others[id], id)
		}
		srv.befriend(t, others["2"], "2", v, "1")
		srv.befriend(t, others["3"], "3", v, "1")
		v.Send(qt("type", "add_friend", "user_id", "1", "friend_id", "4")) // outgoing, pending
		fields(t, obj(t, v.Read()), map[string]string{"type": "add_friend", "status": "success"})
		pushedRow(t, others["4"])

		others["5"].Send(qt("type", "add_friend", "user_id", "5", "friend_id", "1"))
		fields(t, obj(t, others["5"].Read()), map[string]string{"type": "add_friend", "status": "success"})
		row := pushedRow(t, v)
		fields(t, row, map[string]string{
			"type": "friends", "status": "success", "user_id": "5", "user_name": "someone", "friend_relation": "pending",
			"push": "add_friend",
		})
		if _, ok := row["user_password"]; ok {
			t.Error("the push carries user_password")
		}
		v.ExpectNoFrame(200 * time.Millisecond)

		// The whole list is still there on request, without the push marker.
		v.Send(qt("type", "friends", "user_id", "1"))
		list := arr(t, v.Read())
		if len(list) != 4 {
			t.Fatalf("V's list has %d rows, want 4: %v", len(list), list)
		}
		for _, f := range list {
			if _, ok := f["push"]; ok {
				t.Fatalf("a friends reply row carries push: %v", f)
			}
		}
	})
}

// TestPendingRequestCap: friends.max_pending_requests bounds what others
// can put in one user's list; past it, add_friend is refused with
// limit_reached and nothing is stored or pushed.
func TestPendingRequestCap(t *testing.T) {
	limits := func(c *config.Config) {
		c.Friends.MaxPendingRequests = 2
		c.Friends.MaxFriends = 10
		c.Friends.ListLimit = 14
	}
	eachDriverWith(t, limits, func(t *testing.T, srv *server) {
		srv.accounts(t, "someone", "1", "2", "3", "4")
		v, a := srv.Dial(t), srv.Dial(t)
		resume(t, v, "1")
		for _, id := range []string{"2", "3", "4"} {
			resume(t, a, id) // one connection, several accounts, as a flooder would
			a.Send(qt("type", "add_friend", "user_id", id, "friend_id", "1"))
			if id != "4" {
				fields(t, obj(t, a.Read()), map[string]string{"type": "add_friend", "status": "success"})
				pushedRow(t, v)
				continue
			}
			m := obj(t, a.Read())
			fields(t, m, map[string]string{"type": "add_friend", "status": "error", "code": wire.CodeLimitReached})
			if msg, _ := m["message"].(string); !strings.Contains(msg, "1 has too many pending friend requests") {
				t.Errorf("limit_reached message %q", msg)
			}
		}
		v.ExpectNoFrame(200 * time.Millisecond)
		if _, err := srv.store.Friend(context.Background(), "1", "4"); err == nil {
			t.Fatal("the refused request was stored")
		}
		// Accepting one frees a place.
		v.Send(qt("type", "accept_friend", "user_id", "1", "friend_id", "2"))
		fields(t, obj(t, v.Read()), map[string]string{"type": "accept_friend", "status": "success"})
		a.Send(qt("type", "add_friend", "user_id", "4", "friend_id", "1"))
		fields(t, obj(t, a.Read()), map[string]string{"type": "add_friend", "status": "success"})
	})
}

// TestFriendRequestFloodLeavesVictimConnected is issue 11's flood: many
// accounts (with long names, so each row is large) all ask one user, who is
// online and busy (not reading). Before the fix, every request pushed the
// victim's whole, growing list, which closed its connection as a slow
// consumer, and its own friends request was then too large to be delivered.
// Now the requests past friends.max_pending_requests are refused, each
// accepted one pushes one row, and the victim's list stays bounded.
func TestFriendRequestFloodLeavesVictimConnected(t *testing.T) {
	const flood = 300
	eachDriver(t, func(t *testing.T, srv *server) {
		maxPending := srv.Config.Friends.MaxPendingRequests // the default
		const victim = "19900000000"
		ids := make([]string, flood)
		for i := range ids {
			ids[i] = fmt.Sprint(18800000000 + i)
		}
		// 255 four-byte characters: the longest name registration allows.
		srv.accounts(t, strings.Repeat("😀", 255), ids...)
		srv.accounts(t, "victim", victim)
		v := srv.Dial(t)
		resume(t, v, victim)

		// The attacker pipelines resume + add_friend for every account on
		// one connection, and reads the answers.
		var burst []byte
		for _, id := range ids {
			burst = append(burst, frames(qt("type", "resume", "token", "tok-"+id),
				qt("type", "add_friend", "user_id", id, "friend_id", victim))...)
		}
		a := srv.Dial(t)
		a.SendRaw(burst)
		accepted, limited := 0, 0
		for range ids {
			fields(t, obj(t, a.Read()), map[string]string{"type": "resume", "status": "success"})
			m := obj(t, a.Read())
			switch {
			case m["status"] == wire.StatusSuccess:
				accepted++
			case m["code"] == wire.CodeLimitReached:
				limited++
			default:
				t.Fatalf("add_friend answered %v", m)
			}
		}
		if accepted != maxPending || limited != flood-maxPending {
			t.Fatalf("%d requests stored, %d refused; want %d and %d", accepted, limited, maxPending, flood-maxPending)
		}

		// The victim, reading only now, finds one row per stored request.
		for range accepted {
			fields(t, pushedRow(t, v), map[string]string{"friend_relation": "pending", "type": "friends"})
		}
		v.Send(qt("type", "friends", "user_id", victim))
		body := v.Read()
		list := arr(t, body)
		if len(list) != maxPending || len(body) > handlers.ReplyBudget(srv.Config.Transport.MaxPending) {
			t.Fatalf("friends reply: %d rows, %d bytes; want %d rows within %d bytes",
				len(list), len(body), maxPending, handlers.ReplyBudget(srv.Config.Transport.MaxPending))
		}
		v.Send(qt("type", "ping", "seq", 1))
		fields(t, obj(t, v.Read()), map[string]string{"type": "pong"})
		if !srv.reg.Online(victim) {
			t.Fatal("victim offline")
		}
	})
}

// TestFriendsReplyFitsTheOutputCap: a friends list whose rows add up to more
// than transport.max_pending (here made small; other users chose the long
// names) is cut to what fits, newest first, in one frame, instead of closing
// the owner's connection on every request.
func TestFriendsReplyFitsTheOutputCap(t *testing.T) {
	small := func(c *config.Config) {
		c.Transport.MaxFrame = 64 << 10
		c.Transport.MaxPending = 64 << 10
	}
	eachDriverWith(t, small, func(t *testing.T, srv *server) {
		const owner = "17700000000"
		ids := make([]string, 100) // the default pending cap: all are stored
		for i := range ids {
			ids[i] = fmt.Sprint(16600000000 + i)
		}
		srv.accounts(t, strings.Repeat("😀", 255), ids...)
		srv.accounts(t, "owner", owner)
		ctx := context.Background()
		for _, id := range ids {
			if err := srv.store.RequestFriend(ctx, id, owner); err != nil {
				t.Fatal(err)
			}
		}
		c := srv.Dial(t)
		resume(t, c, owner)
		c.Send(qt("type", "friends", "user_id", owner))
		body := c.Read()
		list := arr(t, body)
		budget := handlers.ReplyBudget(srv.Config.Transport.MaxPending)
		if len(body) > budget || len(list) == 0 || len(list) >= len(ids) {
			t.Fatalf("friends reply: %d rows in %d bytes, want some but not all %d rows within %d bytes",
				len(list), len(body), len(ids), budget)
		}
		for _, f := range list {
			fields(t, f, map[string]string{"type": "friends", "status": "success", "friend_relation": "pending"})
		}
		c.Send(qt("type", "ping", "seq", 1))
		fields(t, obj(t, c.Read()), map[string]string{"type": "pong"})
	})
}

// TestFriendRequestRateLimits: add_friend and search_user have per-user
// rules of their own in the default chain, far above a person clicking in
// the Qt client (a burst of 30 requests, of 20 searches) and far below what
// a script would send.
func TestFriendRequestRateLimits(t *testing.T) {
	var reg *session.Registry
	srv := apptest.Start(t, apptest.WithFx(fx.Populate(&reg)))
	s := &server{Server: srv, reg: reg}
	s.register(t, "15500000000", "me", "pw")
	c := s.login(t, "15500000000", "pw")
	for _, tc := range []struct {
		typ   string
		burst int
		body  func(i int) []byte
	}{
		{"add_friend", 30, func(i int) []byte {
			return qt("type", "add_friend", "user_id", "15500000000", "friend_id", fmt.Sprint(15600000000+i))
		}},
		{"search_user", 20, func(i int) []byte {
			return qt("type", "search_user", "user_id", "15500000000", "search_id", fmt.Sprint(15600000000+i))
		}},
	} {
		var burst []byte
		for i := range tc.burst + 1 {
			burst = append(burst, frames(tc.body(i))...)
		}
		c.SendRaw(burst)
		for i := range tc.burst + 1 {
			b := c.Read()
			limited := strings.Contains(string(b), `"code":"rate_limited"`)
			if limited != (i == tc.burst) {
				t.Fatalf("%s %d of %d: %s", tc.typ, i+1, tc.burst+1, b)
			}
		}
	}
}
