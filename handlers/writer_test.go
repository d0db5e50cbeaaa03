package handlers

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"

	"github.com/parley-im/parley/db"
)

// send_message through a group-committing db.MessageWriter: every sender is
// acknowledged with a stored id, every message is pushed once, and the
// receiver's chat counts them all, as with Store.SaveMessage.
func TestSendMessageThroughWriter(t *testing.T) {
	e := newEnv(t, func(e *env, d *Deps) {
		w := db.NewMessageWriter(e.store, db.WriterOptions{MaxBatch: 8})
		w.Start()
		t.Cleanup(func() { _ = w.Close(context.Background()) })
		d.Messages = w
	})
	_, b := e.friends()
	b.cap.take()

	const n = 20
	senders := make([]*conn, 4)
	for i := range senders {
		senders[i] = e.login("1", "666")
	}
	var wg sync.WaitGroup
	ids := make(chan int64, n)
	// One goroutine per connection, as the dispatcher runs one session's
	// frames one at a time: a conn's captured frames are taken per request,
	// so two requests in flight on one conn could take each other's reply.
	for k, sender := range senders {
		wg.Go(func() {
			for i := k; i < n; i += len(senders) {
				ack := object(t, sender.one(sendMsg("1", "2", fmt.Sprint("m", i))))
				id, err := strconv.ParseInt(fmt.Sprint(ack["message_id"]), 10, 64)
				if ack["status"] != "success" || err != nil || id <= 0 {
					t.Errorf("ack %v", ack)
				}
				ids <- id
			}
		})
	}
	wg.Wait()
	close(ids)
	seen := map[int64]bool{}
	for id := range ids {
		if seen[id] {
			t.Fatalf("id %d acknowledged twice", id)
		}
		seen[id] = true
	}
	if pushes := b.cap.take(); len(pushes) != n {
		t.Fatalf("%d pushes, want %d", len(pushes), n)
	}
	chats, err := e.store.Chats(context.Background(), "2")
	if err != nil || len(chats) != 1 || chats[0].Unread != n {
		t.Fatalf("receiver's chats %+v, %v; want unread %d", chats, err, n)
	}
}
