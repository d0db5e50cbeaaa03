package handlers

import (
	"bytes"
	"context"
	"fmt"
	"github.com/parley-im/parley/db"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-im/parley/config"
	"github.com/parley-im/parley/wire"
)

func sendMsg(from, to, body string) map[string]any {
	return map[string]any{
		"type": "send_message", "send_id": from, "receiver_id": to, "message_body": body,
		"chat_type": "friend", "file_path": " ", "message_type": "text", "message_timestamp": "1999-01-01 00:00:00",
	}
}

func TestSendMessageLive(t *testing.T) {
	e := newEnv(t)
	a, b := e.friends()
	b2 := e.login("2", "666") // a second client of B

	before := time.Now().Truncate(time.Second)
	ack := object(t, a.one(sendMsg("1", "2", "hello")))
	allStrings(t, ack)
	want(t, ack, map[string]string{"type": "send_message", "status": "success"})
	id, err := strconv.ParseInt(ack["message_id"].(string), 10, 64)
	if err != nil || id <= 0 {
		t.Fatalf("message_id = %v", ack["message_id"])
	}

	p1, p2 := b.cap.take(), b2.cap.take()
	if len(p1) != 1 || len(p2) != 1 || !bytes.Equal(p1[0], p2[0]) {
		t.Fatalf("each session of B must get the same single push: %q / %q", p1, p2)
	}
	m := object(t, p1[0])
	allStrings(t, m)
	want(t, m, map[string]string{
		"type": "receive_message", "status": "success", "send_id": "1", "receiver_id": "2",
		"message_body": "hello", "chat_type": "friend", "message_type": "text", "file_path": " ",
		"message_id": ack["message_id"].(string),
	})
	// The server's clock replaces the client's (B20).
	ts, err := wire.ParseTime(m["message_timestamp"].(string))
	if err != nil || ts.Before(before) || ts.After(time.Now().Add(time.Second)) {
		t.Fatalf("message_timestamp %v is not the server's time", m["message_timestamp"])
	}

	// Live-pushed: never delivered again at a later login.
	b3 := e.login("2", "666")
	want(t, array(t, b3.one(map[string]any{"type": "get_unread_messages", "user_id": "2"}))[0], map[string]string{"status": "null"})

	// The chat lists were updated in the same transaction.
	chats := array(t, b.one(map[string]any{"type": "chatting", "user_id": "2"}))
	// B accepted A, so the greeting went from B to A: "hello" is B's one unread.
	want(t, chats[0], map[string]string{"comm_id": "1", "last_message": "hello", "unread_count": "1"})
}

// TestMessageDefaultsReachTheClient: a send_message without chat_type,
// message_type or file_path is pushed, and later read back, with the
// protocol's defaults (the seed client's history reader needs every field
// non-empty). They are applied once, when db stores the message (issue 12);
// this keeps the handlers' replies as they were when each layer applied
// them again.
func TestMessageDefaultsReachTheClient(t *testing.T) {
	e := newEnv(t)
	a, b := e.friends()
	bare := map[string]any{"type": "send_message", "send_id": "1", "receiver_id": "2", "message_body": "bare"}
	defaults := map[string]string{"chat_type": wire.ChatTypeFriend, "message_type": wire.MessageTypeText, "file_path": wire.NoFile, "message_body": "bare"}

	want(t, object(t, a.one(bare)), map[string]string{"status": "success"})
	p := b.cap.take()
	if len(p) != 1 {
		t.Fatalf("pushes %q, want one", p)
	}
	want(t, object(t, p[0]), defaults)

	e.reg.Remove(b.s)
	want(t, object(t, a.one(bare)), map[string]string{"status": "success"})
	b2 := e.login("2", "666")
	frames := b2.do(map[string]any{"type": "get_unread_messages", "user_id": "2"})
	if len(frames) != 1 {
		t.Fatalf("got %d frames, want the one stored message", len(frames))
	}
	want(t, object(t, frames[0]), defaults)
}

func TestSendMessageOfflineDeliveredOnceInOrder(t *testing.T) {
	e := newEnv(t)
	a, b := e.friends()
	e.reg.Remove(b.s)

	for i := 0; i < 5; i++ {
		ack := object(t, a.one(sendMsg("1", "2", fmt.Sprint("m", i))))
		want(t, ack, map[string]string{"status": "success"})
	}
	b2 := e.login("2", "666")
	frames := b2.do(map[string]any{"type": "get_unread_messages", "user_id": "2", "seq": 9})
	if len(frames) != 5 {
		t.Fatalf("got %d frames, want one per message (5)", len(frames))
	}
	var last int64
	for i, f := range frames {
		m := object(t, f)
		if m["seq"] != float64(9) {
			t.Errorf("frame %d does not echo seq: %s", i, f)
		}
		delete(m, "seq")
		allStrings(t, m)
		want(t, m, map[string]string{"type": "get_unread_messages", "status": "success", "message_body": fmt.Sprint("m", i), "file_path": " "})
		id, _ := strconv.ParseInt(m["message_id"].(string), 10, 64)
		if id <= last {
			t.Fatalf("messages out of order: %d after %d", id, last)
		}
		last = id
	}
	// Exactly once.
	want(t, array(t, b2.one(map[string]any{"type": "get_unread_messages", "user_id": "2"}))[0], map[string]string{"status": "null"})
}

func TestPushToVanishedSessionStaysUndelivered(t *testing.T) {
	e := newEnv(t)
	a, b := e.friends()
	b.cap.broken.Store(true) // B is still registered, but its connection died

	want(t, object(t, a.one(sendMsg("1", "2", "lost?"))), map[string]string{"status": "success"})
	e.reg.Remove(b.s)
	b2 := e.login("2", "666")
	frames := b2.do(map[string]any{"type": "get_unread_messages", "user_id": "2"})
	if len(frames) != 1 {
		t.Fatalf("want the message once, got %q", frames)
	}
	want(t, object(t, frames[0]), map[string]string{"message_body": "lost?"})
}

func TestCatchUpStopsOnDeadConnection(t *testing.T) {
	e := newEnv(t)
	a, b := e.friends()
	e.reg.Remove(b.s)
	a.one(sendMsg("1", "2", "x"))

	b2 := e.login("2", "666")
	b2.cap.broken.Store(true)
	b2.do(map[string]any{"type": "get_unread_messages", "user_id": "2"})
	msgs, err := e.store.Undelivered(context.Background(), "2", 10)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("a message that could not be written must stay undelivered: %v %v", msgs, err)
	}
}

func TestSendMessageRefusals(t *testing.T) {
	e := newEnv(t)
	maxBody := config.Default().Messages.MaxBody
	e.register("1", "a", "666")
	e.register("2", "b", "666")
	e.register("3", "c", "666")
	a, b := e.login("1", "666"), e.login("2", "666")
	e.befriend(a, b)

	cases := []struct {
		req  map[string]any
		code string
	}{
		{sendMsg("1", "3", "stranger"), "forbidden"},
		{sendMsg("1", "99", "nobody"), "not_found"},
		{sendMsg("1", "", "x"), "invalid"},
		{sendMsg("1", "2", strings.Repeat("x", maxBody+1)), "too_large"},
		{func() map[string]any { m := sendMsg("1", "2", "x"); m["chat_type"] = "group"; return m }(), "invalid"},
		{func() map[string]any { m := sendMsg("1", "2", "x"); m["message_type"] = "exe"; return m }(), "invalid"},
	}
	for _, tc := range cases {
		want(t, object(t, a.one(tc.req)), map[string]string{"type": "send_message", "status": "error", "code": tc.code})
	}
	if got := b.cap.take(); len(got) != 0 {
		t.Fatalf("a refused message was pushed: %q", got)
	}
	// Exactly messages.max_body is accepted.
	want(t, object(t, a.one(sendMsg("1", "2", strings.Repeat("x", maxBody)))), map[string]string{"status": "success"})
}

// A retry gets the first send's id and pushes the message to nobody again;
// the receiver gets a sync_hint instead, in case the first push never left
// (delivery.retried).
func TestSendMessageClientMsgIDIsIdempotent(t *testing.T) {
	e := newEnv(t)
	a, b := e.friends()
	req := sendMsg("1", "2", "once")
	req["client_msg_id"] = "c-1"
	first := object(t, a.one(req))
	if got := b.cap.take(); len(got) != 1 || !strings.Contains(string(got[0]), `"receive_message"`) {
		t.Fatalf("first send pushed %q", got)
	}
	second := object(t, a.one(req))
	if first["message_id"] != second["message_id"] {
		t.Fatalf("retry stored a second message: %v vs %v", first, second)
	}
	if got := b.cap.take(); len(got) != 1 || string(got[0]) != string(wire.SyncHintBody) {
		t.Fatalf("retry pushed %q, want one sync_hint", got)
	}
}

func TestUpdateChat(t *testing.T) {
	e := newEnv(t)
	a, b := e.friends()
	a.one(sendMsg("1", "2", "hello"))
	b.cap.take() // the push

	// The seed client's numeric unread_count, and a future last_time
	// (client clock ahead), which is capped at the server's now.
	upd := map[string]any{
		"type": "update_chat", "user_id": "2", "comm_id": "1", "chat_status": "chatting", "chat_type": "friend",
		"last_message": "hello", "last_message_type": "text", "last_time": "2999-01-01 00:00:00", "unread_count": 0,
	}
	m := object(t, b.one(upd))
	want(t, m, map[string]string{"type": "update_chat", "status": "success"})
	chats := array(t, b.one(map[string]any{"type": "chatting", "user_id": "2"}))
	want(t, chats[0], map[string]string{"unread_count": "0", "last_message": "hello"})
	if lt := chats[0]["last_time"].(string); lt >= "2999" {
		t.Fatalf("client's future last_time was stored: %s", lt)
	}

	// The string form is accepted too; stale values do not move the summary back.
	upd["unread_count"] = "0"
	upd["last_message"] = "stale"
	upd["last_time"] = "2000-01-01 00:00:00"
	upd["chat_status"] = ""
	want(t, object(t, b.one(upd)), map[string]string{"status": "success"})
	chats = array(t, b.one(map[string]any{"type": "chatting", "user_id": "2"}))
	want(t, chats[0], map[string]string{"last_message": "hello", "chat_status": "chatting"})

	upd["unread_count"] = "many"
	want(t, object(t, b.one(upd)), map[string]string{"status": "error", "code": "bad_request"})
	upd["unread_count"] = -1
	want(t, object(t, b.one(upd)), map[string]string{"status": "error", "code": "invalid"})
	upd["unread_count"] = 0
	upd["comm_id"] = "3"
	want(t, object(t, b.one(upd)), map[string]string{"status": "error", "code": "not_found"})
}

func TestCatchUpIsBoundedAndResumesAtNextLogin(t *testing.T) {
	e := newEnv(t, func(_ *env, d *Deps) {
		d.Limits = defaultLimits()
		d.Limits.MaxBody = config.MaxStoredBody
	})
	a, b := e.friends()
	e.reg.Remove(b.s)
	// 40 messages of 60 KiB: more than both budgets (get_unread_messages
	// frames, then receive_message pushes) can carry in one catch-up.
	const n = 40
	big := strings.Repeat("y", 60<<10)
	for i := 0; i < n; i++ {
		want(t, object(t, a.one(sendMsg("1", "2", fmt.Sprint(i, big)))), map[string]string{"status": "success"})
	}
	first := e.login("2", "666").do(map[string]any{"type": "get_unread_messages", "user_id": "2"})
	size, unread, pushed := 0, 0, 0
	for _, f := range first {
		size += len(f)
		switch typ := object(t, f)["type"]; {
		case typ == wire.TypeGetUnreadMessages && pushed == 0:
			unread++
		case typ == wire.TypeReceiveMessage:
			pushed++
		default:
			t.Fatalf("frame %d of the catch-up is a %v", unread+pushed, typ)
		}
	}
	if unread == 0 || pushed == 0 || unread+pushed >= n || size > 2*defaultLimits().ReplyBytes {
		t.Fatalf("first catch-up: %d get_unread_messages + %d receive_message frames, %d bytes; want both kinds, bounded, and fewer than %d",
			unread, pushed, size, n)
	}
	second := e.login("2", "666").do(map[string]any{"type": "get_unread_messages", "user_id": "2"})
	if len(first)+len(second) != n {
		t.Fatalf("got %d + %d messages, want %d in total", len(first), len(second), n)
	}
	for i, f := range append(first, second...) {
		if !strings.HasPrefix(object(t, f)["message_body"].(string), fmt.Sprint(i, "y")) {
			t.Fatalf("message %d out of order", i)
		}
	}
}

// The seed client answers every get_unread_messages frame with a chatting
// request whose reply is the whole chat list, so a user with many chats gets
// fewer catch-up frames of that type (the rest come as receive_message
// pushes, which need no answer): the replies the catch-up will provoke are
// paid for up front, so they cannot overflow the connection's output cap.
func TestCatchUpChargesTheChatListReplies(t *testing.T) {
	e := newEnv(t)
	e.register("1", "a", "666")
	me := e.login("1", "666")
	const friends = 60
	for i := range friends {
		id := fmt.Sprint(100 + i)
		e.register(id, strings.Repeat("n", 200), "666")
		f := e.login(id, "666")
		e.befriend(me, f)
		e.reg.Remove(f.s)
	}
	e.reg.Remove(me.s)
	// 500 unread messages from the friends, oldest first.
	for i := range 500 {
		m := &db.Message{SenderID: fmt.Sprint(100 + i%friends), ReceiverID: "1", Body: fmt.Sprint("m", i)}
		if err := e.store.SaveMessage(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	c := e.login("1", "666")
	list := c.one(map[string]any{"type": "chatting", "user_id": "1"})
	frames := c.do(map[string]any{"type": "get_unread_messages", "user_id": "1"})
	unread, answers := 0, 0
	for _, f := range frames {
		if object(t, f)["type"] == wire.TypeGetUnreadMessages {
			unread++
			answers += len(list) + len(f)
		}
	}
	if unread == 0 || answers > defaultLimits().ReplyBytes+len(list)+len(frames[0]) {
		t.Fatalf("%d get_unread_messages frames would provoke %d bytes of chatting replies (list %d bytes), over the %d budget",
			unread, answers, len(list), defaultLimits().ReplyBytes)
	}
	if len(frames) != 500 {
		t.Fatalf("the catch-up delivered %d of 500 messages", len(frames))
	}
}

// A message sent while its receiver looked offline, racing with that
// receiver's login: the login's catch-up and the live push both want to send
// it. Whoever claims it first sends it; the other does not, so the seed
// client, which has no way to deduplicate, sees it exactly once.
func TestPushAndCatchUpNeverBothDeliver(t *testing.T) {
	e := newEnv(t)
	a, b := e.friends()
	e.reg.Remove(b.s)
	want(t, object(t, a.one(sendMsg("1", "2", "raced"))), map[string]string{"status": "success"})
	stored, err := e.store.Undelivered(context.Background(), "2", 10)
	if err != nil || len(stored) != 1 {
		t.Fatalf("undelivered = %v, %v", stored, err)
	}
	// The receiver logs in and its catch-up delivers the message...
	b2 := e.login("2", "666")
	frames := b2.do(map[string]any{"type": "get_unread_messages", "user_id": "2"})
	if len(frames) != 1 || object(t, frames[0])["message_body"] != "raced" {
		t.Fatalf("catch-up: %q", frames)
	}
	// ...while the sender's push, which saw the receiver offline, runs late.
	late := stored[0]
	if n := e.svc.Messages.deliver.message(context.Background(), &late); n != 0 {
		t.Fatalf("the late push reached %d sessions: a duplicate", n)
	}
	if extra := b2.cap.take(); len(extra) != 0 {
		t.Fatalf("receiver got %q after its catch-up", extra)
	}
	// And the other way round: the push claims first, the catch-up skips it.
	e.reg.Remove(b2.s)
	want(t, object(t, a.one(sendMsg("1", "2", "pushed"))), map[string]string{"status": "success"})
	stored, _ = e.store.Undelivered(context.Background(), "2", 10)
	b3 := e.login("2", "666")
	first := stored[0]
	if n := e.svc.Messages.deliver.message(context.Background(), &first); n != 1 {
		t.Fatalf("push reached %d sessions, want 1", n)
	}
	frames = b3.do(map[string]any{"type": "get_unread_messages", "user_id": "2"})
	if len(frames) != 2 || object(t, frames[0])["message_body"] != "pushed" || !strings.Contains(string(frames[1]), `"status":"null"`) {
		t.Fatalf("after the push, catch-up sent %q; want the push then the null reply", frames)
	}
}

// chatListReads is the real store, counting its chat list reads.
type chatListReads struct {
	*db.Store
	n atomic.Int64
}

func (s *chatListReads) ChatList(ctx context.Context, userID string, limit, previewChars int) ([]db.Chat, error) {
	s.n.Add(1)
	return s.Store.ChatList(ctx, userID, limit, previewChars)
}

// A catch-up with nothing to deliver does not read the chat list (the seed
// client's chatting request reads it right after): a warm login's statements
// are login, get_unread_messages and chatting, one each. With messages to
// deliver, the list's size is charged to the frames (read once).
func TestCatchUpReadsTheChatListOnlyForMessages(t *testing.T) {
	reads := &chatListReads{}
	e := newEnv(t, func(e *env, d *Deps) { reads.Store = e.store; d.Store = reads })
	a, b := e.friends()
	before := reads.n.Load()
	want(t, array(t, b.one(map[string]any{"type": "get_unread_messages", "user_id": "2"}))[0], map[string]string{"status": "null"})
	if n := reads.n.Load() - before; n != 0 {
		t.Fatalf("an empty catch-up read the chat list %d times, want 0", n)
	}
	e.reg.Remove(b.s)
	want(t, object(t, a.one(sendMsg("1", "2", "hi"))), map[string]string{"status": "success"})
	b2 := e.login("2", "666")
	before = reads.n.Load()
	frames := b2.do(map[string]any{"type": "get_unread_messages", "user_id": "2"})
	if len(frames) != 1 {
		t.Fatalf("got %d frames, want the one message", len(frames))
	}
	want(t, object(t, frames[0]), map[string]string{"status": "success", "message_body": "hi"})
	if n := reads.n.Load() - before; n != 1 {
		t.Fatalf("a catch-up of one message read the chat list %d times, want 1 (its size is charged to the frame)", n)
	}
}
