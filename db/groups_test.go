package db

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley/config"
	"github.com/parley-im/parley/wire"
)

// mustGroup creates a group of owner with members (made owner's friends).
func mustGroup(t *testing.T, s *Store, owner string, members ...string) Group {
	t.Helper()
	for _, m := range members {
		mustFriends(t, s, owner, m)
	}
	g, msg, err := s.CreateGroup(ctxT(t), owner, "g", members)
	if err != nil {
		t.Fatalf("CreateGroup: %v", err)
	}
	if msg.Seq != 1 || msg.Type != wire.MessageTypeSystem {
		t.Fatalf("create event %+v", msg)
	}
	return g
}

func mustGroupSend(t *testing.T, s *Store, gid int64, from, body string) GroupMessage {
	t.Helper()
	m := GroupMessage{GroupID: gid, SenderID: from, Body: body}
	if err := s.SaveGroupMessage(ctxT(t), &m); err != nil {
		t.Fatalf("SaveGroupMessage(%s): %v", from, err)
	}
	return m
}

// seqs lists the seqs of what user sees of group gid after after.
func seqs(t *testing.T, s *Store, gid int64, user string, after int64) []int64 {
	t.Helper()
	msgs, err := s.GroupMessagesAfter(ctxT(t), gid, user, after, MaxBatch)
	if err != nil {
		t.Fatalf("GroupMessagesAfter(%s): %v", user, err)
	}
	out := make([]int64, len(msgs))
	for i, m := range msgs {
		out[i] = m.Seq
	}
	return out
}

func myGroup(t *testing.T, s *Store, user string, gid int64) (MyGroup, bool) {
	t.Helper()
	gs, err := s.MyGroups(ctxT(t), user, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range gs {
		if g.ID == gid {
			return g, true
		}
	}
	return MyGroup{}, false
}

// The whole life of a group: who may do what, system messages in the
// stream, what each member sees (from its join, nothing after it left),
// unread counts and read cursors.
func TestGroupLifecycle(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := ctxT(t)
		mustUsers(t, s, "1", "2", "3", "4", "5")
		mustFriends(t, s, "1", "4")

		_, _, err := s.CreateGroup(ctx, "1", "g", []string{"5"})
		wantErr(t, "create with a stranger", err, ErrForbidden)
		_, _, err = s.CreateGroup(ctx, "1", "g", []string{"nobody"})
		wantErr(t, "create with an unknown user", err, ErrNotFound)

		g := mustGroup(t, s, "1", "2", "3")
		if g.Members != 3 || g.OwnerID != "1" || g.LastSeq != 1 {
			t.Fatalf("created %+v", g)
		}
		mustGroupSend(t, s, g.ID, "2", "hello") // seq 2
		mustGroupSend(t, s, g.ID, "1", "hi")    // seq 3

		_, err = s.RenameGroup(ctx, g.ID, "2", "mine")
		wantErr(t, "member renames", err, ErrForbidden)
		_, err = s.AddGroupMembers(ctx, g.ID, "2", []string{"4"})
		wantErr(t, "member adds", err, ErrForbidden)
		_, err = s.RenameGroup(ctx, g.ID, "4", "x")
		wantErr(t, "outsider renames", err, ErrNotMember)
		_, err = s.AddGroupMembers(ctx, g.ID, "1", []string{"2"})
		wantErr(t, "add a member again", err, ErrConflict)

		add, err := s.AddGroupMembers(ctx, g.ID, "1", []string{"4"}) // seq 4
		if err != nil || add.Seq != 4 {
			t.Fatalf("add: %+v, %v", add, err)
		}
		var ev wire.GroupEvent
		if err := json.Unmarshal([]byte(add.Body), &ev); err != nil || ev.Event != wire.GroupEventAdd ||
			ev.Actor != "1" || !slices.Equal(ev.Users, []string{"4"}) {
			t.Fatalf("add event %q: %v", add.Body, err)
		}
		mustGroupSend(t, s, g.ID, "4", "new here") // seq 5
		if got := seqs(t, s, g.ID, "4", 0); !slices.Equal(got, []int64{4, 5}) {
			t.Fatalf("late joiner sees %v, want [4 5]", got)
		}
		if got := seqs(t, s, g.ID, "2", 0); !slices.Equal(got, []int64{1, 2, 3, 4, 5}) {
			t.Fatalf("member sees %v", got)
		}

		// Roles: 2 becomes admin, may remove a member but not the owner.
		if _, err := s.SetGroupRole(ctx, g.ID, "2", "3", wire.GroupRoleAdmin); !isErr(err, ErrForbidden) {
			t.Fatalf("member sets a role: %v", err)
		}
		if _, err := s.SetGroupRole(ctx, g.ID, "1", "2", wire.GroupRoleAdmin); err != nil { // seq 6
			t.Fatal(err)
		}
		_, err = s.RemoveGroupMember(ctx, g.ID, "2", "1")
		wantErr(t, "admin removes the owner", err, ErrForbidden)
		if _, err := s.RemoveGroupMember(ctx, g.ID, "2", "3"); err != nil { // seq 7
			t.Fatal(err)
		}
		mustGroupSend(t, s, g.ID, "1", "after 3 left") // seq 8
		if got := seqs(t, s, g.ID, "3", 0); !slices.Equal(got, []int64{1, 2, 3, 4, 5, 6, 7}) {
			t.Fatalf("removed member sees %v, want up to its removal (7)", got)
		}
		m3 := GroupMessage{GroupID: g.ID, SenderID: "3", Body: "still here?"}
		wantErr(t, "removed member sends", s.SaveGroupMessage(ctx, &m3), ErrNotMember)
		if _, ok := myGroup(t, s, "3", g.ID); ok {
			t.Fatal("removed member still lists the group")
		}

		// Unread and read cursors.
		mg, ok := myGroup(t, s, "4", g.ID)
		if !ok || mg.Unread() != 4 { // joined (read) at 4; 5..8 since
			t.Fatalf("4's unread = %d (%+v)", mg.Unread(), mg)
		}
		if c, err := s.MarkGroupRead(ctx, g.ID, "4", 100); err != nil || c != 8 {
			t.Fatalf("MarkGroupRead past the end = %d, %v; want capped at 8", c, err)
		}
		if c, err := s.MarkGroupRead(ctx, g.ID, "4", 5); err != nil || c != 8 {
			t.Fatalf("MarkGroupRead backwards = %d, %v; want 8 kept", c, err)
		}
		if mg, _ := myGroup(t, s, "4", g.ID); mg.Unread() != 0 {
			t.Fatalf("unread after read = %d", mg.Unread())
		}

		// History pages backwards within what the member may see.
		hist, err := s.GroupHistory(ctx, g.ID, "4", 0, 2)
		if err != nil || len(hist) != 2 || hist[0].Seq != 8 || hist[1].Seq != 7 {
			t.Fatalf("history: %+v, %v", hist, err)
		}
		hist, err = s.GroupHistory(ctx, g.ID, "4", 6, 10)
		if err != nil || len(hist) != 2 || hist[0].Seq != 5 || hist[1].Seq != 4 {
			t.Fatalf("history before 6: %+v, %v", hist, err)
		}

		// Members page by id.
		page, err := s.GroupMembers(ctx, g.ID, "4", "", 2)
		if err != nil || len(page) != 2 || page[0].UserID != "1" || page[1].UserID != "2" || page[1].Role != wire.GroupRoleAdmin {
			t.Fatalf("members page 1: %+v, %v", page, err)
		}
		page, err = s.GroupMembers(ctx, g.ID, "4", "2", 2)
		if err != nil || len(page) != 1 || page[0].UserID != "4" || page[0].UserName != "n4" {
			t.Fatalf("members page 2: %+v, %v", page, err)
		}

		// The owner cannot leave; handing the group on lets it.
		_, err = s.LeaveGroup(ctx, g.ID, "1")
		wantErr(t, "owner leaves", err, ErrForbidden)
		if _, err := s.SetGroupRole(ctx, g.ID, "1", "2", wire.GroupRoleOwner); err != nil {
			t.Fatal(err)
		}
		if _, err := s.LeaveGroup(ctx, g.ID, "1"); err != nil {
			t.Fatalf("former owner leaves: %v", err)
		}
		info, err := s.GroupFor(ctx, g.ID, "2")
		if err != nil || info.OwnerID != "2" || info.Role != wire.GroupRoleOwner || info.Members != 2 {
			t.Fatalf("after handing on: %+v, %v", info, err)
		}
		_, _, err = s.DissolveGroup(ctx, g.ID, "4")
		wantErr(t, "member dissolves", err, ErrForbidden)
		last, members, err := s.DissolveGroup(ctx, g.ID, "2")
		if err != nil || !slices.Equal(members, []string{"2", "4"}) {
			t.Fatalf("dissolve: %v %v", members, err)
		}
		m4 := GroupMessage{GroupID: g.ID, SenderID: "4", Body: "anyone?"}
		wantErr(t, "send to a dissolved group", s.SaveGroupMessage(ctx, &m4), ErrNotFound)
		if got := seqs(t, s, g.ID, "4", 0); got[len(got)-1] != last.Seq {
			t.Fatalf("after dissolve 4 sees %v, want up to %d", got, last.Seq)
		}
		if _, ok := myGroup(t, s, "4", g.ID); ok {
			t.Fatal("dissolved group still listed")
		}
	})
}

func isErr(err, target error) bool { return err != nil && errors.Is(err, target) }

// A client_msg_id retry stores nothing and answers the first message; the
// same id in another group is another message.
func TestGroupSendIdempotent(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		mustUsers(t, s, "1", "2")
		g := mustGroup(t, s, "1", "2")
		g2, _, err := s.CreateGroup(ctxT(t), "1", "g2", []string{"2"})
		if err != nil {
			t.Fatal(err)
		}
		a := GroupMessage{GroupID: g.ID, SenderID: "2", Body: "x", ClientMsgID: "c1"}
		if err := s.SaveGroupMessage(ctxT(t), &a); err != nil || a.Retry {
			t.Fatalf("first: %+v %v", a, err)
		}
		b := GroupMessage{GroupID: g.ID, SenderID: "2", Body: "x", ClientMsgID: "c1"}
		if err := s.SaveGroupMessage(ctxT(t), &b); err != nil || !b.Retry || b.Seq != a.Seq {
			t.Fatalf("retry: %+v %v", b, err)
		}
		c := GroupMessage{GroupID: g2.ID, SenderID: "2", Body: "x", ClientMsgID: "c1"}
		if err := s.SaveGroupMessage(ctxT(t), &c); err != nil || c.Retry {
			t.Fatalf("same id, other group: %+v %v", c, err)
		}
		if got := seqs(t, s, g.ID, "1", 0); !slices.Equal(got, []int64{1, 2}) {
			t.Fatalf("after a retry the group holds %v", got)
		}
	})
}

// Many goroutines send to two groups at once through the group-committing
// writer (and a few through SaveGroupMessage, each its own transaction),
// resending every tenth message with its client_msg_id: each group's seqs
// are 1..N without gap or duplicate, every message is stored once, and a
// retry answers the seq of the first send.
func TestGroupSeqConcurrent(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		const senders, each = 16, 26
		users := make([]string, senders)
		for i := range users {
			users[i] = fmt.Sprint(100 + i)
		}
		mustUsers(t, s, append([]string{"1"}, users...)...)
		ga := mustGroup(t, s, "1", users...)
		gb, _, err := s.CreateGroup(ctxT(t), "1", "b", users)
		if err != nil {
			t.Fatal(err)
		}
		w := NewMessageWriter(s, WriterOptions{MaxBatch: 64})
		w.Start()
		t.Cleanup(func() { _ = w.Close(context.Background()) })

		type sent struct {
			gid int64
			cid string
			seq int64
		}
		var mu sync.Mutex
		var all []sent
		var wg sync.WaitGroup
		errs := make(chan error, senders)
		for i, u := range users {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := range each {
					gid := ga.ID
					if k%2 == 1 {
						gid = gb.ID
					}
					cid := fmt.Sprintf("%s-%d", u, k)
					save := w.SaveGroup
					if i == 0 {
						save = s.SaveGroupMessage
					}
					m := GroupMessage{GroupID: gid, SenderID: u, Body: cid, ClientMsgID: cid}
					if err := save(ctxT(t), &m); err != nil {
						errs <- err
						return
					}
					if k%10 == 0 {
						again := GroupMessage{GroupID: gid, SenderID: u, Body: cid, ClientMsgID: cid}
						if err := save(ctxT(t), &again); err != nil || !again.Retry || again.Seq != m.Seq {
							errs <- fmt.Errorf("retry of %s: %+v, %v (first seq %d)", cid, again, err, m.Seq)
							return
						}
					}
					mu.Lock()
					all = append(all, sent{gid, cid, m.Seq})
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		for _, gid := range []int64{ga.ID, gb.ID} {
			msgs, err := s.GroupMessagesAfter(ctxT(t), gid, "1", 0, MaxBatch)
			if err != nil {
				t.Fatal(err)
			}
			want := 1 + senders*each/2 // the create event, then the messages
			if len(msgs) != want {
				t.Fatalf("group %d holds %d messages, want %d", gid, len(msgs), want)
			}
			for i, m := range msgs {
				if m.Seq != int64(i+1) {
					t.Fatalf("group %d: message %d has seq %d (gap or duplicate)", gid, i, m.Seq)
				}
			}
			bySeq := make(map[int64]string)
			for _, m := range msgs {
				bySeq[m.Seq] = m.ClientMsgID
			}
			for _, x := range all {
				if x.gid == gid && bySeq[x.seq] != x.cid {
					t.Fatalf("ack said %s is seq %d, the group has %q there", x.cid, x.seq, bySeq[x.seq])
				}
			}
			g, err := s.GroupFor(ctxT(t), gid, "1")
			if err != nil || g.LastSeq != int64(want) {
				t.Fatalf("last_seq %d, want %d (%v)", g.LastSeq, want, err)
			}
		}
	})
}

// Caps: members per group and groups per user, inside the transaction.
func TestGroupLimits(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		s.groupLimits = GroupLimits{MaxMembers: 3, MaxGroups: 2}
		mustUsers(t, s, "1", "2", "3", "4")
		g := mustGroup(t, s, "1", "2", "3")
		mustFriends(t, s, "1", "4")
		_, err := s.AddGroupMembers(ctxT(t), g.ID, "1", []string{"4"})
		wantErr(t, "a fourth member", err, ErrLimit)
		if _, _, err := s.CreateGroup(ctxT(t), "1", "two", []string{"2"}); err != nil {
			t.Fatal(err)
		}
		_, _, err = s.CreateGroup(ctxT(t), "4", "three", []string{"1"})
		wantErr(t, "a third group for 1", err, ErrLimit)
		_, _, err = s.CreateGroup(ctxT(t), "1", "three", nil)
		wantErr(t, "a third group of 1's own", err, ErrLimit)
	})
}

// Write cost per group message is independent of the group's size: one
// row, one group update, whatever the members.
//
//	go test -run '^$' -bench 'GroupWrite' -benchtime 2000x ./db/
func BenchmarkGroupWriteSQLite(b *testing.B) {
	benchGroupWrite(b, func(b *testing.B) *Store {
		return benchStore(b, config.DB{Driver: "sqlite", DSN: filepath.Join(b.TempDir(), "bench.db")})
	})
}

func BenchmarkGroupWritePostgres(b *testing.B) {
	benchGroupWrite(b, func(b *testing.B) *Store { return benchStore(b, postgresConfig(b)) })
}

func benchGroupWrite(b *testing.B, open func(*testing.B) *Store) {
	for _, size := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("members=%d", size), func(b *testing.B) {
			s := open(b)
			gid := benchGroup(b, s, size)
			w := NewMessageWriter(s, WriterOptions{})
			w.Start()
			b.Cleanup(func() { _ = w.Close(context.Background()) })
			ctx := context.Background()
			b.SetParallelism(32) // senders waiting together, as on a busy server: batches form
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					m := GroupMessage{GroupID: gid, SenderID: "1", Body: "benchmark message body"}
					if err := w.SaveGroup(ctx, &m); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// benchGroup creates a group of size members (user "1", the owner of
// benchStore's users, and size-1 more), written in bulk: users and
// friendships straight into their tables, then CreateGroup.
func benchGroup(b *testing.B, s *Store, size int) int64 { return benchGroupFrom(b, s, size, 0) }

// benchGroupFrom is benchGroup with the new users numbered from first on,
// so several groups can share a store.
func benchGroupFrom(b *testing.B, s *Store, size, first int) int64 {
	b.Helper()
	ctx := context.Background()
	at := now()
	var users []userRow
	var rel []friendshipRow
	var ids []string
	for i := range size - 1 {
		id := fmt.Sprint(1000 + first + i)
		ids = append(ids, id)
		users = append(users, userRow{ID: id, Phone: id, Name: "n", Avatar: "a", Status: "inactive", CreatedAt: at})
		rel = append(rel, friendshipRow{UserID: "1", FriendID: id, Relation: wire.RelationAccepted, CreatedAt: at},
			friendshipRow{UserID: id, FriendID: "1", Relation: wire.RelationAccepted, CreatedAt: at})
	}
	if _, err := s.db.NewInsert().Model(&users).Exec(ctx); err != nil {
		b.Fatal(err)
	}
	if _, err := s.db.NewInsert().Model(&rel).Exec(ctx); err != nil {
		b.Fatal(err)
	}
	g, _, err := s.CreateGroup(ctx, "1", "bench", ids)
	if err != nil {
		b.Fatal(err)
	}
	if g.Members != size {
		b.Fatalf("group of %d, want %d", g.Members, size)
	}
	return g.ID
}

// The three sizes side by side, interleaved message by message in one
// store (one group of each size), so a shared, loaded machine slows them
// alike: the mean time of one SaveGroup through the writer (each save its
// own commit, nothing else queued) per group size, as µs/save-N metrics.
//
//	go test -run '^$' -bench 'GroupWriteInterleaved' -benchtime 3000x ./db/
func BenchmarkGroupWriteInterleavedSQLite(b *testing.B) {
	benchGroupInterleaved(b, benchStore(b, config.DB{Driver: "sqlite", DSN: filepath.Join(b.TempDir(), "bench.db")}))
}

func BenchmarkGroupWriteInterleavedPostgres(b *testing.B) {
	benchGroupInterleaved(b, benchStore(b, postgresConfig(b)))
}

func benchGroupInterleaved(b *testing.B, s *Store) {
	sizes := []int{10, 100, 1000}
	gids := make([]int64, len(sizes))
	first := 0
	for i, n := range sizes {
		gids[i] = benchGroupFrom(b, s, n, first)
		first += n
	}
	w := NewMessageWriter(s, WriterOptions{})
	w.Start()
	b.Cleanup(func() { _ = w.Close(context.Background()) })
	ctx := context.Background()
	spent := make([]time.Duration, len(sizes))
	b.ResetTimer()
	for i := range b.N {
		k := i % len(sizes)
		m := GroupMessage{GroupID: gids[k], SenderID: "1", Body: "benchmark message body"}
		t0 := time.Now()
		if err := w.SaveGroup(ctx, &m); err != nil {
			b.Fatal(err)
		}
		spent[k] += time.Since(t0)
	}
	for k, n := range sizes {
		saves := (b.N + len(sizes) - 1 - k) / len(sizes)
		if saves > 0 {
			b.ReportMetric(float64(spent[k].Microseconds())/float64(saves), fmt.Sprintf("µs/save-%d", n))
		}
	}
}
