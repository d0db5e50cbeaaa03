package importseed

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/parley-im/parley/db"
)

// DefaultBatch is the rows per batch of relations, chats and messages: one
// seed query, one Parley transaction and one checkpoint each.
const DefaultBatch = 500

// usersPerWorker sizes a users batch: hashing dominates, so a batch is a
// few hashes per worker (a Ctrl-C waits for at most that, about a second).
const usersPerWorker = 16

// ErrInterrupted is returned when the context ended between two batches:
// everything up to the last batch is committed, and a new run continues.
var ErrInterrupted = errors.New("import interrupted after the current batch; run it again to continue")

// Options tune one run.
type Options struct {
	// Workers hash passwords in parallel; 0 means one per CPU.
	Workers int
	// Batch is the rows per batch (DefaultBatch if 0).
	Batch int
	// DryRun reads and checks everything and writes nothing.
	DryRun bool
	// Location is the seed server's time zone, in which its DATETIMEs
	// are local times (time.Local if nil).
	Location *time.Location
	Log      *zap.Logger
	// Progress is told each step's size and each batch done (nil: none).
	Progress Progress
}

// Progress follows a run: Start at each step with the rows it will read,
// Add after each batch, Finish at the end of the step.
type Progress interface {
	Start(step string, total int64)
	Add(rows int)
	Finish()
}

type importer struct {
	src    *sql.DB
	source string
	store  *db.Store
	opts   Options
	sum    *Summary
	rep    *reporter
	// users are the seed ids that exist in Parley as the seed's accounts
	// (imported now or before; in a dry run, those that would be):
	// relations, chats and messages naming any other id are skipped. It is
	// the one thing kept for the whole run (tens of bytes per user); the
	// other tables stream.
	users map[string]struct{}
	// work is the context of writes: a stop request (ctx) lets the
	// current batch finish, so it is not cancelled with ctx.
	work context.Context
}

// Run imports the seed database src (named source, see OpenSource) into
// store. It stops between batches when ctx ends (ErrInterrupted). The
// summary is returned even with an error.
func Run(ctx context.Context, src *sql.DB, source string, store *db.Store, opts Options) (*Summary, error) {
	if opts.Workers <= 0 {
		opts.Workers = runtime.NumCPU()
	}
	if opts.Batch <= 0 {
		opts.Batch = DefaultBatch
	}
	if opts.Location == nil {
		opts.Location = time.Local
	}
	if opts.Log == nil {
		opts.Log = zap.NewNop()
	}
	if opts.Progress == nil {
		opts.Progress = noProgress{}
	}
	im := &importer{
		src: src, source: source, store: store, opts: opts,
		sum: newSummary(opts.DryRun, opts.Workers), users: make(map[string]struct{}),
		work: context.WithoutCancel(ctx),
	}
	im.rep = &reporter{log: opts.Log, sum: im.sum}
	start, cpu := time.Now(), processCPU()
	err := im.run(ctx)
	im.sum.Elapsed, im.sum.CPU = time.Since(start), processCPU()-cpu
	if errors.Is(err, ErrInterrupted) {
		im.sum.Interrupted = true
	}
	return im.sum, err
}

func (im *importer) run(ctx context.Context) error {
	for _, t := range []table{userTable, relationTable, chatTable, messageTable} {
		if _, err := t.count(im.work, im.src, nil); err != nil {
			return fmt.Errorf("reading the seed database: table %s: %w", t.name, err)
		}
	}
	if !im.opts.DryRun {
		if err := im.store.EnsureImportLedger(im.work); err != nil {
			return err
		}
	}
	if err := im.importUsers(ctx); err != nil {
		return err
	}
	type step struct {
		name  string
		t     table
		batch func(rows *sql.Rows) (last []any, n int, w writeFn, err error)
	}
	for _, s := range []step{
		{StepRelations, relationTable, im.relationBatch},
		{StepChats, chatTable, im.chatBatch},
		{StepMessages, messageTable, im.messageBatch},
	} {
		if err := im.stream(ctx, s.name, s.t, s.batch); err != nil {
			return err
		}
	}
	return nil
}

// stream reads step's table after its checkpoint, a batch at a time, and
// writes each batch with its checkpoint in one transaction.
func (im *importer) stream(ctx context.Context, step string, t table,
	batch func(*sql.Rows) ([]any, int, writeFn, error)) error {
	key, err := im.checkpoint(step, t)
	if err != nil {
		return err
	}
	total, err := t.count(im.work, im.src, key)
	if err != nil {
		return err
	}
	im.opts.Progress.Start(step, total)
	defer im.opts.Progress.Finish()
	for {
		if ctx.Err() != nil {
			return ErrInterrupted
		}
		rows, err := t.page(im.work, im.src, key, im.opts.Batch)
		if err != nil {
			return fmt.Errorf("reading %s: %w", t.name, err)
		}
		last, n, write, err := batch(rows)
		rows.Close()
		if err != nil {
			return fmt.Errorf("reading %s: %w", t.name, err)
		}
		if n == 0 {
			return nil
		}
		im.sum.Steps[step].Read += int64(n)
		if err := im.write(step, encodeKey(last), write.rows, write.fn); err != nil {
			return err
		}
		key = last
		im.opts.Progress.Add(n)
	}
}

// checkpoint returns where step stopped last time (nil: at the start).
func (im *importer) checkpoint(step string, t table) ([]any, error) {
	raw, err := im.store.ImportCheckpoint(im.work, im.source, step)
	if err != nil || raw == "" {
		return nil, err
	}
	key, err := decodeKey(raw, len(t.keys), t.name == messageTable.name)
	if err != nil {
		return nil, fmt.Errorf("checkpoint of %s (%q) is unreadable: %w", step, raw, err)
	}
	im.sum.Resumed = append(im.sum.Resumed, step)
	return key, nil
}

// writeFn is one batch's insert: rows to write, and fn writing them and
// returning how many were new.
type writeFn struct {
	rows int
	fn   func(context.Context, db.ImportTx) (int64, error)
}

// write commits one batch and its checkpoint, and counts it. In a dry run
// nothing is written and every row counts as one that would be added.
func (im *importer) write(step, key string, rows int, fn func(context.Context, db.ImportTx) (int64, error)) error {
	c := im.sum.Steps[step]
	if im.opts.DryRun {
		c.Added += int64(rows)
		return nil
	}
	start := time.Now()
	var added int64
	err := im.store.ImportBatch(im.work, func(ctx context.Context, tx db.ImportTx) error {
		n, err := fn(ctx, tx)
		if err != nil {
			return err
		}
		added = n
		if key == "" {
			return nil
		}
		return tx.SetCheckpoint(ctx, im.source, step, key)
	})
	im.sum.WriteWall += time.Since(start)
	if err != nil {
		return fmt.Errorf("writing %s: %w", step, err)
	}
	c.Added += added
	c.Present += int64(rows) - added
	return nil
}

func (im *importer) skip(step, key, why string) {
	im.sum.Steps[step].Skipped++
	im.rep.problem(step, key, why, Skipped)
}

func (im *importer) fixer(step, key string) *fixer {
	return &fixer{r: im.rep, step: step, key: key, loc: im.opts.Location}
}

// twoUsers returns the two user ids a chat or message row names (columns
// aCol and bCol), or reports why the row is skipped: an id that is not one,
// or names no imported user.
func (im *importer) twoUsers(step, key, aCol string, a []byte, bCol string, b []byte) (string, string, bool) {
	ids := [2]string{}
	for i, c := range []struct {
		col string
		raw []byte
	}{{aCol, a}, {bCol, b}} {
		id, why := seedID(c.raw)
		switch {
		case why != "":
			im.skip(step, key, c.col+" "+why)
			return "", "", false
		case !im.known(id):
			im.skip(step, key, c.col+" names no imported user (missing from m_user, or skipped)")
			return "", "", false
		}
		ids[i] = id
	}
	return ids[0], ids[1], true
}

func (im *importer) known(id string) bool {
	_, ok := im.users[id]
	return ok
}

// encodeKey renders a batch's last key for the checkpoint table: string
// keys in hex (ids may hold any byte), numbers in decimal.
func encodeKey(key []any) string {
	parts := make([]string, len(key))
	for i, k := range key {
		switch v := k.(type) {
		case string:
			parts[i] = hex.EncodeToString([]byte(v))
		default:
			parts[i] = fmt.Sprint(v)
		}
	}
	return strings.Join(parts, ":")
}

func decodeKey(raw string, n int, numeric bool) ([]any, error) {
	parts := strings.Split(raw, ":")
	if len(parts) != n {
		return nil, fmt.Errorf("want %d parts", n)
	}
	key := make([]any, n)
	for i, p := range parts {
		if numeric {
			var id int64
			if _, err := fmt.Sscan(p, &id); err != nil {
				return nil, err
			}
			key[i] = id
			continue
		}
		b, err := hex.DecodeString(p)
		if err != nil {
			return nil, err
		}
		key[i] = string(b)
	}
	return key, nil
}

type noProgress struct{}

func (noProgress) Start(string, int64) {}
func (noProgress) Add(int)             {}
func (noProgress) Finish()             {}
