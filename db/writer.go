package db

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/driver/pgdriver"

	"github.com/parley-im/parley/config"
	"github.com/parley-im/parley/internal/groupcommit"

	"github.com/parley-im/parley/wire"
)

// WriterOptions tune a MessageWriter. Zero fields take the configured
// defaults (config.WriterMaxBatch or config.WriterMaxBatchPostgres for
// MaxBatch, config.Default().DB for Queue), written once, in config.
type WriterOptions struct {
	// MaxBatch caps the messages committed in one transaction.
	MaxBatch int
	// MaxDelay is how long a batch may wait for more messages after its
	// first one, when fewer than MaxBatch are queued. Zero never waits: a
	// batch is whatever queued up while the previous one was committing,
	// which already batches under load and adds no latency when idle.
	MaxDelay time.Duration
	// Queue bounds the messages waiting for a batch; Save blocks (until its
	// context ends) when it is full, which is the back-pressure.
	Queue int
	// Committers is how many batches may commit at once: 1 on SQLite (one
	// writer at a time anyway), 2 by default on PostgreSQL so one batch is
	// built while the other waits for its round trips.
	Committers int
}

// ErrWriterClosed is returned by Save after Close. It wraps ErrUnavailable:
// the server is shutting down, and a client may retry elsewhere or later.
var ErrWriterClosed = fmt.Errorf("%w: message writer closed", ErrUnavailable)

// MessageWriter stores messages like Store.SaveMessage, but group-commits
// them (internal/groupcommit): messages that arrive together share one
// transaction (one commit, one fsync on PostgreSQL, one writer-slot turn on
// SQLite), with multi-row statements for the message rows and the chat rows.
// Each Save returns only after its own batch committed, so "acknowledged
// means durable" holds.
//
// Semantics are exactly SaveMessage's, message by message, in Save order
// within a batch: defaults, idempotent client_msg_id (a duplicate inside one
// batch gets the first one's row), both chat rows upserted with the summary
// of the newest message and the receiver's unread count raised by its
// messages since the last one it sent, and on PostgreSQL the per-receiver
// advisory lock so a receiver's messages commit in id order.
//
// A failing message does not fail the others: when a batch fails for a
// reason tied to its content (a missing user, a constraint), or loses a
// deadlock, its messages are saved again one by one with SaveMessage, so
// each gets its own result. When the database is unavailable (timeout, lost
// connection) every message of the batch gets that error at once instead of
// N more timeouts.
//
// Save is safe for concurrent use by many goroutines; Start once, Close once.
type MessageWriter struct {
	s      *Store
	opts   WriterOptions
	batch  *groupcommit.Batcher[*writeReq]
	stored atomic.Int64 // Saves answered with success (an idempotent retry counts again)
	start  sync.Once
	unhold func() // releases the Store's writer connection (holdWriterConn)
}

// writeReq is one Save or SaveGroup, as its batch sees it.
type writeReq struct {
	msg Message   // as given to Save, prepared (defaults filled)
	out Message   // the stored message, valid when the batch succeeded
	dup *writeReq // same (sender, client_msg_id) earlier in the batch

	// A group message (SaveGroup) instead of msg/out: group is set, gmsg is
	// the message as given (prepared), gout the stored one, and err a
	// refusal of this message alone (not a member, no such group), which
	// does not fail its batch.
	group      bool
	gmsg, gout GroupMessage
	err        error
}

var reqPool = sync.Pool{New: func() any { return new(writeReq) }}

// NewMessageWriter returns a writer over s; call Start before Save.
func NewMessageWriter(s *Store, opts WriterOptions) *MessageWriter {
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = config.WriterMaxBatch
		if s.pg {
			opts.MaxBatch = config.WriterMaxBatchPostgres
		}
	}
	if opts.MaxDelay < 0 {
		opts.MaxDelay = 0
	}
	if opts.Queue <= 0 {
		opts.Queue = config.Default().DB.WriterQueue
	}
	if opts.Committers <= 0 {
		opts.Committers = 1
		if s.pg {
			opts.Committers = 2
		}
	}
	if !s.pg {
		opts.Committers = 1 // SQLite has one writer; more would only queue on the slot
	}
	w := &MessageWriter{s: s, opts: opts}
	w.batch = groupcommit.New(groupcommit.Options{
		MaxBatch: opts.MaxBatch, MaxDelay: opts.MaxDelay, Queue: opts.Queue,
		Committers: opts.Committers, Closed: ErrWriterClosed,
	}, groupcommit.Commit[*writeReq]{
		Batch: w.commit,
		One:   w.commitOne,
		// Unavailable: every message gets that error at once. A lost
		// deadlock would succeed when run again, one by one.
		Split: func(err error) bool { return !IsUnavailable(err) || isDeadlock(err) },
	})
	return w
}

// Options returns the options in force (defaults applied).
func (w *MessageWriter) Options() WriterOptions { return w.opts }

// Start lets the writer commit (what was saved before is committed now),
// on a connection the Store keeps for its transactions until Close (its page
// cache stays warm from commit to commit). Calling it again does nothing.
func (w *MessageWriter) Start() {
	w.start.Do(func() {
		w.unhold = w.s.holdWriterConn()
		w.batch.Start()
	})
}

// Close stops accepting messages, commits every message already accepted
// and waits for that, or for ctx. Later Saves get ErrWriterClosed.
func (w *MessageWriter) Close(ctx context.Context) error {
	w.Start() // a writer closed before Start still answers what it accepted
	if err := w.batch.Close(ctx); err != nil {
		return err // still committing: the held connection goes with the process
	}
	w.unhold()
	return nil
}

// Pending is the number of messages accepted by Save and not yet answered.
func (w *MessageWriter) Pending() int { return w.batch.Pending() }

// Batches is the number of transactions committed so far.
func (w *MessageWriter) Batches() int64 { return w.batch.Batches() }

// Stored is the number of Saves that returned success.
func (w *MessageWriter) Stored() int64 { return w.stored.Load() }

// Save stores m durably and returns once the transaction holding it has
// committed; m is then the stored message (ID set), as after SaveMessage.
//
// If ctx ends while m waits for a batch, m is not stored and ctx's error is
// returned. If ctx ends while m's batch is committing, Save returns ctx's
// error at once (unless its caller is the one committing the batch, see
// groupcommit.Batcher.Do) and m may or may not be stored: a client retry
// with the same client_msg_id is harmless either way.
func (w *MessageWriter) Save(ctx context.Context, m *Message) error {
	r := reqPool.Get().(*writeReq)
	r.msg = *m
	prepareMessage(&r.msg)
	return w.submit(ctx, r, func(r *writeReq) { *m = r.out })
}

// SaveGroup stores m as the next message of its group, like
// Store.SaveGroupMessage, in the same group commit as Save's messages: its
// seq is drawn inside the batch's transaction, under the group row's lock,
// so seqs have no gap and no duplicate whatever the batching. It returns
// once that transaction committed; m is then the stored message (Seq set),
// or the earlier one with Retry set for a stored client_msg_id. A refusal
// of m alone (ErrNotFound: no such group; ErrNotMember) fails only m.
func (w *MessageWriter) SaveGroup(ctx context.Context, m *GroupMessage) error {
	r := reqPool.Get().(*writeReq)
	r.group, r.gmsg = true, *m
	prepareGroupMessage(&r.gmsg)
	return w.submit(ctx, r, func(r *writeReq) { *m = r.gout })
}

// submit commits r in a batch and waits for its answer; done copies a
// successful answer out of r before r is recycled.
func (w *MessageWriter) submit(ctx context.Context, r *writeReq, done func(r *writeReq)) error {
	err := w.batch.Do(ctx, r)
	if err == nil {
		err = r.err // refused alone, in a batch that committed
	}
	if err == nil {
		done(r)
		w.stored.Add(1)
	}
	// After ctx ended r may still be in a batch being committed: it is left
	// to the GC rather than reused under the committer.
	if ctx.Err() == nil {
		*r = writeReq{}
		reqPool.Put(r)
	}
	return err
}

// commit stores a batch in one transaction: each request's out (or gout,
// or err) is its answer.
func (w *MessageWriter) commit(ctx context.Context, batch []*writeReq) error {
	var plain, groups []*writeReq
	for _, r := range batch {
		r.dup, r.err = nil, nil
		if r.group {
			groups = append(groups, r)
		} else {
			plain = append(plain, r)
		}
	}
	err := w.s.tx(ctx, "SaveMessages", func(ctx context.Context, tx bun.Tx) error {
		if len(plain) > 0 {
			if err := w.s.saveBatchTx(ctx, tx, plain); err != nil {
				return err
			}
		}
		if len(groups) > 0 {
			return w.s.saveGroupBatchTx(ctx, tx, groups)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, r := range batch {
		switch {
		case r.dup != nil && r.group:
			r.gout = r.dup.gout
			r.gout.Retry = true
		case r.dup != nil:
			r.out = r.dup.out
			r.out.Retry = true // the first of the batch stored it
		}
	}
	return nil
}

// commitOne stores one request of a failed batch in its own transaction.
func (w *MessageWriter) commitOne(ctx context.Context, r *writeReq) error {
	r.dup, r.err = nil, nil // left by the failed batch
	if r.group {
		m := r.gmsg
		err := w.s.SaveGroupMessage(ctx, &m)
		if err == nil {
			r.gout = m
		}
		return err
	}
	m := r.msg
	err := w.s.SaveMessage(ctx, &m)
	if err == nil {
		r.out = m
	}
	return err
}

// isDeadlock reports a PostgreSQL deadlock or serialization failure: the
// batch lost a race and would succeed when run again.
func isDeadlock(err error) bool {
	var pgErr pgdriver.Error
	if errors.As(err, &pgErr) {
		code := pgErr.Field('C')
		return code == "40P01" || code == "40001"
	}
	return false
}

// returnedRow is what the batch INSERT returns for each row it inserted.
type returnedRow struct {
	ID          int64
	SenderID    string
	ClientMsgID sql.NullString
}

// scanReturned appends one "id, sender_id, client_msg_id" row to got.
func scanReturned(got *[]returnedRow) func(*sql.Rows) error {
	return func(rows *sql.Rows) error {
		var g returnedRow
		if err := rows.Scan(&g.ID, &g.SenderID, &g.ClientMsgID); err != nil {
			return err
		}
		*got = append(*got, g)
		return nil
	}
}

// errBatchMismatch means the rows the INSERT returned do not line up with
// the batch; it is not a driver error, so the batch is redone one by one.
var errBatchMismatch = errors.New("batch insert returned unexpected rows")

// saveBatchTx is SaveMessage for several messages in the caller's
// transaction: r.out of each request becomes its stored message (for a
// duplicate, the caller copies it from r.dup after commit).
//
// Both databases run prepared statements with bound values (the SQL text
// never changes, so it is parsed once per connection): SQLite a few
// multi-row INSERTs and upserts (writer_sqlite.go), PostgreSQL one
// statement for the whole batch (writer_pg.go).
func (s *Store) saveBatchTx(ctx context.Context, tx bun.Tx, batch []*writeReq) error {
	// Rows to insert: one per distinct (sender, client_msg_id), in batch order.
	firstOf := make(map[[2]string]*writeReq)
	rows := make([]*Message, 0, len(batch))
	for _, r := range batch {
		m := &r.msg
		if m.ClientMsgID != "" {
			k := [2]string{m.SenderID, m.ClientMsgID}
			if f := firstOf[k]; f != nil {
				r.dup = f
				continue
			}
			firstOf[k] = r
		}
		rows = append(rows, m)
	}
	var got []returnedRow
	var err error
	if s.pg {
		got, err = s.pgSaveBatch(ctx, tx, rows)
	} else {
		got, err = s.sqliteInsertBatch(ctx, tx, rows)
	}
	if err != nil {
		return err
	}
	// Ids are assigned in row order on both databases, whatever order
	// RETURNING uses: sorted returned ids line up with the inserted rows.
	slices.SortFunc(got, func(a, b returnedRow) int { return cmp.Compare(a.ID, b.ID) })
	inserted := make(map[[2]string]bool, len(got))
	for _, g := range got {
		if g.ClientMsgID.Valid {
			inserted[[2]string{g.SenderID, g.ClientMsgID.String}] = true
		}
	}
	stored := make([]*Message, 0, len(rows))
	next := 0
	for i, r := range batch {
		if r.dup != nil {
			continue
		}
		m := &r.msg
		if m.ClientMsgID != "" && !inserted[[2]string{textArg(m.SenderID), textArg(m.ClientMsgID)}] {
			// Stored before (a retry): answer with that row, touch no chat.
			var prev messageRow
			if err := tx.NewSelect().Model(&prev).
				Where("sender_id = ? AND client_msg_id = ?", m.SenderID, m.ClientMsgID).
				Limit(1).Scan(ctx); err != nil {
				return err
			}
			r.out = prev.retry()
			continue
		}
		if next >= len(got) || got[next].SenderID != textArg(m.SenderID) ||
			got[next].ClientMsgID.Valid != (m.ClientMsgID != "") {
			return fmt.Errorf("%w (message %d of %d)", errBatchMismatch, i, len(batch))
		}
		row := messageRow{
			ID: got[next].ID, SenderID: m.SenderID, ReceiverID: m.ReceiverID, ChatType: m.ChatType,
			Body: m.Body, MessageType: m.Type, FilePath: m.FilePath, SentAt: m.SentAt,
			Delivered: m.Delivered, Read: m.Read, ClientMsgID: m.ClientMsgID,
		}
		next++
		r.out = row.message()
		stored = append(stored, &r.out)
	}
	if next != len(got) {
		return fmt.Errorf("%w (%d rows returned, %d matched)", errBatchMismatch, len(got), next)
	}
	if s.pg {
		return nil // the batch statement upserted the chat rows
	}
	return s.sqliteUpsertChats(ctx, tx, stored)
}

// chatAgg is the net effect of a batch's messages on one chat row.
type chatAgg struct {
	row   chatRow
	reset bool // the owner sent a message in the batch: unread restarts at row.UnreadCount
}

// batchChats is upsertChats for every stored message, in id order, netted
// per chat row: each row gets the summary of its newest message; the
// receiver's unread count is raised by the messages it received since it
// last sent one (reset: set to that, if it sent one). Both lists are sorted
// by (owner, peer). writer_pg.go computes the same in SQL.
func batchChats(stored []*Message) (reset, add []chatRow) {
	aggs := make(map[[2]string]*chatAgg, 2*len(stored))
	touch := func(owner, peer string, m *Message) *chatAgg {
		k := [2]string{owner, peer}
		a := aggs[k]
		if a == nil {
			a = &chatAgg{}
			aggs[k] = a
		}
		a.row = chatRow{OwnerID: owner, PeerID: peer, ChatType: m.ChatType, LastMessage: m.Body,
			LastMessageType: m.Type, LastTime: m.SentAt, Status: wire.ChatStatusOpen, UnreadCount: a.row.UnreadCount}
		return a
	}
	for _, m := range stored {
		a := touch(m.SenderID, m.ReceiverID, m) // the sender has read the whole chat
		a.reset, a.row.UnreadCount = true, 0
		if m.SenderID != m.ReceiverID {
			touch(m.ReceiverID, m.SenderID, m).row.UnreadCount++
		}
	}
	for _, a := range aggs {
		if a.reset {
			reset = append(reset, a.row)
		} else {
			add = append(add, a.row)
		}
	}
	byKey := func(a, b chatRow) int {
		return cmp.Or(cmp.Compare(a.OwnerID, b.OwnerID), cmp.Compare(a.PeerID, b.PeerID))
	}
	slices.SortFunc(reset, byKey)
	slices.SortFunc(add, byKey)
	return reset, add
}
