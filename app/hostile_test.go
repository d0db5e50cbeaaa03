package app_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/app/apptest"
	"github.com/parley-im/parley/wire"
)

// TestHostileInputLeavesOthersUnharmed is issue 5 item 7 end to end. Alice
// and Bob chat without pause while Eve, on her own connection, sends every
// input that crashed or deafened the seed server (seed-protocol.md §1.6, B4,
// B16) and more. Each hostile input must get an error reply or, when the
// stream cannot be resynchronised, a closed connection: never silence, never
// a crash. Alice and Bob must never see an error, and get every message in
// order exactly once. Eve's refused messages to her friend Dave must not be
// stored. Afterwards a fresh client can still ping.
func TestHostileInputLeavesOthersUnharmed(t *testing.T) {
	for _, driver := range apptest.Drivers(t) {
		t.Run(driver, func(t *testing.T) { testHostileInput(t, driver) })
	}
}

const (
	hAlice = "13700000001"
	hBob   = "13700000002"
	hEve   = "13700000003" // the hostile client
	hDave  = "13700000004" // Eve's friend: her messages to him can be stored
	hPass  = "secret"
	// hWait bounds every wait for a reply: longer means the server went
	// silent, which is exactly what the seed server did.
	hWait = 10 * time.Second
)

func testHostileInput(t *testing.T, driver string) {
	srv := apptest.Start(t, apptest.WithDriver(driver))
	alice, bob := hSignUp(t, srv, hAlice), hSignUp(t, srv, hBob)
	eve, dave := hSignUp(t, srv, hEve), hSignUp(t, srv, hDave)
	hBefriend(t, alice, bob)
	hBefriend(t, eve, dave)

	stop := make(chan struct{})
	done := make(chan hChatResult, 1)
	go func() { done <- hChat(stop, alice, bob) }()

	h := &hostile{t: t, srv: srv, u: eve}
	cases := hostileCases(srv.Config.Transport.MaxFrame)
	for _, c := range cases {
		h.run(c)
	}
	marker := h.u.call(t, map[string]any{"type": "send_message", "receiver_id": hDave, "message_body": "after the storm"})
	h.stored = append(h.stored, hStored{marker["message_id"], []string{"after the storm"}})

	close(stop)
	res := <-done
	if res.err != nil {
		t.Fatalf("the chatting pair was disturbed after %d messages: %v", res.sent, res.err)
	}
	if res.sent == 0 {
		t.Fatal("the chatting pair exchanged no message during the hostile run")
	}
	alice.c.ExpectNoFrame(300 * time.Millisecond)
	bob.c.ExpectNoFrame(300 * time.Millisecond)
	slices.Sort(res.rtts)
	t.Logf("%d hostile inputs, %d reconnects; %d chat messages, round trip median %v, max %v",
		len(cases), h.reconnects, res.sent, res.rtts[len(res.rtts)/2], res.rtts[len(res.rtts)-1])

	// Dave got, and the store holds, exactly the messages Eve was told were
	// stored, in order: nothing refused was kept.
	pushed := make([]string, len(h.stored))
	for i, want := range h.stored {
		m := hObject(t, dave.c.Read())
		pushed[i], _ = m["message_body"].(string)
		if m["type"] != wire.TypeReceiveMessage || m["message_id"] != want.id || !slices.Contains(want.bodies, pushed[i]) {
			t.Fatalf("Dave: got %.200v, want message %v, body one of %.200q", m, want.id, want.bodies)
		}
	}
	dave.c.ExpectNoFrame(300 * time.Millisecond)
	var synced wire.SyncReply
	raw, _ := json.Marshal(dave.call(t, map[string]any{"type": "sync", "after_id": "0"}))
	if err := json.Unmarshal(raw, &synced); err != nil {
		t.Fatal(err)
	}
	if len(synced.Messages) != len(h.stored) {
		t.Fatalf("stored for Dave: %d messages, want %d: %+v", len(synced.Messages), len(h.stored), synced.Messages)
	}
	for i, m := range synced.Messages {
		if m.MessageID != h.stored[i].id || m.MessageBody != pushed[i] {
			t.Errorf("stored message %s: body %.100q, but pushed as %v %.100q", m.MessageID, m.MessageBody, h.stored[i].id, pushed[i])
		}
	}

	fresh := srv.Dial(t)
	fresh.Send([]byte(`{"type":"ping","seq":1}`))
	if m := hObject(t, fresh.Read()); m["type"] != wire.TypePong || m["seq"] != float64(1) {
		t.Fatalf("fresh client: got %v, want pong", m)
	}
}

// hUser is a raw connection logged in as one user.
type hUser struct {
	id, token string
	c         *apptest.Client
	seq       int
}

// hSignUp registers id on a new connection and logs it in.
func hSignUp(t *testing.T, srv *apptest.Server, id string) *hUser {
	t.Helper()
	u := &hUser{id: id, c: srv.Dial(t)}
	u.call(t, map[string]any{"type": "register", "user_phone": id, "user_name": "user " + id, "user_password": hPass})
	u.c.Send(apptest.QtJSON(map[string]any{"type": "login", "user_id": id, "user_password": hPass, "want_token": true}))
	var reply []map[string]any
	u.c.ReadJSON(&reply)
	if len(reply) != 1 || reply[0]["status"] != wire.StatusSuccess {
		t.Fatalf("login %s: %v", id, reply)
	}
	u.token, _ = reply[0]["token"].(string)
	return u
}

// call sends a request with the next seq and returns its reply, skipping
// pushes; any error frame fails the test.
func (u *hUser) call(t *testing.T, req map[string]any) map[string]any {
	t.Helper()
	u.seq++
	req["seq"] = u.seq
	body, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	u.c.Send(body)
	for {
		b := u.c.Read()
		var m map[string]any
		if json.Unmarshal(b, &m) != nil {
			continue // a pushed list (friends, chatting)
		}
		if m["status"] == wire.StatusError {
			t.Fatalf("%s %v: error frame %s", u.id, req["type"], b)
		}
		if m["seq"] == float64(u.seq) {
			return m
		}
	}
}

// hBefriend makes a and b friends and drains the pushes that causes.
func hBefriend(t *testing.T, a, b *hUser) {
	t.Helper()
	a.call(t, map[string]any{"type": "add_friend", "user_id": a.id, "friend_id": b.id})
	b.call(t, map[string]any{"type": "accept_friend", "user_id": b.id, "friend_id": a.id})
	a.call(t, map[string]any{"type": "ping"}) // after the greeting and chat list pushes
}

type hChatResult struct {
	sent int
	rtts []time.Duration
	err  error
}

// hChat makes a and b take turns sending a message, like the seed client
// (Qt-style JSON, no seq), until stop is closed. Each message must be the
// very next frame its receiver reads and the sender must get the success
// reply with the same id: in order, exactly once, no error in between. The
// pause keeps each user under the default send_message limit (20/s).
func hChat(stop <-chan struct{}, a, b *hUser) (res hChatResult) {
	users := [2]*hUser{a, b}
	for i := 0; ; i++ {
		select {
		case <-stop:
			return res
		case <-time.After(25 * time.Millisecond):
		}
		from, to := users[i%2], users[(i+1)%2]
		body := fmt.Sprintf("message %d from %s: 你好 ' \" \\", i, from.id)
		frame := wire.AppendFrame(nil, apptest.QtJSON(map[string]any{
			"chat_type": "friend", "file_path": " ", "message_body": body, "message_timestamp": "2025-07-14 11:04:00",
			"message_type": "text", "receiver_id": to.id, "send_id": from.id, "type": "send_message",
		}))
		start := time.Now()
		_ = from.c.Conn.SetWriteDeadline(start.Add(hWait))
		if _, err := from.c.Conn.Write(frame); err != nil {
			res.err = fmt.Errorf("message %d: write: %w", i, err)
			return res
		}
		push, err := hReadObject(to.c)
		if err == nil && (push["type"] != wire.TypeReceiveMessage || push["message_body"] != body || push["send_id"] != from.id) {
			err = fmt.Errorf("got %v, want message %q", push, body)
		}
		rtt := time.Since(start)
		if err == nil {
			var reply map[string]any
			reply, err = hReadObject(from.c)
			if err == nil && (reply["type"] != wire.TypeSendMessage || reply["status"] != wire.StatusSuccess || reply["message_id"] != push["message_id"]) {
				err = fmt.Errorf("sender got %v, want success for message_id %v", reply, push["message_id"])
			}
		}
		if err != nil {
			res.err = fmt.Errorf("message %d: %w", i, err)
			return res
		}
		res.sent++
		res.rtts = append(res.rtts, rtt)
	}
}

func hReadObject(c *apptest.Client) (map[string]any, error) {
	b, err := c.ReadErr(hWait)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("frame %q: %w", b, err)
	}
	return m, nil
}

func hObject(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("want a JSON object, got %q: %v", b, err)
	}
	return m
}

// hostile is Eve's side: one connection at a time, reconnected (and
// resumed) whenever the server closes it.
type hostile struct {
	t          *testing.T
	srv        *apptest.Server
	u          *hUser
	barrier    int // seq of the last barrier ping
	reconnects int
	stored     []hStored // Eve's messages to Dave the server said it stored
}

type hStored struct {
	id     any
	bodies []string // acceptable bodies; the push and the stored copy must agree
}

func (h *hostile) run(c hCase) {
	t := h.t
	t.Helper()
	for i, p := range c.pieces {
		if i > 0 {
			// The pause: nothing may be answered before the frame is whole.
			if b, err := h.u.c.ReadErr(250 * time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("%s: before the last bytes: frame %q, err %v", c.name, b, err)
			}
		}
		_ = h.u.c.Conn.SetWriteDeadline(time.Now().Add(hWait))
		if _, err := h.u.c.Conn.Write(p); err != nil {
			if c.want != hClose && c.want != hFlood {
				t.Fatalf("%s: write: %v", c.name, err)
			}
			break // closed under our feet: the read below confirms it
		}
	}
	if c.want == hClose {
		if frames, closed := h.readUntil(c.name, 0); !closed {
			t.Fatalf("%s: connection still open, got %q", c.name, frames)
		}
		h.reconnect(c.name)
		return
	}
	frames, closed := h.sync(c.name)
	if closed {
		if c.want != hFlood {
			t.Errorf("%s: connection closed, want a reply", c.name)
		}
		h.reconnect(c.name)
		return
	}
	switch c.want {
	case hError, hPong:
		if len(frames) != 1 {
			t.Fatalf("%s: %d replies, want 1: %.300q", c.name, len(frames), frames)
		}
		m := hObject(t, frames[0])
		if c.want == hPong {
			if m["type"] != wire.TypePong || m["seq"] != float64(77) {
				t.Fatalf("%s: got %v, want pong 77", c.name, m)
			}
			return
		}
		if m["status"] != wire.StatusError || (len(c.codes) > 0 && !slices.Contains(c.codes, m["code"].(string))) {
			t.Fatalf("%s: got %.300s, want an error with code %v", c.name, frames[0], c.codes)
		}
		if len(frames[0]) > 1024 {
			t.Errorf("%s: error reply of %d bytes echoes the input", c.name, len(frames[0]))
		}
	case hAny:
		if len(frames) == 0 {
			t.Fatalf("%s: no reply", c.name)
		}
		for _, f := range frames {
			if strings.Contains(string(f), `"code":"internal"`) {
				t.Errorf("%s: internal error: %s", c.name, f)
			}
			var m map[string]any
			if c.stored != nil && json.Unmarshal(f, &m) == nil && m["type"] == wire.TypeSendMessage && m["status"] == wire.StatusSuccess {
				h.stored = append(h.stored, hStored{m["message_id"], c.stored})
			}
		}
	case hFlood:
		if len(frames) != c.frames {
			t.Fatalf("%s: %d replies to %d frames", c.name, len(frames), c.frames)
		}
		for _, f := range frames {
			if m := hObject(t, f); m["status"] != wire.StatusError {
				t.Fatalf("%s: got %s, want an error", c.name, f)
			}
		}
	}
}

// sync sends a ping with a fresh seq and returns the frames read before its
// answer (a pong, or a refusal carrying the same seq): the replies to the
// hostile input, however many there were.
func (h *hostile) sync(name string) (frames [][]byte, closed bool) {
	h.barrier++
	seq := 1000000 + h.barrier
	_ = h.u.c.Conn.SetWriteDeadline(time.Now().Add(hWait))
	if _, err := h.u.c.Conn.Write(wire.AppendFrame(nil, fmt.Appendf(nil, `{"type":"ping","seq":%d}`, seq))); err != nil {
		return h.readUntil(name, 0)
	}
	return h.readUntil(name, seq)
}

// readUntil reads frames until one carries seq (not returned) or, with seq
// 0, until the server closes the connection. Every frame must be valid UTF-8
// JSON. Silence for hWait fails the test: the seed server went deaf here.
func (h *hostile) readUntil(name string, seq int) (frames [][]byte, closed bool) {
	t := h.t
	t.Helper()
	for {
		b, err := h.u.c.ReadErr(hWait)
		var op *net.OpError
		switch {
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.As(err, &op) && !op.Timeout():
			return frames, true
		case err != nil:
			t.Fatalf("%s: no answer within %v (%d frames so far): %v", name, hWait, len(frames), err)
		}
		if !json.Valid(b) {
			t.Fatalf("%s: reply is not valid UTF-8 JSON: %.300q", name, b)
		}
		var m struct {
			Seq int `json:"seq"`
		}
		if seq != 0 && json.Unmarshal(b, &m) == nil && m.Seq == seq {
			return frames, false
		}
		frames = append(frames, b)
	}
}

// reconnect gives Eve a new connection, logged in with her resume token (a
// login might meet the per-address login limit her hostile logins used up).
func (h *hostile) reconnect(name string) {
	h.t.Helper()
	h.reconnects++
	h.u.c = h.srv.Dial(h.t)
	if m := h.u.call(h.t, map[string]any{"type": "resume", "token": h.u.token}); m["status"] != wire.StatusSuccess {
		h.t.Fatalf("after %s: resume: %v", name, m)
	}
}
