package db

import (
	"context"

	"github.com/uptrace/bun"
)

// Migration 0003: fewer b-trees to update per stored message
// (lab notes, `git show d0db37a:docs/PERFORMANCE.md`, round 3). Index names and predicates are frozen here
// like every migration's structs.
//
//   - messages_receiver_id_delivered_id_idx (receiver_id, delivered, id)
//     becomes messages_undelivered_idx, (receiver_id, id) WHERE delivered =
//     false. A message stored while its receiver is online is inserted
//     delivered and never enters it; one marked delivered leaves it, where
//     the full index moved it (delete + insert). The index only holds the
//     backlog of offline receivers, so it stays small. The queries that use
//     it (Undelivered, MarkDeliveredUpTo) spell "delivered = false" exactly
//     as the predicate below: SQLite only uses a partial index when a term
//     of the query's WHERE matches the index's WHERE, and a bound parameter
//     never does.
//   - chats_owner_id_last_time_idx (owner_id, last_time) is dropped. Every
//     message moved both chat rows' entries in it (last_time changes), and
//     on PostgreSQL an indexed last_time ruled out HOT updates of the chat
//     rows. The chat list (WHERE owner_id = ? ORDER BY last_time DESC, no
//     LIMIT) reads the owner's rows by the primary key prefix (owner_id,
//     peer_id) and sorts them: one user's chats, bounded by their friends.
//     The index could not spare that sort anyway: the tie-break on peer_id
//     (COLLATE "C" on PostgreSQL) is not in it.
//
// Unchanged: UNIQUE (sender_id, client_msg_id) (SQLite cannot drop a table
// constraint's autoindex without rebuilding the table; migration 0004 does
// that), (receiver_id, id) for MessagesAfter, (sender_id, receiver_id) for
// UpdateChat and DeleteFriend.

const (
	m0003UndeliveredIdx  = "messages_undelivered_idx"
	m0003UndeliveredPred = "delivered = false"
)

// m0003CreateUndelivered creates the partial index of undelivered messages.
func m0003CreateUndelivered(ctx context.Context, tx bun.Tx) error {
	_, err := tx.NewCreateIndex().IfNotExists().
		Index(m0003UndeliveredIdx).Table("messages").Column("receiver_id", "id").
		Where(m0003UndeliveredPred).
		Exec(ctx)
	return err
}

func m0003Up(ctx context.Context, tx bun.Tx) error {
	// Create before dropping, so no moment of the migration lacks an index
	// for the catch-up (it is one transaction anyway on both databases).
	if err := m0003CreateUndelivered(ctx, tx); err != nil {
		return err
	}
	for _, name := range []string{"messages_receiver_id_delivered_id_idx", "chats_owner_id_last_time_idx"} {
		if _, err := tx.NewDropIndex().IfExists().Index(name).Exec(ctx); err != nil {
			return err
		}
	}
	return nil
}

// m0003Down restores migration 0001's two indexes.
func m0003Down(ctx context.Context, tx bun.Tx) error {
	if err := createIndexes(ctx, tx, []m0001Index{
		{"messages_receiver_id_delivered_id_idx", "messages", []string{"receiver_id", "delivered", "id"}},
		{"chats_owner_id_last_time_idx", "chats", []string{"owner_id", "last_time"}},
	}); err != nil {
		return err
	}
	_, err := tx.NewDropIndex().IfExists().Index(m0003UndeliveredIdx).Exec(ctx)
	return err
}
