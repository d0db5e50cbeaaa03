package cluster_test

import (
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
		recv.settle(t) // every push sent before the last ack is ahead of the pong

		seen := map[string]int{}
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
		for i := range perRound {
			if c := seen[fmt.Sprint("m", i)]; c != 1 {
				t.Errorf("round %d: message m%d seen %d times", r, i, c)
			}
		}
		_ = recv.c.Conn.Close()
	}
	sender.pushes = nil
}
