package handlers

import (
	"bytes"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/parley-im/parley/db"
	"github.com/parley-im/parley/session"
	"github.com/parley-im/parley/wire"
)

// stashes keeps, per connection, the group pushes read while waiting for a
// reply: the fan-out runs beside the handler, so a push may come before or
// after the reply of the request that caused it.
type stashes struct {
	mu sync.Mutex
	m  map[*conn][]wire.GroupMessage
}

var groupStash = &stashes{m: make(map[*conn][]wire.GroupMessage)}

// sort files frames: group pushes into c's stash, the rest returned.
func (st *stashes) sort(c *conn, frames [][]byte) [][]byte {
	st.mu.Lock()
	defer st.mu.Unlock()
	var rest [][]byte
	for _, f := range frames {
		var m wire.GroupMessage
		if json.Unmarshal(f, &m) == nil && m.Type == wire.TypeGroupMessage {
			st.m[c] = append(st.m[c], m)
			continue
		}
		rest = append(rest, f)
	}
	return rest
}

// call sends a request on c and returns its one reply, stashing pushes.
func call(t *testing.T, c *conn, req map[string]any) map[string]any {
	t.Helper()
	frames := groupStash.sort(c, c.do(req))
	if len(frames) != 1 {
		t.Fatalf("%v: got %d reply frames, want 1: %q", req["type"], len(frames), frames)
	}
	return object(t, frames[0])
}

// groupPushes waits until c has n group_message pushes (others dropped)
// and returns them, failing after a deadline.
func groupPushes(t *testing.T, c *conn, n int) []wire.GroupMessage {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		groupStash.sort(c, c.cap.take())
		groupStash.mu.Lock()
		got := groupStash.m[c]
		if len(got) >= n {
			groupStash.m[c] = got[n:]
			groupStash.mu.Unlock()
			return got[:n]
		}
		groupStash.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("%s got %d group pushes, want %d: %+v", c.s.UserID(), len(got), n, got)
		}
		time.Sleep(5 * time.Millisecond) // polling with a deadline
	}
}

// noPushes fails if c has any group push waiting.
func noPushes(t *testing.T, c *conn) {
	t.Helper()
	groupStash.sort(c, c.cap.take())
	groupStash.mu.Lock()
	defer groupStash.mu.Unlock()
	if got := groupStash.m[c]; len(got) > 0 {
		t.Fatalf("%s got unexpected pushes %+v", c.s.UserID(), got)
	}
}

// groupEnv is three friends of "1" logged in ("2", "3", "4") and a group of
// "1" with "2" and "3"; each member has seen the create push.
func groupEnv(t *testing.T, opts ...func(*env, *Deps)) (e *env, c1, c2, c3, c4 *conn, gid string) {
	e = newEnv(t, opts...)
	for _, id := range []string{"1", "2", "3", "4"} {
		e.register(id, "n"+id, "666")
	}
	c1 = e.login("1", "666")
	c2, c3, c4 = e.login("2", "666"), e.login("3", "666"), e.login("4", "666")
	for _, c := range []*conn{c2, c3, c4} {
		e.befriend(c1, c)
		c.cap.take()
	}
	r := call(t, c1, map[string]any{"type": "group_create", "name": "team", "members": []string{"2", "3"}})
	if r["status"] != "success" {
		t.Fatalf("group_create: %v", r)
	}
	g := r["group"].(map[string]any)
	want(t, g, map[string]string{"role": "owner", "members": "3", "last_seq": "1", "unread": "0"})
	gid = g["group_id"].(string)
	for _, c := range []*conn{c1, c2, c3} {
		p := groupPushes(t, c, 1)[0]
		if p.GroupSeq != "1" || p.MessageType != wire.MessageTypeSystem || p.GroupID != gid {
			t.Fatalf("create push %+v", p)
		}
	}
	return e, c1, c2, c3, c4, gid
}

// A group message is stored once, acknowledged with its seq and pushed to
// every online member with group id, seq, sender, body and time; a resend
// with its client_msg_id gets the same seq and pushes nothing; the unread
// count is last seq - read cursor; the seed's chatting reply never shows
// the group, chat_list does.
func TestGroupSendPushUnread(t *testing.T) {
	e, c1, c2, c3, c4, gid := groupEnv(t)
	send := map[string]any{"type": "group_send", "group_id": gid, "body": "hello team", "client_msg_id": "m1"}
	ack := call(t, c2, send)
	want(t, ack, map[string]string{"status": "success", "group_id": gid, "group_seq": "2"})
	for _, c := range []*conn{c1, c3} {
		p := groupPushes(t, c, 1)[0]
		if p.GroupID != gid || p.GroupSeq != "2" || p.SenderID != "2" || p.Body != "hello team" || p.Time == "" {
			t.Fatalf("push to %s: %+v", c.s.UserID(), p)
		}
	}
	groupPushes(t, c2, 1) // the sender's own session too (its other devices need it)
	again := call(t, c2, send)
	want(t, again, map[string]string{"status": "success", "group_seq": "2"})
	other := call(t, c2, map[string]any{"type": "group_send", "group_id": gid, "body": "changed", "client_msg_id": "m1"})
	want(t, other, map[string]string{"status": "error", "code": "conflict"})
	// Positive control for "the resend pushed nothing": the next message
	// is the next push.
	want(t, call(t, c2, map[string]any{"type": "group_send", "group_id": gid, "body": "second"}),
		map[string]string{"group_seq": "3"})
	if p := groupPushes(t, c3, 1)[0]; p.GroupSeq != "3" {
		t.Fatalf("after a resend c3 got seq %s, want 3", p.GroupSeq)
	}
	groupPushes(t, c1, 1)

	// A non-member is refused with not_member and reaches nobody.
	want(t, call(t, c4, map[string]any{"type": "group_send", "group_id": gid, "body": "let me in"}),
		map[string]string{"status": "error", "code": "not_member"})

	// Unread: 3 has read up to its join (1); 2 and 3 arrived since.
	list := call(t, c3, map[string]any{"type": "group_list"})
	gs := list["groups"].([]any)
	if len(gs) != 1 {
		t.Fatalf("group_list %v", list)
	}
	want(t, gs[0].(map[string]any), map[string]string{"group_id": gid, "unread": "2", "last_seq": "3", "last_message": "second"})
	want(t, call(t, c3, map[string]any{"type": "group_read", "group_id": gid, "group_seq": "3"}),
		map[string]string{"read_seq": "3"})
	cl := call(t, c3, map[string]any{"type": "chat_list"})
	want(t, cl["groups"].([]any)[0].(map[string]any), map[string]string{"group_id": gid, "unread": "0"})
	if chats := cl["chats"].([]any); len(chats) != 1 {
		t.Fatalf("chat_list chats %v", cl["chats"])
	}
	// The seed's chatting reply: the friend chat only, as before groups.
	for _, it := range array(t, c3.one(map[string]any{"type": "chatting", "user_id": "3"})) {
		if it["comm_id"] != "1" {
			t.Fatalf("chatting shows %v", it)
		}
	}

	// Sync from 0 as 3 and history paging back from the newest.
	page := call(t, c3, map[string]any{"type": "group_sync", "group_id": gid, "after_seq": "0", "limit": 2})
	if msgs := page["messages"].([]any); len(msgs) != 2 || page["more"] != true {
		t.Fatalf("group_sync page %v", page)
	}
	h := call(t, c3, map[string]any{"type": "group_history", "group_id": gid, "limit": 2})
	hm := h["messages"].([]any)
	if len(hm) != 2 || hm[0].(map[string]any)["group_seq"] != "2" || hm[1].(map[string]any)["group_seq"] != "3" {
		t.Fatalf("group_history %v", h)
	}
	_ = e
}

// Membership changes are system messages in the stream; a member added
// later sees from its join on, a removed one gets its removal and nothing
// after it.
func TestGroupMembershipVisibility(t *testing.T) {
	e, c1, c2, c3, c4, gid := groupEnv(t)
	want(t, call(t, c2, map[string]any{"type": "group_add", "group_id": gid, "members": []string{"4"}}),
		map[string]string{"status": "error", "code": "forbidden"})
	want(t, call(t, c1, map[string]any{"type": "group_add", "group_id": gid, "members": []string{"4"}}),
		map[string]string{"status": "success", "group_seq": "2"})
	for _, c := range []*conn{c2, c3, c4} {
		if p := groupPushes(t, c, 1)[0]; p.GroupSeq != "2" || p.MessageType != wire.MessageTypeSystem {
			t.Fatalf("add event to %s: %+v", c.s.UserID(), p)
		}
	}
	groupPushes(t, c1, 1)
	sync4 := call(t, c4, map[string]any{"type": "group_sync", "group_id": gid})
	if msgs := sync4["messages"].([]any); len(msgs) != 1 || msgs[0].(map[string]any)["group_seq"] != "2" {
		t.Fatalf("late joiner syncs %v, want only its join (2)", sync4)
	}

	want(t, call(t, c1, map[string]any{"type": "group_remove", "group_id": gid, "member_id": "3"}),
		map[string]string{"status": "success", "group_seq": "3"})
	var ev wire.GroupEvent
	if p := groupPushes(t, c3, 1)[0]; json.Unmarshal([]byte(p.Body), &ev) != nil || ev.Event != wire.GroupEventRemove {
		t.Fatalf("removed member's last push %+v", p)
	}
	groupPushes(t, c2, 1)
	groupPushes(t, c4, 1)
	groupPushes(t, c1, 1)
	want(t, call(t, c2, map[string]any{"type": "group_send", "group_id": gid, "body": "3 is gone"}),
		map[string]string{"group_seq": "4"})
	groupPushes(t, c4, 1) // positive control: the message went out
	groupPushes(t, c2, 1)
	noPushes(t, c3)
	page := call(t, c3, map[string]any{"type": "group_sync", "group_id": gid})
	msgs := page["messages"].([]any)
	if last := msgs[len(msgs)-1].(map[string]any)["group_seq"]; last != "3" {
		t.Fatalf("removed member syncs up to %v, want 3", last)
	}
	want(t, call(t, c3, map[string]any{"type": "group_info", "group_id": gid}),
		map[string]string{"status": "error", "code": "not_member"})
	mem := call(t, c2, map[string]any{"type": "group_members", "group_id": gid, "limit": 2})
	if ms := mem["members"].([]any); len(ms) != 2 || mem["more"] != true {
		t.Fatalf("members page %v", mem)
	}
	_ = e
}

// blockingDeliverer holds DeliverMany until released, so a test can see
// that group_send answers while its fan-out is still running.
type blockingDeliverer struct {
	*session.Registry
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

func (d *blockingDeliverer) DeliverMany(ids []string, body []byte) int {
	if bytes.Contains(body, []byte(`"body":"slow"`)) {
		d.once.Do(func() { close(d.entered) })
		<-d.release
	}
	return d.Registry.DeliverMany(ids, body)
}

// A send is acknowledged once stored, not once pushed: with the fan-out
// stuck in DeliverMany, the sender still gets its ack, and the push follows
// when the fan-out moves on.
func TestGroupSendDoesNotWaitForFanout(t *testing.T) {
	var bd *blockingDeliverer
	_, c1, c2, c3, _, gid := groupEnv(t, func(e *env, d *Deps) {
		bd = &blockingDeliverer{Registry: e.reg, entered: make(chan struct{}), release: make(chan struct{})}
		d.Sessions = struct {
			Binder
			Presence
			session.Deliverer
		}{e.reg, e.reg, bd}
	})
	_ = c1
	want(t, call(t, c2, map[string]any{"type": "group_send", "group_id": gid, "body": "slow"}),
		map[string]string{"status": "success", "group_seq": "2"})
	<-bd.entered // the fan-out is inside DeliverMany, and the ack came anyway
	noPushes(t, c3)
	close(bd.release)
	if p := groupPushes(t, c3, 1)[0]; p.Body != "slow" {
		t.Fatalf("push %+v", p)
	}
}

// *db.MessageWriter is the production GroupSaver: group messages share its
// group commit.
var _ GroupSaver = (*db.MessageWriter)(nil)

// A message stored before a membership change but pushed after it goes to
// the members of its time: not to whoever joined since (their join is a
// later seq), and the cached list is reloaded for a newer member_seq.
func TestFanoutMembersAtMessageTime(t *testing.T) {
	e, c1, _, _, _, gid := groupEnv(t)
	id := mustParse(t, gid)
	// Seq 2, stored at member_seq 1 ("1", "2", "3").
	want(t, call(t, c1, map[string]any{"type": "group_send", "group_id": gid, "body": "before 4"}),
		map[string]string{"group_seq": "2"})
	// "4" joins at seq 3.
	want(t, call(t, c1, map[string]any{"type": "group_add", "group_id": gid, "members": []string{"4"}}),
		map[string]string{"group_seq": "3"})
	f := newFanout(1, 1, e.store, e.reg, zap.NewNop())
	defer f.close()
	ids, err := f.members(fanJob{group: id, seq: 3, memberSeq: 3}) // loads the list at member_seq 3
	if err != nil || len(ids) != 4 {
		t.Fatalf("members at seq 3: %v, %v", ids, err)
	}
	ids, err = f.members(fanJob{group: id, seq: 2, memberSeq: 1}) // the older message, from the cache
	if err != nil || len(ids) != 3 || ids[2] != "3" {
		t.Fatalf("members for seq 2 (before 4 joined): %v, %v", ids, err)
	}
}

func mustParse(t *testing.T, s string) int64 {
	t.Helper()
	n, err := groupID(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
