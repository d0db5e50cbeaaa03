package db

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/parley-im/parley/config"

	"github.com/parley-im/parley/wire"
)

// withoutLaterIdx drops from a list of index names those that migrations
// after 0003 add or replace: the client_msg_id unique index (0004; on
// SQLite a table constraint's index before it) and the sender/receiver
// index (0006 adds id to it).
func withoutLaterIdx(names []string) []string {
	return slices.DeleteFunc(slices.Clone(names), func(n string) bool {
		return n == m0004ClientMsgIdx || n == "sqlite_autoindex_messages_1" || n == m0006OldIdx || n == m0006Idx
	})
}

// clientMsgIdxDef is the definition of the client_msg_id unique index, or
// "" when it is a table constraint's index on SQLite.
func clientMsgIdxDef(t *testing.T, bdb *bun.DB) string {
	t.Helper()
	q := `SELECT coalesce((SELECT sql FROM sqlite_master WHERE name = ?), '')`
	if isPostgres(bdb) {
		q = `SELECT coalesce((SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema() AND indexname = ?), '')`
	}
	var def string
	if err := bdb.NewRaw(q, m0004ClientMsgIdx).Scan(ctxT(t), &def); err != nil {
		t.Fatal(err)
	}
	return def
}

// Migration 0004 on a database at 0003 that holds messages with and without a
// client_msg_id: the unique index becomes partial, every row keeps its id,
// ids keep growing past the old ones, retries are still deduplicated; rolled
// back, the constraint is whole again; reopened, it is partial again.
func TestMigration0004UpDown(t *testing.T) {
	forEachConfig(t, func(t *testing.T, driver string, cfg config.DB) {
		ctx := ctxT(t)
		bdb, migrator := unmigrated(t, driver, cfg)
		at0003, all := migrator("20250101000003"), migrator("20250101000004")
		if err := at0003.Init(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := at0003.Migrate(ctx); err != nil {
			t.Fatalf("migrate to 0003: %v", err)
		}
		if def := clientMsgIdxDef(t, bdb); strings.Contains(strings.ToUpper(def), "WHERE") {
			t.Fatalf("at 0003 the index is already partial: %s", def)
		}
		s := NewStore(bdb, 10*time.Second)
		mustUsers(t, s, "1", "2")
		legacyRelation(t, bdb, "1", "2", wire.RelationAccepted) // the store writes 0005's schema
		var ids []int64
		for i := range 6 {
			m := Message{SenderID: "1", ReceiverID: "2", Body: "m", Delivered: i%2 == 0}
			if i%3 == 0 {
				m.ClientMsgID = "c" + string(rune('a'+i))
			}
			if err := s.SaveMessage(ctx, &m); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, m.ID)
		}
		// The newest row goes away before the migration: its id must not
		// come back afterwards (SQLite AUTOINCREMENT, PostgreSQL sequence).
		if _, err := bdb.NewDelete().TableExpr("messages").Where("id = ?", ids[5]).Exec(ctx); err != nil {
			t.Fatal(err)
		}
		check := func(when string) {
			t.Helper()
			got, err := s.MessagesAfter(ctx, "2", 0, 100)
			if err != nil {
				t.Fatalf("%s: MessagesAfter: %v", when, err)
			}
			if g := messageIDs(got); !slices.Equal(g, ids[:5]) {
				t.Fatalf("%s: messages %v, want %v", when, g, ids[:5])
			}
			// A retry of a stored key returns the stored row.
			retry := Message{SenderID: "1", ReceiverID: "2", Body: "again", ClientMsgID: "ca"}
			if err := s.SaveMessage(ctx, &retry); err != nil || retry.ID != ids[0] {
				t.Fatalf("%s: retry stored as %d (%v), want %d", when, retry.ID, err, ids[0])
			}
		}
		check("at 0003")

		if _, err := all.Migrate(ctx); err != nil {
			t.Fatalf("migrate 0003 -> 0004: %v", err)
		}
		if def := clientMsgIdxDef(t, bdb); !strings.Contains(def, "client_msg_id IS NOT NULL") ||
			!strings.Contains(strings.ToUpper(def), "UNIQUE") {
			t.Fatalf("after 0004 the index is %q, want unique and partial", def)
		}
		check("at 0004")
		next := Message{SenderID: "2", ReceiverID: "1", Body: "next"}
		if err := s.SaveMessage(ctx, &next); err != nil || next.ID <= ids[5] {
			t.Fatalf("new message got id %d (%v), want above %d", next.ID, err, ids[5])
		}
		ids[5] = next.ID // MessagesAfter for "2" does not list it: it is to "1"

		if _, err := all.Rollback(ctx); err != nil {
			t.Fatalf("roll back 0004: %v", err)
		}
		if def := clientMsgIdxDef(t, bdb); strings.Contains(strings.ToUpper(def), "WHERE") {
			t.Fatalf("rolled back, the index is still partial: %s", def)
		}
		check("rolled back")
		dup := Message{SenderID: "1", ReceiverID: "2", Body: "x", ClientMsgID: "cd"}
		if err := s.SaveMessage(ctx, &dup); err != nil || dup.ID != ids[3] {
			t.Fatalf("rolled back: retry stored as %d (%v), want %d", dup.ID, err, ids[3])
		}

		up := openTest(t, cfg)
		if def := clientMsgIdxDef(t, up); !strings.Contains(def, "client_msg_id IS NOT NULL") {
			t.Fatalf("reopened, the index is %q", def)
		}
		s = NewStore(up, 10*time.Second)
		check("reopened")
	})
}
