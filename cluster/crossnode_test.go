package cluster_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"

	"github.com/parley-im/parley/app/apptest"
)

// Every push a user can get reaches them when the one who caused it is on
// another node, exactly as on a single node: the add_friend row, the
// accept greeting and chat list, receive_message both ways, the delete
// pushes. The same scenario runs on one node and across two nodes, and each
// user's pushes, step by step, must be the same frames (timestamps aside).
// resume and sync then work on the other node with the first node's token.
func TestCrossNodePushesEqualSingleNode(t *testing.T) {
	n := startNATS(t)
	single := startSingle(t)
	nodes := startNodes(t, n.url(), 2)

	want := pushScenario(t, single, single, nil)
	got := pushScenario(t, nodes[0], nodes[1], want)
	if len(want) == 0 {
		t.Fatal("the scenario pushed nothing")
	}
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Errorf("step %d: across nodes got\n%v\nwant (one node)\n%v", i, got[i], want[i])
		}
	}
}

// pushScenario plays friends and messages between a on node x and b on
// node y, and returns, per step, the pushes each user received (normalised).
// On one node a reply comes after the pushes its request queued, so a ping
// on each side collects them all; a message push to another node is not
// waited for, so with want (the single node's pushes) each step collects
// until it has as many pushes as want has.
func pushScenario(t *testing.T, x, y *apptest.Server, want []map[string][]string) []map[string][]string {
	a := signUp(t, x, "13700000001")
	b := signUp(t, y, "13700000002")
	var steps []map[string][]string
	step := func(actor *user, req map[string]any) {
		actor.call(t, req)
		got := map[string][][]byte{}
		collect := func() bool {
			a.settle(t)
			b.settle(t)
			got[a.id] = append(got[a.id], a.take()...)
			got[b.id] = append(got[b.id], b.take()...)
			i := len(steps)
			return want == nil || i >= len(want) || len(got[a.id]) >= len(want[i][a.id]) && len(got[b.id]) >= len(want[i][b.id])
		}
		eventually(t, fmt.Sprintf("step %d's pushes", len(steps)), collect)
		steps = append(steps, map[string][]string{a.id: normalise(t, got[a.id]), b.id: normalise(t, got[b.id])})
	}
	step(a, map[string]any{"type": "add_friend", "user_id": a.id, "friend_id": b.id})
	step(b, map[string]any{"type": "accept_friend", "user_id": b.id, "friend_id": a.id})
	step(a, map[string]any{"type": "send_message", "send_id": a.id, "receiver_id": b.id, "message_body": "hello from a"})
	step(b, map[string]any{"type": "send_message", "send_id": b.id, "receiver_id": a.id, "message_body": "hello from b"})
	// a resumes a second session on b's node with the token a's node
	// issued: b's next message reaches both of a's sessions, one on each
	// node, and sync there sees every message of the shared database.
	a2 := &user{id: a.id, c: y.Dial(t)}
	if m := a2.call(t, map[string]any{"type": "resume", "token": a.token}); m["user_id"] != a.id {
		t.Fatalf("resume: %v", m)
	}
	step(b, map[string]any{"type": "send_message", "send_id": b.id, "receiver_id": a.id, "message_body": "to both of a's sessions"})
	a2.settle(t)
	page := a2.call(t, map[string]any{"type": "sync", "after_id": "0"})
	steps = append(steps, map[string][]string{"a2": normalise(t, a2.take()), "sync": normalise(t, [][]byte{mustJSON(t, page)})})
	step(b, map[string]any{"type": "delete_friend", "user_id": b.id, "friend_id": a.id})
	for _, u := range []*user{a, a2, b} {
		_ = u.c.Conn.Close()
	}
	return steps
}

func mustJSON(t *testing.T, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// normalise re-encodes frames with sorted keys and without the server's
// timestamps, which differ between runs.
func normalise(t *testing.T, frames [][]byte) []string {
	out := make([]string, 0, len(frames))
	for _, f := range frames {
		var v any
		if err := json.Unmarshal(f, &v); err != nil {
			t.Fatalf("push %q: %v", f, err)
		}
		out = append(out, fmt.Sprint(strip(v)))
	}
	return out
}

func strip(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for _, k := range []string{"message_timestamp", "last_time", "user_created", "created_relation", "seq"} {
			delete(x, k)
		}
		for k, e := range x {
			x[k] = strip(e)
		}
	case []any:
		for i := range x {
			x[i] = strip(x[i])
		}
	}
	return v
}
