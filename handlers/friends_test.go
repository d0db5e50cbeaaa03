package handlers

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

func TestEmptyListsAnswerTheNullObject(t *testing.T) {
	e := newEnv(t)
	e.register("1", "a", "666")
	c := e.login("1", "666")
	for typ, msg := range map[string]string{
		"friends":             "have not friends",
		"chatting":            "have not chatting",
		"get_unread_messages": "don't have messages",
	} {
		a := array(t, c.one(map[string]any{"type": typ, "user_id": "1"}))
		if len(a) != 1 {
			t.Fatalf("%s: want a one-element array, got %v", typ, a)
		}
		want(t, a[0], map[string]string{"message": msg, "status": "null", "type": typ})
	}
}

func TestFriendFlow(t *testing.T) {
	e := newEnv(t)
	e.register("1", "a", "666")
	e.register("3", "c", "666")
	a, c := e.login("1", "666"), e.login("3", "666")

	// add_friend answers with its own type and pushes C the one new row.
	m := object(t, a.one(map[string]any{"type": "add_friend", "user_id": "1", "friend_id": "3"}))
	allStrings(t, m)
	want(t, m, map[string]string{"type": "add_friend", "status": "success", "user_id": "1", "friend_id": "3"})
	pushed := c.cap.take()
	if len(pushed) != 1 {
		t.Fatalf("C got %d frames after the request, want one friends row", len(pushed))
	}
	list := array(t, pushed[0])
	if len(list) != 1 {
		t.Fatalf("pushed list: %v", list)
	}
	want(t, list[0], map[string]string{"type": "friends", "status": "success", "user_id": "1", "friend_relation": "pending"})

	// Asking twice is a conflict; asking a stranger is not_found.
	want(t, object(t, a.one(map[string]any{"type": "add_friend", "user_id": "1", "friend_id": "3"})),
		map[string]string{"type": "add_friend", "status": "error", "code": "conflict"})
	want(t, object(t, a.one(map[string]any{"type": "add_friend", "user_id": "1", "friend_id": "99"})),
		map[string]string{"type": "add_friend", "status": "error", "code": "not_found"})
	want(t, object(t, a.one(map[string]any{"type": "add_friend", "user_id": "1", "friend_id": "1"})),
		map[string]string{"type": "add_friend", "status": "error", "code": "invalid"})

	// C's friends list shows A as pending.
	list = array(t, c.one(map[string]any{"type": "friends", "user_id": "3"}))
	allStrings(t, list[0])
	want(t, list[0], map[string]string{"user_id": "1", "friend_relation": "pending", "type": "friends", "status": "success"})
	if _, ok := list[0]["user_password"]; ok {
		t.Error("friends list carries user_password")
	}

	// C accepts: A gets the greeting as receive_message, then its chat list.
	m = object(t, c.one(map[string]any{"type": "accept_friend", "user_id": "3", "friend_id": "1"}))
	want(t, m, map[string]string{"type": "accept_friend", "status": "success", "user_id": "3", "friend_id": "1"})
	pushed = a.cap.take()
	if len(pushed) != 2 {
		t.Fatalf("A got %d frames, want greeting + chatting: %q", len(pushed), pushed)
	}
	g := object(t, pushed[0])
	allStrings(t, g)
	want(t, g, map[string]string{
		"type": "receive_message", "status": "success", "send_id": "3", "receiver_id": "1",
		"message_body": Greeting, "file_path": " ", "chat_type": "friend", "message_type": "text",
	})
	chats := array(t, pushed[1])
	want(t, chats[0], map[string]string{"type": "chatting", "comm_id": "3", "chat_status": "chatting", "last_message": Greeting, "unread_count": "1"})

	// The greeting was live-pushed: A's next catch-up must not repeat it.
	want(t, array(t, a.one(map[string]any{"type": "get_unread_messages", "user_id": "1"}))[0],
		map[string]string{"status": "null"})

	// Accepting twice is a conflict.
	want(t, object(t, c.one(map[string]any{"type": "accept_friend", "user_id": "3", "friend_id": "1"})),
		map[string]string{"status": "error", "code": "conflict"})

	// Both now list each other as accepted.
	list = array(t, a.one(map[string]any{"type": "friends", "user_id": "1"}))
	want(t, list[0], map[string]string{"user_id": "3", "friend_relation": "accepted"})

	// delete_friend succeeds without any message exchanged and echoes the ids.
	m = object(t, a.one(map[string]any{"type": "delete_friend", "user_id": "1", "friend_id": "3"}))
	want(t, m, map[string]string{"type": "delete_friend", "status": "success", "user_id": "1", "friend_id": "3"})
	want(t, object(t, a.one(map[string]any{"type": "delete_friend", "user_id": "1", "friend_id": "3"})),
		map[string]string{"type": "delete_friend", "status": "error", "code": "not_found"})
	want(t, array(t, a.one(map[string]any{"type": "friends", "user_id": "1"}))[0], map[string]string{"status": "null"})
}

func TestAcceptGreetingStoredForOfflineRequester(t *testing.T) {
	e := newEnv(t)
	e.register("1", "a", "666")
	e.register("3", "c", "666")
	a, c := e.login("1", "666"), e.login("3", "666")
	a.one(map[string]any{"type": "add_friend", "user_id": "1", "friend_id": "3"})
	e.reg.Remove(a.s) // A leaves
	c.cap.take()
	want(t, object(t, c.one(map[string]any{"type": "accept_friend", "user_id": "3", "friend_id": "1"})),
		map[string]string{"status": "success"})
	a2 := e.login("1", "666")
	frames := a2.do(map[string]any{"type": "get_unread_messages", "user_id": "1"})
	if len(frames) != 1 {
		t.Fatalf("want the greeting alone, got %q", frames)
	}
	want(t, object(t, frames[0]), map[string]string{"type": "get_unread_messages", "message_body": Greeting, "send_id": "3"})
}

func TestBigFriendListIsOneFrame(t *testing.T) {
	e := newEnv(t)
	e.register("1", "a", "666")
	a := e.login("1", "666")
	for i := 0; i < 12; i++ {
		id := fmt.Sprint(100 + i)
		e.register(id, "friend "+id, "x")
		f := e.login(id, "x")
		e.befriend(a, f)
	}
	frames := a.do(map[string]any{"type": "friends", "user_id": "1"})
	if len(frames) != 1 || len(frames[0]) <= 2048 {
		t.Fatalf("want one frame over 2 KiB, got %d frames", len(frames))
	}
	list := array(t, frames[0])
	if len(list) != 12 {
		t.Fatalf("got %d friends", len(list))
	}
	for _, f := range list {
		want(t, f, map[string]string{"status": "success", "friend_relation": "accepted"})
	}
	chats := array(t, a.one(map[string]any{"type": "chatting", "user_id": "1"}))
	if len(chats) != 12 {
		t.Fatalf("got %d chats", len(chats))
	}
	for _, c := range chats {
		allStrings(t, c)
		if c["status"] != "success" {
			t.Fatalf("non-success element in the chat list: %v", c)
		}
	}
}

func TestInjectionStringsAreStoredVerbatim(t *testing.T) {
	e := newEnv(t)
	name := `Robert'); DROP TABLE users;--`
	e.register("1", name, `' OR '1'='1`)
	e.register("2", "b", "666")
	a, b := e.login("1", `' OR '1'='1`), e.login("2", "666")
	e.befriend(a, b)
	body := `it's "quoted" \ 'and' ; DELETE FROM messages; --`
	a.one(map[string]any{"type": "send_message", "send_id": "1", "receiver_id": "2", "message_body": body})
	g := object(t, b.cap.take()[0])
	want(t, g, map[string]string{"message_body": body})
	list := array(t, b.one(map[string]any{"type": "friends", "user_id": "2"}))
	want(t, list[0], map[string]string{"user_name": name})
	u, err := e.store.UserByID(context.Background(), "1")
	// The hash is argon2id, never the plaintext. (Its base64 may contain
	// "OR" by chance; it can never contain a quote or a space.)
	if err != nil || u.Name != name || !strings.HasPrefix(u.PasswordHash, "$argon2id$") || strings.Contains(u.PasswordHash, `' OR '`) {
		t.Fatalf("stored user: %+v %v", u, err)
	}
}
