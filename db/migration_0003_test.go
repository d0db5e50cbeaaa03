package db

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/migrate"

	"github.com/parley-im/parley/config"

	"github.com/parley-im/parley/wire"
)

// queryLog records the SQL of every query bun runs on a DB, so the plan
// tests explain the statements the Store really sends, not copies of them.
type queryLog struct {
	mu      sync.Mutex
	queries []string
}

func (l *queryLog) BeforeQuery(ctx context.Context, _ *bun.QueryEvent) context.Context { return ctx }

func (l *queryLog) AfterQuery(_ context.Context, e *bun.QueryEvent) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.queries = append(l.queries, e.Query)
}

// take returns the queries logged since the last call and forgets them.
func (l *queryLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	q := l.queries
	l.queries = nil
	return q
}

// explain returns the plan of query, one line per node. On PostgreSQL
// sequential scans are disabled first: the test tables are tiny, and the
// question is which index the planner can use, not whether it prefers a
// scan of ten rows.
func explain(t *testing.T, bdb *bun.DB, query string, args ...any) string {
	t.Helper()
	ctx := ctxT(t)
	conn, err := bdb.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	prefix := "EXPLAIN QUERY PLAN "
	if isPostgres(bdb) {
		if _, err := conn.ExecContext(ctx, "SET enable_seqscan = off"); err != nil {
			t.Fatal(err)
		}
		// The connection goes back to the pool.
		defer func() { _, _ = conn.ExecContext(context.Background(), "RESET enable_seqscan") }()
		prefix = "EXPLAIN "
	}
	rows, err := conn.QueryContext(ctx, prefix+query, args...)
	if err != nil {
		t.Fatalf("explain %s: %v", query, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		// SQLite: id, parent, notused, detail; PostgreSQL: one text column.
		switch v := vals[len(vals)-1].(type) {
		case string:
			lines = append(lines, v)
		case []byte:
			lines = append(lines, string(v))
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}

// TestIndexPlans checks that every query of the Store that filters or sorts
// messages or chats is planned on the index meant for it (migration 0003):
// dropping or changing an index, or binding the partial index's predicate
// as a parameter, must fail here rather than turn a seek into a scan.
func TestIndexPlans(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := ctxT(t)
		mustUsers(t, s, "1", "2", "3", "4")
		mustFriends(t, s, "1", "2")
		mustFriends(t, s, "3", "4")
		for i := range 20 {
			m := Message{SenderID: "1", ReceiverID: "2", Body: "x", Delivered: i%2 == 0}
			if err := s.SaveMessage(ctx, &m); err != nil {
				t.Fatal(err)
			}
		}
		mustSend(t, s, "3", "4", "y")

		log := &queryLog{}
		s.db.AddQueryHook(log)
		// The one query of each call whose text contains find is explained.
		for _, c := range []struct {
			op, find string
			call     func() error
			want     string // the index the plan must name
			// A prepared statement (bun's hook never sees it) is
			// explained from its text, with these arguments.
			prep *prepared
			args []any
		}{
			{"Undelivered", `FROM "messages"`, func() error {
				un, err := s.Undelivered(ctx, "2", 5)
				if err == nil && len(un) != 5 {
					t.Errorf("Undelivered: %d rows, want 5", len(un))
				}
				return err
			}, "messages_undelivered_idx", undelivered.rows(limitClass(5)), []any{"2"}},
			{"MarkDeliveredUpTo", `UPDATE "messages"`, func() error {
				return s.MarkDeliveredUpTo(ctx, "2", 0) // marks nothing: ids start at 1
			}, "messages_undelivered_idx", nil, nil},
			{"MessagesAfter", `FROM "messages"`, func() error {
				_, err := s.MessagesAfter(ctx, "2", 3, 5)
				return err
			}, "messages_receiver_id_id_idx", nil, nil},
			{"UpdateChat", `UPDATE "messages"`, func() error {
				return s.UpdateChat(ctx, ChatUpdate{OwnerID: "2", PeerID: "1", Status: wire.ChatStatusOpen})
			}, "messages_sender_id_receiver_id_id_idx", nil, nil},
			{"Conversation", `FROM "messages"`, func() error {
				// The query of the second direction (2 -> 1), explained.
				ms, err := s.Conversation(ctx, "1", "2", 15, 3)
				if err == nil && len(ms) != 3 {
					t.Errorf("Conversation: %d rows, want 3", len(ms))
				}
				return err
			}, "messages_sender_id_receiver_id_id_idx", nil, nil},
			{"Chats", `FROM chats`, func() error {
				cs, err := s.Chats(ctx, "1")
				if err == nil && len(cs) != 1 {
					t.Errorf("Chats: %d rows, want 1", len(cs))
				}
				return err
			}, map[bool]string{false: "sqlite_autoindex_chats_1", true: "chats_pkey"}[s.pg], chatList.rows(0), []any{"1"}},
			// Last: it deletes 3 and 4's chats and marks their messages.
			{"DeleteFriend", `UPDATE "messages"`, func() error {
				_, err := s.DeleteFriend(ctx, "3", "4")
				return err
			}, "messages_sender_id_receiver_id_id_idx", nil, nil},
		} {
			log.take()
			if err := c.call(); err != nil {
				t.Fatalf("%s: %v", c.op, err)
			}
			var query string
			for _, q := range log.take() {
				if strings.Contains(q, c.find) {
					query = q
				}
			}
			args := c.args
			if c.prep != nil {
				query = c.prep.render(s)
				if s.pg { // the driver binds no parameters of an EXPLAIN: inline them
					for i := len(args); i >= 1; i-- {
						lit := fmt.Sprint(args[i-1])
						if _, ok := args[i-1].(string); ok {
							lit = "'" + lit + "'"
						}
						query = strings.ReplaceAll(query, "$"+fmt.Sprint(i), lit)
					}
					args = nil
				}
			}
			if query == "" {
				t.Fatalf("%s: no query containing %q was run", c.op, c.find)
			}
			plan := explain(t, s.db, query, args...)
			t.Logf("%s: %s\n%s", c.op, query, plan)
			if !strings.Contains(plan, c.want) {
				t.Errorf("%s: plan does not use %s:\n%s\n%s", c.op, c.want, query, plan)
			}
			// The partial index gives the id order itself, and so does
			// the conversation index: no sort.
			if (c.want == "messages_undelivered_idx" || c.op == "Conversation") && (strings.Contains(plan, "TEMP B-TREE") || strings.Contains(plan, "Sort")) {
				t.Errorf("%s: plan sorts:\n%s", c.op, plan)
			}
		}
	})
}

// indexNames lists the indexes of the messages and chats tables.
func indexNames(t *testing.T, bdb *bun.DB) []string {
	t.Helper()
	q := `SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name IN ('messages', 'chats')`
	if isPostgres(bdb) {
		q = `SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename IN ('messages', 'chats')`
	}
	var names []string
	if err := bdb.NewRaw(q).Scan(ctxT(t), &names); err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	return names
}

// unmigrated opens the database of cfg without migrating it, and returns a
// maker of migrators that know the migrations up to (and including) a name,
// so a test can stop the schema at any migration and step it from there.
func unmigrated(t *testing.T, driver string, cfg config.DB) (*bun.DB, func(upTo string) *migrate.Migrator) {
	t.Helper()
	var (
		bdb *bun.DB
		err error
	)
	if driver == "postgres" {
		bdb, err = openPostgres(cfg)
	} else {
		bdb, err = openSQLite(cfg)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bdb.Close() })
	return bdb, func(upTo string) *migrate.Migrator {
		ms := migrate.NewMigrations()
		for _, m := range newMigrations().Sorted() {
			if m.Name <= upTo {
				ms.Add(m)
			}
		}
		return migrate.NewMigrator(bdb, ms,
			migrate.WithTableName(migrationsTable),
			migrate.WithLocksTableName(migrationLocksTable),
			migrate.WithMarkAppliedOnSuccess(true))
	}
}

// Migration 0003 applied to a database at 0002 that already holds delivered
// and undelivered messages, rolled back, and applied again: the indexes
// change both ways and the store reads the same messages throughout.
func TestMigration0003UpDown(t *testing.T) {
	forEachConfig(t, func(t *testing.T, driver string, cfg config.DB) {
		ctx := ctxT(t)
		bdb, migrator := unmigrated(t, driver, cfg)
		at0002, all := migrator("20250101000002"), migrator("20250101000003")
		if err := at0002.Init(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := at0002.Migrate(ctx); err != nil {
			t.Fatalf("migrate to 0002: %v", err)
		}
		before := indexNames(t, bdb)

		s := NewStore(bdb, 10*time.Second)
		mustUsers(t, s, "1", "2")
		legacyRelation(t, bdb, "1", "2", wire.RelationAccepted) // the store writes 0005's schema
		var undelivered []int64
		for i := range 6 {
			m := Message{SenderID: "1", ReceiverID: "2", Body: "m", Delivered: i%3 == 0}
			if err := s.SaveMessage(ctx, &m); err != nil {
				t.Fatal(err)
			}
			if !m.Delivered {
				undelivered = append(undelivered, m.ID)
			}
		}
		check := func(when string) {
			t.Helper()
			un, err := s.Undelivered(ctx, "2", 0)
			if err != nil {
				t.Fatalf("%s: Undelivered: %v", when, err)
			}
			if ids := messageIDs(un); !slices.Equal(ids, undelivered) {
				t.Fatalf("%s: undelivered %v, want %v", when, ids, undelivered)
			}
			if cs, err := s.Chats(ctx, "2"); err != nil || len(cs) != 1 || cs[0].Unread != 6 {
				t.Fatalf("%s: chats %+v, %v", when, cs, err)
			}
		}
		check("at 0002")

		group, err := all.Migrate(ctx)
		if err != nil {
			t.Fatalf("migrate 0002 -> 0003: %v", err)
		}
		if len(group.Migrations) != 1 || group.Migrations[0].Name != "20250101000003" {
			t.Fatalf("applied %v, want 0003 alone", group.Migrations)
		}
		after := indexNames(t, bdb)
		for _, name := range []string{"messages_receiver_id_delivered_id_idx", "chats_owner_id_last_time_idx"} {
			if !slices.Contains(before, name) || slices.Contains(after, name) {
				t.Fatalf("%s: before %v, after %v", name, before, after)
			}
		}
		if !slices.Contains(after, "messages_undelivered_idx") {
			t.Fatalf("no messages_undelivered_idx after 0003: %v", after)
		}
		check("at 0003")

		if _, err := all.Rollback(ctx); err != nil {
			t.Fatalf("roll back 0003: %v", err)
		}
		if got := indexNames(t, bdb); !slices.Equal(got, before) {
			t.Fatalf("indexes after rollback %v, want %v", got, before)
		}
		check("rolled back")

		// Open, as every start does, brings it up again (and past 0003:
		// the indexes of migrations 0004 and 0006 are their own tests'
		// business).
		up := openTest(t, cfg)
		if got := indexNames(t, up); !slices.Equal(withoutLaterIdx(got), withoutLaterIdx(after)) {
			t.Fatalf("indexes after reopen %v, want %v", got, after)
		}
		s = NewStore(up, 10*time.Second)
		check("reopened")
	})
}

func messageIDs(ms []Message) []int64 {
	ids := make([]int64, len(ms))
	for i, m := range ms {
		ids[i] = m.ID
	}
	return ids
}
