package handlers

import (
	"context"
	"sync"

	"github.com/parley-im/parley/db"
)

// tokenBatcher group-commits the resume tokens of concurrent logins: one
// write transaction for every token queued while the previous one was
// committing, instead of one per login. On SQLite, whose writes are
// serialised, a warm login storm was one write transaction per login and
// waited mostly for those (docs/PERFORMANCE.md, "storm"). Like messages, a
// login is answered only after its token is stored, so a client can resume
// with it at once.
//
// There is no background goroutine: the first login that finds no commit
// running becomes the committer; if more tokens queued meanwhile, a
// short-lived goroutine keeps committing until the queue is empty.
type tokenBatcher struct {
	saveMany func(ctx context.Context, ts []db.ResumeToken) error
	saveOne  func(ctx context.Context, t db.ResumeToken) error

	mu      sync.Mutex
	pending []*tokenReq
	running bool
}

// maxTokenBatch bounds one transaction.
const maxTokenBatch = 256

type tokenReq struct {
	t    db.ResumeToken
	done chan error // buffered 1
}

// save stores t and returns once the transaction holding it committed, or
// ctx ended.
func (b *tokenBatcher) save(ctx context.Context, t db.ResumeToken) error {
	r := &tokenReq{t: t, done: make(chan error, 1)}
	b.mu.Lock()
	b.pending = append(b.pending, r)
	lead := !b.running
	b.running = true
	b.mu.Unlock()
	if lead {
		b.commitOne()
	}
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// commitOne commits one batch of what is queued, then hands any backlog to
// a goroutine (drain) so the leading login is not kept waiting for others.
func (b *tokenBatcher) commitOne() {
	if b.commitBatch() {
		go b.drain()
	}
}

func (b *tokenBatcher) drain() {
	for b.commitBatch() {
	}
}

// commitBatch commits up to maxTokenBatch queued tokens and reports whether
// more are queued (and the caller must go on); false means it gave up the
// committer role.
func (b *tokenBatcher) commitBatch() bool {
	b.mu.Lock()
	n := min(len(b.pending), maxTokenBatch)
	batch := b.pending[:n:n]
	b.pending = b.pending[n:]
	if len(b.pending) == 0 {
		b.pending = nil
	}
	b.mu.Unlock()

	// The batch outlives any one login's request, so it does not take the
	// leader's cancellation; the store bounds it with its query timeout.
	ctx := context.Background()
	if len(batch) > 0 {
		ts := make([]db.ResumeToken, len(batch))
		for i, r := range batch {
			ts[i] = r.t
		}
		err := b.saveMany(ctx, ts)
		if err != nil && len(batch) > 1 && !db.IsUnavailable(err) {
			// One bad token (a user deleted meanwhile) must not fail the
			// others: redo one by one.
			for _, r := range batch {
				r.done <- b.saveOne(ctx, r.t)
			}
		} else {
			for _, r := range batch {
				r.done <- err
			}
		}
	}

	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.pending) == 0 {
		b.running = false
		return false
	}
	return true
}
