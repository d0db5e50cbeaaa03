package db

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"time"

	"github.com/uptrace/bun"

	"github.com/parley-im/parley/wire"
)

// Batch bounds for Undelivered and MessagesAfter: a limit <= 0 means
// DefaultBatch, and no call returns more than MaxBatch rows (page by id).
const (
	DefaultBatch = 100
	MaxBatch     = 1000
	// markChunk bounds the id list of one UPDATE in MarkDelivered.
	markChunk = 500
)

// receiverLockClass is the first key of the PostgreSQL transaction advisory
// lock SaveMessage takes per receiver (second key: hash of the receiver id).
// Ids come from a sequence when the row is inserted, but rows become visible
// at commit; without the lock, two messages to one receiver could commit out
// of id order and a MessagesAfter cursor could skip the one committed late.
// SQLite needs nothing: its writers are serial, so commit order is id order.
const receiverLockClass = 0x50617232 // "Par2"

// undeliveredPred selects undelivered messages. It is written out, never
// bound, and identical to the predicate of the partial index
// messages_undelivered_idx (m0003UndeliveredPred): SQLite's planner uses a
// partial index only when a term of the query matches the index's WHERE, and
// PostgreSQL cannot prove a parameter false when it plans a generic plan.
const undeliveredPred = "delivered = false"

// Message is one stored message. ClientMsgID is the sender's own id for the
// message ("" when the client sent none), used to make retries idempotent.
type Message struct {
	ID                                                   int64
	SenderID, ReceiverID, ChatType, Body, Type, FilePath string
	SentAt                                               time.Time
	Delivered, Read                                      bool
	ClientMsgID                                          string
	// Retry is set by SaveMessage and MessageWriter.Save, never stored:
	// the sender had already stored a message with this ClientMsgID, and
	// the Message is that earlier one, unchanged. Nothing was written, and
	// the caller must deliver nothing: the first save did.
	Retry bool
}

type messageRow struct {
	bun.BaseModel `bun:"table:messages,alias:m"`

	ID          int64     `bun:"id,pk,autoincrement"`
	SenderID    string    `bun:"sender_id"`
	ReceiverID  string    `bun:"receiver_id"`
	ChatType    string    `bun:"chat_type"`
	Body        string    `bun:"body"`
	MessageType string    `bun:"message_type"`
	FilePath    string    `bun:"file_path"`
	SentAt      time.Time `bun:"sent_at"`
	Delivered   bool      `bun:"delivered"`
	Read        bool      `bun:"read"`
	Deleted     bool      `bun:"deleted"`
	ClientMsgID string    `bun:"client_msg_id,nullzero"` // "" is stored as NULL
}

func (r *messageRow) message() Message {
	return Message{
		ID: r.ID, SenderID: r.SenderID, ReceiverID: r.ReceiverID, ChatType: r.ChatType,
		Body: r.Body, Type: r.MessageType, FilePath: r.FilePath, SentAt: r.SentAt.UTC(),
		Delivered: r.Delivered, Read: r.Read, ClientMsgID: r.ClientMsgID,
	}
}

// retry is the stored message r answering a retry of it (Message.Retry).
func (r *messageRow) retry() Message {
	m := r.message()
	m.Retry = true
	return m
}

// prepareMessage fills the defaults SaveMessage documents. It is the one
// place a message's defaults are applied: every stored row passes here, so
// readers (and the handlers rendering rows for the seed client, whose
// history reader needs every field non-empty) get them from the row. The
// values are the protocol's (wire).
func prepareMessage(m *Message) {
	if m.SentAt.IsZero() {
		m.SentAt = now()
	} else {
		m.SentAt = utc(m.SentAt)
	}
	if m.FilePath == "" {
		m.FilePath = wire.NoFile
	}
	if m.ChatType == "" {
		m.ChatType = wire.ChatTypeFriend
	}
	if m.Type == "" {
		m.Type = wire.MessageTypeText
	}
}

// SaveMessage stores m durably, in one transaction with its chat summaries:
// the message row (m.ID filled; m.SentAt = now, UTC, seconds, if zero;
// FilePath " ", ChatType "friend", Type "text" if empty), the sender's chat
// row (last_*, unread 0, chatting) and the receiver's (last_*, unread +1,
// chatting), both created if missing.
//
// If m.ClientMsgID is set and the sender already stored a message with that
// id, nothing is written: m is overwritten with the stored message (same ID,
// receiver and body, whatever this call asked for) with Retry set, and the
// call succeeds, so a client retry after a lost ack is harmless.
// ErrNotFound if the sender or receiver does not exist.
func (s *Store) SaveMessage(ctx context.Context, m *Message) error {
	msg := *m
	prepareMessage(&msg)
	var stored Message
	err := s.tx(ctx, "SaveMessage", func(ctx context.Context, tx bun.Tx) error {
		var err error
		stored, err = s.saveMessageTx(ctx, tx, msg)
		return err
	})
	if err != nil {
		return err
	}
	*m = stored // only after commit: a failed call leaves m.ID zero
	return nil
}

// saveMessageTx is SaveMessage inside the caller's transaction; m is prepared.
func (s *Store) saveMessageTx(ctx context.Context, tx bun.Tx, m Message) (Message, error) {
	if s.pg {
		if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(?, hashtext(?))",
			receiverLockClass, m.ReceiverID); err != nil {
			return Message{}, err
		}
	}
	row := messageRow{
		SenderID: m.SenderID, ReceiverID: m.ReceiverID, ChatType: m.ChatType, Body: m.Body,
		MessageType: m.Type, FilePath: m.FilePath, SentAt: m.SentAt,
		Delivered: m.Delivered, Read: m.Read, ClientMsgID: m.ClientMsgID,
	}
	// DO NOTHING rather than a pre-check: two concurrent retries cannot both
	// insert, and on PostgreSQL the loser waits for the winner, then sees it.
	res, err := tx.NewInsert().Model(&row).
		On("CONFLICT " + clientMsgIDConflict + " DO NOTHING").
		Returning("id").
		Exec(ctx)
	if err != nil {
		return Message{}, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return Message{}, err
	}
	if n == 0 {
		if m.ClientMsgID == "" {
			return Message{}, errors.New("insert without client_msg_id stored no row")
		}
		var prev messageRow
		if err := tx.NewSelect().Model(&prev).
			Where("sender_id = ? AND client_msg_id = ?", m.SenderID, m.ClientMsgID).
			Limit(1).Scan(ctx); err != nil {
			return Message{}, err
		}
		return prev.retry(), nil
	}
	stored := row.message()
	if err := s.upsertChats(ctx, tx, &stored, true); err != nil {
		return Message{}, err
	}
	return stored, nil
}

// Undelivered returns up to limit messages to userID that no session has
// received yet and that were not deleted, oldest (lowest id) first: the
// login catch-up. Mark them with MarkDelivered once written out.
func (s *Store) Undelivered(ctx context.Context, userID string, limit int) ([]Message, error) {
	limit = batchLimit(limit)
	var out []Message
	err := s.read(ctx, "Undelivered", func(ctx context.Context) error {
		out = out[:0]
		return s.query(ctx, nil, undelivered.rows(limitClass(limit)), func(rows *sql.Rows) error {
			if len(out) == limit {
				return nil // the statement's LIMIT is the next power of two
			}
			var r messageRow
			if err := s.db.ScanRow(ctx, rows, &r); err != nil {
				return err
			}
			out = append(out, r.message())
			return nil
		}, userID)
	})
	return out, err
}

// undelivered is prepared: every login's catch-up runs it, mostly to find
// nothing, and parsing it was most of its cost (docs/PERFORMANCE.md, "CPU
// per operation"). Its predicate stays literal, as
// messages_undelivered_idx's (migration 0003): SQLite uses a partial index
// only for a matching term. So does its LIMIT: SQLite recompiles a
// statement whose LIMIT is a bound parameter each time it is bound again
// (it plans with the value), which cost as much as not preparing it.
var undelivered = preparedRows{render: func(s *Store, limit int) string {
	return s.db.NewSelect().Model((*messageRow)(nil)).
		Where("receiver_id = ?", s.arg(1)).Where(undeliveredPred).Where("deleted = ?", false).
		OrderExpr("id").Limit(limit).String()
}}

// limitClass is the power of two at or above limit: the few LIMITs a
// prepared statement family is rendered with.
func limitClass(limit int) int {
	n := 1
	for n < limit {
		n *= 2
	}
	return n
}

// MessagesAfter returns up to limit messages to userID with id > afterID,
// not deleted, delivered or not, in id order: the sync extension's cursor.
func (s *Store) MessagesAfter(ctx context.Context, userID string, afterID int64, limit int) ([]Message, error) {
	return s.listMessages(ctx, "MessagesAfter", limit, func(q *bun.SelectQuery) *bun.SelectQuery {
		return q.Where("receiver_id = ?", userID).Where("id > ?", afterID)
	})
}

// Conversation returns up to limit messages between userID and peerID, in
// both directions, not deleted, with an id below beforeID (0: no bound),
// newest (highest id) first: the history extension's page. Each direction
// is one backward seek on (sender_id, receiver_id, id) (migration 0006) of
// at most limit rows, and the two are merged here, where a single query
// with OR would read and sort the whole conversation on PostgreSQL.
func (s *Store) Conversation(ctx context.Context, userID, peerID string, beforeID int64, limit int) ([]Message, error) {
	limit = batchLimit(limit)
	var mine, theirs []messageRow
	err := s.read(ctx, "Conversation", func(ctx context.Context) error {
		page := func(rows *[]messageRow, from, to string) error {
			q := s.db.NewSelect().Model(rows).
				Where("sender_id = ?", from).Where("receiver_id = ?", to).
				Where("deleted = ?", false)
			if beforeID > 0 {
				q = q.Where("id < ?", beforeID)
			}
			return q.OrderExpr("id DESC").Limit(limit).Scan(ctx)
		}
		if err := page(&mine, userID, peerID); err != nil {
			return err
		}
		if userID == peerID { // notes to self: one direction is both
			return nil
		}
		return page(&theirs, peerID, userID)
	})
	if err != nil {
		return nil, err
	}
	out := make([]Message, 0, min(limit, len(mine)+len(theirs)))
	for len(out) < limit && (len(mine) > 0 || len(theirs) > 0) {
		var r *messageRow
		if len(theirs) == 0 || (len(mine) > 0 && mine[0].ID > theirs[0].ID) {
			r, mine = &mine[0], mine[1:]
		} else {
			r, theirs = &theirs[0], theirs[1:]
		}
		out = append(out, r.message())
	}
	return out, nil
}

func (s *Store) listMessages(ctx context.Context, op string, limit int, where func(*bun.SelectQuery) *bun.SelectQuery) ([]Message, error) {
	limit = batchLimit(limit)
	var rows []messageRow
	err := s.read(ctx, op, func(ctx context.Context) error {
		q := s.db.NewSelect().Model(&rows)
		return where(q).Where("deleted = ?", false).OrderExpr("id").Limit(limit).Scan(ctx)
	})
	if err != nil {
		return nil, err
	}
	out := make([]Message, len(rows))
	for i := range rows {
		out[i] = rows[i].message()
	}
	return out, nil
}

// MarkDelivered flags the messages as received by a session. Unknown ids are
// ignored; marking twice is harmless. One transaction for the whole list.
func (s *Store) MarkDelivered(ctx context.Context, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	return s.tx(ctx, "MarkDelivered", func(ctx context.Context, tx bun.Tx) error {
		for start := 0; start < len(ids); start += markChunk {
			chunk := ids[start:min(start+markChunk, len(ids))]
			if _, err := tx.NewUpdate().Model((*messageRow)(nil)).
				Set("delivered = ?", true).
				Where("id IN (?)", bun.In(chunk)).
				Exec(ctx); err != nil {
				return err
			}
		}
		return nil
	})
}

// ClaimDelivered flags the given messages delivered and returns the ids it
// changed, ascending: those that were still undelivered. Whoever claims a
// message delivers it, so a live push and a login's catch-up racing for the
// same message cannot both send it.
func (s *Store) ClaimDelivered(ctx context.Context, ids []int64) ([]int64, error) {
	var claimed []int64
	if len(ids) == 0 {
		return claimed, nil
	}
	err := s.tx(ctx, "ClaimDelivered", func(ctx context.Context, tx bun.Tx) error {
		claimed = claimed[:0]
		for start := 0; start < len(ids); start += markChunk {
			chunk := ids[start:min(start+markChunk, len(ids))]
			var got []int64
			if err := tx.NewUpdate().Model((*messageRow)(nil)).
				Set("delivered = ?", true).
				Where("id IN (?)", bun.In(chunk)).
				Where("delivered = ?", false).
				Returning("id").
				Scan(ctx, &got); err != nil && !errors.Is(err, sql.ErrNoRows) {
				return err
			}
			claimed = append(claimed, got...)
		}
		return nil
	})
	slices.Sort(claimed)
	return claimed, err
}

// UnmarkDelivered gives claimed messages back (a catch-up that could not
// write them), so the next login delivers them.
func (s *Store) UnmarkDelivered(ctx context.Context, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	return s.tx(ctx, "UnmarkDelivered", func(ctx context.Context, tx bun.Tx) error {
		for start := 0; start < len(ids); start += markChunk {
			chunk := ids[start:min(start+markChunk, len(ids))]
			if _, err := tx.NewUpdate().Model((*messageRow)(nil)).
				Set("delivered = ?", false).
				Where("id IN (?)", bun.In(chunk)).
				Exec(ctx); err != nil {
				return err
			}
		}
		return nil
	})
}

// MarkDeliveredUpTo flags every message to userID with an id up to upTo as
// delivered: the ack extension, after which neither get_unread_messages nor
// a later login offers them again. Already delivered rows are not touched.
func (s *Store) MarkDeliveredUpTo(ctx context.Context, userID string, upTo int64) error {
	return s.write(ctx, "MarkDeliveredUpTo", func(ctx context.Context) error {
		_, err := s.db.NewUpdate().Model((*messageRow)(nil)).
			Set("delivered = ?", true).
			Where("receiver_id = ?", userID).
			Where(undeliveredPred). // literal: see Undelivered
			Where("id <= ?", upTo).
			Exec(ctx)
		return err
	})
}

// SetDelivered sets one message's delivered flag, e.g. back to false when a
// live push could not be written. ErrNotFound if there is no such message.
func (s *Store) SetDelivered(ctx context.Context, id int64, delivered bool) error {
	return s.write(ctx, "SetDelivered", func(ctx context.Context) error {
		res, err := s.db.NewUpdate().Model((*messageRow)(nil)).
			Set("delivered = ?", delivered).
			Where("id = ?", id).
			Exec(ctx)
		return affectedOr(res, err, ErrNotFound)
	})
}
