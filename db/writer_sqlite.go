package db

import (
	"context"
	"fmt"

	"github.com/uptrace/bun"
)

// The SQLite committer's statements. bun inlines every value, so each batch
// used to be new SQL text for SQLite to parse (17–28 % of the server's CPU,
// docs/PERFORMANCE.md "chat"). These are prepared once per connection for a
// fixed set of row counts, powers of two up to maxChunkRows, and a batch is
// covered by the fewest of them (37 rows: 32 + 4 + 1), so a batch costs at
// most a handful of statement executions and no parsing. Not more than 32:
// modernc's driver matches each placeholder to its argument by a linear
// scan, quadratic in the placeholders of a statement (10 per row), and
// bigger chunks measured no faster; one row per statement was ~1.7x slower.
const maxChunkRows = 32

// chunkRows is the row count of the next statement for n remaining rows:
// the largest power of two not above n, capped at maxChunkRows.
func chunkRows(n int) int {
	c := 1
	for c*2 <= n && c*2 <= maxChunkRows {
		c *= 2
	}
	return c
}

// messageInsertCols are the columns the committer writes (id and deleted
// take their defaults); sqliteMessageArgs binds them in this order.
const messageInsertCols = `"sender_id", "receiver_id", "chat_type", "body", "message_type", ` +
	`"file_path", "sent_at", "delivered", "read", "client_msg_id"`

const messageInsertNCols = 10

// sqliteInsertMessages is SaveMessage's INSERT for n rows: a retry of a
// stored client_msg_id inserts nothing and returns nothing.
var sqliteInsertMessages = preparedRows{render: func(s *Store, n int) string {
	return fmt.Sprintf(`INSERT INTO "messages" (%s) VALUES %s `+
		`ON CONFLICT `+clientMsgIDConflict+` DO NOTHING `+
		`RETURNING "id", "sender_id", "client_msg_id"`,
		messageInsertCols, s.valuesRows(n, messageInsertNCols))
}}

// sqliteInsertBatch inserts rows in order and returns what the INSERTs
// returned (the rows not skipped as retries).
func (s *Store) sqliteInsertBatch(ctx context.Context, tx bun.Tx, rows []*Message) ([]returnedRow, error) {
	got := make([]returnedRow, 0, len(rows))
	scan := scanReturned(&got)
	args := make([]any, 0, min(len(rows), maxChunkRows)*messageInsertNCols)
	for len(rows) > 0 {
		n := chunkRows(len(rows))
		args = args[:0]
		for _, m := range rows[:n] {
			var cmid any // NULL: never collides in the UNIQUE constraint
			if m.ClientMsgID != "" {
				cmid = textArg(m.ClientMsgID)
			}
			args = append(args, textArg(m.SenderID), textArg(m.ReceiverID), textArg(m.ChatType),
				textArg(m.Body), textArg(m.Type), textArg(m.FilePath), timeArg(m.SentAt),
				m.Delivered, m.Read, cmid)
		}
		if err := s.query(ctx, &tx, sqliteInsertMessages.rows(n), scan, args...); err != nil {
			return nil, err
		}
		rows = rows[n:]
	}
	return got, nil
}

// sqliteUpsertChats writes batchChats' rows: reset rows take the batch's
// unread count, the others add it to the stored one. Both create the row
// when missing, as upsertChats does.
func (s *Store) sqliteUpsertChats(ctx context.Context, tx bun.Tx, stored []*Message) error {
	reset, add := batchChats(stored)
	for _, part := range []struct {
		rows []chatRow
		stmt *preparedRows
	}{{reset, &sqliteUpsertChatsReset}, {add, &sqliteUpsertChatsAdd}} {
		args := make([]any, 0, min(len(part.rows), maxChunkRows)*chatUpsertNCols)
		for rows := part.rows; len(rows) > 0; {
			n := chunkRows(len(rows))
			args = args[:0]
			for _, c := range rows[:n] {
				args = append(args, textArg(c.OwnerID), textArg(c.PeerID), textArg(c.ChatType),
					textArg(c.LastMessage), textArg(c.LastMessageType), timeArg(c.LastTime),
					c.UnreadCount, textArg(c.Status))
			}
			if _, err := s.exec(ctx, &tx, part.stmt.rows(n), args...); err != nil {
				return err
			}
			rows = rows[n:]
		}
	}
	return nil
}

const chatUpsertNCols = 8

// chatUpsert renders upsertChats' statement for n rows; unread is the
// unread_count assignment on conflict.
func chatUpsert(s *Store, n int, unread string) string {
	return fmt.Sprintf(`INSERT INTO "chats" AS "c" ("owner_id", "peer_id", "chat_type", "last_message", `+
		`"last_message_type", "last_time", "unread_count", "status") VALUES %s `+
		`ON CONFLICT ("owner_id", "peer_id") DO UPDATE SET "chat_type" = EXCLUDED."chat_type", `+
		`"last_message" = EXCLUDED."last_message", "last_message_type" = EXCLUDED."last_message_type", `+
		`"last_time" = EXCLUDED."last_time", "status" = EXCLUDED."status", %s`,
		s.valuesRows(n, chatUpsertNCols), unread)
}

var (
	sqliteUpsertChatsReset = preparedRows{render: func(s *Store, n int) string {
		return chatUpsert(s, n, `"unread_count" = EXCLUDED."unread_count"`)
	}}
	sqliteUpsertChatsAdd = preparedRows{render: func(s *Store, n int) string {
		return chatUpsert(s, n, `"unread_count" = "c"."unread_count" + EXCLUDED."unread_count"`)
	}}
)
