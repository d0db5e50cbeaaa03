package db

import (
	"context"
	"strconv"

	"github.com/uptrace/bun"

	"github.com/parley-im/parley/wire"
)

// pgSaveBatch is the batch on PostgreSQL: one prepared statement, whatever
// the batch size (every column is one array parameter), that takes the
// receivers' advisory locks, inserts the messages and upserts their chat
// rows, and returns the inserted rows. It replaces a round trip per step
// (lock, INSERT, FOR UPDATE, one or two upserts) and bun's rendering and
// the server's parsing and planning of new SQL text for every batch.
func (s *Store) pgSaveBatch(ctx context.Context, tx bun.Tx, rows []*Message) ([]returnedRow, error) {
	n := len(rows)
	text := func(f func(m *Message) string) string {
		return pgArray(n, func(i int) (string, bool) { return f(rows[i]), false })
	}
	got := make([]returnedRow, 0, n)
	err := s.query(ctx, &tx, &pgBatch, scanReturned(&got),
		receiverLockClass,
		text(func(m *Message) string { return m.SenderID }),
		text(func(m *Message) string { return m.ReceiverID }),
		text(func(m *Message) string { return m.ChatType }),
		text(func(m *Message) string { return m.Body }),
		text(func(m *Message) string { return m.Type }),
		text(func(m *Message) string { return m.FilePath }),
		text(func(m *Message) string { return timeArg(m.SentAt) }),
		text(func(m *Message) string { return strconv.FormatBool(m.Delivered) }),
		text(func(m *Message) string { return strconv.FormatBool(m.Read) }),
		pgArray(n, func(i int) (string, bool) { return rows[i].ClientMsgID, rows[i].ClientMsgID == "" }),
	)
	return got, err
}

// pgBatch is SaveMessage for a whole batch, CTE by CTE:
//
//   - lk takes the per-receiver advisory lock (receiverLockClass) of every
//     receiver, ordered by lock key so two batches never wait in a cycle.
//     It must hold before any id is drawn from the sequence: ins reads it
//     through an uncorrelated scalar subquery, which PostgreSQL runs once as
//     an InitPlan in a one-time filter (a gating Result node) before the
//     first row of the SELECT is produced, so before any nextval.
//   - ins inserts the rows in batch order (ids follow it), skipping retries
//     of a stored client_msg_id, and returns what it inserted.
//   - ev/agg net the inserted messages per chat row as batchChats does: the
//     newest message's summary; unread = messages received after the
//     owner's last sent one in the batch; reset when the owner sent one.
//   - up upserts the chat rows in (owner, peer) byte order, the order every
//     other writer locks chat rows in; a reset row takes the batch's count,
//     another adds it (agg is looked up again: EXCLUDED has only columns).
//
// Data-modifying CTEs always run to completion, so up runs although the
// outer SELECT only reads ins.
var pgBatch = prepared{render: func(s *Store) string {
	return `WITH lk AS (
  SELECT count(*) AS n FROM (
    SELECT pg_advisory_xact_lock($1::int4, h)
    FROM (SELECT DISTINCT hashtext(r) AS h FROM unnest($3::text[]) AS r ORDER BY h) AS l
  ) AS x
), ins AS (
  INSERT INTO messages AS m (` + messageInsertCols + `)
  SELECT t.s, t.r, t.ct, t.b, t.mt, t.fp, t.sa, t.dl, t.rd, t.c
  FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
    $8::timestamptz[], $9::bool[], $10::bool[], $11::text[])
    WITH ORDINALITY AS t(s, r, ct, b, mt, fp, sa, dl, rd, c, ord)
  WHERE (SELECT n FROM lk) >= 0
  ORDER BY t.ord
  ON CONFLICT ` + clientMsgIDConflict + ` DO NOTHING
  RETURNING m.id, m.sender_id, m.receiver_id, m.chat_type, m.body, m.message_type, m.sent_at, m.client_msg_id
), ev AS (
  SELECT id, sender_id AS owner_id, receiver_id AS peer_id, true AS sent,
    chat_type, body, message_type, sent_at FROM ins
  UNION ALL
  SELECT id, receiver_id, sender_id, false, chat_type, body, message_type, sent_at
  FROM ins WHERE receiver_id <> sender_id
), agg AS (
  SELECT DISTINCT ON (owner_id, peer_id) owner_id, peer_id, chat_type, body, message_type, sent_at,
    last_sent IS NOT NULL AS reset,
    count(*) FILTER (WHERE NOT sent AND id > coalesce(last_sent, 0))
      OVER (PARTITION BY owner_id, peer_id) AS unread
  FROM (
    SELECT ev.*, max(id) FILTER (WHERE sent) OVER (PARTITION BY owner_id, peer_id) AS last_sent FROM ev
  ) AS e
  ORDER BY owner_id, peer_id, id DESC
), up AS (
  INSERT INTO chats AS c (owner_id, peer_id, chat_type, last_message, last_message_type,
    last_time, unread_count, status)
  SELECT owner_id, peer_id, chat_type, body, message_type, sent_at, unread, '` + wire.ChatStatusOpen + `'
  FROM agg
  ORDER BY owner_id COLLATE "C", peer_id COLLATE "C"
  ON CONFLICT (owner_id, peer_id) DO UPDATE SET
    chat_type = EXCLUDED.chat_type, last_message = EXCLUDED.last_message,
    last_message_type = EXCLUDED.last_message_type, last_time = EXCLUDED.last_time,
    status = EXCLUDED.status,
    unread_count = EXCLUDED.unread_count + CASE WHEN (EXCLUDED.owner_id, EXCLUDED.peer_id) IN (
      SELECT a.owner_id, a.peer_id FROM agg AS a WHERE a.reset) THEN 0 ELSE c.unread_count END
)
SELECT id, sender_id, client_msg_id FROM ins`
}}
