package app_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/parley-im/parley/app/apptest"
	"github.com/parley-im/parley/config"
	"github.com/parley-im/parley/pipeline"
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
	t.Logf("%d friends, chatting %d entries, sync %d pages", rFriends, len(chats), pages+1)
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
	c.Pipeline = slices.DeleteFunc(c.Pipeline, func(s pipeline.Spec) bool { return s.Use == "ratelimit" })
}
