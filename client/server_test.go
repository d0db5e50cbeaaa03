package client_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/parley-im/parley/app/apptest"
	"github.com/parley-im/parley/client"
)

// Parley on a free port, with SQLite or PostgreSQL).

func realCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func realDial(t *testing.T, addr string, opts ...client.Option) *client.Client {
	t.Helper()
	opts = append([]client.Option{
		client.WithBackoff(10*time.Millisecond, 200*time.Millisecond),
		client.WithAckDelay(20 * time.Millisecond),
	}, opts...)
	c, err := client.Dial(realCtx(t), addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// account registers phone and logs a new client in as it.
func account(t *testing.T, addr string, phone string, opts ...client.Option) *client.Client {
	t.Helper()
	c := realDial(t, addr, opts...)
	ctx := realCtx(t)
	id, err := c.Register(ctx, phone, "user"+phone, "pw-"+phone)
	if err != nil {
		t.Fatalf("register %s: %v", phone, err)
	}
	if id != phone {
		t.Fatalf("registered id %q, want %q", id, phone)
	}
	info, err := c.Login(ctx, phone, "pw-"+phone)
	if err != nil {
		t.Fatalf("login %s: %v", phone, err)
	}
	if info.ID != phone || info.Name != "user"+phone {
		t.Fatalf("login info %+v", info)
	}
	return c
}

// befriend makes a and b friends through the real friend flow and drains
// the greeting the acceptance sends to a.
func befriend(t *testing.T, a, b *client.Client) {
	t.Helper()
	ctx := realCtx(t)
	if err := a.AddFriend(ctx, b.UserID()); err != nil {
		t.Fatalf("add_friend: %v", err)
	}
	fr, err := b.Friends(ctx)
	if err != nil || len(fr) != 1 || fr[0].ID != a.UserID() || fr[0].Relation != "pending" {
		t.Fatalf("b's friends after the request: %+v %v", fr, err)
	}
	if err := b.AcceptFriend(ctx, a.UserID()); err != nil {
		t.Fatalf("accept_friend: %v", err)
	}
	fr, err = a.Friends(ctx)
	if err != nil || len(fr) != 1 || fr[0].Relation != "accepted" {
		t.Fatalf("a's friends after accept: %+v %v", fr, err)
	}
	greeting := next(t, a)
	if greeting.From != b.UserID() || greeting.To != a.UserID() {
		t.Fatalf("greeting %+v", greeting)
	}
}

func next(t *testing.T, c *client.Client) client.Message {
	t.Helper()
	return receive(t, c.Messages(), c.UserID())
}

// receive waits up to 20s for the next value on ch (a client's messages or
// group pushes) and fails if there is none or ch is closed.
func receive[T any](t *testing.T, ch <-chan T, who string) T {
	t.Helper()
	select {
	case m, ok := <-ch:
		if !ok {
			t.Fatalf("%s: channel closed", who)
		}
		return m
	case <-time.After(20 * time.Second):
		t.Fatalf("%s: nothing received within 20s", who)
	}
	var zero T
	return zero
}

func TestRealServer(t *testing.T) {
	for _, driver := range apptest.Drivers(t) {
		t.Run(driver, func(t *testing.T) {
			srv := apptest.Start(t, apptest.WithDriver(driver))
			testRealChat(t, srv.Addr())
		})
	}
}

func testRealChat(t *testing.T, addr string) {
	a := account(t, addr, "13800000001")
	b := account(t, addr, "13800000002")
	ctx := realCtx(t)

	// Not friends yet: the server refuses, the connection stays usable.
	if _, err := a.Send(ctx, b.UserID(), "too early"); !errors.Is(err, client.ErrForbidden) {
		t.Fatalf("send to a stranger: %v, want ErrForbidden", err)
	}
	befriend(t, a, b)

	var ids []string
	for i := 0; i < 5; i++ {
		id, err := a.Send(ctx, b.UserID(), fmt.Sprint("hello ", i))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	for i := range ids {
		m := next(t, b)
		if m.ID != ids[i] || m.Body != fmt.Sprint("hello ", i) || m.From != a.UserID() || m.FilePath != " " {
			t.Fatalf("message %d: %+v, want id %s", i, m, ids[i])
		}
	}

	// The same client_msg_id twice is one message with one id.
	cmid := a.NewClientMsgID()
	first, err := a.SendWithID(ctx, cmid, b.UserID(), "once")
	if err != nil {
		t.Fatal(err)
	}
	again, err := a.SendWithID(ctx, cmid, b.UserID(), "once")
	if err != nil || again != first {
		t.Fatalf("retry got %q %v, want %q", again, err, first)
	}
	if m := next(t, b); m.ID != first {
		t.Fatalf("got %+v, want %s", m, first)
	}

	// History: newest first, both directions, paged back to the greeting.
	if _, err := b.Send(ctx, a.UserID(), "reply"); err != nil {
		t.Fatal(err)
	}
	next(t, a)
	hist, more, err := a.History(ctx, b.UserID(), "", 2)
	if err != nil || !more || len(hist) != 2 || hist[0].Body != "reply" || hist[0].From != b.UserID() || hist[1].ID != first {
		t.Fatalf("history page 1: %+v more=%v %v", hist, more, err)
	}
	var all []client.Message
	for before := hist[1].ID; ; {
		page, more, err := a.History(ctx, b.UserID(), before, 2)
		if err != nil || len(page) == 0 {
			t.Fatalf("history after %s: %+v %v", before, page, err)
		}
		all = append(all, page...)
		if before = page[len(page)-1].ID; !more {
			break
		}
	}
	if len(all) != len(ids)+1 || all[0].ID != ids[4] || all[len(ids)-1].ID != ids[0] || all[len(ids)].From != b.UserID() {
		t.Fatalf("history back to the greeting: %+v", all)
	}

	chats, err := b.Chats(ctx)
	if err != nil || len(chats) != 1 || chats[0].Peer != a.UserID() || chats[0].LastMessage != "reply" {
		t.Fatalf("b's chats: %+v %v", chats, err)
	}
	u, err := a.SearchUser(ctx, b.UserID())
	if err != nil || u.ID != b.UserID() {
		t.Fatalf("search: %+v %v", u, err)
	}
	if _, err := a.SearchUser(ctx, "99999"); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("search for nobody: %v", err)
	}
	if err := a.Ping(ctx); err != nil {
		t.Fatal(err)
	}

	// Errors of the account calls.
	c := realDial(t, addr)
	if _, err := c.Login(ctx, a.UserID(), "wrong"); !errors.Is(err, client.ErrBadCredentials) {
		t.Fatalf("wrong password: %v", err)
	}
	if _, err := c.Register(ctx, a.UserID(), "dup", "pw"); !errors.Is(err, client.ErrConflict) {
		t.Fatalf("duplicate register: %v", err)
	}
	if _, err := c.Register(ctx, "not-digits", "x", "pw"); !errors.Is(err, client.ErrInvalid) {
		t.Fatalf("bad phone: %v", err)
	}

	if err := a.DeleteFriend(ctx, b.UserID()); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Send(ctx, b.UserID(), "after delete"); !errors.Is(err, client.ErrForbidden) {
		t.Fatalf("send after delete: %v", err)
	}
}
