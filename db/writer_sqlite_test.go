package db

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/config"
)

// The SQLite committer's statements must compile to code that never needs
// a statement journal (writer_sqlite.go says why), while SQLite still
// checks their foreign keys. SQLite compiles an immediate foreign key check
// either as a halt at once, only in a statement that writes one row and so
// cannot abort half way, or as a counter checked when the statement ends,
// which needs the statement journal to undo the rows already written. A
// multi-row VALUES or a RETURNING clause turns the first into the second.
func TestWriterStatementsNeedNoStatementJournal(t *testing.T) {
	skipUnlessListed(t, "sqlite")
	s := NewStore(openSQLiteTest(t), 10*time.Second)
	for name, p := range map[string]*prepared{
		"insert message":     &sqliteInsertMessage,
		"upsert chat, reset": &sqliteUpsertChatReset,
		"upsert chat, add":   &sqliteUpsertChatAdd,
	} {
		text := p.render(s)
		// EXPLAIN wants every placeholder bound; NULLs compile the same code.
		rows, err := s.db.QueryContext(ctxT(t), "EXPLAIN "+text, make([]any, strings.Count(text, "?"))...)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		fkHalts := 0
		for rows.Next() {
			var (
				addr, p1, p2, p3 int64
				opcode           string
				p4, p5, comment  any
			)
			if err := rows.Scan(&addr, &opcode, &p1, &p2, &p3, &p4, &p5, &comment); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			switch {
			case opcode == "FkCounter":
				t.Errorf("%s: foreign key counted at statement end (op %d): the statement gets a statement journal", name, addr)
			case opcode == "Halt" && p1 == sqliteConstraintFKey:
				fkHalts++
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		_ = rows.Close()
		if fkHalts != 2 {
			t.Errorf("%s: %d foreign key checks, want 2 (both user ids)", name, fkHalts)
		}
	}
}

// While a MessageWriter runs on SQLite, the store's transactions keep one
// connection out of the pool (its page cache survives between commits);
// Close gives it back.
func TestWriterHoldsOneConnection(t *testing.T) {
	skipUnlessListed(t, "sqlite")
	s := NewStore(openSQLiteTest(t), 10*time.Second)
	mustUsers(t, s, "1", "2")
	w := NewMessageWriter(s, WriterOptions{})
	w.Start()
	for i := range 3 {
		m := Message{SenderID: "1", ReceiverID: "2", Body: fmt.Sprint(i)}
		if err := w.Save(ctxT(t), &m); err != nil {
			t.Fatal(err)
		}
		if got := s.db.Stats().InUse; got != 1 {
			t.Fatalf("after save %d: %d connections in use, want the writer's 1", i, got)
		}
	}
	mustFriends(t, s, "1", "2") // other transactions share it
	if got := s.db.Stats().InUse; got != 1 {
		t.Fatalf("after a store transaction: %d connections in use, want 1", got)
	}
	if err := w.Close(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if got := s.db.Stats().InUse; got != 0 {
		t.Fatalf("after Close: %d connections in use, want 0", got)
	}
}

// An in-memory database has one connection, which readers need too: a
// hold keeps no connection out of the pool there.
func TestInMemoryHoldKeepsNoConnection(t *testing.T) {
	skipUnlessListed(t, "sqlite")
	s := NewStore(openTest(t, config.DB{Driver: "sqlite", DSN: "file::memory:"}), 2*time.Second)
	release := s.holdWriterConn()
	defer release()
	mustUsers(t, s, "1", "2")
	mustFriends(t, s, "1", "2") // a transaction: it would pin the one connection
	if got := s.db.Stats().InUse; got != 0 {
		t.Fatalf("%d connections in use, want 0", got)
	}
	if _, err := s.UserByID(ctxT(t), "1"); err != nil {
		t.Fatal(err)
	}
}

// An in-memory database's one connection is the writer's transaction's: a
// statement not yet prepared on the pool is prepared on the transaction
// instead of waiting for a pool connection that will never be free.
func TestInMemoryWriterSaves(t *testing.T) {
	skipUnlessListed(t, "sqlite")
	s := NewStore(openTest(t, config.DB{Driver: "sqlite", DSN: ":memory:"}), 2*time.Second)
	mustUsers(t, s, "1", "2")
	mustFriends(t, s, "1", "2")
	w := NewMessageWriter(s, WriterOptions{})
	w.Start()
	defer func() { _ = w.Close(ctxT(t)) }()
	for i := range 3 {
		m := Message{SenderID: "1", ReceiverID: "2", Body: fmt.Sprint("in memory ", i)}
		if err := w.Save(ctxT(t), &m); err != nil {
			t.Fatalf("save %d on an in-memory database: %v", i, err)
		}
	}
	if un, err := s.Undelivered(ctxT(t), "2", 10); err != nil || len(un) != 3 {
		t.Fatalf("Undelivered = %d, %v; want 3", len(un), err)
	}
}
