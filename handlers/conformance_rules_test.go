package handlers_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/config"
	"github.com/parley-im/parley/db"
	"github.com/parley-im/parley/handlers"
	"github.com/parley-im/parley/wire"
)

// One test per MUST rule of the seed protocol and per seed bug Parley fixes,
// each asserting exact reply shapes over real sockets.

// B10: passwords are stored hashed and never sent back, not even as a hash.
func TestPasswordHashedAndNeverEchoed(t *testing.T) {
	eachDriver(t, func(t *testing.T, srv *server) {
		srv.register(t, "1", "a", "666")
		srv.register(t, "2", "b", "s3cret")
		u, err := srv.store.UserByID(context.Background(), "2")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(u.PasswordHash, "$argon2id$v=19$m=19456,t=2,p=1$") {
			t.Fatalf("stored password is not argon2id: %q", u.PasswordHash)
		}
		c := srv.Dial(t)
		c.Send(qt("type", "login", "user_id", "2", "user_password", "s3cret"))
		body := c.Read()
		if strings.Contains(string(body), "s3cret") || strings.Contains(string(body), "argon2") {
			t.Fatalf("login reply carries the password or its hash: %s", body)
		}
		fields(t, arr(t, body)[0], map[string]string{"user_password": ""})

		a := srv.login(t, "1", "666")
		a.Send(qt("type", "search_user", "user_id", "1", "search_id", "2"))
		body = a.Read()
		if strings.Contains(string(body), "password") || strings.Contains(string(body), "s3cret") {
			t.Fatalf("search_user leaks a password: %s", body)
		}
		// Exact comparison: the seed's case-insensitive match is gone.
		c.Send(qt("type", "login", "user_id", "2", "user_password", "S3CRET"))
		refused(t, c.Read(), "login", "bad_credentials")
	})
}

// B9: strings reach the database as parameters, and come back verbatim.
func TestSQLInjectionStringsVerbatim(t *testing.T) {
	eachDriver(t, func(t *testing.T, srv *server) {
		name := `O'Brien"); DROP TABLE users; --`
		pw := `' OR '1'='1`
		srv.register(t, "1", name, pw)
		srv.register(t, "2", "b", "666")

		c := srv.Dial(t)
		c.Send(qt("type", "login", "user_id", "1' OR '1'='1", "user_password", pw))
		refused(t, c.Read(), "login", "bad_credentials")
		c.Send(qt("type", "login", "user_id", "1", "user_password", `x' OR '1'='1`))
		refused(t, c.Read(), "login", "bad_credentials")

		a := srv.login(t, "1", pw)
		b := srv.login(t, "2", "666")
		srv.befriend(t, a, "1", b, "2")
		body := `it's "fine"; DELETE FROM messages; -- \ 你好`
		a.Send(sendMessage("1", "2", body))
		fields(t, obj(t, b.Read()), map[string]string{"message_body": body})
		fields(t, obj(t, a.Read()), map[string]string{"type": "send_message", "status": "success"})
		b.Send(qt("type", "friends", "user_id", "2"))
		fields(t, arr(t, b.Read())[0], map[string]string{"user_name": name})
		b.Send(qt("type", "chatting", "user_id", "2"))
		fields(t, arr(t, b.Read())[0], map[string]string{"last_message": body, "user_name": name})
	})
}

// B11: after login every identity field must name the logged-in user.
func TestIdentityBindingForbidden(t *testing.T) {
	eachDriver(t, func(t *testing.T, srv *server) {
		srv.register(t, "1", "a", "666")
		srv.register(t, "2", "b", "666")
		a := srv.login(t, "1", "666")
		for _, req := range [][]byte{
			qt("type", "friends", "user_id", "2"),
			qt("type", "chatting", "user_id", "2"),
			qt("type", "get_unread_messages", "user_id", "2"),
			qt("type", "search_user", "user_id", "2", "search_id", "1"),
			qt("type", "add_friend", "user_id", "2", "friend_id", "1"),
			qt("type", "accept_friend", "user_id", "2", "friend_id", "1"),
			qt("type", "delete_friend", "user_id", "2", "friend_id", "1"),
			updateChat("2", "1", "x"),
			sendMessage("2", "1", "impersonated"),
		} {
			a.Send(req)
			m := obj(t, a.Read())
			fields(t, m, map[string]string{"status": "error", "code": "forbidden"})
		}
		// The connection is still usable.
		a.Send(qt("type", "friends", "user_id", "1"))
		null(t, a.Read(), "friends", "have not friends")
	})
}

// B11: before login only register, login and ping are served.
func TestUnauthenticatedBeforeLogin(t *testing.T) {
	eachDriver(t, func(t *testing.T, srv *server) {
		srv.register(t, "1", "a", "666")
		c := srv.Dial(t)
		for _, typ := range []string{"friends", "chatting", "get_unread_messages", "search_user", "add_friend", "accept_friend", "delete_friend", "update_chat", "send_message"} {
			c.Send(qt("type", typ, "user_id", "1", "send_id", "1", "friend_id", "2", "receiver_id", "2", "comm_id", "2", "search_id", "2"))
			refused(t, c.Read(), typ, "unauthenticated")
		}
		c.Send(qt("type", "ping"))
		fields(t, obj(t, c.Read()), map[string]string{"type": "pong", "status": "success"})
		c.Send(qt("type", "register", "user_phone", "5", "user_name", "e", "user_password", "pw"))
		fields(t, obj(t, c.Read()), map[string]string{"type": "register", "status": "success", "user_id": "5"})
		c.Send(qt("type", "login", "user_id", "5", "user_password", "pw"))
		fields(t, arr(t, c.Read())[0], map[string]string{"status": "success"})
		c.Send(qt("type", "friends", "user_id", "5"))
		null(t, c.Read(), "friends", "have not friends")
	})
}

// B12: messages for an offline user are delivered at login exactly once,
// oldest first, one per frame; the catch-up is always answered.
func TestOfflineDeliveryOnceInOrderOnePerFrame(t *testing.T) {
	eachDriver(t, func(t *testing.T, srv *server) {
		srv.register(t, "1", "a", "666")
		srv.register(t, "2", "b", "666")
		a, b := srv.login(t, "1", "666"), srv.login(t, "2", "666")
		srv.befriend(t, a, "1", b, "2")
		srv.hangUp(t, b, "2")
		const n = 6
		for i := 0; i < n; i++ {
			a.Send(sendMessage("1", "2", fmt.Sprint("msg ", i)))
			fields(t, obj(t, a.Read()), map[string]string{"status": "success"})
		}
		b = srv.login(t, "2", "666")
		b.Send(qt("type", "get_unread_messages", "user_id", "2"))
		last := int64(0)
		for i := 0; i < n; i++ {
			m := obj(t, b.Read())
			strs(t, m)
			fields(t, m, map[string]string{
				"type": "get_unread_messages", "status": "success", "message_body": fmt.Sprint("msg ", i),
				"send_id": "1", "receiver_id": "2", "file_path": " ", "chat_type": "friend", "message_type": "text",
			})
			id, err := strconv.ParseInt(m["message_id"].(string), 10, 64)
			if err != nil || id <= last {
				t.Fatalf("message_id %v after %d: not increasing", m["message_id"], last)
			}
			last = id
		}
		b.Send(qt("type", "ping"))
		fields(t, obj(t, b.Read()), map[string]string{"type": "pong"}) // nothing else was queued
		b.Send(qt("type", "get_unread_messages", "user_id", "2"))
		null(t, b.Read(), "get_unread_messages", "don't have messages")
		srv.hangUp(t, b, "2")
		b = srv.login(t, "2", "666")
		b.Send(qt("type", "get_unread_messages", "user_id", "2"))
		null(t, b.Read(), "get_unread_messages", "don't have messages")
	})
}

// B12: a message pushed live is not delivered again at later logins, and
// every online session of the receiver gets the push (B18).
func TestLivePushToEverySessionNotRedelivered(t *testing.T) {
	eachDriver(t, func(t *testing.T, srv *server) {
		srv.register(t, "1", "a", "666")
		srv.register(t, "2", "b", "666")
		a, b1 := srv.login(t, "1", "666"), srv.login(t, "2", "666")
		srv.befriend(t, a, "1", b1, "2")
		b2 := srv.login(t, "2", "666")
		a.Send(sendMessage("1", "2", "to both"))
		p1, p2 := b1.Read(), b2.Read()
		if string(p1) != string(p2) {
			t.Fatalf("sessions got different pushes:\n%s\n%s", p1, p2)
		}
		fields(t, obj(t, p1), map[string]string{"type": "receive_message", "status": "success", "message_body": "to both"})
		fields(t, obj(t, a.Read()), map[string]string{"type": "send_message", "status": "success"})
		b1.Conn.Close()
		b3 := srv.login(t, "2", "666")
		b3.Send(qt("type", "get_unread_messages", "user_id", "2"))
		null(t, b3.Read(), "get_unread_messages", "don't have messages")
		b2.ExpectNoFrame(100 * time.Millisecond)
	})
}

// B13: the add_friend reply has type add_friend; the online target gets the
// new row of its friends list pushed.
func TestAddFriendReplyType(t *testing.T) {
	eachDriver(t, func(t *testing.T, srv *server) {
		srv.register(t, "1", "a", "666")
		srv.register(t, "3", "c", "666")
		a, c := srv.login(t, "1", "666"), srv.login(t, "3", "666")
		a.Send(qt("type", "add_friend", "user_id", "1", "friend_id", "3"))
		m := obj(t, a.Read())
		strs(t, m)
		fields(t, m, map[string]string{"type": "add_friend", "status": "success", "user_id": "1", "friend_id": "3"})
		list := arr(t, c.Read())
		if len(list) != 1 {
			t.Fatalf("pushed friends list: %v", list)
		}
		fields(t, list[0], map[string]string{"type": "friends", "status": "success", "user_id": "1", "friend_relation": "pending"})
		a.Send(qt("type", "add_friend", "user_id", "1", "friend_id", "3"))
		refused(t, a.Read(), "add_friend", "conflict")
		a.Send(qt("type", "add_friend", "user_id", "1", "friend_id", "404"))
		refused(t, a.Read(), "add_friend", "not_found")
	})
}

// B14: delete_friend answers success when the friendship is deleted, even
// without any message between the two, echoing both ids as received.
func TestDeleteFriendWithoutMessages(t *testing.T) {
	eachDriver(t, func(t *testing.T, srv *server) {
		srv.register(t, "1", "a", "666")
		srv.register(t, "3", "c", "666")
		a := srv.login(t, "1", "666")
		a.Send(qt("type", "add_friend", "user_id", "1", "friend_id", "3"))
		fields(t, obj(t, a.Read()), map[string]string{"status": "success"})
		a.Send(qt("type", "delete_friend", "user_id", "1", "friend_id", "3"))
		m := obj(t, a.Read())
		strs(t, m)
		fields(t, m, map[string]string{"type": "delete_friend", "status": "success", "user_id": "1", "friend_id": "3"})
		a.Send(qt("type", "delete_friend", "user_id", "1", "friend_id", "3"))
		refused(t, a.Read(), "delete_friend", "not_found")
		a.Send(qt("type", "friends", "user_id", "1"))
		null(t, a.Read(), "friends", "have not friends")
	})
}

// B19: accept_friend stores the greeting and pushes it (then the chat list)
// to an online requester; an offline one gets it at the next login.
func TestAcceptGreetingStoredAndPushed(t *testing.T) {
	eachDriver(t, func(t *testing.T, srv *server) {
		for _, id := range []string{"1", "2", "3"} {
			srv.register(t, id, "u"+id, "666")
		}
		a, b, c := srv.login(t, "1", "666"), srv.login(t, "2", "666"), srv.login(t, "3", "666")
		a.Send(qt("type", "add_friend", "user_id", "1", "friend_id", "3"))
		obj(t, a.Read())
		arr(t, c.Read())
		c.Send(qt("type", "accept_friend", "user_id", "3", "friend_id", "1"))
		fields(t, obj(t, c.Read()), map[string]string{"type": "accept_friend", "status": "success", "user_id": "3", "friend_id": "1"})
		g := obj(t, a.Read())
		strs(t, g)
		fields(t, g, map[string]string{
			"type": "receive_message", "status": "success", "send_id": "3", "receiver_id": "1",
			"message_body": handlers.Greeting, "file_path": " ", "chat_type": "friend", "message_type": "text",
		})
		chats := arr(t, a.Read())
		fields(t, chats[0], map[string]string{"type": "chatting", "comm_id": "3", "last_message": handlers.Greeting, "unread_count": "1"})

		// Offline requester.
		b.Send(qt("type", "add_friend", "user_id", "2", "friend_id", "3"))
		obj(t, b.Read())
		arr(t, c.Read())
		srv.hangUp(t, b, "2")
		c.Send(qt("type", "accept_friend", "user_id", "3", "friend_id", "2"))
		fields(t, obj(t, c.Read()), map[string]string{"status": "success"})
		b = srv.login(t, "2", "666")
		b.Send(qt("type", "get_unread_messages", "user_id", "2"))
		fields(t, obj(t, b.Read()), map[string]string{"type": "get_unread_messages", "send_id": "3", "message_body": handlers.Greeting})
	})
}

// B1, B2, B5: pipelined requests in one write are all answered, in order.
func TestPipelinedRequestsAnsweredInOrder(t *testing.T) {
	eachDriver(t, func(t *testing.T, srv *server) {
		srv.register(t, "1", "a", "666")
		a := srv.Dial(t)
		var bodies [][]byte
		bodies = append(bodies, qt("type", "login", "user_id", "1", "user_password", "666"))
		bodies = append(bodies, qt("type", "get_unread_messages", "user_id", "1"))
		for i := 0; i < 50; i++ {
			bodies = append(bodies, qt("type", "chatting", "user_id", "1"))
			bodies = append(bodies, qt("type", "ping", "seq", i+1))
		}
		bodies = append(bodies, qt("type", "friends", "user_id", "1"))
		raw := frames(bodies...)
		if len(raw) < 4096 {
			t.Fatalf("the burst is only %d bytes; want more than the seed's 2 KiB buffer", len(raw))
		}
		a.SendRaw(raw)
		fields(t, arr(t, a.Read())[0], map[string]string{"type": "login", "status": "success"})
		null(t, a.Read(), "get_unread_messages", "don't have messages")
		for i := 0; i < 50; i++ {
			null(t, a.Read(), "chatting", "have not chatting")
			pong := obj(t, a.Read())
			if pong["type"] != "pong" || pong["seq"] != float64(i+1) {
				t.Fatalf("reply %d out of order: %v", i, pong)
			}
		}
		null(t, a.Read(), "friends", "have not friends")
	})
}

// B8: lists larger than the seed's 2 KiB output buffer arrive whole, in one
// frame, with no trailing non-success element.
func TestBigListsInOneFrame(t *testing.T) {
	eachDriver(t, func(t *testing.T, srv *server) {
		srv.register(t, "1", "a", "666")
		a := srv.login(t, "1", "666")
		// The friends are made through the store: the per-IP register limit
		// is not what this test is about.
		const n = 10
		ctx := context.Background()
		for i := 0; i < n; i++ {
			id := strconv.Itoa(100 + i)
			if err := srv.store.CreateUser(ctx, &db.User{ID: id, Phone: id, Name: "friend number " + id}); err != nil {
				t.Fatal(err)
			}
			if err := srv.store.RequestFriend(ctx, "1", id); err != nil {
				t.Fatal(err)
			}
			if _, err := srv.store.AcceptFriend(ctx, id, "1", handlers.Greeting); err != nil {
				t.Fatal(err)
			}
		}
		for _, typ := range []string{"friends", "chatting"} {
			a.Send(qt("type", typ, "user_id", "1"))
			body := a.Read()
			if len(body) <= 2048 {
				t.Fatalf("%s list is %d bytes; the test needs more than 2 KiB", typ, len(body))
			}
			list := arr(t, body)
			if len(list) != n {
				t.Fatalf("%s list has %d elements, want %d", typ, len(list), n)
			}
			for _, e := range list {
				strs(t, e)
				fields(t, e, map[string]string{"type": typ, "status": "success"})
			}
		}
	})
}

// The frame format tolerates a frame split over many writes, and a body of
// messages.max_body; a bigger message_body is refused and the connection
// stays usable.
func TestSplitFramesAndBigBodies(t *testing.T) {
	eachDriver(t, func(t *testing.T, srv *server) {
		srv.register(t, "1", "a", "666")
		srv.register(t, "2", "b", "666")
		a := srv.Dial(t)
		raw := wire.AppendFrame(nil, qt("type", "login", "user_id", "1", "user_password", "666"))
		for i := 0; i < len(raw); i += 5 {
			a.SendRaw(raw[i:min(i+5, len(raw))])
			// Pacing, not ordering: it makes separate reads likely, and the
			// test holds whether or not the kernel merges the writes.
			time.Sleep(time.Millisecond)
		}
		fields(t, arr(t, a.Read())[0], map[string]string{"status": "success"})
		b := srv.login(t, "2", "666")
		srv.befriend(t, a, "1", b, "2")

		maxBody := config.Default().Messages.MaxBody
		big := strings.Repeat("长", maxBody/3)
		a.Send(sendMessage("1", "2", big))
		fields(t, obj(t, b.Read()), map[string]string{"message_body": big})
		fields(t, obj(t, a.Read()), map[string]string{"type": "send_message", "status": "success"})

		a.Send(sendMessage("1", "2", strings.Repeat("x", maxBody+1)))
		refused(t, a.Read(), "send_message", "too_large")
		a.SendRaw(wire.AppendFrame(nil, []byte("{not json")))
		fields(t, obj(t, a.Read()), map[string]string{"status": "error", "code": "bad_request"})
		a.Send(qt("type", "receive_message"))
		refused(t, a.Read(), "receive_message", "unknown_type")
		a.Send(qt("type", "ping"))
		fields(t, obj(t, a.Read()), map[string]string{"type": "pong", "status": "success"})
		b.ExpectNoFrame(100 * time.Millisecond)
	})
}

// send_message is refused, and nothing is stored or pushed, for a stranger
// (forbidden) or a missing receiver (not_found).
func TestSendMessageOnlyToFriends(t *testing.T) {
	eachDriver(t, func(t *testing.T, srv *server) {
		srv.register(t, "1", "a", "666")
		srv.register(t, "3", "c", "666")
		a, c := srv.login(t, "1", "666"), srv.login(t, "3", "666")
		a.Send(sendMessage("1", "3", "hi stranger"))
		refused(t, a.Read(), "send_message", "forbidden")
		a.Send(sendMessage("1", "404", "hi nobody"))
		refused(t, a.Read(), "send_message", "not_found")
		c.ExpectNoFrame(100 * time.Millisecond)
		c.Send(qt("type", "get_unread_messages", "user_id", "3"))
		null(t, c.Read(), "get_unread_messages", "don't have messages")
	})
}
