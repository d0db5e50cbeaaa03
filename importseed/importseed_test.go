package importseed_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/uptrace/bun"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/parley-im/parley/app/apptest"
	"github.com/parley-im/parley/config"
	"github.com/parley-im/parley/db"
	"github.com/parley-im/parley/importseed"
	"github.com/parley-im/parley/internal/passhash"
	"github.com/parley-im/parley/wire"
)

// target is a Parley database for one test: a SQLite file or a fresh
// PostgreSQL schema, with the seed's user 9 already taken by another
// account.
type target struct {
	cfg   config.DB
	bdb   *bun.DB
	store *db.Store
}

func newTarget(t testing.TB, driver string) *target {
	t.Helper()
	tg := emptyTarget(t, driver)
	clash := db.User{ID: "9", Phone: clashPhone, Name: "Not Ivan", Created: time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC),
		PasswordHash: passhash.Hash("parley-9", passhash.Current)}
	if err := tg.store.CreateUser(context.Background(), &clash); err != nil {
		t.Fatal(err)
	}
	return tg
}

// emptyTarget is a fresh Parley database without users.
func emptyTarget(t testing.TB, driver string) *target {
	t.Helper()
	cfg := config.Default().DB
	cfg.Driver = driver
	switch driver {
	case "sqlite":
		cfg.DSN = filepath.Join(t.TempDir(), "parley.db")
	case "postgres":
		cfg.DSN = apptest.PostgresSchema(t)
	}
	bdb, err := db.Open(context.Background(), cfg, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bdb.Close() })
	return &target{cfg: cfg, bdb: bdb, store: db.NewStore(bdb, time.Minute)}
}

// logBuffer collects the import's log lines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuffer) logger() *zap.Logger {
	return zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(l), zap.DebugLevel))
}

func runImport(t testing.TB, ctx context.Context, dsn string, tg *target, o importseed.Options) (*importseed.Summary, error) {
	t.Helper()
	src, source, err := importseed.OpenSource(dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	return importseed.Run(ctx, src, source, tg.store, o)
}

func mustImport(t testing.TB, dsn string, tg *target, o importseed.Options) *importseed.Summary {
	t.Helper()
	sum, err := runImport(t, context.Background(), dsn, tg, o)
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	return sum
}

// problems counts the summary's problems of step whose text contains what,
// with decision.
func problems(sum *importseed.Summary, step, what, decision string) int64 {
	var n int64
	for p, c := range sum.Problems {
		if p.Step == step && p.Decision == decision && strings.Contains(p.What, what) {
			n += c
		}
	}
	return n
}

// TestImportFixture imports the dirty fixture into SQLite and PostgreSQL and
// checks every decision, that no password is stored or logged in plain
// text, and that running it again changes nothing, with or without the
// checkpoints.
func TestImportFixture(t *testing.T) {
	for _, driver := range apptest.Drivers(t) {
		t.Run(driver, func(t *testing.T) {
			dsn := seedDB(t)
			loadFixture(t, dsn)
			tg := newTarget(t, driver)
			var logs logBuffer
			sum := mustImport(t, dsn, tg, importseed.Options{Workers: 2, Log: logs.logger()})
			var out bytes.Buffer
			sum.Write(&out)
			t.Logf("first run:\n%s", out.String())
			checkImported(t, tg, sum)
			checkNoPlaintext(t, tg, logs.String()+out.String())

			again := mustImport(t, dsn, tg, importseed.Options{Workers: 2})
			if again.Changes() != 0 || len(again.Resumed) != 3 {
				t.Errorf("second run: %d changes, resumed %v; want 0 changes, 3 steps resumed", again.Changes(), again.Resumed)
			}
			// Without the checkpoints every row is read again: the natural
			// keys keep it from writing anything.
			if _, err := tg.bdb.NewDelete().TableExpr(db.ImportLedgerTable).Where("1 = 1").Exec(context.Background()); err != nil {
				t.Fatal(err)
			}
			third := mustImport(t, dsn, tg, importseed.Options{Workers: 2})
			if third.Changes() != 0 {
				var b bytes.Buffer
				third.Write(&b)
				t.Errorf("run without checkpoints: %d changes, want 0\n%s", third.Changes(), b.String())
			}
			if p := third.Steps[importseed.StepMessages]; p.Present != sum.Steps[importseed.StepMessages].Added {
				t.Errorf("run without checkpoints: %d messages present, want %d", p.Present, sum.Steps[importseed.StepMessages].Added)
			}
		})
	}
}

func checkImported(t *testing.T, tg *target, sum *importseed.Summary) {
	t.Helper()
	ctx := context.Background()
	st := tg.store
	// Users: kept, repaired, or skipped (9 is another account).
	alice, err := st.UserByID(ctx, "1")
	if err != nil {
		t.Fatal(err)
	}
	created, _ := time.ParseInLocation(wire.TimeLayout, "2024-11-02 16:08:43", time.Local)
	if alice.Name != "Alice" || alice.Phone != "1" || alice.Email != "1@an.com" || alice.Avatar != ":/images/avatar/1.png" ||
		alice.Status != "active" || !alice.Created.Equal(created) {
		t.Errorf("user 1 = %+v", alice)
	}
	for id, pw := range map[string]string{"1": pwAlice, "2": pwBob, "3": pwCarol, "4": pwDave} {
		u, err := st.UserByID(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if ok, rehash, err := passhash.Verify(pw, u.PasswordHash, passhash.Current, nil); !ok || rehash || err != nil {
			t.Errorf("user %s: password does not verify against %q (ok=%v rehash=%v err=%v)", id, u.PasswordHash, ok, rehash, err)
		}
	}
	if u, _ := st.UserByID(ctx, "9"); u == nil || u.Phone != clashPhone {
		t.Errorf("Parley's user 9 was overwritten: %+v", u)
	}
	if u, _ := st.UserByID(ctx, "5"); u == nil || len([]rune(u.Name)) != 255 {
		t.Errorf("user 5's long name was not cut to 255 characters: %+v", u)
	}
	if u, _ := st.UserByID(ctx, "6"); u == nil || u.Status != db.DefaultUserStatus {
		t.Errorf("user 6's invalid status: %+v", u)
	}
	if u, _ := st.UserByID(ctx, "7"); u == nil || u.Created.Unix() != 0 {
		t.Errorf("user 7's zero date: %+v", u)
	}
	if u, _ := st.UserByID(ctx, "8"); u == nil || u.PasswordHash != "" {
		t.Errorf("user 8 (no password) should exist without one: %+v", u)
	}
	if u, _ := st.UserByID(ctx, "13"); u == nil || u.Phone != "13" {
		t.Errorf("user 13's NULL phone: %+v", u)
	}
	c := sum.Steps[importseed.StepUsers]
	if want := int64(13 + fillers); c.Read != want || c.Added != want-1 || c.Skipped != 1 {
		t.Errorf("users: %+v, want %d read, %d added, 1 skipped", c, want, want-1)
	}

	// Relations, both directions reconciled.
	relations := func(id string) map[string]db.Friend {
		fs, err := st.Friends(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]db.Friend{}
		for _, f := range fs {
			out[f.ID] = f
		}
		return out
	}
	wantRel := func(of, peer, relation, by string) {
		t.Helper()
		f, ok := relations(of)[peer]
		if !ok || f.Relation != relation || f.RequestedBy != by {
			t.Errorf("relation %s→%s = %+v (present %v), want %s requested by %q", of, peer, f, ok, relation, by)
		}
	}
	wantRel("1", "2", wire.RelationAccepted, "")
	wantRel("2", "1", wire.RelationAccepted, "")
	wantRel("3", "1", wire.RelationAccepted, "")
	wantRel("1", "4", wire.RelationPending, "")
	wantRel("4", "1", wire.RelationPending, "")
	wantRel("10", "1", wire.RelationAccepted, "") // the missing reverse row
	wantRel("2", "11", wire.RelationAccepted, "") // accepted / pending
	wantRel("11", "2", wire.RelationAccepted, "")
	wantRel("5", "6", wire.RelationPending, "6") // a lone row: 6 asked
	wantRel("6", "5", wire.RelationPending, "6")
	if got := relations("1"); len(got) != 4 {
		t.Errorf("user 1's relations: %v, want 2, 3, 4, 10 (not 9, not 99)", slices.Sorted(mapKeys(got)))
	}
	if got := relations("3"); len(got) != 1 {
		t.Errorf("user 3's relations: %v, want only 1 (refused 12 and the self relation skipped)", slices.Sorted(mapKeys(got)))
	}

	// Chat lists, with the seed's unread counts.
	chats, err := st.Chats(ctx, "1")
	if err != nil {
		t.Fatal(err)
	}
	gotChats := map[string]db.Chat{}
	for _, c := range chats {
		gotChats[c.PeerID] = c
	}
	if len(chats) != 3 || gotChats["2"].Unread != 5 || gotChats["3"].Unread != 2 || gotChats["2"].LastMessage != "see you" ||
		gotChats["10"].LastMessageType != wire.MessageTypeText {
		t.Errorf("user 1's chats: %+v", chats)
	}
	if cs, _ := st.Chats(ctx, "3"); len(cs) != 1 || cs[0].Status != wire.ChatStatusClosed {
		t.Errorf("user 3's chats: %+v", cs)
	}
	if cs, _ := st.Chats(ctx, "4"); len(cs) != 1 || cs[0].Unread != 0 {
		t.Errorf("user 4's chats (negative count): %+v", cs)
	}

	// Messages: the catch-up will deliver exactly the undelivered ones.
	msgs, err := st.Undelivered(ctx, "1", 100)
	if err != nil {
		t.Fatal(err)
	}
	var bodies []string
	for _, m := range msgs {
		bodies = append(bodies, m.Body)
		if m.FilePath != wire.NoFile || m.ChatType != wire.ChatTypeFriend || m.Type != wire.MessageTypeText {
			t.Errorf("message %d: %+v", m.ID, m)
		}
	}
	if !slices.Equal(bodies, aliceUnread) {
		t.Errorf("user 1's undelivered messages = %q, want %q", bodies, aliceUnread)
	}
	if msgs, _ := st.Undelivered(ctx, "2", 100); len(msgs) != 0 {
		t.Errorf("user 2 has undelivered messages %+v; its only ones are read (or group: skipped)", msgs)
	}

	for _, p := range []struct {
		step, what, decision string
		n                    int64
	}{
		{importseed.StepUsers, "taken by a different Parley account", importseed.Skipped, 1},
		{importseed.StepUsers, "user_name longer than 255", importseed.Repaired, 1},
		{importseed.StepUsers, "user_status", importseed.Repaired, 1},
		{importseed.StepUsers, "user_created", importseed.Repaired, 1},
		{importseed.StepUsers, "user_password is NULL or empty", importseed.Repaired, 1},
		{importseed.StepUsers, "user_phone is NULL", importseed.Repaired, 1},
		{importseed.StepRelations, "reverse row", importseed.Repaired, 2},
		{importseed.StepRelations, "disagree", importseed.Repaired, 1},
		{importseed.StepRelations, "refused", importseed.Skipped, 1},
		{importseed.StepRelations, "themself", importseed.Skipped, 1},
		{importseed.StepRelations, "friend_id names no imported user", importseed.Skipped, 2},
		{importseed.StepChats, "comm_id names no imported user", importseed.Skipped, 2},
		{importseed.StepChats, "unread_count is negative", importseed.Repaired, 1},
		{importseed.StepMessages, "sender_id names no imported user", importseed.Skipped, 1},
		{importseed.StepMessages, "receiver_id names no imported user", importseed.Skipped, 1},
		{importseed.StepMessages, "group message", importseed.Skipped, 1},
		{importseed.StepMessages, "message_body is NULL", importseed.Repaired, 1},
		{importseed.StepMessages, "not valid UTF-8", importseed.Repaired, 1},
		{importseed.StepMessages, "message_status", importseed.Repaired, 1},
	} {
		if got := problems(sum, p.step, p.what, p.decision); got != p.n {
			t.Errorf("%s %q %s: counted %d, want %d", p.step, p.what, p.decision, got, p.n)
		}
	}
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// checkNoPlaintext: no fixture password appears in the log and summary, nor
// anywhere in the target database (the SQLite files byte for byte; every
// row of every PostgreSQL table as text).
func checkNoPlaintext(t *testing.T, tg *target, logs string) {
	t.Helper()
	var stored []byte
	switch tg.cfg.Driver {
	case "sqlite":
		for _, suffix := range []string{"", "-wal"} {
			b, err := os.ReadFile(tg.cfg.DSN + suffix)
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				t.Fatal(err)
			}
			stored = append(stored, b...)
		}
	case "postgres":
		for _, table := range []string{"users", "friendships", "chats", "messages", db.ImportLedgerTable} {
			var rows []string
			if err := tg.bdb.NewRaw("SELECT t::text FROM "+table+" AS t").Scan(context.Background(), &rows); err != nil {
				t.Fatal(err)
			}
			stored = append(stored, strings.Join(rows, "\n")...)
		}
	}
	if len(stored) < 1000 {
		t.Fatalf("read only %d bytes of the target database", len(stored))
	}
	if !bytes.Contains(stored, []byte("$argon2id$")) || !strings.Contains(logs, "taken by a different Parley account") {
		t.Fatal("the checks below would see nothing: no hash stored, or no log read")
	}
	for _, pw := range passwords() {
		if bytes.Contains(stored, []byte(pw)) {
			t.Errorf("password %q is stored in plain text", pw)
		}
		if strings.Contains(logs, pw) {
			t.Errorf("password %q is in the log", pw)
		}
	}
}

// TestDryRunWritesNothing: a dry run reads everything and reports what a
// real run then does, and the database is as it was.
func TestDryRunWritesNothing(t *testing.T) {
	dsn := seedDB(t)
	loadFixture(t, dsn)
	tg := newTarget(t, "sqlite")
	before := dump(t, tg)
	dry := mustImport(t, dsn, tg, importseed.Options{DryRun: true})
	if after := dump(t, tg); after != before {
		t.Errorf("a dry run changed the database:\nbefore %s\nafter %s", before, after)
	}
	var exists int
	if err := tg.bdb.NewRaw("SELECT count(*) FROM sqlite_master WHERE name = ?", db.ImportLedgerTable).Scan(context.Background(), &exists); err != nil || exists != 0 {
		t.Errorf("a dry run created the checkpoint table (%d, %v)", exists, err)
	}
	real := mustImport(t, dsn, tg, importseed.Options{Workers: 2})
	if dry.Hashed != 0 || dry.WouldHash != real.Hashed || dry.Changes() != real.Changes() || dry.Changes() == 0 {
		t.Errorf("dry run: %d changes (%d hashed); the real run: %d", dry.Changes(), dry.Hashed, real.Changes())
	}
	for _, st := range []string{importseed.StepUsers, importseed.StepRelations, importseed.StepChats, importseed.StepMessages} {
		if *dry.Steps[st] != *real.Steps[st] {
			t.Errorf("%s: dry run %+v, real run %+v", st, *dry.Steps[st], *real.Steps[st])
		}
	}
}

// stopAfter is a Progress that cancels the run's context after the first
// batch of step: the run stops after that batch (ErrInterrupted).
type stopAfter struct {
	step   string
	cancel context.CancelFunc
	cur    string
}

func (s *stopAfter) Start(step string, _ int64) { s.cur = step }
func (s *stopAfter) Add(int) {
	if s.cur == s.step {
		s.cancel()
	}
}
func (s *stopAfter) Finish() {}

// TestInterruptedImportResumes stops an import in the users step, then
// again in the messages step, and runs it to the end: the result is the
// same database as one uninterrupted import.
func TestInterruptedImportResumes(t *testing.T) {
	dsn := seedDB(t)
	loadFixture(t, dsn)
	straight := newTarget(t, "sqlite")
	whole := mustImport(t, dsn, straight, importseed.Options{Workers: 1, Batch: 3})

	tg := newTarget(t, "sqlite")
	var added int64
	for _, step := range []string{importseed.StepUsers, importseed.StepMessages} {
		ctx, cancel := context.WithCancel(context.Background())
		sum, err := runImport(t, ctx, dsn, tg, importseed.Options{Workers: 1, Batch: 3, Progress: &stopAfter{step: step, cancel: cancel}})
		cancel()
		if !errors.Is(err, importseed.ErrInterrupted) || !sum.Interrupted {
			t.Fatalf("stopped in %s: err = %v, want ErrInterrupted", step, err)
		}
		if c := sum.Steps[step]; c.Read == 0 || step == importseed.StepUsers && c.Read >= int64(13+fillers) {
			t.Fatalf("stopped in %s after %+v: not after the first batch", step, c)
		}
		added += sum.Changes()
	}
	last := mustImport(t, dsn, tg, importseed.Options{Workers: 1, Batch: 3})
	if !slices.Contains(last.Resumed, importseed.StepMessages) {
		t.Errorf("the last run resumed %v, want messages among them", last.Resumed)
	}
	added += last.Changes()
	if added != whole.Changes() {
		t.Errorf("interrupted runs wrote %d rows in all, one run %d", added, whole.Changes())
	}
	if a, b := dump(t, straight), dump(t, tg); a != b {
		t.Errorf("interrupted then resumed differs from one run:\none run:\n%s\nresumed:\n%s", a, b)
	}
}

// dump renders the target's Parley tables (password hashes as "hashed",
// being salted), in key order.
func dump(t *testing.T, tg *target) string {
	t.Helper()
	var sb strings.Builder
	for _, q := range []string{
		"SELECT id, phone, name, email, avatar, status, created_at, CASE WHEN password_hash = '' THEN 'none' ELSE 'hashed' END FROM users ORDER BY id",
		"SELECT user_id, friend_id, relation, created_at, requested_by FROM friendships ORDER BY user_id, friend_id",
		"SELECT owner_id, peer_id, chat_type, last_message, last_message_type, last_time, unread_count, status FROM chats ORDER BY owner_id, peer_id",
		"SELECT id, sender_id, receiver_id, chat_type, body, message_type, file_path, sent_at, delivered, read, deleted, client_msg_id FROM messages ORDER BY id",
	} {
		rows, err := tg.bdb.QueryContext(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			for i, v := range vals {
				if b, ok := v.([]byte); ok {
					vals[i] = string(b)
				}
			}
			fmt.Fprintln(&sb, vals...)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
	}
	return sb.String()
}
