package db

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley/config"
	"github.com/parley-im/parley/wire"
)

// startWriter returns a writer over s, closed (and checked) at cleanup.
func startWriter(t *testing.T, s *Store, opts WriterOptions) *MessageWriter {
	t.Helper()
	w := NewMessageWriter(s, opts)
	w.Start()
	t.Cleanup(func() {
		if err := w.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return w
}

// savedResult is what one Save returned.
type savedResult struct {
	m   Message
	err error
}

// enqueueInOrder starts one Save per message, in order, each only once the
// previous one is queued, on a writer that has not been started: after
// Start they form one batch in exactly this order. It returns a function
// that waits for every result.
func enqueueInOrder(t *testing.T, w *MessageWriter, msgs []Message) func() []savedResult {
	t.Helper()
	out := make([]savedResult, len(msgs))
	var wg sync.WaitGroup
	for i := range msgs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := msgs[i]
			err := w.Save(ctxT(t), &m)
			out[i] = savedResult{m, err}
		}()
		waitFor(t, func() bool { return w.Pending() == i+1 })
	}
	return func() []savedResult { wg.Wait(); return out }
}

// waitFor polls cond (a state change, not a duration being measured).
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 10s")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestWriterMatchesSaveMessage replays one sequence of messages with
// SaveMessage (users x1) and as one writer batch (users x2) and compares
// every chat row and message: the batch path must be SaveMessage, message
// by message.
func TestWriterMatchesSaveMessage(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		mustUsers(t, s, "a1", "b1", "c1", "a2", "b2", "c2")
		// Chat rows that exist before, with unread counts, so both the insert
		// and the update branches of the upsert run.
		// At one explicit time: the store's clock could cross a second
		// between the two, and the chat rows' last_time would differ.
		for _, sfx := range []string{"1", "2"} {
			before := Message{SenderID: "a" + sfx, ReceiverID: "b" + sfx, Body: "before",
				SentAt: time.Date(2024, 1, 2, 3, 4, 0, 0, time.UTC)}
			if err := s.SaveMessage(ctxT(t), &before); err != nil {
				t.Fatal(err)
			}
		}
		seq := []struct{ from, to, body, cmid string }{
			{"a", "b", "1", ""}, {"b", "a", "2", ""}, {"a", "b", "3", "k1"}, {"a", "b", "3", "k1"},
			{"a", "c", "4", ""}, {"c", "a", "5", "k2"}, {"a", "a", "note", ""}, {"b", "c", "6", ""},
			{"a", "b", "7", ""}, {"c", "b", "8", ""},
		}
		// One explicit time for both runs: the default (the store's clock, in
		// whole seconds) could differ between them.
		sentAt := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
		var viaStore []Message
		for _, m := range seq {
			msg := Message{SenderID: m.from + "1", ReceiverID: m.to + "1", Body: m.body, ClientMsgID: m.cmid, SentAt: sentAt}
			if err := s.SaveMessage(ctxT(t), &msg); err != nil {
				t.Fatal(err)
			}
			viaStore = append(viaStore, msg)
		}
		// One committer: the test asserts one batch in Save order (with
		// PostgreSQL's default two, the second may take a message first).
		w := NewMessageWriter(s, WriterOptions{MaxBatch: 100, Committers: 1})
		t.Cleanup(func() { _ = w.Close(context.Background()) })
		msgs := make([]Message, len(seq))
		for i, m := range seq {
			msgs[i] = Message{SenderID: m.from + "2", ReceiverID: m.to + "2", Body: m.body, ClientMsgID: m.cmid, SentAt: sentAt}
		}
		wait := enqueueInOrder(t, w, msgs)
		w.Start()
		res := wait()
		if w.Batches() != 1 {
			t.Fatalf("%d batches, want 1", w.Batches())
		}
		var last int64
		for i, r := range res {
			if r.err != nil {
				t.Fatalf("Save %d: %v", i, r.err)
			}
			st := viaStore[i]
			if r.m.Body != st.Body || r.m.SentAt.IsZero() || r.m.FilePath != wire.NoFile || r.m.Type != wire.MessageTypeText {
				t.Fatalf("Save %d returned %+v", i, r.m)
			}
			if seq[i].cmid != "" && i > 0 && seq[i-1].cmid == seq[i].cmid {
				if r.m.ID != res[i-1].m.ID {
					t.Fatalf("duplicate client_msg_id got id %d, first got %d", r.m.ID, res[i-1].m.ID)
				}
				continue
			}
			if r.m.ID <= last {
				t.Fatalf("Save %d: id %d not above %d: ids must follow Save order", i, r.m.ID, last)
			}
			last = r.m.ID
		}
		compareWriterRuns(t, s, []string{"a", "b", "c"})
	})
}

func findChat(t *testing.T, s *Store, owner, peer string) (Chat, bool) {
	t.Helper()
	chats, err := s.Chats(ctxT(t), owner)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range chats {
		if c.PeerID == peer {
			return c, true
		}
	}
	return Chat{}, false
}

// Every Save returns after its batch committed: the message is visible at
// once through another pooled connection.
func TestWriterSaveReturnsAfterCommit(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		users := []string{"1", "2", "3", "4", "5", "6"}
		mustUsers(t, s, users...)
		w := startWriter(t, s, WriterOptions{MaxBatch: 16, MaxDelay: time.Millisecond})
		const senders, each = 12, 15
		var wg sync.WaitGroup
		errs := make(chan error, senders*each)
		for g := range senders {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					m := Message{SenderID: users[g%6], ReceiverID: users[(g+1+i)%6], Body: fmt.Sprint(g, "/", i)}
					if err := w.Save(ctxT(t), &m); err != nil {
						errs <- err
						return
					}
					got, err := s.MessagesAfter(ctxT(t), m.ReceiverID, m.ID-1, 1)
					if err != nil || len(got) != 1 || got[0].ID != m.ID || got[0].Body != m.Body {
						errs <- fmt.Errorf("message %d not visible after Save: %+v %v", m.ID, got, err)
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if w.Pending() != 0 {
			t.Fatalf("Pending = %d after every Save returned", w.Pending())
		}
		total := 0
		for _, u := range users {
			got, err := s.MessagesAfter(ctxT(t), u, 0, MaxBatch)
			if err != nil {
				t.Fatal(err)
			}
			total += len(got)
		}
		if total != senders*each {
			t.Fatalf("%d messages stored, want %d", total, senders*each)
		}
	})
}

// A message to a missing user fails alone; the rest of its batch is stored.
func TestWriterFailingItemIsolated(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		mustUsers(t, s, "1", "2")
		w := NewMessageWriter(s, WriterOptions{MaxBatch: 10})
		t.Cleanup(func() { _ = w.Close(context.Background()) })
		wait := enqueueInOrder(t, w, []Message{
			{SenderID: "1", ReceiverID: "2", Body: "ok 1"},
			{SenderID: "1", ReceiverID: "nobody", Body: "lost"},
			{SenderID: "2", ReceiverID: "1", Body: "ok 2"},
		})
		w.Start()
		res := wait()
		if res[0].err != nil || res[2].err != nil {
			t.Fatalf("unrelated messages failed: %v, %v", res[0].err, res[2].err)
		}
		wantErr(t, "message to a missing user", res[1].err, ErrNotFound)
		if c := chatOf(t, s, "2", "1"); c.Unread != 0 || c.LastMessage != "ok 2" {
			t.Fatalf("chat 2->1 %+v", c)
		}
		if c := chatOf(t, s, "1", "2"); c.Unread != 1 || c.LastMessage != "ok 2" {
			t.Fatalf("chat 1->2 %+v", c)
		}
	})
}

// Close commits what was accepted, even while a batch waits for MaxDelay,
// and refuses what comes after.
func TestWriterCloseFlushes(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		mustUsers(t, s, "1", "2")
		w := NewMessageWriter(s, WriterOptions{MaxBatch: 1000, MaxDelay: time.Hour})
		w.Start()
		const n = 20
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = w.Save(ctxT(t), &Message{SenderID: "1", ReceiverID: "2", Body: fmt.Sprint(i)})
			}()
		}
		waitFor(t, func() bool { return w.Pending() == n })
		if err := w.Close(ctxT(t)); err != nil {
			t.Fatalf("Close: %v", err)
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("Save %d: %v", i, err)
			}
		}
		if c := chatOf(t, s, "2", "1"); c.Unread != n {
			t.Fatalf("unread %d after Close, want %d", c.Unread, n)
		}
		err := w.Save(ctxT(t), &Message{SenderID: "1", ReceiverID: "2", Body: "late"})
		wantErr(t, "Save after Close", err, ErrWriterClosed)
		wantErr(t, "Save after Close", err, ErrUnavailable)
		if err := w.Close(ctxT(t)); err != nil {
			t.Fatalf("second Close: %v", err)
		}
	})
}

// A client_msg_id is stored once, within a batch and across batches; the
// receiver's unread count counts it once.
func TestWriterIdempotent(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		mustUsers(t, s, "1", "2")
		first := Message{SenderID: "1", ReceiverID: "2", Body: "x", ClientMsgID: "c1"}
		if err := s.SaveMessage(ctxT(t), &first); err != nil {
			t.Fatal(err)
		}
		// One committer: the chat rows below depend on the order of messages
		// to different receivers, which two committers (PostgreSQL's
		// default) may commit in either order.
		w := NewMessageWriter(s, WriterOptions{Committers: 1})
		t.Cleanup(func() { _ = w.Close(context.Background()) })
		wait := enqueueInOrder(t, w, []Message{
			{SenderID: "1", ReceiverID: "2", Body: "x", ClientMsgID: "c1"}, // stored before
			{SenderID: "1", ReceiverID: "2", Body: "y", ClientMsgID: "c2"},
			{SenderID: "1", ReceiverID: "2", Body: "y", ClientMsgID: "c2"}, // same batch
			{SenderID: "2", ReceiverID: "1", Body: "z", ClientMsgID: "c2"}, // other sender: distinct
		})
		w.Start()
		res := wait()
		for i, r := range res {
			if r.err != nil {
				t.Fatalf("Save %d: %v", i, r.err)
			}
		}
		if res[0].m.ID != first.ID || res[0].m.Body != "x" {
			t.Fatalf("retry of a stored message: %+v, want id %d", res[0].m, first.ID)
		}
		if res[1].m.ID != res[2].m.ID || res[3].m.ID == res[1].m.ID {
			t.Fatalf("ids %d %d %d", res[1].m.ID, res[2].m.ID, res[3].m.ID)
		}
		// Only the retries say so: the caller delivers the others.
		for i, want := range []bool{true, false, true, false} {
			if res[i].m.Retry != want {
				t.Fatalf("Save %d: Retry %v, want %v", i, res[i].m.Retry, want)
			}
		}
		to2, err := s.MessagesAfter(ctxT(t), "2", 0, 10)
		if err != nil || len(to2) != 2 {
			t.Fatalf("messages to 2: %+v, %v; want 2", to2, err)
		}
		// 2 replied last: its own count is 0, and 1 has one unread.
		if c := chatOf(t, s, "2", "1"); c.Unread != 0 {
			t.Fatalf("chat 2->1 %+v", c)
		}
		if c := chatOf(t, s, "1", "2"); c.Unread != 1 || c.LastMessage != "z" {
			t.Fatalf("chat 1->2 %+v", c)
		}
	})
}

// A caller that gives up before its batch begins is answered with its
// context's error and its message is not stored.
func TestWriterCancelledBeforeBatch(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		mustUsers(t, s, "1", "2")
		w := NewMessageWriter(s, WriterOptions{})
		t.Cleanup(func() { _ = w.Close(context.Background()) })
		ctx, cancel := context.WithCancel(ctxT(t))
		done := make(chan error, 1)
		go func() { done <- w.Save(ctx, &Message{SenderID: "1", ReceiverID: "2", Body: "gone"}) }()
		waitFor(t, func() bool { return w.Pending() == 1 })
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("Save = %v, want context.Canceled", err)
		}
		w.Start()
		waitFor(t, func() bool { return w.Pending() == 0 })
		m := Message{SenderID: "1", ReceiverID: "2", Body: "kept"}
		if err := w.Save(ctxT(t), &m); err != nil {
			t.Fatal(err)
		}
		got, err := s.MessagesAfter(ctxT(t), "2", 0, 10)
		if err != nil || len(got) != 1 || got[0].Body != "kept" {
			t.Fatalf("stored %+v, %v; want only \"kept\"", got, err)
		}
	})
}

// Many senders to many receivers through every committer: each receiver's
// unread count equals the messages it received (nobody replies), and the
// per-receiver ids are distinct.
func TestWriterConcurrentCounts(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		senders := []string{"s1", "s2", "s3", "s4"}
		receivers := []string{"r1", "r2", "r3"}
		mustUsers(t, s, append(senders, receivers...)...)
		w := startWriter(t, s, WriterOptions{MaxBatch: 8})
		const each = 30
		var wg sync.WaitGroup
		for _, from := range senders {
			for _, to := range receivers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range each {
						if err := w.Save(ctxT(t), &Message{SenderID: from, ReceiverID: to, Body: fmt.Sprint(i)}); err != nil {
							t.Error(err)
							return
						}
					}
				}()
			}
		}
		wg.Wait()
		for _, to := range receivers {
			for _, from := range senders {
				if c := chatOf(t, s, to, from); c.Unread != each || c.LastMessage != fmt.Sprint(each-1) {
					t.Fatalf("chat %s->%s: %+v, want unread %d, last %d", to, from, c, each, each-1)
				}
			}
		}
	})
}

// writerSeq is a deterministic mix of n messages between users a..d (with
// notes to oneself), some carrying client_msg_ids that repeat within the
// batch or were stored before it, and bodies that need escaping or
// cleaning when bound as values (PostgreSQL array text, NUL, bad UTF-8).
func writerSeq(n int) []Message {
	bodies := []string{"plain", "", "NULL", "a,b", "{x}", `"q"`, `back\slash`, "nul\x00byte",
		"bad\xffutf8", "it's", " spaced ", "ünï©ødé"}
	users := []string{"a", "b", "c", "d"}
	out := make([]Message, n)
	x := uint32(7)
	rnd := func(k int) int { x = x*1664525 + 1013904223; return int(x>>16) % k }
	for i := range out {
		m := Message{SenderID: users[rnd(4)], ReceiverID: users[rnd(4)], Body: bodies[rnd(len(bodies))]}
		switch rnd(4) {
		case 0:
			m.ClientMsgID = fmt.Sprint("k", rnd(n/3+1)) // repeats: same-batch duplicates
		case 1:
			m.ClientMsgID = "pre" // stored before the batch for a..d
		}
		// Explicit times: a default (the store's clock, whole seconds) could
		// differ between the SaveMessage run and the writer run.
		m.SentAt = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
		if rnd(3) == 0 {
			m.SentAt = m.SentAt.Add(time.Duration(rnd(1e6)) * time.Microsecond)
		}
		out[i] = m
	}
	return out
}

// compareWriterRuns checks that users with suffix "2" (writer) ended with
// the same chat rows and received messages as those with suffix "1"
// (SaveMessage).
func compareWriterRuns(t *testing.T, s *Store, users []string) {
	t.Helper()
	for _, owner := range users {
		for _, peer := range users {
			want, okW := findChat(t, s, owner+"1", peer+"1")
			got, okG := findChat(t, s, owner+"2", peer+"2")
			if okW != okG {
				t.Fatalf("chat %s->%s exists: SaveMessage %v, writer %v", owner, peer, okW, okG)
			}
			if okW && (got.LastMessage != want.LastMessage || got.Unread != want.Unread ||
				got.Status != want.Status || got.Type != want.Type ||
				got.LastMessageType != want.LastMessageType || !got.LastTime.Equal(want.LastTime)) {
				t.Fatalf("chat %s->%s: writer %+v, SaveMessage %+v", owner, peer, got, want)
			}
		}
		a, err := s.MessagesAfter(ctxT(t), owner+"1", 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		b, err := s.MessagesAfter(ctxT(t), owner+"2", 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(a) != len(b) {
			t.Fatalf("%s received %d messages via SaveMessage, %d via writer", owner, len(a), len(b))
		}
		for i := range a {
			if a[i].Body != b[i].Body || a[i].SenderID[:1] != b[i].SenderID[:1] ||
				!a[i].SentAt.Equal(b[i].SentAt) || a[i].ClientMsgID != b[i].ClientMsgID ||
				a[i].FilePath != b[i].FilePath || a[i].Type != b[i].Type {
				t.Fatalf("%s message %d: %+v vs %+v", owner, i, a[i], b[i])
			}
		}
	}
}

// One batch larger than the biggest prepared chunk (so several row counts
// run), mixing new rows, same-batch duplicates and retries of stored rows,
// with bodies that stress value binding: the result is SaveMessage's.
func TestWriterLargeMixedBatchMatchesSaveMessage(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		users := []string{"a", "b", "c", "d"}
		for _, u := range users {
			mustUsers(t, s, u+"1", u+"2")
		}
		n := 75
		seq := writerSeq(n)
		for _, sfx := range []string{"1", "2"} {
			for _, u := range users {
				// An explicit time: both runs' copies must match, and the
				// store's clock could cross a second between them.
				pre := Message{SenderID: u + sfx, ReceiverID: u + sfx, Body: "stored before", ClientMsgID: "pre",
					SentAt: time.Date(2024, 1, 2, 3, 4, 0, 0, time.UTC)}
				if err := s.SaveMessage(ctxT(t), &pre); err != nil {
					t.Fatal(err)
				}
			}
		}
		viaStore := make([]Message, n)
		for i, m := range seq {
			m.SenderID, m.ReceiverID = m.SenderID+"1", m.ReceiverID+"1"
			if err := s.SaveMessage(ctxT(t), &m); err != nil {
				t.Fatal(err)
			}
			viaStore[i] = m
		}
		w := NewMessageWriter(s, WriterOptions{MaxBatch: n, Committers: 1}) // one batch, in Save order
		t.Cleanup(func() { _ = w.Close(context.Background()) })
		msgs := make([]Message, n)
		for i, m := range seq {
			m.SenderID, m.ReceiverID = m.SenderID+"2", m.ReceiverID+"2"
			msgs[i] = m
		}
		wait := enqueueInOrder(t, w, msgs)
		w.Start()
		res := wait()
		if w.Batches() != 1 {
			t.Fatalf("%d batches, want 1", w.Batches())
		}
		firstID := map[[2]string]int64{}
		var last int64
		for i, r := range res {
			if r.err != nil {
				t.Fatalf("Save %d: %v", i, r.err)
			}
			if r.m.Body != viaStore[i].Body || !r.m.SentAt.Equal(viaStore[i].SentAt) {
				t.Fatalf("Save %d returned %+v, SaveMessage %+v", i, r.m, viaStore[i])
			}
			if cmid := seq[i].ClientMsgID; cmid != "" {
				k := [2]string{seq[i].SenderID, cmid}
				if id, ok := firstID[k]; ok {
					if r.m.ID != id {
						t.Fatalf("Save %d: duplicate %v got id %d, first %d", i, k, r.m.ID, id)
					}
					continue
				}
				firstID[k] = r.m.ID
				if cmid == "pre" {
					if r.m.Body != "stored before" {
						t.Fatalf("Save %d: retry answered %+v", i, r.m)
					}
					continue
				}
			}
			if r.m.ID <= last {
				t.Fatalf("Save %d: id %d not above %d: ids must follow Save order", i, r.m.ID, last)
			}
			last = r.m.ID
		}
		compareWriterRuns(t, s, users)
	})
}

// A content error anywhere in a multi-chunk batch redoes the batch one by
// one: only the bad message fails, and the others are stored in Save order.
func TestWriterLargeBatchFallback(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		mustUsers(t, s, "1", "2")
		n := 37
		msgs := make([]Message, n)
		for i := range msgs {
			msgs[i] = Message{SenderID: "1", ReceiverID: "2", Body: fmt.Sprint(i), ClientMsgID: fmt.Sprint("c", i%(n-3))}
		}
		bad := n - 4 // its client_msg_id is not repeated
		msgs[bad].ReceiverID = "nobody"
		w := NewMessageWriter(s, WriterOptions{MaxBatch: n, Committers: 1}) // one batch, in Save order
		t.Cleanup(func() { _ = w.Close(context.Background()) })
		wait := enqueueInOrder(t, w, msgs)
		w.Start()
		res := wait()
		var last int64
		stored := 0
		for i, r := range res {
			if i == bad {
				wantErr(t, "message to a missing user", r.err, ErrNotFound)
				continue
			}
			if r.err != nil {
				t.Fatalf("Save %d: %v", i, r.err)
			}
			if i >= n-3 { // repeats the client_msg_id of message i-(n-3)
				if first := res[i-(n-3)].m; r.m.ID != first.ID || r.m.Body != first.Body {
					t.Fatalf("Save %d: %+v, want the first one's row %+v", i, r.m, first)
				}
				continue
			}
			if r.m.ID <= last {
				t.Fatalf("Save %d: id %d not above %d", i, r.m.ID, last)
			}
			last = r.m.ID
			stored++
		}
		if c := chatOf(t, s, "2", "1"); c.Unread != stored {
			t.Fatalf("chat 2->1 unread %d, want %d", c.Unread, stored)
		}
	})
}

// Left at zero, the batch cap is the driver's: 1024 on PostgreSQL (bigger
// batches spread its per-batch round trips and lock waits), 256 on SQLite
// (bigger ones measured slower). An explicit cap is kept on both.
func TestWriterDefaultBatchPerDriver(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		want := config.WriterMaxBatch
		if s.pg {
			want = config.WriterMaxBatchPostgres
		}
		if got := NewMessageWriter(s, WriterOptions{}).Options().MaxBatch; got != want {
			t.Fatalf("default MaxBatch = %d, want %d", got, want)
		}
		if got := NewMessageWriter(s, WriterOptions{MaxBatch: 7}).Options().MaxBatch; got != 7 {
			t.Fatalf("explicit MaxBatch = %d, want 7", got)
		}
	})
}
