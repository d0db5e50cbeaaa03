package db

import (
	"slices"
	"testing"
	"time"

	"github.com/parley-im/parley/wire"
)

func TestRequestFriend(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		mustUsers(t, s, "1", "2")
		if err := s.RequestFriend(ctxT(t), "1", "2"); err != nil {
			t.Fatalf("RequestFriend: %v", err)
		}
		// Both directed rows are pending, so both sides see the request.
		for _, side := range [][2]string{{"1", "2"}, {"2", "1"}} {
			fs, err := s.Friends(ctxT(t), side[0])
			if err != nil {
				t.Fatalf("Friends(%s): %v", side[0], err)
			}
			if len(fs) != 1 || fs[0].ID != side[1] || fs[0].Relation != wire.RelationPending ||
				fs[0].Name != "n"+side[1] || fs[0].Since.IsZero() {
				t.Fatalf("Friends(%s) = %+v", side[0], fs)
			}
			ok, err := s.AreFriends(ctxT(t), side[0], side[1])
			if err != nil || ok {
				t.Fatalf("AreFriends(%s, %s) while pending = %v, %v", side[0], side[1], ok, err)
			}
		}
	})
}

func TestRequestFriendErrors(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		mustUsers(t, s, "1", "2")
		wantErr(t, "request to self", s.RequestFriend(ctxT(t), "1", "1"), ErrConflict)
		wantErr(t, "request to missing user", s.RequestFriend(ctxT(t), "1", "404"), ErrNotFound)
		wantErr(t, "request from missing user", s.RequestFriend(ctxT(t), "404", "1"), ErrNotFound)
		if err := s.RequestFriend(ctxT(t), "1", "2"); err != nil {
			t.Fatalf("RequestFriend: %v", err)
		}
		wantErr(t, "duplicate request", s.RequestFriend(ctxT(t), "1", "2"), ErrConflict)
		wantErr(t, "reverse request", s.RequestFriend(ctxT(t), "2", "1"), ErrConflict)
		if _, err := s.AcceptFriend(ctxT(t), "2", "1", ""); err != nil {
			t.Fatalf("AcceptFriend: %v", err)
		}
		wantErr(t, "request between friends", s.RequestFriend(ctxT(t), "1", "2"), ErrConflict)
		// The failed calls left nothing half-written.
		for _, id := range []string{"1", "2"} {
			fs, err := s.Friends(ctxT(t), id)
			if err != nil || len(fs) != 1 || fs[0].Relation != wire.RelationAccepted {
				t.Fatalf("Friends(%s) = %+v, %v", id, fs, err)
			}
		}
		fs, err := s.Friends(ctxT(t), "404")
		if err != nil || len(fs) != 0 {
			t.Fatalf("Friends(missing) = %+v, %v", fs, err)
		}
	})
}

func TestFriendsOrderAndFields(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		mustUsers(t, s, "1", "3", "10", "2", "B", "a")
		if err := s.SetPasswordHash(ctxT(t), "3", "secret-hash"); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"3", "10", "2", "B", "a"} {
			if err := s.RequestFriend(ctxT(t), "1", f); err != nil {
				t.Fatalf("RequestFriend(1, %s): %v", f, err)
			}
		}
		if _, err := s.AcceptFriend(ctxT(t), "3", "1", "hi"); err != nil {
			t.Fatal(err)
		}
		// Relation times: "2" newest, then "a", then the rest in one second.
		base := now()
		setRelationTime(t, s, "1", "2", base.Add(2*time.Second))
		setRelationTime(t, s, "1", "a", base.Add(time.Second))
		for _, f := range []string{"3", "10", "B"} {
			setRelationTime(t, s, "1", f, base)
		}
		fs, err := s.Friends(ctxT(t), "1")
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, f := range fs {
			ids = append(ids, f.ID)
			if f.PasswordHash != "" {
				t.Fatalf("Friends exposes a password hash: %+v", f)
			}
			want := wire.RelationPending
			if f.ID == "3" {
				want = wire.RelationAccepted
			}
			if f.Relation != want || f.Phone != f.ID || f.Email != f.ID+"@an.com" || f.Avatar != DefaultAvatar {
				t.Fatalf("friend row %+v", f)
			}
		}
		// Newest first; ties in the byte order of the id on both databases.
		if got, want := ids, []string{"2", "a", "10", "3", "B"}; !slices.Equal(got, want) {
			t.Fatalf("order = %v, want %v", got, want)
		}
	})
}

// setRelationTime sets the created_at of the a-b pair, for order tests:
// the store's clock has one-second steps.
func setRelationTime(t *testing.T, s *Store, a, b string, at time.Time) {
	t.Helper()
	if _, err := s.db.NewUpdate().Model((*friendshipRow)(nil)).Set("created_at = ?", at).
		Where("(user_id = ? AND friend_id = ?) OR (user_id = ? AND friend_id = ?)", a, b, b, a).
		Exec(ctxT(t)); err != nil {
		t.Fatal(err)
	}
}

func TestAcceptFriend(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		mustUsers(t, s, "1", "1000")
		if err := s.RequestFriend(ctxT(t), "1", "1000"); err != nil {
			t.Fatal(err)
		}
		greeting := "我们已经是好友了，可以开始聊天了！"
		m, err := s.AcceptFriend(ctxT(t), "1000", "1", greeting)
		if err != nil {
			t.Fatalf("AcceptFriend: %v", err)
		}
		if m == nil || m.ID <= 0 || m.SenderID != "1000" || m.ReceiverID != "1" || m.Body != greeting ||
			m.ChatType != wire.ChatTypeFriend || m.Type != wire.MessageTypeText || m.FilePath != wire.NoFile || m.SentAt.IsZero() {
			t.Fatalf("greeting = %+v", m)
		}
		for _, p := range [][2]string{{"1", "1000"}, {"1000", "1"}} {
			ok, err := s.AreFriends(ctxT(t), p[0], p[1])
			if err != nil || !ok {
				t.Fatalf("AreFriends(%s, %s) = %v, %v", p[0], p[1], ok, err)
			}
		}
		acceptor := chatOf(t, s, "1000", "1")
		requester := chatOf(t, s, "1", "1000")
		for _, c := range []Chat{acceptor, requester} {
			if c.Type != wire.ChatTypeFriend || c.Status != wire.ChatStatusOpen || c.LastMessage != greeting ||
				c.LastMessageType != wire.MessageTypeText || !c.LastTime.Equal(m.SentAt) {
				t.Fatalf("chat %+v", c)
			}
		}
		if acceptor.Unread != 0 || requester.Unread != 1 {
			t.Fatalf("unread: acceptor %d requester %d, want 0 and 1", acceptor.Unread, requester.Unread)
		}
		if requester.PeerName != "n1000" || requester.PeerAvatar != DefaultAvatar {
			t.Fatalf("peer fields %+v", requester)
		}
		un, err := s.Undelivered(ctxT(t), "1", 0)
		if err != nil || len(un) != 1 || un[0] != *m {
			t.Fatalf("Undelivered(1) = %+v, %v; want the greeting %+v", un, err, *m)
		}
		_, err = s.AcceptFriend(ctxT(t), "1000", "1", greeting)
		wantErr(t, "accept twice", err, ErrConflict)
		_, err = s.AcceptFriend(ctxT(t), "1", "1000", greeting)
		wantErr(t, "accept twice, other side", err, ErrConflict)
		if un, _ := s.Undelivered(ctxT(t), "1", 0); len(un) != 1 {
			t.Fatalf("a refused accept stored a greeting: %+v", un)
		}
	})
}

func TestAcceptFriendByRequesterAndEmptyGreeting(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		mustUsers(t, s, "1", "2")
		if err := s.RequestFriend(ctxT(t), "1", "2"); err != nil {
			t.Fatal(err)
		}
		// The seed shows the requester an accept button too; pressing it
		// must not make them friends without the addressee's consent.
		_, err := s.AcceptFriend(ctxT(t), "1", "2", "hi")
		wantErr(t, "requester accepts", err, ErrForbidden)
		for _, side := range [][2]string{{"1", "2"}, {"2", "1"}} {
			f, err := s.Friend(ctxT(t), side[0], side[1])
			if err != nil || f.Relation != wire.RelationPending || f.RequestedBy != "1" {
				t.Fatalf("after the refused accept, %s sees %+v, %v", side[0], f, err)
			}
		}
		if un, err := s.Undelivered(ctxT(t), "2", 0); err != nil || len(un) != 0 {
			t.Fatalf("a refused accept stored a greeting: %+v, %v", un, err)
		}
		m, err := s.AcceptFriend(ctxT(t), "2", "1", "")
		if err != nil || m != nil {
			t.Fatalf("AcceptFriend without greeting = %+v, %v; want nil, nil", m, err)
		}
		for _, p := range [][2]string{{"1", "2"}, {"2", "1"}} {
			c := chatOf(t, s, p[0], p[1])
			if c.Unread != 0 || c.Status != wire.ChatStatusOpen || c.LastMessage != "" || c.LastTime.IsZero() {
				t.Fatalf("chat %+v", c)
			}
		}
		if un, err := s.Undelivered(ctxT(t), "2", 0); err != nil || len(un) != 0 {
			t.Fatalf("Undelivered = %+v, %v", un, err)
		}
	})
}

func TestAcceptFriendNotFound(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		mustUsers(t, s, "1", "2")
		_, err := s.AcceptFriend(ctxT(t), "1", "2", "hi")
		wantErr(t, "accept without request", err, ErrNotFound)
		_, err = s.AcceptFriend(ctxT(t), "1", "404", "hi")
		wantErr(t, "accept missing user", err, ErrNotFound)
		if chats, err := s.Chats(ctxT(t), "1"); err != nil || len(chats) != 0 {
			t.Fatalf("chats created by a failed accept: %+v, %v", chats, err)
		}
	})
}

func TestDeleteFriend(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		mustUsers(t, s, "1", "2", "3")
		mustFriends(t, s, "1", "2")
		mustFriends(t, s, "1", "3")
		mustSend(t, s, "1", "3", "to three")
		kept := mustSend(t, s, "3", "1", "from three")
		mustSend(t, s, "2", "3", "unrelated") // needs no friendship at this layer

		// No messages between 1 and 2: still reported (seed bug B14).
		existed, err := s.DeleteFriend(ctxT(t), "1", "2")
		if err != nil || !existed {
			t.Fatalf("DeleteFriend(1, 2) without messages = %v, %v; want true", existed, err)
		}
		existed, err = s.DeleteFriend(ctxT(t), "2", "1")
		if err != nil || existed {
			t.Fatalf("second DeleteFriend = %v, %v; want false", existed, err)
		}

		existed, err = s.DeleteFriend(ctxT(t), "3", "1")
		if err != nil || !existed {
			t.Fatalf("DeleteFriend(3, 1) = %v, %v", existed, err)
		}
		for _, p := range [][2]string{{"1", "2"}, {"2", "1"}, {"1", "3"}, {"3", "1"}} {
			if ok, err := s.AreFriends(ctxT(t), p[0], p[1]); err != nil || ok {
				t.Fatalf("AreFriends(%v) after delete = %v, %v", p, ok, err)
			}
		}
		if fs, err := s.Friends(ctxT(t), "1"); err != nil || len(fs) != 0 {
			t.Fatalf("Friends(1) = %+v, %v", fs, err)
		}
		if chats, err := s.Chats(ctxT(t), "1"); err != nil || len(chats) != 0 {
			t.Fatalf("Chats(1) = %+v, %v", chats, err)
		}
		// Messages between 1 and 3 are deleted in both directions; 2->3 stays.
		if un, err := s.Undelivered(ctxT(t), "1", 0); err != nil || len(un) != 0 {
			t.Fatalf("Undelivered(1) = %+v, %v", un, err)
		}
		if ms, err := s.MessagesAfter(ctxT(t), "1", 0, 0); err != nil || len(ms) != 0 {
			t.Fatalf("MessagesAfter(1) = %+v, %v (deleted %d)", ms, err, kept.ID)
		}
		un, err := s.Undelivered(ctxT(t), "3", 0)
		if err != nil || len(un) != 1 || un[0].Body != "unrelated" {
			t.Fatalf("Undelivered(3) = %+v, %v", un, err)
		}
		// They can start over.
		mustFriends(t, s, "3", "1")
	})
}

func TestAreFriendsUnknown(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		ok, err := s.AreFriends(ctxT(t), "x", "y")
		if err != nil || ok {
			t.Fatalf("AreFriends(unknown) = %v, %v", ok, err)
		}
	})
}
