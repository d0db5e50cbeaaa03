package cluster_test

import (
	"context"
	"testing"
	"time"

	"github.com/parley-im/parley/app/apptest"
	"github.com/parley-im/parley/client"
	"github.com/parley-im/parley/wire"
)

// groupWait bounds every wait for a push. A push that never comes (a
// fan-out that stayed on the sender's node) fails the test after it.
const groupWait = 10 * time.Second

// A group message reaches its members on another node, once per session:
// a on node 1 sends to a group with b (one session on each node) and c
// (node 2). Every member session gets exactly one push with the group id,
// seq, sender and body, and a gets the ack. After c leaves, the next
// message reaches b's sessions but not c: a 1:1 marker to c, sent after
// b's node-2 session got the message, proves nothing was still on its way.
// On node 2, unread counts and group_sync read the stored messages.
// Pushes to node 2 travel only through Directory.DeliverMany's publish, so
// a DeliverMany that delivered locally only fails the first wait.
func TestGroupMessageReachesMembersOnOtherNode(t *testing.T) {
	n := startNATS(t)
	nodes := startNodes(t, n.url(), 2)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	a := sdkUser(t, ctx, nodes[0], "13500000001", true)
	b2 := sdkUser(t, ctx, nodes[1], "13500000002", true)
	c := sdkUser(t, ctx, nodes[1], "13500000003", true)
	for _, m := range []*client.Client{b2, c} {
		if err := m.AddFriend(ctx, a.UserID()); err != nil {
			t.Fatal(err)
		}
		if err := a.AcceptFriend(ctx, m.UserID()); err != nil {
			t.Fatal(err)
		}
	}
	b1 := sdkUser(t, ctx, nodes[0], b2.UserID(), false) // b's second session, on a's node
	members := map[string]*client.Client{"b@node1": b1, "b@node2": b2, "c@node2": c}

	g, err := a.CreateGroup(ctx, "across", b2.UserID(), c.UserID())
	if err != nil || g.Members != 3 || g.LastSeq != 1 {
		t.Fatalf("CreateGroup: %+v, %v", g, err)
	}
	for who, m := range members {
		if p := nextGroupPush(t, m, who); p.GroupID != g.ID || p.Seq != 1 || p.Type != wire.MessageTypeSystem {
			t.Fatalf("%s: create push %+v", who, p)
		}
	}

	// The first message: the ack to a, one push to each member session.
	const first, second = "hello, both nodes", "after c left"
	seq1, err := a.SendGroup(ctx, g.ID, first)
	if err != nil || seq1 != 2 {
		t.Fatalf("SendGroup: seq %d, %v", seq1, err)
	}
	for who, m := range members {
		p := nextGroupPush(t, m, who)
		if p.GroupID != g.ID || p.Seq != seq1 || p.From != a.UserID() || p.Body != first || p.Type != wire.MessageTypeText {
			t.Fatalf("%s: got %+v, want seq %d from %s %q", who, p, seq1, a.UserID(), first)
		}
	}
	// Exactly one: a marker sent after every push arrived comes after any
	// duplicate (each session's frames arrive in order, and the SDK routes
	// a group push before it reads the next frame).
	markAndExpectNoGroupPush(t, ctx, a, members, "marker 1")

	// c leaves: its sessions get the leave event, b's too.
	seqLeave, err := c.LeaveGroup(ctx, g.ID)
	if err != nil || seqLeave != 3 {
		t.Fatalf("LeaveGroup: seq %d, %v", seqLeave, err)
	}
	for who, m := range members {
		p := nextGroupPush(t, m, who)
		if ev, ok := p.Event(); !ok || ev.Event != wire.GroupEventLeave || p.Seq != seqLeave {
			t.Fatalf("%s: leave push %+v (%+v)", who, p, ev)
		}
	}

	seq2, err := a.SendGroup(ctx, g.ID, second)
	if err != nil || seq2 != 4 {
		t.Fatalf("SendGroup after leave: seq %d, %v", seq2, err)
	}
	// b@node2 first: once it has the message, node 2 has handled the
	// fan-out that would have carried it to c too.
	delete(members, "c@node2")
	for _, who := range []string{"b@node2", "b@node1"} {
		p := nextGroupPush(t, members[who], who)
		if p.GroupID != g.ID || p.Seq != seq2 || p.From != a.UserID() || p.Body != second {
			t.Fatalf("%s: got %+v, want seq %d %q", who, p, seq2, second)
		}
	}
	members["c@node2"] = c
	markAndExpectNoGroupPush(t, ctx, a, members, "marker 2")

	// Node 2 reads what node 1 stored: b's unread count and sync see both
	// messages; c's sync ends at its leave.
	gs, err := b2.Groups(ctx)
	if err != nil || len(gs) != 1 || gs[0].ID != g.ID || gs[0].LastSeq != seq2 || gs[0].LastMessage != second ||
		gs[0].Unread != seq2-gs[0].ReadSeq || gs[0].Unread < 2 {
		t.Fatalf("b's groups on node 2: %+v, %v", gs, err)
	}
	msgs, more, err := b2.GroupSync(ctx, g.ID, 0, 0)
	if err != nil || more || len(msgs) != 4 {
		t.Fatalf("b's sync on node 2: %+v more=%v %v", msgs, more, err)
	}
	if m := msgs[1]; m.Seq != seq1 || m.From != a.UserID() || m.Body != first {
		t.Fatalf("b's sync: first message %+v", m)
	}
	if m := msgs[3]; m.Seq != seq2 || m.From != a.UserID() || m.Body != second {
		t.Fatalf("b's sync: second message %+v", m)
	}
	msgs, _, err = c.GroupSync(ctx, g.ID, 0, 0)
	if err != nil || len(msgs) == 0 || msgs[len(msgs)-1].Seq != seqLeave {
		t.Fatalf("c's sync on node 2 after leaving: %+v, %v", msgs, err)
	}
	for _, m := range msgs {
		if m.Body == second {
			t.Fatalf("c's sync holds a message from after its leave: %+v", m)
		}
	}
}

// sdkUser dials srv with the SDK and logs in as phone, registering it
// first when register is set.
func sdkUser(t *testing.T, ctx context.Context, srv *apptest.Server, phone string, register bool) *client.Client {
	t.Helper()
	c, err := client.Dial(ctx, srv.Addr(), client.WithRequestTimeout(groupWait))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if register {
		if _, err := c.Register(ctx, phone, "user "+phone, password); err != nil {
			t.Fatalf("register %s: %v", phone, err)
		}
	}
	if _, err := c.Login(ctx, phone, password); err != nil {
		t.Fatalf("login %s: %v", phone, err)
	}
	return c
}

// nextGroupPush waits up to groupWait for c's next group push.
func nextGroupPush(t *testing.T, c *client.Client, who string) client.GroupMessage {
	t.Helper()
	select {
	case m, ok := <-c.GroupMessages():
		if !ok {
			t.Fatalf("%s: group pushes closed", who)
		}
		return m
	case <-time.After(groupWait):
		t.Fatalf("%s: no group push within %v", who, groupWait)
	}
	return client.GroupMessage{}
}

// markAndExpectNoGroupPush sends body 1:1 from from to every member,
// waits (bounded) until each session has it, and fails if a group push
// arrived before it: frames reach a session in order, so the marker comes
// after anything that was on its way.
func markAndExpectNoGroupPush(t *testing.T, ctx context.Context, from *client.Client, members map[string]*client.Client, body string) {
	t.Helper()
	sent := map[string]bool{}
	for _, m := range members {
		if !sent[m.UserID()] {
			if _, err := from.Send(ctx, m.UserID(), body); err != nil {
				t.Fatal(err)
			}
			sent[m.UserID()] = true
		}
	}
	for who, m := range members {
		deadline := time.After(groupWait)
	wait:
		for {
			select {
			case msg := <-m.Messages():
				if msg.Body == body {
					break wait
				}
			case <-deadline:
				t.Fatalf("%s: marker %q not received within %v", who, body, groupWait)
			}
		}
		select {
		case p := <-m.GroupMessages():
			t.Fatalf("%s: unexpected group push before %q: %+v", who, body, p)
		default:
		}
	}
}
