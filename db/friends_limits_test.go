package db

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/parley-im/parley/wire"
)

// wantLimit asserts a *LimitError naming user and what.
func wantLimit(t *testing.T, what string, err error, user, limit string) {
	t.Helper()
	var l *LimitError
	if !errors.As(err, &l) || !errors.Is(err, ErrLimit) || l.UserID != user || l.What != limit {
		t.Fatalf("%s: err = %v, want the %s limit of %s", what, err, limit, user)
	}
}

// The pending cap counts a user's incoming requests (legacy ones of unknown
// direction included) and, separately, their outgoing ones; answering or
// withdrawing a request frees its place.
func TestRequestFriendPendingCap(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := ctxT(t)
		s.friendLimits = FriendLimits{MaxPending: 3}
		mustUsers(t, s, "v", "a", "b", "c", "d", "e", "x")
		legacyRelation(t, s.db, "a", "v", wire.RelationPending) // direction unknown: incoming for v
		for _, from := range []string{"b", "c"} {
			if err := s.RequestFriend(ctx, from, "v"); err != nil {
				t.Fatalf("request %s -> v: %v", from, err)
			}
		}
		wantLimit(t, "fourth request to v", s.RequestFriend(ctx, "d", "v"), "v", LimitIncoming)
		if fs, err := s.Friends(ctx, "d"); err != nil || len(fs) != 0 {
			t.Fatalf("a refused request left rows: %+v, %v", fs, err)
		}
		// v's own requests are outgoing: the incoming cap does not stop them.
		if err := s.RequestFriend(ctx, "v", "x"); err != nil {
			t.Fatalf("v asks x while v's incoming is full: %v", err)
		}
		// An accepted request no longer waits.
		if _, err := s.AcceptFriend(ctx, "v", "b", ""); err != nil {
			t.Fatal(err)
		}
		if err := s.RequestFriend(ctx, "d", "v"); err != nil {
			t.Fatalf("request after an accept freed a place: %v", err)
		}
		wantLimit(t, "full again", s.RequestFriend(ctx, "e", "v"), "v", LimitIncoming)
		// A withdrawn request frees its place too.
		if ok, err := s.DeleteFriend(ctx, "c", "v"); err != nil || !ok {
			t.Fatalf("withdraw: %v, %v", ok, err)
		}
		if err := s.RequestFriend(ctx, "e", "v"); err != nil {
			t.Fatalf("request after a withdrawal: %v", err)
		}

		// Outgoing: x may have 3 requests waiting, whoever they are to.
		mustUsers(t, s, "t1", "t2", "t3", "t4")
		for _, to := range []string{"t1", "t2", "t3"} {
			if err := s.RequestFriend(ctx, "x", to); err != nil {
				t.Fatalf("x -> %s: %v", to, err)
			}
		}
		wantLimit(t, "x's fourth request", s.RequestFriend(ctx, "x", "t4"), "x", LimitOutgoing)
	})
}

// MaxFriends refuses an accept that would take either side past it, and
// leaves the request pending.
func TestAcceptFriendFriendsCap(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := ctxT(t)
		s.friendLimits = FriendLimits{MaxFriends: 2}
		mustUsers(t, s, "p", "f1", "f2", "q", "r", "q1", "q2")
		mustFriends(t, s, "f1", "p")
		mustFriends(t, s, "f2", "p")
		if err := s.RequestFriend(ctx, "q", "p"); err != nil {
			t.Fatal(err)
		}
		_, err := s.AcceptFriend(ctx, "p", "q", "hi")
		wantLimit(t, "p accepts a third friend", err, "p", LimitFriends)
		if f, err := s.Friend(ctx, "p", "q"); err != nil || f.Relation != wire.RelationPending {
			t.Fatalf("refused accept: %+v, %v", f, err)
		}
		// The requester's side counts as well.
		mustFriends(t, s, "q1", "r")
		mustFriends(t, s, "q2", "r")
		if err := s.RequestFriend(ctx, "r", "q"); err != nil {
			t.Fatal(err)
		}
		_, err = s.AcceptFriend(ctx, "q", "r", "hi")
		wantLimit(t, "q accepts r, who is full", err, "r", LimitFriends)
	})
}

// MaxList keeps the newest relations.
func TestFriendsMaxList(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := ctxT(t)
		mustUsers(t, s, "u")
		base := now()
		for i := range 5 {
			id := fmt.Sprint("f", i)
			mustUsers(t, s, id)
			if err := s.RequestFriend(ctx, id, "u"); err != nil {
				t.Fatal(err)
			}
			setRelationTime(t, s, "u", id, base.Add(-time.Duration(i)*time.Second))
		}
		s.friendLimits = FriendLimits{MaxList: 3}
		fs, err := s.Friends(ctx, "u")
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, f := range fs {
			ids = append(ids, f.ID)
		}
		if !slices.Equal(ids, []string{"f0", "f1", "f2"}) {
			t.Fatalf("Friends with MaxList 3 = %v, want the three newest", ids)
		}
	})
}

// Requests to one user that race each other are counted one after the
// other: exactly MaxPending of them are stored (on PostgreSQL, concurrent
// transactions would each count the rows committed before them without the
// lock on the addressee's row).
func TestRequestFriendPendingCapConcurrent(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		const max, senders = 5, 24
		s.friendLimits = FriendLimits{MaxPending: max}
		mustUsers(t, s, "v")
		ids := make([]string, senders)
		for i := range ids {
			ids[i] = fmt.Sprint("s", i)
			mustUsers(t, s, ids[i])
		}
		errs := make(chan error, senders)
		for _, id := range ids {
			go func() { errs <- s.RequestFriend(ctxT(t), id, "v") }()
		}
		stored := 0
		for range ids {
			switch err := <-errs; {
			case err == nil:
				stored++
			case !errors.Is(err, ErrLimit):
				t.Errorf("racing request: %v", err)
			}
		}
		fs, err := s.Friends(ctxT(t), "v")
		if err != nil || stored != max || len(fs) != max {
			t.Fatalf("%d requests stored, %d rows (%v); want %d", stored, len(fs), err, max)
		}
	})
}
