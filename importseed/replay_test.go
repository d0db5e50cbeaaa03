package importseed_test

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/parley-im/parley/app/apptest"
	"github.com/parley-im/parley/config"
	"github.com/parley-im/parley/importseed"
	"github.com/parley-im/parley/wire"
)

// TestSeedClientAfterImport imports the fixture, starts a real Parley on the
// imported database and replays what the unchanged Qt client does
// (seed-protocol.md §5) over a real socket, with Qt's framing and JSON:
// login with the old password, the catch-up (each unread message exactly
// once, then a chatting request per frame), the chat list with the seed's
// unread counts, the friend list; then a second login finds nothing
// unread.
func TestSeedClientAfterImport(t *testing.T) {
	for _, driver := range apptest.Drivers(t) {
		t.Run(driver, func(t *testing.T) {
			dsn := seedDB(t)
			loadFixture(t, dsn)
			tg := newTarget(t, driver)
			mustImport(t, dsn, tg, importseed.Options{Workers: 2})
			if err := tg.bdb.Close(); err != nil {
				t.Fatal(err)
			}
			srv := apptest.Start(t, apptest.WithDriver(driver), apptest.WithConfig(func(c *config.Config) {
				c.DB.DSN = tg.cfg.DSN
			}))

			alice := srv.Dial(t)
			login(t, alice, "1", pwAlice, "Alice")
			if got := catchUp(t, alice, "1"); !slices.Equal(got, aliceUnread) {
				t.Errorf("first catch-up delivered %q, want %q", got, aliceUnread)
			}

			alice.Send(apptest.QtJSON(map[string]any{"type": "chatting", "user_id": "1"}))
			var chats []map[string]any
			alice.ReadJSON(&chats)
			unread := map[string]any{}
			for _, c := range chats {
				unread[c["comm_id"].(string)] = c["unread_count"]
			}
			if len(chats) != 3 || unread["2"] != "5" || unread["3"] != "2" || unread["10"] != "0" {
				t.Errorf("chatting: %v", chats)
			}

			alice.Send(apptest.QtJSON(map[string]any{"type": "friends", "user_id": "1"}))
			var friends []map[string]any
			alice.ReadJSON(&friends)
			rel := map[string]any{}
			for _, f := range friends {
				rel[f["user_id"].(string)] = f["friend_relation"]
			}
			if len(friends) != 4 || rel["2"] != wire.RelationAccepted || rel["3"] != wire.RelationAccepted ||
				rel["10"] != wire.RelationAccepted || rel["4"] != wire.RelationPending {
				t.Errorf("friends: %v", friends)
			}

			// The next session: nothing is delivered twice.
			again := srv.Dial(t)
			login(t, again, "1", pwAlice, "Alice")
			if got := catchUp(t, again, "1"); len(got) != 0 {
				t.Errorf("second catch-up delivered %q again", got)
			}

			// Other old passwords (quotes, backslashes, non-ASCII) work;
			// a wrong one and the account without a password do not.
			bob := srv.Dial(t)
			login(t, bob, "2", pwBob, "Bob")
			for _, bad := range []struct{ id, pw string }{{"1", pwBob}, {"8", "x"}, {"9", "ivan-pw"}} {
				c := srv.Dial(t)
				c.Send(apptest.QtJSON(map[string]any{"type": "login", "user_id": bad.id, "user_password": bad.pw}))
				if reply := c.Object(); reply["type"] != wire.TypeLogin || reply["status"] != wire.StatusError {
					t.Errorf("login %s with a wrong password: %v", bad.id, reply)
				}
			}
		})
	}
}

// login sends the Qt client's login and checks the one success object.
func login(t *testing.T, c *apptest.Client, id, password, name string) {
	t.Helper()
	c.Send(apptest.QtJSON(map[string]any{"type": "login", "user_id": id, "user_password": password}))
	var reply []map[string]any
	c.ReadJSON(&reply)
	if len(reply) != 1 || reply[0]["status"] != wire.StatusSuccess || reply[0]["user_id"] != id ||
		reply[0]["user_name"] != name || reply[0]["user_password"] != "" {
		t.Fatalf("login %s: %v", id, reply)
	}
}

// catchUp does what the client does right after a login: get_unread_messages,
// and a chatting request for every get_unread_messages frame; it returns
// the delivered bodies in order. A ping (Parley's extension, answered in
// order) marks the end of the catch-up's frames.
func catchUp(t *testing.T, c *apptest.Client, id string) []string {
	t.Helper()
	c.Send(apptest.QtJSON(map[string]any{"type": "get_unread_messages", "user_id": id}))
	c.Send(apptest.QtJSON(map[string]any{"type": "ping", "seq": 7}))
	var bodies []string
	frames := 0
	for {
		frame := c.Read()
		var objs []map[string]any
		var one map[string]any
		if json.Unmarshal(frame, &one) == nil {
			objs = []map[string]any{one}
		} else if err := json.Unmarshal(frame, &objs); err != nil {
			t.Fatalf("catch-up frame %q: %v", frame, err)
		}
		if objs[0]["type"] == wire.TypePong {
			break
		}
		frames++
		for _, m := range objs {
			if m["type"] != wire.TypeGetUnreadMessages && m["type"] != wire.TypeReceiveMessage {
				t.Fatalf("unexpected frame during the catch-up: %s", frame)
			}
			if m["status"] != wire.StatusSuccess {
				continue // the null object: nothing undelivered
			}
			if m["receiver_id"] != id || m["file_path"] != wire.NoFile || m["message_type"] != wire.MessageTypeText {
				t.Errorf("catch-up message %v", m)
			}
			bodies = append(bodies, m["message_body"].(string))
		}
	}
	for range frames {
		c.Send(apptest.QtJSON(map[string]any{"type": "chatting", "user_id": id}))
		var chats []map[string]any
		c.ReadJSON(&chats)
	}
	return bodies
}
