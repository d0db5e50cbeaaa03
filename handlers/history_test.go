package handlers

import (
	"fmt"
	"strings"
	"testing"
)

// TestHistory pages back through a conversation, newest first, both
// directions, on a real SQLite store (TestHistoryEndToEnd runs it on every
// database).
func TestHistory(t *testing.T) {
	e := newEnv(t)
	a, b := e.friends()
	var ids []string // in send order, both directions
	for i := 0; i < 5; i++ {
		from, to, c := "1", "2", a
		if i%2 == 1 {
			from, to, c = "2", "1", b
		}
		r := object(t, c.one(sendMsg(from, to, fmt.Sprint("m", i))))
		ids = append(ids, r["message_id"].(string))
		a.cap.take() // the push to the other side
		b.cap.take()
	}
	page := func(c *conn, peer, before string, limit int) (msgs []map[string]any, more bool) {
		t.Helper()
		r := object(t, c.one(map[string]any{"type": "history", "seq": 4, "peer_id": peer, "before_id": before, "limit": limit}))
		if r["status"] != "success" || r["type"] != "history" || r["seq"] != float64(4) || r["peer_id"] != peer {
			t.Fatalf("history reply %v", r)
		}
		for _, m := range r["messages"].([]any) {
			msgs = append(msgs, m.(map[string]any))
		}
		return msgs, r["more"].(bool)
	}
	idsOf := func(ms []map[string]any) string {
		var s []string
		for _, m := range ms {
			s = append(s, m["message_id"].(string))
		}
		return strings.Join(s, ",")
	}
	first, more := page(a, "2", "", 2)
	if !more || idsOf(first) != ids[4]+","+ids[3] {
		t.Fatalf("first page %s more=%v, want %s,%s", idsOf(first), more, ids[4], ids[3])
	}
	for _, m := range first {
		allStrings(t, m)
		want(t, m, map[string]string{"type": "receive_message", "status": "success", "file_path": " "})
	}
	want(t, first[1], map[string]string{"send_id": "2", "receiver_id": "1", "message_body": "m3"})
	// The other side sees the same conversation.
	second, more := page(b, "1", ids[3], 2)
	if !more || idsOf(second) != ids[2]+","+ids[1] {
		t.Fatalf("second page %s more=%v", idsOf(second), more)
	}
	// The last page ends with the greeting of the friendship.
	last, more := page(a, "2", ids[1], 0)
	if more || len(last) != 2 || last[0]["message_id"] != ids[0] || last[1]["message_body"] != Greeting {
		t.Fatalf("last page %v more=%v", last, more)
	}
	// A stranger's history is empty, not an error.
	e.register("3", "c", "666")
	c := e.login("3", "666")
	if none, more := page(c, "1", "", 0); len(none) != 0 || more {
		t.Fatalf("stranger sees %v", none)
	}

	for _, bad := range []map[string]any{
		{"type": "history"},
		{"type": "history", "peer_id": strings.Repeat("9", 21)},
		{"type": "history", "peer_id": "2", "before_id": "x"},
		{"type": "history", "peer_id": "2", "before_id": "-1"},
		{"type": "history", "peer_id": "2", "limit": -1},
	} {
		want(t, object(t, a.one(bad)), map[string]string{"status": "error", "code": "invalid"})
	}
	want(t, object(t, a.one(map[string]any{"type": "history", "peer_id": 2})), map[string]string{"status": "error", "code": "bad_request"})
	want(t, object(t, e.dial().one(map[string]any{"type": "history", "peer_id": "2"})), map[string]string{"status": "error", "code": "unauthenticated"})
}

// TestHistoryPageBudget: long messages end a page at the reply budget, with
// at least one message, and "more" pages on to the rest.
func TestHistoryPageBudget(t *testing.T) {
	e := newEnv(t, func(_ *env, d *Deps) {
		d.Limits = defaultLimits()
		d.Limits.ReplyBytes = 4096
	})
	a, _ := e.friends()
	body := strings.Repeat("长", 1000) // 3000 bytes: one fits a page, two do not
	for i := 0; i < 3; i++ {
		want(t, object(t, a.one(sendMsg("1", "2", body))), map[string]string{"status": "success"})
	}

	before, seen := "", 0
	for pages := 1; ; pages++ {
		raw := a.one(map[string]any{"type": "history", "peer_id": "2", "before_id": before})
		if len(raw) > 4096 {
			t.Fatalf("page of %d bytes, over the 4096 budget", len(raw))
		}
		r := object(t, raw)
		ms := r["messages"].([]any)
		if len(ms) == 0 {
			t.Fatalf("page %d is empty: %v", pages, r)
		}
		seen += len(ms)
		before = ms[len(ms)-1].(map[string]any)["message_id"].(string)
		if r["more"] != true {
			break
		}
		if pages > 10 {
			t.Fatal("paging does not end")
		}
	}
	if seen != 4 { // three long ones and the greeting
		t.Fatalf("paged through %d messages, want 4", seen)
	}
}
