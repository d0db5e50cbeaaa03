package db

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"
)

// Migration 0004: the idempotency key UNIQUE (sender_id, client_msg_id)
// becomes a partial unique index WHERE client_msg_id IS NOT NULL, under the
// same name (lab notes, `git show d0db37a:docs/PERFORMANCE.md`, round 4).
//
// The seed's Qt client never sends a client_msg_id, so every one of its
// messages put a (sender_id, NULL) entry into that index, which NULLs keep
// from ever colliding: a b-tree insert per message, and a page to write to
// the WAL, that deduplicated nothing. The partial index holds only the
// messages that carry a key; uniqueness among them is unchanged. Every
// ON CONFLICT (sender_id, client_msg_id) names the predicate
// (clientMsgIDConflict), which both databases need to infer a partial index.
//
// On PostgreSQL the constraint is dropped and the index created. On SQLite the
// constraint is part of the table (its sqlite_autoindex cannot be dropped), so
// the table is rebuilt: a copy without it, rows copied with their ids, the
// AUTOINCREMENT high-water mark carried over (an id is never reused), then
// the indexes of migration 0003's schema. The copy costs one pass over the
// messages, once.
const (
	m0004ClientMsgIdx  = "messages_sender_client_msg_id_key"
	m0004ClientMsgPred = "client_msg_id IS NOT NULL"
)

// clientMsgIDConflict is the conflict target of every idempotent message
// insert: the columns and the predicate of m0004ClientMsgIdx.
const clientMsgIDConflict = `("sender_id", "client_msg_id") WHERE ` + m0004ClientMsgPred

// m0004Message is migration 0001's messages table without the UNIQUE
// constraint. Frozen like every migration's structs.
type m0004Message struct {
	bun.BaseModel `bun:"table:messages"`

	ID          int64     `bun:"id,pk,autoincrement"`
	SenderID    string    `bun:"sender_id,notnull"`
	ReceiverID  string    `bun:"receiver_id,notnull"`
	ChatType    string    `bun:"chat_type,notnull"`
	Body        string    `bun:"body,type:text,notnull"`
	MessageType string    `bun:"message_type,notnull"`
	FilePath    string    `bun:"file_path,notnull,default:' '"`
	SentAt      time.Time `bun:"sent_at,notnull"`
	Delivered   bool      `bun:"delivered,notnull,default:false"`
	Read        bool      `bun:"read,notnull,default:false"`
	Deleted     bool      `bun:"deleted,notnull,default:false"`
	ClientMsgID *string   `bun:"client_msg_id"`
}

// m0004Indexes are the messages indexes as of migration 0003, recreated after
// a SQLite rebuild (0001's minus the one 0003 replaced, plus 0003's).
func m0004Indexes(ctx context.Context, tx bun.Tx) error {
	if err := createIndexes(ctx, tx, []m0001Index{
		{"messages_receiver_id_id_idx", "messages", []string{"receiver_id", "id"}},
		{"messages_sender_id_receiver_id_idx", "messages", []string{"sender_id", "receiver_id"}},
	}); err != nil {
		return err
	}
	return m0003CreateUndelivered(ctx, tx)
}

func m0004Up(ctx context.Context, tx bun.Tx) error {
	if tx.Dialect().Name() == dialect.PG {
		if _, err := tx.ExecContext(ctx, `ALTER TABLE messages DROP CONSTRAINT IF EXISTS `+m0004ClientMsgIdx); err != nil {
			return err
		}
	} else if err := sqliteRebuildMessages(ctx, tx, (*m0004Message)(nil)); err != nil {
		return err
	}
	_, err := tx.NewCreateIndex().IfNotExists().Unique().
		Index(m0004ClientMsgIdx).Table("messages").Column("sender_id", "client_msg_id").
		Where(m0004ClientMsgPred).
		Exec(ctx)
	return err
}

// m0004Down restores the table constraint.
func m0004Down(ctx context.Context, tx bun.Tx) error {
	if _, err := tx.NewDropIndex().IfExists().Index(m0004ClientMsgIdx).Exec(ctx); err != nil {
		return err
	}
	if tx.Dialect().Name() == dialect.PG {
		_, err := tx.ExecContext(ctx, `ALTER TABLE messages ADD CONSTRAINT `+m0004ClientMsgIdx+
			` UNIQUE (sender_id, client_msg_id)`)
		return err
	}
	return sqliteRebuildMessages(ctx, tx, (*m0001Message)(nil))
}

// sqliteRebuildMessages replaces the messages table by one created from
// model, keeping every row, its id and the AUTOINCREMENT sequence, then
// recreates migration 0003's indexes. No table references messages, so the
// drop needs no foreign-key dance.
func sqliteRebuildMessages(ctx context.Context, tx bun.Tx, model any) error {
	const tmp = "messages_rebuild"
	var seq int64
	err := tx.QueryRowContext(ctx, `SELECT seq FROM sqlite_sequence WHERE name = 'messages'`).Scan(&seq)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DROP TABLE IF EXISTS `+tmp); err != nil {
		return err
	}
	if _, err := fk(fk(tx.NewCreateTable().Model(model).ModelTableExpr(tmp),
		"sender_id", "users", "id"), "receiver_id", "users", "id").Exec(ctx); err != nil {
		return err
	}
	const cols = `"id", "sender_id", "receiver_id", "chat_type", "body", "message_type", ` +
		`"file_path", "sent_at", "delivered", "read", "deleted", "client_msg_id"`
	for _, st := range []struct {
		query string
		args  []any
	}{
		{`INSERT INTO ` + tmp + ` (` + cols + `) SELECT ` + cols + ` FROM messages ORDER BY id`, nil},
		{`DROP TABLE messages`, nil},
		{`ALTER TABLE ` + tmp + ` RENAME TO messages`, nil},
		// The copy set the new table's sequence to its highest id (or left
		// none, if it was empty); an id handed out and since gone must stay
		// used.
		{`UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = 'messages'`, []any{seq}},
		{`INSERT INTO sqlite_sequence (name, seq) SELECT 'messages', ? ` +
			`WHERE ? > 0 AND NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'messages')`, []any{seq, seq}},
	} {
		if _, err := tx.ExecContext(ctx, st.query, st.args...); err != nil {
			return err
		}
	}
	return m0004Indexes(ctx, tx)
}
