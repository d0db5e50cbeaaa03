package handlers

import (
	"context"
	"fmt"
	"strconv"
	"testing"
)

func TestSyncAndAck(t *testing.T) {
	e := newEnv(t)
	a, b := e.friends()
	b.cap.take()
	var ids []string
	for i := 0; i < 5; i++ {
		ack := object(t, a.one(sendMsg("1", "2", fmt.Sprint("m", i))))
		ids = append(ids, ack["message_id"].(string))
	}
	b.cap.take() // the pushes

	// From the start (the greeting of the friendship comes first), in
	// pages.
	page := func(c *conn, after string, limit int) (msgs []map[string]any, more bool) {
		t.Helper()
		r := object(t, c.one(map[string]any{"type": "sync", "seq": 9, "after_id": after, "limit": limit}))
		if r["status"] != "success" || r["type"] != "sync" || r["seq"] != float64(9) {
			t.Fatalf("sync reply %v", r)
		}
		for _, m := range r["messages"].([]any) {
			msgs = append(msgs, m.(map[string]any))
		}
		return msgs, r["more"].(bool)
	}
	first, more := page(b, ids[0], 3)
	if !more || len(first) != 3 || first[0]["message_id"] != ids[1] || first[2]["message_id"] != ids[3] {
		t.Fatalf("first page %v more=%v", first, more)
	}
	for _, m := range first {
		allStrings(t, m)
		want(t, m, map[string]string{"type": "receive_message", "status": "success", "receiver_id": "2", "send_id": "1", "file_path": " "})
	}
	rest, more := page(b, ids[3], 3)
	if more || len(rest) != 1 || rest[0]["message_id"] != ids[4] || rest[0]["message_body"] != "m4" {
		t.Fatalf("second page %v more=%v", rest, more)
	}
	none, more := page(b, ids[4], 0)
	if more || len(none) != 0 {
		t.Fatalf("after the last: %v", none)
	}
	// The sender's own messages are not in its sync.
	mine, _ := page(a, "0", 0)
	for _, m := range mine {
		if m["receiver_id"] != "1" {
			t.Fatalf("sync returned a message to someone else: %v", m)
		}
	}

	// Ack: everything up to ids[2] is delivered and not offered again by
	// the seed's catch-up. (They were pushed live, so first undo that.)
	for _, id := range ids {
		n, _ := strconv.ParseInt(id, 10, 64)
		if err := e.store.SetDelivered(context.Background(), n, false); err != nil {
			t.Fatal(err)
		}
	}
	want(t, object(t, b.one(map[string]any{"type": "ack", "seq": 3, "message_id": ids[2]})),
		map[string]string{"type": "ack", "status": "success"})
	un, err := e.store.Undelivered(context.Background(), "2", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(un) != 2 || strconv.FormatInt(un[0].ID, 10) != ids[3] {
		t.Fatalf("undelivered after ack: %+v", un)
	}

	for _, bad := range []map[string]any{
		{"type": "sync", "after_id": "x"},
		{"type": "sync", "after_id": "-1"},
		{"type": "sync", "limit": -1},
		{"type": "ack", "message_id": ""},
		{"type": "ack", "message_id": "0"},
	} {
		want(t, object(t, b.one(bad)), map[string]string{"status": "error", "code": "invalid"})
	}
	// Both need a login.
	anon := e.dial()
	for _, typ := range []string{"sync", "ack"} {
		want(t, object(t, anon.one(map[string]any{"type": typ, "message_id": "1"})), map[string]string{"status": "error", "code": "unauthenticated"})
	}
}
