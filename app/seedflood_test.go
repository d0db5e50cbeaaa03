package app_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/parley-im/parley/app/apptest"
	"github.com/parley-im/parley/db"
)

// TestBigCatchUpWithDefaultChain replays what the seed client does after a
// long absence, against the default middleware chain: get_unread_messages
// answers one frame per message (up to the per-request cap), and the client
// answers every one of those frames with a pipelined chatting request. Every
// one of those requests must be served and the connection must stay open:
// the seed client never reconnects, so a refusal storm or a disconnect here
// would cut the user off until they restart it.
func TestBigCatchUpWithDefaultChain(t *testing.T) {
	const unread = 2000 // handlers' per-request catch-up cap
	var store *db.Store
	srv := apptest.Start(t, apptest.WithFx(fx.Populate(&store)))
	ctx := context.Background()

	c := srv.Dial(t)
	for _, u := range []struct{ phone, name string }{{"100", "alice"}, {"200", "bob"}} {
		c.Send(apptest.QtJSON(map[string]any{"type": "register", "user_name": u.name, "user_password": "pw", "user_phone": u.phone}))
		if m := c.Object(); m["status"] != "success" {
			t.Fatalf("register %s: %v", u.name, m)
		}
	}
	if err := store.RequestFriend(ctx, "200", "100"); err != nil {
		t.Fatal(err)
	}
	if _, err := store.AcceptFriend(ctx, "100", "200", ""); err != nil {
		t.Fatal(err)
	}
	for i := range unread {
		m := &db.Message{SenderID: "200", ReceiverID: "100", Body: fmt.Sprint("message ", i)}
		if err := store.SaveMessage(ctx, m); err != nil {
			t.Fatal(err)
		}
	}

	c.Send(apptest.QtJSON(map[string]any{"type": "login", "user_id": "100", "user_password": "pw"}))
	var login []map[string]any
	c.ReadJSON(&login)
	if len(login) != 1 || login[0]["status"] != "success" {
		t.Fatalf("login: %v", login)
	}
	c.Send(apptest.QtJSON(map[string]any{"type": "get_unread_messages", "user_id": "100"}))
	chatting := apptest.QtJSON(map[string]any{"type": "chatting", "user_id": "100"})
	// Like the Qt client: one chatting request per unread frame, sent as the
	// frames arrive, so requests and replies interleave on the wire. Past
	// its output budget the catch-up goes on as receive_message pushes,
	// which the client files without answering.
	unreadSeen, pushed, chatReplies := 0, 0, 0
	deadline := time.Now().Add(60 * time.Second)
	for (unreadSeen+pushed < unread || chatReplies < unreadSeen) && time.Now().Before(deadline) {
		body, err := c.ReadErr(10 * time.Second)
		if err != nil {
			t.Fatalf("after %d unread frames, %d pushes and %d chatting replies: %v", unreadSeen, pushed, chatReplies, err)
		}
		switch frame := string(body); {
		case contains(frame, `"type":"get_unread_messages"`):
			if !contains(frame, `"status":"success"`) || pushed > 0 {
				t.Fatalf("unread frame %d (after %d pushes): %s", unreadSeen, pushed, frame)
			}
			unreadSeen++
			c.Send(chatting)
		case contains(frame, `"type":"receive_message"`):
			pushed++
		case contains(frame, `"type":"chatting"`):
			if frame[0] != '[' || !contains(frame, `"status":"success"`) {
				t.Fatalf("chatting reply %d refused: %s", chatReplies, frame)
			}
			chatReplies++
		default:
			t.Fatalf("unexpected frame: %s", frame)
		}
	}
	if unreadSeen+pushed != unread || chatReplies != unreadSeen {
		t.Fatalf("saw %d unread frames + %d pushes and %d chatting replies, want %d messages and one reply per unread frame",
			unreadSeen, pushed, chatReplies, unread)
	}
	t.Logf("%d messages as get_unread_messages frames, %d as receive_message pushes", unreadSeen, pushed)
	c.Send(ping(1))
	expectPong(t, c, 1)
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
