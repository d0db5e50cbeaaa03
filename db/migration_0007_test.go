package db

import (
	"context"
	"testing"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"

	"github.com/parley-im/parley/config"
)

// groupTables counts the tables of migration 0007 that exist.
func groupTables(t *testing.T, bdb *bun.DB) int {
	t.Helper()
	q := `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('chat_groups', 'group_members', 'group_messages')`
	if bdb.Dialect().Name() == dialect.PG {
		q = `SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() ` +
			`AND table_name IN ('chat_groups', 'group_members', 'group_messages')`
	}
	var n int
	if err := bdb.QueryRowContext(ctxT(t), q).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Migration 0007 on a database at 0006 with users, friends and messages:
// up adds the three group tables, which work (a group, a message, a
// client_msg_id retry through the partial index); down drops them and
// leaves every older row alone; Open brings them back.
func TestMigration0007UpDown(t *testing.T) {
	forEachConfig(t, func(t *testing.T, driver string, cfg config.DB) {
		ctx := ctxT(t)
		bdb, migrator := unmigrated(t, driver, cfg)
		at0006, all := migrator("20250101000006"), migrator("20250101000007")
		if err := at0006.Init(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := at0006.Migrate(ctx); err != nil {
			t.Fatalf("migrate to 0006: %v", err)
		}
		if n := groupTables(t, bdb); n != 0 {
			t.Fatalf("%d group tables at 0006", n)
		}
		s := NewStore(bdb, 10*time.Second)
		mustUsers(t, s, "1", "2")
		mustFriends(t, s, "1", "2")
		mustSend(t, s, "1", "2", "before groups")

		if _, err := all.Migrate(ctx); err != nil {
			t.Fatalf("migrate 0006 -> 0007: %v", err)
		}
		if n := groupTables(t, bdb); n != 3 {
			t.Fatalf("%d group tables after 0007, want 3", n)
		}
		g, _, err := s.CreateGroup(ctx, "1", "g", []string{"2"})
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			m := GroupMessage{GroupID: g.ID, SenderID: "2", Body: "x", ClientMsgID: "c"}
			if err := s.SaveGroupMessage(ctx, &m); err != nil || m.Seq != 2 {
				t.Fatalf("group message after 0007: %+v, %v", m, err)
			}
		}

		if _, err := all.Rollback(ctx); err != nil {
			t.Fatalf("roll back 0007: %v", err)
		}
		if n := groupTables(t, bdb); n != 0 {
			t.Fatalf("%d group tables after the rollback", n)
		}
		if msgs, err := s.MessagesAfter(ctx, "2", 0, 10); err != nil || len(msgs) != 1 {
			t.Fatalf("messages after the rollback: %d, %v", len(msgs), err)
		}
		if ok, err := s.AreFriends(ctx, "1", "2"); err != nil || !ok {
			t.Fatalf("friends after the rollback: %v %v", ok, err)
		}

		up := openTest(t, cfg)
		if n := groupTables(t, up); n != 3 {
			t.Fatalf("%d group tables after reopening", n)
		}
		s = NewStore(up, 10*time.Second)
		if _, _, err := s.CreateGroup(context.Background(), "1", "again", []string{"2"}); err != nil {
			t.Fatalf("group after reopening: %v", err)
		}
	})
}
