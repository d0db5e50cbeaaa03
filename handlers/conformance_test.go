package handlers_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/parley-im/parley/handlers"
	"github.com/parley-im/parley/wire"
)

// TestSeedSession replays the typical session of seed-protocol.md §5, steps
// 1 to 18, with the Qt client's exact bodies, over real sockets.
//
// The seed's sample data is recreated through the protocol: A = "1", B = "2",
// C = "3", all with password "666", A and B friends. B accepted A while A was
// offline, so the greeting waits for A's first catch-up (step 5 then has one
// message, and step 6 one chatting request per message).
func TestSeedSession(t *testing.T) {
	eachDriver(t, func(t *testing.T, srv *server) {
		for _, id := range []string{"1", "2", "3"} {
			srv.register(t, id, "user "+id, "666")
		}
		sa := srv.login(t, "1", "666")
		sa.Send(qt("type", "add_friend", "user_id", "1", "friend_id", "2"))
		fields(t, obj(t, sa.Read()), map[string]string{"type": "add_friend", "status": "success"})
		srv.hangUp(t, sa, "1")
		sb := srv.login(t, "2", "666")
		sb.Send(qt("type", "accept_friend", "user_id", "2", "friend_id", "1"))
		fields(t, obj(t, sb.Read()), map[string]string{"type": "accept_friend", "status": "success"})
		srv.hangUp(t, sb, "2")

		// 1. Client A starts: nothing is exchanged, and the server does not
		// hang up on a quiet, unauthenticated connection.
		a := srv.Dial(t)
		a.ExpectNoFrame(300 * time.Millisecond)

		// 2. Login, 72-byte body, header 00 00 00 48.
		login := qt("type", "login", "user_id", "1", "user_password", "666")
		raw := wire.AppendFrame(nil, login)
		if len(login) != 72 || !bytes.Equal(raw[:4], []byte{0, 0, 0, 0x48}) {
			t.Fatalf("the Qt login body is %d bytes, header % x; want 72, 00 00 00 48", len(login), raw[:4])
		}
		a.SendRaw(raw)

		// 3. One success object, all strings, canonical id, no password.
		reply := arr(t, a.Read())
		if len(reply) != 1 {
			t.Fatalf("login reply has %d elements", len(reply))
		}
		strs(t, reply[0])
		fields(t, reply[0], map[string]string{"type": "login", "status": "success", "user_id": "1", "user_password": "", "user_name": "user 1"})

		// 4-5. The catch-up is answered: the greeting, in its own frame.
		a.Send(qt("type", "get_unread_messages", "user_id", "1"))
		g := obj(t, a.Read())
		strs(t, g)
		fields(t, g, map[string]string{
			"type": "get_unread_messages", "status": "success", "send_id": "2", "receiver_id": "1",
			"message_body": handlers.Greeting, "file_path": " ", "chat_type": "friend", "message_type": "text",
		})

		// 6-7. One chatting per delivered message; one whole-list frame each.
		a.Send(qt("type", "chatting", "user_id", "1"))
		chats := arr(t, a.Read())
		if len(chats) != 1 {
			t.Fatalf("chat list: %v", chats)
		}
		strs(t, chats[0])
		fields(t, chats[0], map[string]string{
			"type": "chatting", "status": "success", "comm_id": "2", "chat_status": "chatting",
			"last_message": handlers.Greeting, "unread_count": "1", "user_name": "user 2",
		})

		// 8. The friends tab.
		a.Send(qt("type", "friends", "user_id", "1"))
		friends := arr(t, a.Read())
		strs(t, friends[0])
		fields(t, friends[0], map[string]string{"type": "friends", "status": "success", "user_id": "2", "friend_relation": "accepted"})

		// 9. B logs in the same way; nothing waits for B.
		b := srv.login(t, "2", "666")
		b.Send(qt("type", "get_unread_messages", "user_id", "2"))
		null(t, b.Read(), "get_unread_messages", "don't have messages")
		b.Send(qt("type", "chatting", "user_id", "2"))
		fields(t, arr(t, b.Read())[0], map[string]string{"comm_id": "1", "unread_count": "0"})

		// 10. A opens chat "2": update_chat with a numeric unread_count.
		a.Send(updateChat("1", "2", handlers.Greeting))
		fields(t, obj(t, a.Read()), map[string]string{"type": "update_chat", "status": "success"})

		// 11-13. send_message and update_chat in one write. B gets the push;
		// A gets the send_message ack, then the update_chat reply.
		a.SendRaw(frames(sendMessage("1", "2", "hello"), updateChat("1", "2", "hello")))
		push := obj(t, b.Read())
		strs(t, push)
		fields(t, push, map[string]string{
			"type": "receive_message", "status": "success", "send_id": "1", "receiver_id": "2",
			"message_body": "hello", "chat_type": "friend", "message_type": "text", "file_path": " ",
		})
		if _, err := wire.ParseTime(push["message_timestamp"].(string)); err != nil {
			t.Errorf("message_timestamp: %v", err)
		}
		ack := obj(t, a.Read())
		strs(t, ack)
		fields(t, ack, map[string]string{"type": "send_message", "status": "success", "message_id": push["message_id"].(string)})
		fields(t, obj(t, a.Read()), map[string]string{"type": "update_chat", "status": "success"})

		// 14. B opens chat "1": its unread count drops to 0.
		b.Send(qt("type", "chatting", "user_id", "2"))
		fields(t, arr(t, b.Read())[0], map[string]string{"comm_id": "1", "last_message": "hello", "unread_count": "1"})
		b.Send(updateChat("2", "1", "hello"))
		fields(t, obj(t, b.Read()), map[string]string{"type": "update_chat", "status": "success"})
		b.Send(qt("type", "chatting", "user_id", "2"))
		fields(t, arr(t, b.Read())[0], map[string]string{"comm_id": "1", "unread_count": "0"})

		// 15. B offline: the message is stored and comes with B's next login,
		// and B's chat list then shows it unread.
		srv.hangUp(t, b, "2")
		a.SendRaw(frames(sendMessage("1", "2", "are you there?"), updateChat("1", "2", "are you there?")))
		fields(t, obj(t, a.Read()), map[string]string{"type": "send_message", "status": "success"})
		fields(t, obj(t, a.Read()), map[string]string{"type": "update_chat", "status": "success"})
		b = srv.login(t, "2", "666")
		b.Send(qt("type", "get_unread_messages", "user_id", "2"))
		fields(t, obj(t, b.Read()), map[string]string{"type": "get_unread_messages", "message_body": "are you there?", "send_id": "1"})
		b.Send(qt("type", "chatting", "user_id", "2"))
		fields(t, arr(t, b.Read())[0], map[string]string{"comm_id": "1", "last_message": "are you there?", "unread_count": "1"})

		// 16. Friend flow with C.
		a.Send(qt("type", "search_user", "user_id", "1", "search_id", "3"))
		found := arr(t, a.Read())
		if len(found) != 1 {
			t.Fatalf("search_user: %v", found)
		}
		if _, leaked := found[0]["user_password"]; leaked {
			t.Error("search_user sends a user_password")
		}
		fields(t, found[0], map[string]string{"type": "search_user", "status": "success", "user_id": "3"})
		a.Send(qt("type", "add_friend", "user_id", "1", "friend_id", "3"))
		fields(t, obj(t, a.Read()), map[string]string{"type": "add_friend", "status": "success", "user_id": "1", "friend_id": "3"})
		c := srv.login(t, "3", "666")
		c.Send(qt("type", "friends", "user_id", "3"))
		fields(t, arr(t, c.Read())[0], map[string]string{"user_id": "1", "friend_relation": "pending"})
		c.Send(qt("type", "accept_friend", "user_id", "3", "friend_id", "1"))
		fields(t, obj(t, c.Read()), map[string]string{"type": "accept_friend", "status": "success", "user_id": "3", "friend_id": "1"})
		c.Send(qt("type", "chatting", "user_id", "3"))
		fields(t, arr(t, c.Read())[0], map[string]string{"comm_id": "1", "chat_status": "chatting"})
		// A is online: the greeting and A's new chat list are pushed.
		fields(t, obj(t, a.Read()), map[string]string{"type": "receive_message", "send_id": "3", "message_body": handlers.Greeting})
		if got := len(arr(t, a.Read())); got != 2 {
			t.Fatalf("A's pushed chat list has %d chats, want 2", got)
		}

		// 17. A deletes C: success, both ids echoed as sent.
		a.Send(qt("type", "delete_friend", "user_id", "1", "friend_id", "3"))
		fields(t, obj(t, a.Read()), map[string]string{"type": "delete_friend", "status": "success", "user_id": "1", "friend_id": "3"})

		// 18. Closing the window closes the connection, and the server drops
		// the session from the online table (no logout message exists).
		srv.hangUp(t, a, "1")
		b.ExpectNoFrame(100 * time.Millisecond)
	})
}
