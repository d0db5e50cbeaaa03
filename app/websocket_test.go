package app_test

import (
	"context"
	"strings"
	"testing"

	"github.com/coder/websocket"

	"github.com/parley-im/parley/app/apptest"
	"github.com/parley-im/parley/transport"
)

// wsClient is a well-behaved browser-like client: one JSON request per text
// message.
type wsClient struct {
	t *testing.T
	c *websocket.Conn
}

func dialWS(t *testing.T, srv *apptest.Server) *wsClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), apptest.ReadTimeout)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws://"+srv.WSAddr()+transport.WSPath, nil)
	if err != nil {
		t.Fatalf("dial websocket: %v", err)
	}
	c.SetReadLimit(-1)
	t.Cleanup(func() { _ = c.CloseNow() })
	return &wsClient{t, c}
}

func (w *wsClient) send(body []byte) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), apptest.ReadTimeout)
	defer cancel()
	if err := w.c.Write(ctx, websocket.MessageText, body); err != nil {
		w.t.Fatalf("websocket write: %v", err)
	}
}

func (w *wsClient) read() string {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), apptest.ReadTimeout)
	defer cancel()
	typ, b, err := w.c.Read(ctx)
	if err != nil {
		w.t.Fatalf("websocket read: %v", err)
	}
	if typ != websocket.MessageText {
		w.t.Fatalf("got a %v message, want text", typ)
	}
	return string(b)
}

// TestWebSocketChatsWithTCP runs the real handlers over both transports: a
// WebSocket user and a TCP (seed-style) user register, log in, befriend
// each other and exchange messages both ways, with the same bodies.
func TestWebSocketChatsWithTCP(t *testing.T) {
	srv := apptest.Start(t)
	alice, bob := dialWS(t, srv), srv.Dial(t)
	wsCall := func(fields map[string]any) string {
		t.Helper()
		alice.send(apptest.QtJSON(fields))
		body := alice.read()
		if !strings.Contains(body, `"status":"success"`) {
			t.Fatalf("ws %v: %s", fields["type"], body)
		}
		return body
	}
	tcpCall := func(fields map[string]any) string {
		t.Helper()
		bob.Send(apptest.QtJSON(fields))
		body := string(bob.Read())
		if !strings.Contains(body, `"status":"success"`) {
			t.Fatalf("tcp %v: %s", fields["type"], body)
		}
		return body
	}
	if body := wsCall(map[string]any{"type": "register", "user_name": "alice 爱丽丝 🙂", "user_password": "pw", "user_phone": "111"}); !strings.Contains(body, `"user_id":"111"`) {
		t.Fatalf("register reply: %s", body)
	}
	tcpCall(map[string]any{"type": "register", "user_name": "bob", "user_password": "pw", "user_phone": "222"})
	wsCall(map[string]any{"type": "login", "user_id": "111", "user_password": "pw"})
	tcpCall(map[string]any{"type": "login", "user_id": "222", "user_password": "pw"})

	wsCall(map[string]any{"type": "add_friend", "user_id": "111", "friend_id": "222"})
	if push := string(bob.Read()); !strings.Contains(push, "alice 爱丽丝 🙂") {
		t.Fatalf("friend request push over TCP: %s", push)
	}
	tcpCall(map[string]any{"type": "accept_friend", "user_id": "222", "friend_id": "111"})
	// The acceptance reaches alice as pushes (greeting, chat list); a ping
	// is answered after them, so reading up to the pong drains them.
	alice.send([]byte(`{"type":"ping","seq":7}`))
	for body := alice.read(); !strings.Contains(body, `"type":"pong"`); body = alice.read() {
	}

	msg := func(from, to, text string) map[string]any {
		return map[string]any{
			"type": "send_message", "send_id": from, "receiver_id": to, "chat_type": "friend",
			"file_path": " ", "message_type": "text", "message_body": text,
			"message_timestamp": "2025-07-14 11:00:00",
		}
	}
	wsCall(msg("111", "222", "hello over WebSocket 你好 🎉"))
	if push := string(bob.Read()); !strings.Contains(push, `"type":"receive_message"`) || !strings.Contains(push, "hello over WebSocket 你好 🎉") {
		t.Fatalf("push over TCP: %s", push)
	}
	tcpCall(msg("222", "111", "hello over TCP"))
	if push := alice.read(); !strings.Contains(push, `"type":"receive_message"`) || !strings.Contains(push, "hello over TCP") {
		t.Fatalf("push over WebSocket: %s", push)
	}
	// An error reply is a text message too, and the connection stays.
	alice.send([]byte(`{"type":"friends","user_id":"222"}`))
	if body := alice.read(); !strings.Contains(body, `"code":"forbidden"`) {
		t.Fatalf("want forbidden, got %s", body)
	}
	alice.send([]byte(`{"type":"ping","seq":8}`))
	if body := alice.read(); !strings.Contains(body, `"seq":8`) {
		t.Fatalf("ping after an error: %s", body)
	}
	_ = alice.c.Close(websocket.StatusNormalClosure, "bye")
}

// TestWebSocketBadInputThroughTheServer: over the whole server, a text
// message that is not a request gets an error reply and the connection
// stays; a binary message and a message over transport.max_frame close
// only their own connection, with 1003 and 1009; a TCP user is unaffected.
func TestWebSocketBadInputThroughTheServer(t *testing.T) {
	srv := apptest.Start(t)
	tcp := srv.Dial(t)
	ws := dialWS(t, srv)
	for _, body := range []string{"not json", "", `{"type":"no_such_type"}`, `[1,2]`} {
		ws.send([]byte(body))
		if got := ws.read(); !strings.Contains(got, `"status":"error"`) {
			t.Fatalf("%q: got %s", body, got)
		}
	}
	ws.send([]byte(`{"type":"ping","seq":3}`))
	if got := ws.read(); !strings.Contains(got, `"seq":3`) {
		t.Fatalf("ping after errors: %s", got)
	}

	for _, tc := range []struct {
		name string
		typ  websocket.MessageType
		body []byte
		code websocket.StatusCode
	}{
		{"binary", websocket.MessageBinary, []byte(`{"type":"ping"}`), websocket.StatusUnsupportedData},
		{"over max_frame", websocket.MessageText, []byte(strings.Repeat("x", srv.Config.Transport.MaxFrame+1)), websocket.StatusMessageTooBig},
	} {
		c := dialWS(t, srv)
		ctx, cancel := context.WithTimeout(context.Background(), apptest.ReadTimeout)
		_ = c.c.Write(ctx, tc.typ, tc.body) // the server may close before it has read it all
		_, _, err := c.c.Read(ctx)
		cancel()
		if got := websocket.CloseStatus(err); got != tc.code {
			t.Fatalf("%s: read error %v (close status %d), want close %d", tc.name, err, got, tc.code)
		}
	}
	tcp.Send([]byte(`{"type":"ping","seq":9}`))
	if got := string(tcp.Read()); !strings.Contains(got, `"seq":9`) {
		t.Fatalf("TCP after the WebSocket violations: %s", got)
	}
}
