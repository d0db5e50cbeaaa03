package db

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/uptrace/bun"
)

// The SQLite committer's statements: one row each, prepared once per
// connection, with no RETURNING, so that SQLite never opens a statement
// journal for them.
//
// Why: inside a transaction, SQLite gives a statement a statement journal
// (a copy of every page it first touches, to undo just that statement) when
// the statement may write several rows (multi-row VALUES; RETURNING and
// triggers count too) and may abort half way (a NOT NULL check, an
// immediate foreign key: usesStmtJournal in vdbeaux.c). Both held for the
// former multi-row INSERT ... RETURNING and the multi-row chat upserts, and
// the journal was 40 % of the server's CPU in a 2,000 msgs/s chat run (its
// in-memory chunks are 64 KiB, each a fresh mmap and munmap in the allocator
// of the modernc.org/sqlite driver used then; docs/PERFORMANCE.md "chat"). A one-row statement without
// RETURNING writes one row, so it cannot abort half way through and SQLite
// skips the journal; foreign keys stay checked, at once, by SQLite itself.
// The statement's id comes from LastInsertId, and an insert skipped by ON
// CONFLICT DO NOTHING (a retry) affects no row.
// TestWriterStatementsNeedNoStatementJournal keeps it so.

// messageInsertCols are the columns the committer writes (id and deleted
// take their defaults); sqliteMessageArgs binds them in this order.
const messageInsertCols = `"sender_id", "receiver_id", "chat_type", "body", "message_type", ` +
	`"file_path", "sent_at", "delivered", "read", "client_msg_id"`

const messageInsertNCols = 10

// sqliteInsertMessage is SaveMessage's INSERT: a retry of a stored
// client_msg_id inserts nothing.
var sqliteInsertMessage = prepared{render: func(s *Store) string {
	return fmt.Sprintf(`INSERT INTO "messages" (%s) VALUES %s ON CONFLICT `+clientMsgIDConflict+` DO NOTHING`,
		messageInsertCols, s.valuesRows(1, messageInsertNCols))
}}

// sqliteInsertBatch inserts rows in order and returns the rows inserted
// (not skipped as retries), as the PostgreSQL batch's RETURNING does.
func (s *Store) sqliteInsertBatch(ctx context.Context, tx bun.Tx, rows []*Message) ([]returnedRow, error) {
	got := make([]returnedRow, 0, len(rows))
	args := make([]any, messageInsertNCols)
	err := s.execEach(ctx, &tx, &sqliteInsertMessage, len(rows), func(i int) []any {
		m := rows[i]
		var cmid any // NULL: never collides in the UNIQUE constraint
		if m.ClientMsgID != "" {
			cmid = textArg(m.ClientMsgID)
		}
		args[0], args[1], args[2], args[3], args[4] = textArg(m.SenderID), textArg(m.ReceiverID),
			textArg(m.ChatType), textArg(m.Body), textArg(m.Type)
		args[5], args[6], args[7], args[8], args[9] = textArg(m.FilePath), timeArg(m.SentAt),
			m.Delivered, m.Read, cmid
		return args
	}, func(i int, res sql.Result) error {
		n, err := res.RowsAffected()
		if err != nil || n == 0 {
			return err // n == 0: a retry, answered by saveBatchTx
		}
		id, err := res.LastInsertId()
		if err != nil {
			return err
		}
		m := rows[i]
		got = append(got, returnedRow{ID: id, SenderID: textArg(m.SenderID),
			ClientMsgID: sql.NullString{String: textArg(m.ClientMsgID), Valid: m.ClientMsgID != ""}})
		return nil
	})
	return got, err
}

// sqliteUpsertChats writes batchChats' rows: reset rows take the batch's
// unread count, the others add it to the stored one. Both create the row
// when missing, as upsertChats does.
func (s *Store) sqliteUpsertChats(ctx context.Context, tx bun.Tx, stored []*Message) error {
	reset, add := batchChats(stored)
	args := make([]any, chatUpsertNCols)
	for _, part := range []struct {
		rows []chatRow
		stmt *prepared
	}{{reset, &sqliteUpsertChatReset}, {add, &sqliteUpsertChatAdd}} {
		err := s.execEach(ctx, &tx, part.stmt, len(part.rows), func(i int) []any {
			c := &part.rows[i]
			args[0], args[1], args[2], args[3] = textArg(c.OwnerID), textArg(c.PeerID), textArg(c.ChatType),
				textArg(c.LastMessage)
			args[4], args[5], args[6], args[7] = textArg(c.LastMessageType), timeArg(c.LastTime),
				c.UnreadCount, textArg(c.Status)
			return args
		}, nil)
		if err != nil {
			return err
		}
	}
	return nil
}

const chatUpsertNCols = 8

// chatUpsert renders upsertChats' statement for one row; unread is the
// unread_count assignment on conflict.
func chatUpsert(s *Store, unread string) string {
	return fmt.Sprintf(`INSERT INTO "chats" AS "c" ("owner_id", "peer_id", "chat_type", "last_message", `+
		`"last_message_type", "last_time", "unread_count", "status") VALUES %s `+
		`ON CONFLICT ("owner_id", "peer_id") DO UPDATE SET "chat_type" = EXCLUDED."chat_type", `+
		`"last_message" = EXCLUDED."last_message", "last_message_type" = EXCLUDED."last_message_type", `+
		`"last_time" = EXCLUDED."last_time", "status" = EXCLUDED."status", %s`,
		s.valuesRows(1, chatUpsertNCols), unread)
}

var (
	sqliteUpsertChatReset = prepared{render: func(s *Store) string {
		return chatUpsert(s, `"unread_count" = EXCLUDED."unread_count"`)
	}}
	sqliteUpsertChatAdd = prepared{render: func(s *Store) string {
		return chatUpsert(s, `"unread_count" = "c"."unread_count" + EXCLUDED."unread_count"`)
	}}
)
