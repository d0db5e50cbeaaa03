package db

import (
	"context"

	"github.com/uptrace/bun"
)

// Migration 0006: the history extension pages back through one
// conversation, newest first (Store.Conversation: WHERE sender_id = ? AND
// receiver_id = ? AND id < ? ORDER BY id DESC LIMIT n, once per direction).
// The index (sender_id, receiver_id) of migration 0001 becomes (sender_id,
// receiver_id, id), so a page is a backward seek of n entries on PostgreSQL
// too, instead of a sort of every message of the conversation. (SQLite's
// index already ended in the rowid, which is id, but the two databases keep
// one schema.) It still serves what the old one did (UpdateChat marks
// peer->owner read, DeleteFriend hides both directions): they filter on
// its first two columns. Replaced rather than added, so a stored message
// updates no more b-trees than before.
const (
	m0006OldIdx = "messages_sender_id_receiver_id_idx"
	m0006Idx    = "messages_sender_id_receiver_id_id_idx"
)

func m0006Up(ctx context.Context, tx bun.Tx) error {
	// Create before dropping (one transaction anyway, on both databases).
	if err := createIndexes(ctx, tx, []m0001Index{{m0006Idx, "messages", []string{"sender_id", "receiver_id", "id"}}}); err != nil {
		return err
	}
	_, err := tx.NewDropIndex().IfExists().Index(m0006OldIdx).Exec(ctx)
	return err
}

func m0006Down(ctx context.Context, tx bun.Tx) error {
	if err := createIndexes(ctx, tx, []m0001Index{{m0006OldIdx, "messages", []string{"sender_id", "receiver_id"}}}); err != nil {
		return err
	}
	_, err := tx.NewDropIndex().IfExists().Index(m0006Idx).Exec(ctx)
	return err
}
