package db

import (
	"context"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/parley-im/parley/config"

	"github.com/parley-im/parley/wire"
)

// legacyRelation writes the pair of relation rows between a and b the way
// the store did before migration 0005 (both rows alike, no requester), with
// the frozen 0001 model: for tests that run a Store on an older schema.
func legacyRelation(t *testing.T, bdb *bun.DB, a, b, relation string) {
	t.Helper()
	at := now()
	rows := []m0001Friendship{
		{UserID: a, FriendID: b, Relation: relation, CreatedAt: at},
		{UserID: b, FriendID: a, Relation: relation, CreatedAt: at},
	}
	if _, err := bdb.NewInsert().Model(&rows).Exec(ctxT(t)); err != nil {
		t.Fatalf("legacy relation %s-%s: %v", a, b, err)
	}
}

// hasRequestedBy reports whether friendships has the column of migration 0005.
func hasRequestedBy(t *testing.T, bdb *bun.DB) bool {
	t.Helper()
	var has bool
	err := bdb.RunInTx(ctxT(t), nil, func(ctx context.Context, tx bun.Tx) error {
		var err error
		has, err = m0005HasColumn(ctx, tx)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return has
}

// Migration 0005 on a database at 0004 holding friendships and pending
// requests of both kinds: legacy pending requests keep no direction (either
// side may accept them), accepted ones stay accepted, and requests made after
// it record their requester, whom only the addressee may answer. Rolled
// back, the column is gone and every row is intact; reopened, it is back.
func TestMigration0005UpDown(t *testing.T) {
	forEachConfig(t, func(t *testing.T, driver string, cfg config.DB) {
		ctx := ctxT(t)
		bdb, migrator := unmigrated(t, driver, cfg)
		at0004, all := migrator("20250101000004"), migrator("20250101000005")
		if err := at0004.Init(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := at0004.Migrate(ctx); err != nil {
			t.Fatalf("migrate to 0004: %v", err)
		}
		if hasRequestedBy(t, bdb) {
			t.Fatal("requested_by exists at 0004")
		}
		s := NewStore(bdb, 10*time.Second)
		mustUsers(t, s, "1", "2", "3", "4", "5", "6")
		legacyRelation(t, bdb, "1", "2", wire.RelationAccepted)
		legacyRelation(t, bdb, "3", "4", wire.RelationPending) // asked before the upgrade
		legacyRelation(t, bdb, "5", "6", wire.RelationPending)

		if _, err := all.Migrate(ctx); err != nil {
			t.Fatalf("migrate 0004 -> 0005: %v", err)
		}
		if !hasRequestedBy(t, bdb) {
			t.Fatal("no requested_by after 0005")
		}
		for _, side := range [][2]string{{"3", "4"}, {"4", "3"}} {
			f, err := s.Friend(ctx, side[0], side[1])
			if err != nil || f.Relation != wire.RelationPending || f.RequestedBy != "" {
				t.Fatalf("legacy request as %s sees it: %+v, %v", side[0], f, err)
			}
		}
		if ok, err := s.AreFriends(ctx, "1", "2"); err != nil || !ok {
			t.Fatalf("legacy friends after 0005: %v, %v", ok, err)
		}
		// Either side of a legacy request may accept it, as before.
		if _, err := s.AcceptFriend(ctx, "3", "4", "hi"); err != nil {
			t.Fatalf("legacy request accepted by one side: %v", err)
		}
		if _, err := s.AcceptFriend(ctx, "6", "5", "hi"); err != nil {
			t.Fatalf("legacy request accepted by the other side: %v", err)
		}
		// New requests have a direction.
		if err := s.RequestFriend(ctx, "1", "3"); err != nil {
			t.Fatal(err)
		}
		_, err := s.AcceptFriend(ctx, "1", "3", "hi")
		wantErr(t, "requester accepts after 0005", err, ErrForbidden)
		if err := s.RequestFriend(ctx, "2", "5"); err != nil {
			t.Fatal(err)
		}

		if _, err := all.Rollback(ctx); err != nil {
			t.Fatalf("roll back 0005: %v", err)
		}
		if hasRequestedBy(t, bdb) {
			t.Fatal("requested_by survives the rollback")
		}
		var rows []m0001Friendship
		if err := bdb.NewSelect().Model(&rows).Order("user_id", "friend_id").Scan(ctx); err != nil {
			t.Fatalf("rows after rollback: %v", err)
		}
		want := map[[2]string]string{
			{"1", "2"}: wire.RelationAccepted, {"2", "1"}: wire.RelationAccepted,
			{"3", "4"}: wire.RelationAccepted, {"4", "3"}: wire.RelationAccepted,
			{"5", "6"}: wire.RelationAccepted, {"6", "5"}: wire.RelationAccepted,
			{"1", "3"}: wire.RelationPending, {"3", "1"}: wire.RelationPending,
			{"2", "5"}: wire.RelationPending, {"5", "2"}: wire.RelationPending,
		}
		if len(rows) != len(want) {
			t.Fatalf("after rollback %d rows, want %d: %+v", len(rows), len(want), rows)
		}
		for _, r := range rows {
			if want[[2]string{r.UserID, r.FriendID}] != r.Relation {
				t.Fatalf("after rollback %s->%s is %q", r.UserID, r.FriendID, r.Relation)
			}
		}

		// Open, as every start does, brings it up again; the requests that
		// lost their direction in the rollback are legacy ones now.
		up := openTest(t, cfg)
		if !hasRequestedBy(t, up) {
			t.Fatal("no requested_by after reopening")
		}
		s = NewStore(up, 10*time.Second)
		if _, err := s.AcceptFriend(ctx, "5", "2", "hi"); err != nil {
			t.Fatalf("addressee accepts after reopening: %v", err)
		}
		if _, err := s.AcceptFriend(ctx, "1", "3", "hi"); err != nil {
			t.Fatalf("direction lost in the rollback, so either side may accept: %v", err)
		}
	})
}
