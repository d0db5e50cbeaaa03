package client_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/parley-im/parley/app/apptest"
	"github.com/parley-im/parley/client"
	"github.com/parley-im/parley/wire"
)

// nextGroup waits for the next group push on c.
func nextGroup(t *testing.T, c *client.Client) client.GroupMessage {
	t.Helper()
	return receive(t, c.GroupMessages(), c.UserID())
}

// Groups through the SDK and a real server on real sockets, on SQLite and
// PostgreSQL: create with friends, invite, chat with pushes to every
// member, unread counts in Groups and ChatList, mark read, sync and
// history, and a removed member who hears nothing after its removal.
func TestRealGroups(t *testing.T) {
	for _, driver := range apptest.Drivers(t) {
		t.Run(driver, func(t *testing.T) {
			srv := apptest.Start(t, apptest.WithDriver(driver))
			testRealGroups(t, srv.Addr())
		})
	}
}

func testRealGroups(t *testing.T, addr string) {
	owner := account(t, addr, "13900000001")
	a := account(t, addr, "13900000002")
	b := account(t, addr, "13900000003")
	late := account(t, addr, "13900000004")
	ctx := realCtx(t)

	if _, err := owner.CreateGroup(ctx, "team", a.UserID()); !errors.Is(err, client.ErrForbidden) {
		t.Fatalf("group with a stranger: %v, want ErrForbidden", err)
	}
	for _, m := range []*client.Client{a, b, late} {
		if err := m.AddFriend(ctx, owner.UserID()); err != nil {
			t.Fatal(err)
		}
		if err := owner.AcceptFriend(ctx, m.UserID()); err != nil {
			t.Fatal(err)
		}
		next(t, m) // the greeting
	}

	g, err := owner.CreateGroup(ctx, "team", a.UserID(), b.UserID())
	if err != nil || g.Role != wire.GroupRoleOwner || g.Members != 3 || g.LastSeq != 1 {
		t.Fatalf("CreateGroup: %+v, %v", g, err)
	}
	for _, c := range []*client.Client{owner, a, b} {
		m := nextGroup(t, c)
		ev, ok := m.Event()
		if m.GroupID != g.ID || m.Seq != 1 || !ok || ev.Event != wire.GroupEventCreate {
			t.Fatalf("%s: create push %+v", c.UserID(), m)
		}
	}

	for i := range 3 {
		seq, err := a.SendGroup(ctx, g.ID, fmt.Sprint("msg ", i))
		if err != nil || seq != int64(2+i) {
			t.Fatalf("SendGroup %d: seq %d, %v", i, seq, err)
		}
	}
	for _, c := range []*client.Client{owner, a, b} {
		for i := range 3 {
			m := nextGroup(t, c)
			if m.Seq != int64(2+i) || m.From != a.UserID() || m.Body != fmt.Sprint("msg ", i) || m.Time == "" {
				t.Fatalf("%s: push %d = %+v", c.UserID(), i, m)
			}
		}
	}
	if _, err := late.SendGroup(ctx, g.ID, "not yet"); !errors.Is(err, client.ErrNotMember) {
		t.Fatalf("send by a non-member: %v, want ErrNotMember", err)
	}

	gs, err := b.Groups(ctx)
	if err != nil || len(gs) != 1 || gs[0].Unread != 3 || gs[0].LastMessage != "msg 2" {
		t.Fatalf("b's groups: %+v, %v", gs, err)
	}
	if cur, err := b.MarkGroupRead(ctx, g.ID, 3); err != nil || cur != 3 {
		t.Fatalf("MarkGroupRead: %d, %v", cur, err)
	}
	chats, groups, err := b.ChatList(ctx)
	if err != nil || len(groups) != 1 || groups[0].Unread != 1 || len(chats) != 1 || chats[0].Peer != owner.UserID() {
		t.Fatalf("ChatList: %+v %+v %v", chats, groups, err)
	}

	// A member added later sees from its join on; sync and history page.
	if seq, err := owner.AddGroupMembers(ctx, g.ID, late.UserID()); err != nil || seq != 5 {
		t.Fatalf("AddGroupMembers: %d, %v", seq, err)
	}
	if m := nextGroup(t, late); m.Seq != 5 {
		t.Fatalf("late's first push %+v", m)
	}
	msgs, more, err := late.GroupSync(ctx, g.ID, 0, 0)
	if err != nil || more || len(msgs) != 1 || msgs[0].Seq != 5 {
		t.Fatalf("late's sync: %+v %v %v", msgs, more, err)
	}
	msgs, more, err = owner.GroupSync(ctx, g.ID, 1, 2)
	if err != nil || !more || len(msgs) != 2 || msgs[0].Seq != 2 {
		t.Fatalf("owner's sync page: %+v %v %v", msgs, more, err)
	}
	hist, more, err := owner.GroupHistory(ctx, g.ID, 0, 2)
	if err != nil || !more || len(hist) != 2 || hist[0].Seq != 4 || hist[1].Seq != 5 {
		t.Fatalf("history: %+v %v %v", hist, more, err)
	}

	// Removed: b gets its removal, then nothing (positive control: late
	// gets the next message).
	if _, err := owner.RemoveGroupMember(ctx, g.ID, b.UserID()); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*client.Client{b, late} {
		for {
			m := nextGroup(t, c)
			if ev, _ := m.Event(); ev.Event == wire.GroupEventRemove {
				break
			}
		}
	}
	if _, err := owner.SendGroup(ctx, g.ID, "after b"); err != nil {
		t.Fatal(err)
	}
	if m := nextGroup(t, late); m.Body != "after b" {
		t.Fatalf("late got %+v", m)
	}
	select {
	case m := <-b.GroupMessages():
		t.Fatalf("removed member got %+v", m)
	default:
	}
	if _, _, err := b.GroupSync(ctx, g.ID, 0, 0); err != nil {
		t.Fatalf("removed member still reads its history: %v", err)
	}
	if _, err := b.GroupInfo(ctx, g.ID); !errors.Is(err, client.ErrNotMember) {
		t.Fatalf("GroupInfo after removal: %v", err)
	}
}
