package cluster_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	"github.com/parley-im/parley/wire"
)

// The seed client cannot deduplicate, so a message must reach it exactly
// once even when the sender is on one node and the receiver logs in on
// another while messages flow: those sent before the login come with its
// catch-up (get_unread_messages), those after it as live pushes across
// NATS, and those in between are claimed in the shared database by exactly
// one of the two. Each round a fresh receiver logs in on node 2 halfway
// through a sender's burst on node 1; every message must be seen once.
func TestExactlyOnceAcrossNodes(t *testing.T) {
	n := startNATS(t)
	nodes := startNodes(t, n.url(), 2)
	const rounds, perRound = 4, 120
	sender := signUp(t, nodes[0], "13600000000")
	for r := range rounds {
		rid := fmt.Sprint(13600000001 + r)
		recv := signUp(t, nodes[1], rid)
		sender.call(t, map[string]any{"type": "add_friend", "user_id": sender.id, "friend_id": rid})
		recv.call(t, map[string]any{"type": "accept_friend", "user_id": rid, "friend_id": sender.id})
		_ = recv.c.Conn.Close() // offline: the first messages are stored undelivered

		half := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perRound {
				if i == perRound/2 {
					close(half)
				}
				// A failure here is reported by the count check below.
				sender.try(t, map[string]any{"type": "send_message", "send_id": sender.id, "receiver_id": rid, "message_body": fmt.Sprint("m", i)})
			}
		}()
		<-half
		recv = &user{id: rid, c: nodes[1].Dial(t)}
		recv.login(t)
		recv.c.Send([]byte(fmt.Sprintf(`{"type":"get_unread_messages","user_id":%q}`, rid)))
		wg.Wait()

		// A push to another node is not waited for by the sender's ack,
		// so the last ones may still be on their way: collect until every
		// message came at least once (a second copy would have had to be
		// claimed by the catch-up, which is over by then).
		seen := map[string]int{}
		eventually(t, fmt.Sprintf("round %d's messages", r), func() bool {
			recv.settle(t)
			for _, f := range recv.take() {
				var m map[string]any
				if json.Unmarshal(f, &m) != nil {
					continue // a pushed list, or the null catch-up reply
				}
				if m["type"] == wire.TypeReceiveMessage || m["type"] == wire.TypeGetUnreadMessages {
					if body, _ := m["message_body"].(string); len(body) > 0 && body[0] == 'm' {
						seen[body]++
					}
				}
			}
			return len(seen) >= perRound
		})
		for i := range perRound {
			if c := seen[fmt.Sprint("m", i)]; c != 1 {
				t.Errorf("round %d: message m%d seen %d times", r, i, c)
			}
		}
		_ = recv.c.Conn.Close()
	}
	sender.pushes = nil
}

// A message push that node 1 hands to NATS while the receiver has just
// left node 2 reaches nobody: the miss (NATS's "no responders", or node
// 2's "0") gives it back, and the receiver's next login, here on node 3,
// gets it with its catch-up, once. Node 1 still believes the receiver
// online for up to a second after the last delivery, so its messages take
// the miss path; if the machine is slow enough for that memory to lapse,
// they are stored undelivered at once instead, and must still arrive once.
func TestMissedPushesComeWithTheNextLogin(t *testing.T) {
	n := startNATS(t)
	nodes := startNodes(t, n.url(), 3)
	sender := signUp(t, nodes[0], "13700000000")
	rid := "13700000001"
	recv := signUp(t, nodes[1], rid)
	sender.call(t, map[string]any{"type": "add_friend", "user_id": sender.id, "friend_id": rid})
	recv.call(t, map[string]any{"type": "accept_friend", "user_id": rid, "friend_id": sender.id})
	sender.call(t, map[string]any{"type": "send_message", "send_id": sender.id, "receiver_id": rid, "message_body": "live"})
	eventually(t, "the live push on node 2", func() bool {
		recv.settle(t)
		return bytes.Contains(bytes.Join(recv.take(), nil), []byte(`"live"`))
	})
	_ = recv.c.Conn.Close()
	eventually(t, "node 2's unsubscribe", func() bool { return metric(t, nodes[1], "parley_cluster_subscriptions") == 0 })

	const count = 20
	for i := range count {
		sender.call(t, map[string]any{"type": "send_message", "send_id": sender.id, "receiver_id": rid, "message_body": fmt.Sprint("m", i)})
	}
	t.Logf("node 1 missed pushes: %v (the rest were stored undelivered)", metric(t, nodes[0], "parley_cluster_missed_pushes_total"))

	recv = &user{id: rid, c: nodes[2].Dial(t)}
	recv.login(t)
	// The misses are given back asynchronously: catch up until every
	// message came; each catch-up claims what it sends, so asking again
	// never sends one twice.
	seen := map[string]int{}
	eventually(t, "every missed message", func() bool {
		recv.c.Send([]byte(fmt.Sprintf(`{"type":"get_unread_messages","user_id":%q}`, rid)))
		recv.settle(t)
		for _, f := range recv.take() {
			var m map[string]any
			if json.Unmarshal(f, &m) == nil && (m["type"] == wire.TypeReceiveMessage || m["type"] == wire.TypeGetUnreadMessages) {
				if body, _ := m["message_body"].(string); body != "" {
					seen[body]++
				}
			}
		}
		return len(seen) >= count
	})
	for i := range count {
		if c := seen[fmt.Sprint("m", i)]; c != 1 {
			t.Errorf("message m%d seen %d times", i, c)
		}
	}
	if seen["live"] != 0 {
		t.Errorf("the message pushed live before the logout came again %d times", seen["live"])
	}
}
