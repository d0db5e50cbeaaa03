package handlers

import (
	"github.com/parley-im/parley/db"
	"github.com/parley-im/parley/internal/groupcommit"
)

// The resume tokens of concurrent logins are group-committed: one write
// transaction for every token queued while the previous one was
// committing, instead of one per login. On SQLite, whose writes are
// serialised, a warm login storm was one write transaction per login and
// waited mostly for those (docs/PERFORMANCE.md, "storm"). Like messages, a
// login is answered only after its token is stored, so a client can resume
// with it at once.
const (
	// maxTokenBatch bounds one transaction.
	maxTokenBatch = 256
	// tokenQueue bounds the tokens waiting for a transaction: 32 of them;
	// a login beyond it waits (within its request's deadline) for room.
	tokenQueue = 32 * maxTokenBatch
)

// newTokenBatcher returns the started group commit of the tokens logins
// issue into store. One bad token (its user deleted meanwhile) fails
// alone: its batch is redone one token at a time, unless the database is
// unavailable.
func newTokenBatcher(store ResumeStore) *groupcommit.Batcher[db.ResumeToken] {
	b := groupcommit.New(groupcommit.Options{MaxBatch: maxTokenBatch, Queue: tokenQueue},
		groupcommit.Commit[db.ResumeToken]{
			Batch: store.SaveResumeTokens,
			One:   store.SaveResumeToken,
			Split: func(err error) bool { return !db.IsUnavailable(err) },
		})
	b.Start()
	return b
}
