package handlers

import (
	"fmt"
	"testing"
	"time"
)

func TestFriendCache(t *testing.T) {
	now := time.Unix(1000, 0)
	c := newFriendCache(friendShards*2, time.Minute, func() time.Time { return now })

	ok, gen := c.lookup("a", "b")
	if ok {
		t.Fatal("empty cache hit")
	}
	c.add("a", "b", gen)
	if ok, _ := c.lookup("b", "a"); !ok {
		t.Fatal("a pair is unordered: b,a missed after adding a,b")
	}

	// A store answer that raced with a delete must not be cached.
	_, gen = c.lookup("c", "d")
	c.forget("c", "d")
	c.add("c", "d", gen)
	if ok, _ := c.lookup("c", "d"); ok {
		t.Fatal("a friendship forgotten while its query ran was cached")
	}

	c.forget("b", "a")
	if ok, _ := c.lookup("a", "b"); ok {
		t.Fatal("forget did not drop the pair")
	}

	_, gen = c.lookup("e", "f")
	c.add("e", "f", gen)
	now = now.Add(time.Minute)
	if ok, _ := c.lookup("e", "f"); ok {
		t.Fatal("entry outlived its ttl")
	}

	for i := range 10000 {
		a, b := fmt.Sprint(i), fmt.Sprint(i+1)
		_, gen := c.lookup(a, b)
		c.add(a, b, gen)
	}
	n := 0
	for i := range c.shards {
		n += len(c.shards[i].m)
	}
	if n > friendShards*2 {
		t.Fatalf("%d entries, bound is %d", n, friendShards*2)
	}
}

// TestSendAfterDeleteFriend: once a friendship is deleted, a message to the
// former friend is refused even though the previous message put the pair in
// the friendship cache.
func TestSendAfterDeleteFriend(t *testing.T) {
	e := newEnv(t)
	e.register("1", "a", "pw")
	e.register("2", "b", "pw")
	a, b := e.login("1", "pw"), e.login("2", "pw")
	e.befriend(a, b)
	send := func() map[string]any {
		for _, f := range a.do(map[string]any{"type": "send_message", "send_id": "1", "receiver_id": "2", "message_body": "hi"}) {
			if m := object(t, f); m["type"] == "send_message" {
				return m
			}
		}
		t.Fatal("no send_message reply")
		return nil
	}
	want(t, send(), map[string]string{"status": "success"})
	want(t, send(), map[string]string{"status": "success"})
	want(t, object(t, a.one(map[string]any{"type": "delete_friend", "user_id": "1", "friend_id": "2"})),
		map[string]string{"status": "success"})
	want(t, send(), map[string]string{"status": "error", "code": "forbidden"})
}
