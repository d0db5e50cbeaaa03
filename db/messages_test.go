package db

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/parley-im/parley/wire"
)

func TestSaveMessageDefaultsAndChats(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		mustUsers(t, s, "1", "2")
		m := Message{SenderID: "1", ReceiverID: "2", Body: "hello"}
		if err := s.SaveMessage(ctxT(t), &m); err != nil {
			t.Fatalf("SaveMessage: %v", err)
		}
		if m.ID <= 0 || m.FilePath != wire.NoFile || m.ChatType != wire.ChatTypeFriend || m.Type != wire.MessageTypeText ||
			m.SentAt.IsZero() || m.SentAt.Location() != time.UTC || m.SentAt.Nanosecond() != 0 ||
			m.Delivered || m.Read || m.ClientMsgID != "" {
			t.Fatalf("stored message %+v", m)
		}
		un, err := s.Undelivered(ctxT(t), "2", 10)
		if err != nil || len(un) != 1 || un[0] != m {
			t.Fatalf("Undelivered = %+v, %v; want [%+v]", un, err, m)
		}
		sender, receiver := chatOf(t, s, "1", "2"), chatOf(t, s, "2", "1")
		for _, c := range []Chat{sender, receiver} {
			if c.LastMessage != "hello" || c.LastMessageType != "text" || !c.LastTime.Equal(m.SentAt) ||
				c.Status != wire.ChatStatusOpen || c.Type != wire.ChatTypeFriend {
				t.Fatalf("chat %+v", c)
			}
		}
		if sender.Unread != 0 || receiver.Unread != 1 {
			t.Fatalf("unread sender %d receiver %d", sender.Unread, receiver.Unread)
		}
		// More messages: the receiver's count grows, the summary follows.
		for i := 0; i < 3; i++ {
			mustSend(t, s, "1", "2", fmt.Sprint("more ", i))
		}
		if c := chatOf(t, s, "2", "1"); c.Unread != 4 || c.LastMessage != "more 2" {
			t.Fatalf("receiver chat after 4 messages: %+v", c)
		}
		// A reply zeroes the replier's count and reopens a closed chat.
		if err := s.UpdateChat(ctxT(t), ChatUpdate{OwnerID: "1", PeerID: "2", Status: wire.ChatStatusClosed}); err != nil {
			t.Fatal(err)
		}
		mustSend(t, s, "2", "1", "reply")
		if c := chatOf(t, s, "2", "1"); c.Unread != 0 {
			t.Fatalf("replier's chat %+v", c)
		}
		if c := chatOf(t, s, "1", "2"); c.Unread != 1 || c.Status != wire.ChatStatusOpen || c.LastMessage != "reply" {
			t.Fatalf("closed chat not reopened: %+v", c)
		}
	})
}

func TestSaveMessageExplicitFields(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		mustUsers(t, s, "1", "2")
		at := time.Date(2025, 7, 14, 19, 0, 0, 123456789, time.FixedZone("CST", 8*3600))
		m := Message{SenderID: "1", ReceiverID: "2", ChatType: "group", Body: "pic", Type: "image",
			FilePath: "/f/1.png", SentAt: at, Delivered: true, ClientMsgID: "c-1"}
		if err := s.SaveMessage(ctxT(t), &m); err != nil {
			t.Fatal(err)
		}
		if !m.SentAt.Equal(at.Truncate(time.Microsecond)) || m.SentAt.Location() != time.UTC {
			t.Fatalf("SentAt = %v, want %v in UTC", m.SentAt, at)
		}
		got, err := s.MessagesAfter(ctxT(t), "2", 0, 0)
		if err != nil || len(got) != 1 || got[0] != m {
			t.Fatalf("MessagesAfter = %+v, %v; want [%+v]", got, err, m)
		}
		if un, _ := s.Undelivered(ctxT(t), "2", 0); len(un) != 0 {
			t.Fatalf("a delivered message is undelivered: %+v", un)
		}
	})
}

func TestSaveMessageToSelf(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		mustUsers(t, s, "1")
		mustSend(t, s, "1", "1", "note")
		chats, err := s.Chats(ctxT(t), "1")
		if err != nil || len(chats) != 1 || chats[0].PeerID != "1" || chats[0].Unread != 0 {
			t.Fatalf("Chats = %+v, %v", chats, err)
		}
	})
}

func TestSaveMessageMissingUser(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		mustUsers(t, s, "1")
		m := Message{SenderID: "1", ReceiverID: "404", Body: "x"}
		wantErr(t, "SaveMessage to a missing user", s.SaveMessage(ctxT(t), &m), ErrNotFound)
		if m.ID != 0 {
			t.Fatalf("failed SaveMessage set ID %d", m.ID)
		}
		m = Message{SenderID: "404", ReceiverID: "1", Body: "x"}
		wantErr(t, "SaveMessage from a missing user", s.SaveMessage(ctxT(t), &m), ErrNotFound)
		if chats, err := s.Chats(ctxT(t), "1"); err != nil || len(chats) != 0 {
			t.Fatalf("failed SaveMessage left chats: %+v, %v", chats, err)
		}
	})
}

func TestSaveMessageIdempotent(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		mustUsers(t, s, "1", "2", "3")
		first := Message{SenderID: "1", ReceiverID: "2", Body: "once", ClientMsgID: "abc"}
		if err := s.SaveMessage(ctxT(t), &first); err != nil {
			t.Fatal(err)
		}
		// The retry carries a different body and time: the stored row wins.
		retry := Message{SenderID: "1", ReceiverID: "2", Body: "twice?", ClientMsgID: "abc",
			SentAt: first.SentAt.Add(time.Hour)}
		if err := s.SaveMessage(ctxT(t), &retry); err != nil {
			t.Fatalf("retry: %v", err)
		}
		// Retry tells the caller to deliver nothing (issue 11: a retry
		// naming another receiver re-delivered the old message).
		if first.Retry || !retry.Retry {
			t.Fatalf("Retry: first %v, retry %v", first.Retry, retry.Retry)
		}
		if retry.Retry = false; retry != first {
			t.Fatalf("retry returned %+v, want the stored %+v", retry, first)
		}
		// A retry naming another receiver gets the stored message too.
		moved := Message{SenderID: "1", ReceiverID: "3", Body: "once", ClientMsgID: "abc"}
		if err := s.SaveMessage(ctxT(t), &moved); err != nil || !moved.Retry || moved.ID != first.ID || moved.ReceiverID != "2" {
			t.Fatalf("retry to another receiver: %+v, %v", moved, err)
		}
		if c := chatOf(t, s, "2", "1"); c.Unread != 1 || c.LastMessage != "once" {
			t.Fatalf("retry touched the chat: %+v", c)
		}
		// The same client id from another sender is another message.
		other := Message{SenderID: "3", ReceiverID: "2", Body: "mine", ClientMsgID: "abc"}
		if err := s.SaveMessage(ctxT(t), &other); err != nil || other.ID == first.ID {
			t.Fatalf("other sender: %+v, %v", other, err)
		}
		// Messages without a client id never collide.
		a, b := mustSend(t, s, "1", "2", "x"), mustSend(t, s, "1", "2", "x")
		if a.ID == b.ID {
			t.Fatalf("messages without client id deduplicated: %d", a.ID)
		}
		un, err := s.Undelivered(ctxT(t), "2", 0)
		if err != nil || len(un) != 4 {
			t.Fatalf("Undelivered = %+v, %v; want 4 messages", un, err)
		}
	})
}

func TestSaveMessageConcurrentRetries(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		mustUsers(t, s, "1", "2")
		const n = 8
		ids := make([]int64, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				m := Message{SenderID: "1", ReceiverID: "2", Body: "dup", ClientMsgID: "same"}
				errs[i] = s.SaveMessage(ctxT(t), &m)
				ids[i] = m.ID
			}()
		}
		wg.Wait()
		for i := range n {
			if errs[i] != nil || ids[i] != ids[0] || ids[i] == 0 {
				t.Fatalf("retry %d: id %d err %v (first id %d)", i, ids[i], errs[i], ids[0])
			}
		}
		if c := chatOf(t, s, "2", "1"); c.Unread != 1 {
			t.Fatalf("unread %d after %d concurrent retries, want 1", c.Unread, n)
		}
	})
}

func TestMessageIDsMonotonic(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		mustUsers(t, s, "1", "2")
		var last int64
		for i := 0; i < 50; i++ {
			from, to := "1", "2"
			if i%2 == 1 {
				from, to = to, from
			}
			m := mustSend(t, s, from, to, fmt.Sprint(i))
			if m.ID <= last {
				t.Fatalf("message %d got id %d after %d", i, m.ID, last)
			}
			last = m.ID
		}
	})
}

func TestUndeliveredAndMarkDelivered(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		mustUsers(t, s, "1", "2", "3")
		var sent []Message
		for i := 0; i < 5; i++ {
			sent = append(sent, mustSend(t, s, "1", "2", fmt.Sprint("m", i)))
		}
		mustSend(t, s, "2", "1", "not for 2")
		mustSend(t, s, "3", "1", "deleted later")
		if _, err := s.DeleteFriend(ctxT(t), "1", "3"); err != nil {
			t.Fatal(err)
		}

		un, err := s.Undelivered(ctxT(t), "2", 3)
		if err != nil || len(un) != 3 || un[0].ID != sent[0].ID || un[2].ID != sent[2].ID {
			t.Fatalf("Undelivered(limit 3) = %+v, %v", un, err)
		}
		if err := s.MarkDelivered(ctxT(t), []int64{un[0].ID, un[1].ID, un[2].ID, 999999}); err != nil {
			t.Fatalf("MarkDelivered: %v", err)
		}
		if err := s.MarkDelivered(ctxT(t), nil); err != nil {
			t.Fatalf("MarkDelivered(nil): %v", err)
		}
		un, err = s.Undelivered(ctxT(t), "2", 0)
		if err != nil || len(un) != 2 || un[0].ID != sent[3].ID || un[1].ID != sent[4].ID {
			t.Fatalf("Undelivered after mark = %+v, %v", un, err)
		}
		// Deleted messages are never delivered.
		un, err = s.Undelivered(ctxT(t), "1", 0)
		if err != nil || len(un) != 1 || un[0].Body != "not for 2" {
			t.Fatalf("Undelivered(1) = %+v, %v", un, err)
		}

		if err := s.SetDelivered(ctxT(t), sent[0].ID, false); err != nil {
			t.Fatal(err)
		}
		if err := s.SetDelivered(ctxT(t), sent[4].ID, true); err != nil {
			t.Fatal(err)
		}
		un, _ = s.Undelivered(ctxT(t), "2", 0)
		if len(un) != 2 || un[0].ID != sent[0].ID || un[1].ID != sent[3].ID {
			t.Fatalf("after SetDelivered: %+v", un)
		}
		wantErr(t, "SetDelivered(missing)", s.SetDelivered(ctxT(t), 999999, true), ErrNotFound)
	})
}

func TestMarkDeliveredManyIDs(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		mustUsers(t, s, "1", "2")
		const n = markChunk + 37
		ids := make([]int64, 0, n)
		err := s.tx(ctxT(t), "seed", func(ctx context.Context, tx bun.Tx) error {
			for i := 0; i < n; i++ {
				m := Message{SenderID: "1", ReceiverID: "2", Body: "b"}
				prepareMessage(&m)
				stored, err := s.saveMessageTx(ctx, tx, m)
				if err != nil {
					return err
				}
				ids = append(ids, stored.ID)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.MarkDelivered(ctxT(t), ids); err != nil {
			t.Fatal(err)
		}
		if un, err := s.Undelivered(ctxT(t), "2", MaxBatch); err != nil || len(un) != 0 {
			t.Fatalf("Undelivered after marking %d = %d, %v", n, len(un), err)
		}
	})
}

func TestMessagesAfter(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		mustUsers(t, s, "1", "2")
		var ids []int64
		for i := 0; i < 6; i++ {
			ids = append(ids, mustSend(t, s, "1", "2", fmt.Sprint(i)).ID)
		}
		mustSend(t, s, "2", "1", "other direction")
		if err := s.MarkDelivered(ctxT(t), ids[:2]); err != nil {
			t.Fatal(err)
		}
		got, err := s.MessagesAfter(ctxT(t), "2", ids[1], 2)
		if err != nil || len(got) != 2 || got[0].ID != ids[2] || got[1].ID != ids[3] {
			t.Fatalf("MessagesAfter(%d, 2) = %+v, %v", ids[1], got, err)
		}
		all, err := s.MessagesAfter(ctxT(t), "2", 0, 0)
		if err != nil || len(all) != 6 || !all[0].Delivered || all[5].ID != ids[5] {
			t.Fatalf("MessagesAfter(0) = %+v, %v", all, err)
		}
		if got, _ := s.MessagesAfter(ctxT(t), "2", ids[5], 0); len(got) != 0 {
			t.Fatalf("MessagesAfter(last) = %+v", got)
		}
	})
}

func TestListLimitBounds(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		mustUsers(t, s, "1", "2")
		const n = DefaultBatch + 5
		err := s.tx(ctxT(t), "seed", func(ctx context.Context, tx bun.Tx) error {
			for i := 0; i < n; i++ {
				m := Message{SenderID: "1", ReceiverID: "2", Body: "b"}
				prepareMessage(&m)
				if _, err := s.saveMessageTx(ctx, tx, m); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct{ limit, want int }{{0, DefaultBatch}, {-1, DefaultBatch}, {7, 7}, {MaxBatch + 1, n}} {
			got, err := s.Undelivered(ctxT(t), "2", tc.limit)
			if err != nil || len(got) != tc.want {
				t.Fatalf("Undelivered(limit %d) = %d rows, %v; want %d", tc.limit, len(got), err, tc.want)
			}
		}
	})
}

func TestMessageStringsVerbatim(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		mustUsers(t, s, "1", "2")
		for _, str := range hostile {
			m := Message{SenderID: "1", ReceiverID: "2", ChatType: str, Body: str, Type: str, FilePath: str, ClientMsgID: str}
			if err := s.SaveMessage(ctxT(t), &m); err != nil {
				t.Fatalf("SaveMessage(%q): %v", str, err)
			}
			got, err := s.MessagesAfter(ctxT(t), "2", m.ID-1, 1)
			if err != nil || len(got) != 1 || got[0] != m || got[0].Body != str || got[0].ClientMsgID != str {
				t.Fatalf("round trip of %q: %+v, %v", str, got, err)
			}
			if c := chatOf(t, s, "2", "1"); c.LastMessage != str {
				t.Fatalf("chat summary of %q: %+v", str, c)
			}
		}
		if _, err := s.UserByID(ctxT(t), "1"); err != nil {
			t.Fatalf("users table damaged: %v", err)
		}
	})
}

// Concurrent senders to one receiver: a reader following MessagesAfter with
// a cursor must see every message exactly once, even on PostgreSQL where ids
// are allocated before commit (the per-receiver lock keeps commit order).
func TestMessagesAfterCursorUnderConcurrency(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		const senders, each = 6, 25
		mustUsers(t, s, "r")
		for i := range senders {
			mustUsers(t, s, fmt.Sprint("s", i))
		}
		var wg sync.WaitGroup
		errs := make(chan error, senders)
		for i := range senders {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := range each {
					m := Message{SenderID: fmt.Sprint("s", i), ReceiverID: "r", Body: fmt.Sprint(j)}
					if err := s.SaveMessage(ctxT(t), &m); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		done := make(chan struct{})
		go func() { wg.Wait(); close(errs); close(done) }()

		seen := map[int64]bool{}
		var cursor int64
		poll := func() {
			got, err := s.MessagesAfter(ctxT(t), "r", cursor, 50)
			if err != nil {
				t.Errorf("MessagesAfter: %v", err)
				return
			}
			for _, m := range got {
				if m.ID <= cursor || seen[m.ID] {
					t.Errorf("id %d out of order or repeated (cursor %d)", m.ID, cursor)
				}
				seen[m.ID] = true
				cursor = m.ID
			}
		}
		for running := true; running; {
			select {
			case <-done:
				running = false
			default:
				poll()
			}
		}
		for err := range errs {
			t.Fatalf("SaveMessage: %v", err)
		}
		for range senders*each/50 + 1 {
			poll()
		}
		all, err := s.MessagesAfter(ctxT(t), "r", 0, MaxBatch)
		if err != nil || len(all) != senders*each {
			t.Fatalf("stored %d messages, %v; want %d", len(all), err, senders*each)
		}
		if len(seen) != senders*each {
			t.Fatalf("cursor reader saw %d of %d messages", len(seen), senders*each)
		}
		unread := 0
		for i := range senders {
			unread += chatOf(t, s, "r", fmt.Sprint("s", i)).Unread
		}
		if unread != senders*each {
			t.Fatalf("unread total %d, want %d", unread, senders*each)
		}
	})
}

func TestClaimDeliveredOnlyOnce(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		mustUsers(t, s, "1", "2")
		var ids []int64
		for i := range 3 {
			m := &Message{SenderID: "1", ReceiverID: "2", Body: fmt.Sprint("m", i)}
			if err := s.SaveMessage(ctx, m); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, m.ID)
		}
		got, err := s.ClaimDelivered(ctx, []int64{ids[2], ids[0]})
		if err != nil || !slices.Equal(got, []int64{ids[0], ids[2]}) {
			t.Fatalf("first claim = %v, %v; want %v", got, err, []int64{ids[0], ids[2]})
		}
		// A second claimant (a racing push or catch-up) gets only what is left.
		got, err = s.ClaimDelivered(ctx, ids)
		if err != nil || !slices.Equal(got, []int64{ids[1]}) {
			t.Fatalf("second claim = %v, %v; want [%d]", got, err, ids[1])
		}
		if got, _ := s.ClaimDelivered(ctx, ids); len(got) != 0 {
			t.Fatalf("third claim = %v, want none", got)
		}
		if err := s.UnmarkDelivered(ctx, []int64{ids[2]}); err != nil {
			t.Fatal(err)
		}
		left, err := s.Undelivered(ctx, "2", 10)
		if err != nil || len(left) != 1 || left[0].ID != ids[2] {
			t.Fatalf("after unmark, undelivered = %v, %v", left, err)
		}
	})
}

// Conversation pages back through both directions of one conversation,
// newest first, without other users' messages or hidden ones.
func TestConversation(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		mustUsers(t, s, "1", "2", "3")
		var ids []int64 // 1 <-> 2, in send order
		for i := range 7 {
			from, to := "1", "2"
			if i%3 == 1 {
				from, to = "2", "1"
			}
			ids = append(ids, mustSend(t, s, from, to, fmt.Sprint(i)).ID)
			mustSend(t, s, "3", "1", "elsewhere") // another conversation of 1's
		}
		page := func(me, peer string, before int64, limit int) []int64 {
			t.Helper()
			ms, err := s.Conversation(ctxT(t), me, peer, before, limit)
			if err != nil {
				t.Fatal(err)
			}
			out := make([]int64, len(ms))
			for i, m := range ms {
				if (m.SenderID != me || m.ReceiverID != peer) && (m.SenderID != peer || m.ReceiverID != me) {
					t.Fatalf("message of another conversation: %+v", m)
				}
				out[i] = m.ID
			}
			return out
		}
		rev := slices.Clone(ids)
		slices.Reverse(rev)
		if got := page("1", "2", 0, 3); !slices.Equal(got, rev[:3]) {
			t.Fatalf("newest page %v, want %v", got, rev[:3])
		}
		if got := page("2", "1", rev[2], 3); !slices.Equal(got, rev[3:6]) {
			t.Fatalf("second page (other side) %v, want %v", got, rev[3:6])
		}
		if got := page("1", "2", rev[5], 3); !slices.Equal(got, rev[6:]) {
			t.Fatalf("last page %v, want %v", got, rev[6:])
		}
		if got := page("1", "2", ids[0], 3); len(got) != 0 {
			t.Fatalf("before the first: %v", got)
		}
		// Deleting the friendship hides the conversation.
		mustFriends(t, s, "1", "2")
		if _, err := s.DeleteFriend(ctxT(t), "1", "2"); err != nil {
			t.Fatal(err)
		}
		if got := page("1", "2", 0, 10); len(got) != 0 {
			t.Fatalf("after delete_friend: %v", got)
		}
	})
}
