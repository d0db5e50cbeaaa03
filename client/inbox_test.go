package client

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/parley-im/parley/wire"
)

func wmsg(id int64) wire.Message {
	return wire.Message{MessageID: strconv.FormatInt(id, 10), MessageBody: "m" + strconv.FormatInt(id, 10)}
}

func page(ids ...int64) []wire.Message {
	out := make([]wire.Message, len(ids))
	for i, id := range ids {
		out[i] = wmsg(id)
	}
	return out
}

func queued(b *inbox) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, m := range b.queue {
		out = append(out, m.ID)
	}
	return out
}

func TestInboxDeduplicates(t *testing.T) {
	b := newInbox(10, 0)
	b.push(wmsg(3))
	b.push(wmsg(3))
	b.merge(page(1, 2, 3, 4))
	b.push(wmsg(4))
	b.push(wmsg(2))
	if got := queued(b); len(got) != 4 || got[0] != "1" || got[3] != "4" {
		t.Fatalf("queue %v, want 1 2 3 4", got)
	}
	if b.cursor() != 4 {
		t.Fatalf("floor %d, want 4", b.cursor())
	}
	b.push(wire.Message{MessageBody: "no id"})
	if n := len(queued(b)); n != 4 {
		t.Fatalf("a message without id was queued (%d)", n)
	}
}

// Pushes that arrive during a catch-up sync go after the older messages
// the sync finds.
func TestInboxHoldOrdersCatchUp(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	b := newInbox(10, 5)
	done := make(chan struct{})
	go func() { b.deliver(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	b.setHold(true)
	b.push(wmsg(9))
	b.push(wmsg(4)) // at or below the floor: already delivered
	select {
	case m := <-b.out:
		t.Fatalf("delivered %s while holding", m.ID)
	case <-time.After(20 * time.Millisecond):
	}
	b.merge(page(6, 7, 8, 9))
	b.complete(9)
	b.setHold(false)
	for _, want := range []string{"6", "7", "8", "9"} {
		select {
		case m := <-b.out:
			if m.ID != want {
				t.Fatalf("got %s, want %s", m.ID, want)
			}
		case <-time.After(time.Second):
			t.Fatalf("no message %s", want)
		}
	}
	// The deliverer forgets a message just after the reader took it.
	deadline := time.Now().Add(time.Second)
	for b.ackable() != 9 {
		if time.Now().After(deadline) {
			t.Fatalf("ackable %d, want 9", b.ackable())
		}
		time.Sleep(time.Millisecond)
	}
}

func TestInboxBoundedAndAckable(t *testing.T) {
	b := newInbox(3, 0)
	for id := int64(1); id <= 5; id++ {
		b.push(wmsg(id))
	}
	if got := queued(b); len(got) != 3 || !b.isLost() {
		t.Fatalf("queue %v lost %v, want 3 queued and lost", got, b.isLost())
	}
	// A sync page that does not fit moves the floor only over what it took.
	b.mu.Lock()
	b.queue = b.queue[1:] // the reader took message 1
	b.mu.Unlock()
	if all := b.merge(page(1, 2, 3, 4, 5)); all {
		t.Fatal("merge reported the whole page taken")
	}
	if f := b.cursor(); f != 4 {
		t.Fatalf("floor %d, want 4 (message 5 did not fit)", f)
	}
	if a := b.ackable(); a != 1 {
		t.Fatalf("ackable %d, want 1 (2..4 still queued)", a)
	}
}

func TestBackoffBounds(t *testing.T) {
	c := &Client{opts: defaultOptions()}
	c.opts.backoffMin, c.opts.backoffMax = 100*time.Millisecond, time.Second
	for n, want := range map[int]time.Duration{0: 100 * time.Millisecond, 1: 200 * time.Millisecond, 3: 800 * time.Millisecond, 4: time.Second, 60: time.Second} {
		for i := 0; i < 50; i++ {
			d := c.backoff(n)
			if d < want/2 || d > want {
				t.Fatalf("backoff(%d) = %v, want within [%v, %v]", n, d, want/2, want)
			}
		}
	}
}

func TestEncodeRequest(t *testing.T) {
	for _, tc := range []struct {
		payload any
		want    string
	}{
		{nil, `{"type":"ping","seq":7}`},
		{struct{}{}, `{"type":"ping","seq":7}`},
		{ackPayload{MessageID: "3"}, `{"type":"ping","seq":7,"message_id":"3"}`},
	} {
		frame, err := encodeRequest("ping", 7, tc.payload)
		if err != nil {
			t.Fatal(err)
		}
		body, n, err := wire.Split(frame, 1<<20)
		if err != nil || n != len(frame) || string(body) != tc.want {
			t.Fatalf("frame %q: body %q, want %q", frame, body, tc.want)
		}
	}
	if _, err := encodeRequest("x", 1, []int{1}); err == nil {
		t.Fatal("a non-object payload was accepted")
	}
}

func TestReplyError(t *testing.T) {
	for _, tc := range []struct {
		typ, body string
		code      string // "" = success
	}{
		{"friends", `[{"message":"have not friends","status":"null","type":"friends"}]`, ""},
		{"search_user", `[{"message":"don't have messages","status":"null","type":"search_user"}]`, wire.CodeNotFound},
		{"login", `[{"message":"name or code error","status":"error","type":"login"}]`, wire.CodeBadCredentials},
		{"login", `{"seq":3,"type":"login","status":"error","code":"rate_limited"}`, wire.CodeRateLimited},
		{"send_message", `{"type":"send_message","status":"success","message_id":"9"}`, ""},
		{"delete_friend", `{"message":"error","status":"null","type":"delete_friend"}`, wire.CodeNotFound},
		{"update_chat", `not json`, wire.CodeInternal},
	} {
		err := replyError(tc.typ, []byte(tc.body))
		if tc.code == "" {
			if err != nil {
				t.Errorf("%s: %v, want success", tc.body, err)
			}
			continue
		}
		se, ok := err.(*ServerError)
		if !ok || se.Code != tc.code {
			t.Errorf("%s: %v, want code %s", tc.body, err, tc.code)
		}
	}
}
