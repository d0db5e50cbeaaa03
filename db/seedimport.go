package db

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"time"

	"github.com/uptrace/bun"
)

// The bulk writes of `parleyd import-seed` (package importseed), here because
// db owns Parley's tables: the importer never writes SQL against them
// itself. Every insert is "ON CONFLICT ... DO NOTHING" on the row's natural
// key (user id, relation pair, chat pair, and for messages the sender's
// client_msg_id, set to SeedMessageID), and each batch commits together with
// its checkpoint: so an interrupted import continues where it stopped, and a
// second one changes nothing.

// ImportLedgerTable records how far an import got, per source database and
// step. It is created by the first import (EnsureImportLedger), not by a
// migration: a Parley that never imported has no such table, and the server
// never reads it.
const ImportLedgerTable = "seed_import_checkpoints"

type importCheckpointRow struct {
	bun.BaseModel `bun:"table:seed_import_checkpoints"`

	Source    string    `bun:"source,pk"`
	Step      string    `bun:"step,pk"`
	LastKey   string    `bun:"last_key,notnull"`
	UpdatedAt time.Time `bun:"updated_at,notnull"`
}

// SeedMessageID is the client_msg_id an imported seed message is stored
// with: its natural key (sender_id, client_msg_id), so importing the same
// message twice stores it once. The "seed:" prefix cannot collide with the
// ids Parley clients generate for themselves unless one chooses it, and then
// the only effect is that its own send is answered as a retry of its own
// imported message.
func SeedMessageID(seedID int64) string { return "seed:" + strconv.FormatInt(seedID, 10) }

// EnsureImportLedger creates the checkpoint table if it does not exist.
func (s *Store) EnsureImportLedger(ctx context.Context) error {
	return s.write(ctx, "EnsureImportLedger", func(ctx context.Context) error {
		_, err := s.db.NewCreateTable().Model((*importCheckpointRow)(nil)).IfNotExists().Exec(ctx)
		return err
	})
}

// ImportCheckpoint returns the last key an import of step from source
// committed, or "" if none (or no import ever ran: no table, as in a first
// dry run).
func (s *Store) ImportCheckpoint(ctx context.Context, source, step string) (string, error) {
	var key string
	err := s.read(ctx, "ImportCheckpoint", func(ctx context.Context) error {
		q := `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?`
		if s.pg {
			q = `SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = ?`
		}
		var n int
		if err := s.db.QueryRowContext(ctx, q, ImportLedgerTable).Scan(&n); err != nil || n == 0 {
			return err
		}
		err := s.db.NewSelect().Model((*importCheckpointRow)(nil)).Column("last_key").
			Where("source = ? AND step = ?", source, step).Scan(ctx, &key)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		return err
	})
	return key, err
}

// UsersByIDs returns the users among ids that exist (any order).
func (s *Store) UsersByIDs(ctx context.Context, ids []string) ([]User, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	var rows []userRow
	err := s.read(ctx, "UsersByIDs", func(ctx context.Context) error {
		return s.db.NewSelect().Model(&rows).Where("id IN (?)", bun.In(ids)).Scan(ctx)
	})
	out := make([]User, len(rows))
	for i := range rows {
		out[i] = *rows[i].user()
	}
	return out, err
}

// ImportedRelation is one directed friendship row as an import writes it.
// RequestedBy "" is stored as NULL: the direction of the request is unknown
// (either side may accept it).
type ImportedRelation struct {
	UserID, FriendID, Relation, RequestedBy string
	Created                                 time.Time
}

// ImportedMessage is a message as an import writes it: the row as it was,
// delivered, read and deleted flags included. Its ClientMsgID must be
// SeedMessageID of the source row.
type ImportedMessage struct {
	Message
	Deleted bool
}

// ImportTx is one import batch's transaction. Every insert reports how many
// rows it actually added (0 for rows that were there already).
type ImportTx struct{ tx bun.Tx }

// ImportBatch runs fn in one transaction (under the query timeout and the
// SQLite writer slot, like any write): the batch's rows and its checkpoint
// commit together or not at all.
func (s *Store) ImportBatch(ctx context.Context, fn func(ctx context.Context, tx ImportTx) error) error {
	return s.tx(ctx, "ImportBatch", func(ctx context.Context, tx bun.Tx) error {
		return fn(ctx, ImportTx{tx: tx})
	})
}

// SetCheckpoint records that step from source is done up to key.
func (t ImportTx) SetCheckpoint(ctx context.Context, source, step, key string) error {
	row := importCheckpointRow{Source: source, Step: step, LastKey: key, UpdatedAt: now()}
	_, err := t.tx.NewInsert().Model(&row).
		On("CONFLICT (source, step) DO UPDATE").
		Set("last_key = EXCLUDED.last_key").Set("updated_at = EXCLUDED.updated_at").
		Exec(ctx)
	return err
}

// InsertUsers adds the users whose id is not taken.
func (t ImportTx) InsertUsers(ctx context.Context, users []User) (int64, error) {
	if len(users) == 0 {
		return 0, nil
	}
	rows := make([]userRow, len(users))
	for i, u := range users {
		rows[i] = userRow{
			ID: u.ID, Phone: u.Phone, Name: u.Name, Email: u.Email, Avatar: u.Avatar,
			Status: u.Status, PasswordHash: u.PasswordHash, CreatedAt: utc(u.Created),
		}
	}
	return affected(t.tx.NewInsert().Model(&rows).On("CONFLICT (id) DO NOTHING").Exec(ctx))
}

// InsertRelations adds the directed relation rows not present yet.
func (t ImportTx) InsertRelations(ctx context.Context, rels []ImportedRelation) (int64, error) {
	if len(rels) == 0 {
		return 0, nil
	}
	rows := make([]friendshipRow, len(rels))
	for i, r := range rels {
		rows[i] = friendshipRow{UserID: r.UserID, FriendID: r.FriendID, Relation: r.Relation, CreatedAt: utc(r.Created)}
		if r.RequestedBy != "" {
			by := r.RequestedBy
			rows[i].RequestedBy = &by
		}
	}
	return affected(t.tx.NewInsert().Model(&rows).On("CONFLICT (user_id, friend_id) DO NOTHING").Exec(ctx))
}

// InsertChats adds the chat rows (owner, peer) not present yet; an existing
// row, which the server may have changed since, is left alone.
func (t ImportTx) InsertChats(ctx context.Context, chats []Chat) (int64, error) {
	if len(chats) == 0 {
		return 0, nil
	}
	rows := make([]chatRow, len(chats))
	for i, c := range chats {
		rows[i] = chatRow{
			OwnerID: c.OwnerID, PeerID: c.PeerID, ChatType: c.Type, LastMessage: c.LastMessage,
			LastMessageType: c.LastMessageType, LastTime: utc(c.LastTime), UnreadCount: c.Unread, Status: c.Status,
		}
	}
	return affected(t.tx.NewInsert().Model(&rows).On("CONFLICT (owner_id, peer_id) DO NOTHING").Exec(ctx))
}

// InsertMessages adds the messages not stored yet, in the order given (their
// ids follow it, so catch-up delivers them in the source's order). Unlike
// SaveMessage it leaves the chat rows alone: an import brings the source's
// chat list as it was.
func (t ImportTx) InsertMessages(ctx context.Context, msgs []ImportedMessage) (int64, error) {
	if len(msgs) == 0 {
		return 0, nil
	}
	rows := make([]messageRow, len(msgs))
	for i := range msgs {
		m := msgs[i].Message
		prepareMessage(&m)
		rows[i] = messageRow{
			SenderID: m.SenderID, ReceiverID: m.ReceiverID, ChatType: m.ChatType, Body: m.Body,
			MessageType: m.Type, FilePath: m.FilePath, SentAt: m.SentAt,
			Delivered: m.Delivered, Read: m.Read, Deleted: msgs[i].Deleted, ClientMsgID: m.ClientMsgID,
		}
	}
	return affected(t.tx.NewInsert().Model(&rows).
		On("CONFLICT " + clientMsgIDConflict + " DO NOTHING").
		Returning("NULL"). // rows skipped by DO NOTHING return nothing to scan
		Exec(ctx))
}

func affected(res sql.Result, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
