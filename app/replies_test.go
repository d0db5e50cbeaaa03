package app_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/app/apptest"
	"github.com/parley-im/parley/config"
	"github.com/parley-im/parley/wire"
)

// Issue 11, must-fix 2: other users could lock a victim out. A dozen friends
// each sent one 64 KiB message of '<' while the victim was away; escaped as
// \u003c (six bytes each) the victim's chatting list and first sync page
// passed transport.max_pending, and the victim was disconnected as a slow
// consumer at every login, forever.
//
// Here 20 friends do it, with messages.max_body at its hard maximum (64 KiB,
// the worst an operator may configure) and chat_list_max lowered to 8 so the
// count cap shows. The victim logs in, asks for chatting and pages through
// sync: it must stay connected, every reply must fit the reply budget
// (max_pending/4, 1 MiB), the list must be capped, newest first, with short
// previews, nothing may be HTML-escaped, and paging must bring back every
// message intact.
func TestFloodOfBigMessagesCannotLockVictimOut(t *testing.T) {
	for _, driver := range apptest.Drivers(t) {
		t.Run(driver, func(t *testing.T) { testFloodOfBigMessages(t, driver) })
	}
}

const (
	rVictim  = "13800000000"
	rFriends = 20
	rListMax = 8
)

func testFloodOfBigMessages(t *testing.T, driver string) {
	srv := apptest.Start(t, apptest.WithDriver(driver), apptest.WithConfig(func(c *config.Config) {
		c.Messages.MaxBody = config.MaxStoredBody
		c.Messages.ChatListMax = rListMax
		noRateLimit(c) // 21 sign-ups from one address
		// The friends ping once at sign-up, then wait silently for the
		// rest to sign up: on a loaded machine that outlasts the
		// heartbeat timeout, which is not what this test is about.
		c.Transport.HeartbeatTimeout = time.Hour
	}))
	budget := min(srv.Config.Transport.MaxPending/4, 1<<20)
	previewMax := srv.Config.Messages.ChatPreviewMax

	victim := hSignUp(t, srv, rVictim)
	friends := make([]*hUser, rFriends)
	for i := range friends {
		friends[i] = hSignUp(t, srv, fmt.Sprint(13800000001+i))
		hBefriend(t, friends[i], victim)
	}
	_ = victim.c.Conn.Close()

	body := strings.Repeat("<", config.MaxStoredBody)
	for i, f := range friends {
		// Each body is distinct (its sender's index at the end) and
		// sent like the seed client sends: raw '<', not escaped.
		f.seq++
		f.c.Send(apptest.QtJSON(map[string]any{
			"type": "send_message", "seq": f.seq, "receiver_id": rVictim, "send_id": f.id,
			"message_body": body[:len(body)-4] + fmt.Sprintf("%04d", i),
		}))
		if m := f.c.Object(); m["status"] != wire.StatusSuccess || m["type"] != wire.TypeSendMessage {
			t.Fatalf("friend %d send: %v", i, m)
		}
	}

	v := srv.Dial(t)
	v.Send(apptest.QtJSON(map[string]any{"type": "login", "user_id": rVictim, "user_password": hPass}))
	var login []map[string]any
	v.ReadJSON(&login)
	if len(login) != 1 || login[0]["status"] != wire.StatusSuccess {
		t.Fatalf("victim login: %v", login)
	}

	// The seed client's catch-up: get_unread_messages, and a chatting
	// request for every get_unread_messages frame. Every frame within the
	// budget, every chatting answered, the connection open.
	v.Send(apptest.QtJSON(map[string]any{"type": "get_unread_messages", "user_id": rVictim}))
	v.Send(apptest.QtJSON(map[string]any{"type": "ping", "seq": 2}))
	asked := 0
	for {
		frame := v.Read()
		checkFrame(t, "catch-up", frame, budget)
		var m map[string]any
		if json.Unmarshal(frame, &m) != nil {
			continue // the null object: nothing was undelivered
		}
		if m["type"] == wire.TypePong {
			break
		}
		if m["type"] == wire.TypeGetUnreadMessages {
			v.Send(apptest.QtJSON(map[string]any{"type": "chatting", "user_id": rVictim}))
			asked++
		}
	}
	for range asked {
		checkFrame(t, "chatting after a catch-up frame", v.Read(), budget)
	}

	// chatting: capped, newest first, short previews, unescaped.
	v.Send(apptest.QtJSON(map[string]any{"type": "chatting", "user_id": rVictim}))
	frame := v.Read()
	checkFrame(t, "chatting", frame, budget)
	var chats []map[string]string
	if err := json.Unmarshal(frame, &chats); err != nil {
		t.Fatalf("chatting: %v", err)
	}
	if len(chats) != rListMax {
		t.Fatalf("chatting has %d entries, want messages.chat_list_max = %d", len(chats), rListMax)
	}
	for i, c := range chats {
		if len(c["last_message"]) > previewMax || !strings.HasPrefix(c["last_message"], "<<<") {
			t.Fatalf("chat %d preview is %d bytes (max %d): %.40q", i, len(c["last_message"]), previewMax, c["last_message"])
		}
		if i > 0 && c["last_time"] > chats[i-1]["last_time"] {
			t.Fatalf("chat %d is newer than chat %d: %s > %s", i, i-1, c["last_time"], chats[i-1]["last_time"])
		}
	}

	// sync from the start: pages within the budget, every message intact.
	got := map[string]string{}
	pages := 0
	for after := "0"; ; pages++ {
		v.Send(apptest.QtJSON(map[string]any{"type": "sync", "seq": 100 + pages, "after_id": after}))
		frame := v.Read()
		checkFrame(t, "sync", frame, budget)
		var page wire.SyncReply
		if err := json.Unmarshal(frame, &page); err != nil || page.Status != wire.StatusSuccess || len(page.Messages) == 0 {
			t.Fatalf("sync page %d: %v %.200s", pages, err, frame)
		}
		for _, m := range page.Messages {
			got[m.SendID] = m.MessageBody
			after = m.MessageID
		}
		if !page.More {
			break
		}
	}
	if pages == 0 {
		t.Fatal("all big messages came in one sync page: the byte budget did not cut it")
	}
	for i, f := range friends {
		if want := body[:len(body)-4] + fmt.Sprintf("%04d", i); got[f.id] != want {
			t.Fatalf("friend %d's message came back as %d bytes, want %d", i, len(got[f.id]), len(want))
		}
	}
	v.Send(apptest.QtJSON(map[string]any{"type": "ping", "seq": 1}))
	if m := v.Object(); m["type"] != wire.TypePong {
		t.Fatalf("after the flood: %v", m)
	}
	t.Logf("%d friends, %d catch-up frames, chatting %d entries, sync %d pages", rFriends, asked, len(chats), pages+1)
}

// checkFrame fails the test for a reply over the budget or HTML-escaped.
func checkFrame(t *testing.T, what string, frame []byte, budget int) {
	t.Helper()
	if len(frame) > budget {
		t.Fatalf("%s reply is %d bytes, over the reply budget %d", what, len(frame), budget)
	}
	if bytes.Contains(frame, []byte(`\u003c`)) {
		t.Fatalf("%s reply escapes '<' for HTML", what)
	}
}

// noRateLimit drops the ratelimit middleware, for tests that sign many users
// up from one address.
func noRateLimit(c *config.Config) {
	c.Pipeline = slices.DeleteFunc(c.Pipeline, func(s config.Middleware) bool { return s.Use == "ratelimit" })
}

// Issue 11 should-fix: a client_msg_id could be replayed. The store answers
// a known client_msg_id with the stored message, and send_message used to
// push that message again, to its original receiver: so after V unfriended
// X, X could still deliver the old message to V by naming a current friend W
// as receiver. A retry now returns the original id and delivers nothing; a
// "retry" naming another receiver or body is refused with conflict.
func TestClientMsgIDRetryNeverRedelivers(t *testing.T) {
	for _, driver := range apptest.Drivers(t) {
		t.Run(driver, func(t *testing.T) { testRetryNeverRedelivers(t, driver) })
	}
}

func testRetryNeverRedelivers(t *testing.T, driver string) {
	srv := apptest.Start(t, apptest.WithDriver(driver), apptest.WithConfig(noRateLimit))
	x, v, w := hSignUp(t, srv, "13900000001"), hSignUp(t, srv, "13900000002"), hSignUp(t, srv, "13900000003")
	hBefriend(t, x, v)
	hBefriend(t, x, w)
	const body = "hello <b>"
	send := func(to, body string) map[string]any {
		return rTry(t, x, map[string]any{"type": "send_message", "receiver_id": to, "message_body": body, "client_msg_id": "c-1"})
	}
	first := send(v.id, body)
	if first["status"] != wire.StatusSuccess {
		t.Fatalf("first send: %v", first)
	}
	if m := rNextMessage(t, v); m["message_id"] != first["message_id"] || m["message_body"] != body {
		t.Fatalf("v got %v, want message %v", m, first["message_id"])
	}

	// A true retry: the same id, nothing delivered.
	if again := send(v.id, body); again["status"] != wire.StatusSuccess || again["message_id"] != first["message_id"] {
		t.Fatalf("retry: %v, want success with message_id %v", again, first["message_id"])
	}
	// The same client_msg_id for another body is not a retry.
	rRefused(t, send(v.id, "something else"), wire.CodeConflict)

	// V unfriends X; X replays the id naming W, then V again.
	v.call(t, map[string]any{"type": "delete_friend", "user_id": v.id, "friend_id": x.id})
	rRefused(t, send(w.id, body), wire.CodeConflict)
	rRefused(t, send(v.id, body), wire.CodeForbidden)

	// Nothing new reached V or W: their next message frame is the pong.
	rNoMessageBeforePong(t, v)
	rNoMessageBeforePong(t, w)
}

// rTry sends req with the next seq and returns its reply, error or not,
// skipping pushes.
func rTry(t *testing.T, u *hUser, req map[string]any) map[string]any {
	t.Helper()
	u.seq++
	req["seq"] = u.seq
	u.c.Send(apptest.QtJSON(req))
	for {
		var m map[string]any
		if json.Unmarshal(u.c.Read(), &m) == nil && m["seq"] == float64(u.seq) {
			return m
		}
	}
}

func rRefused(t *testing.T, reply map[string]any, code string) {
	t.Helper()
	if reply["status"] != wire.StatusError || reply["code"] != code {
		t.Fatalf("got %v, want error %s", reply, code)
	}
}

// rNextMessage returns the next receive_message push to u, skipping pushed
// lists.
func rNextMessage(t *testing.T, u *hUser) map[string]any {
	t.Helper()
	for {
		var m map[string]any
		if json.Unmarshal(u.c.Read(), &m) == nil && m["type"] == wire.TypeReceiveMessage {
			return m
		}
	}
}

// rNoMessageBeforePong pings u and fails if a receive_message comes first.
// Pushes are queued before the reply of the request that caused them, so
// everything X's requests pushed to u is ahead of the pong.
func rNoMessageBeforePong(t *testing.T, u *hUser) {
	t.Helper()
	u.c.Send(apptest.QtJSON(map[string]any{"type": "ping", "seq": 999}))
	for {
		b := u.c.Read()
		var m map[string]any
		if json.Unmarshal(b, &m) != nil {
			continue // a pushed list
		}
		switch m["type"] {
		case wire.TypeReceiveMessage:
			t.Fatalf("%s was delivered %s", u.id, b)
		case wire.TypePong:
			return
		}
	}
}

// Issue 11 should-fix: error messages are for clients. A wrong-typed field
// was answered with encoding/json's text ("json: cannot unmarshal string into
// Go struct field Envelope.seq of type uint64"); now it names the field and
// what it must be. Also the default messages.max_body (16 KiB).
func TestErrorMessagesSpeakToClients(t *testing.T) {
	srv := apptest.Start(t)
	a, b := hSignUp(t, srv, "13900000011"), hSignUp(t, srv, "13900000012")
	hBefriend(t, a, b)
	cases := []struct{ body, message string }{
		{`{"type":"ping","seq":"7"}`, "seq must be an unsigned integer"},
		{`{"type":"ping","seq":-1}`, "seq must be an unsigned integer"},
		{`{"type":"ping","seq":1.5}`, "seq must be an unsigned integer"},
		{`{"type":7}`, "type must be a string"},
		{`{"type":"chatting","user_id":5}`, "user_id must be a string"},
		{`{"type":"send_message","receiver_id":"13900000012","message_body":["a"]}`, "message_body must be a string"},
		{`{"type":"update_chat","comm_id":"13900000012","unread_count":"many"}`, "unread_count must be an integer"},
		{`{"type":"update_chat","comm_id":"13900000012","unread_count":true}`, "unread_count must be an integer"},
		{`{"type":"sync","after_id":"0","limit":"ten"}`, "limit must be an integer"},
		{`{"type":"sync","after_id":0}`, "after_id must be a string"},
		{`{"type":"ack","message_id":7}`, "message_id must be a string"},
		{`{"type":"search_user","search_id":{}}`, "search_id must be a string"},
		{`{"type":"add_friend","friend_id":[1]}`, "friend_id must be a string"},
		{`{"type":"resume","token":1}`, "token must be a string"},
	}
	for _, c := range cases {
		a.c.Send([]byte(c.body))
		var m map[string]any
		if err := json.Unmarshal(a.c.Read(), &m); err != nil {
			t.Fatalf("%s: %v", c.body, err)
		}
		msg, _ := m["message"].(string)
		for _, internal := range []string{"Go struct", "json:", "unmarshal", "int64", "uint64", "wire."} {
			if strings.Contains(msg, internal) {
				t.Errorf("%s: message %q shows Go internals (%q)", c.body, msg, internal)
			}
		}
		if m["status"] != wire.StatusError || m["code"] != wire.CodeBadRequest || msg != c.message {
			t.Errorf("%s: got %v, want bad_request %q", c.body, m, c.message)
		}
	}

	// messages.max_body defaults to 16 KiB, for bodies and chat previews.
	maxBody := config.Default().Messages.MaxBody
	if maxBody != 16<<10 {
		t.Fatalf("default messages.max_body is %d", maxBody)
	}
	rRefused(t, rTry(t, a, map[string]any{"type": "send_message", "receiver_id": b.id, "message_body": strings.Repeat("x", maxBody+1)}), wire.CodeTooLarge)
	rRefused(t, rTry(t, a, map[string]any{"type": "update_chat", "comm_id": b.id, "last_message": strings.Repeat("x", maxBody+1),
		"last_time": "2025-01-01 00:00:00"}), wire.CodeTooLarge)
	if m := rTry(t, a, map[string]any{"type": "send_message", "receiver_id": b.id, "message_body": strings.Repeat("x", maxBody)}); m["status"] != wire.StatusSuccess {
		t.Fatalf("a body of exactly max_body: %v", m)
	}
}
