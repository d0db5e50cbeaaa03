// Package groupcommit is the one group-commit primitive: items that arrive
// together are committed together (one transaction, one fsync, one turn of
// SQLite's writer slot), and each caller is answered only after the batch
// holding its item committed, so "acknowledged means durable" holds. db's
// MessageWriter (messages) and handlers' resume tokens (logins) are built on
// it.
//
// A Batcher bounds a batch (MaxBatch) and the items waiting for one (Queue:
// Do blocks until its context ends when the queue is full, which is the
// back-pressure), runs up to Committers batches at once (PostgreSQL overlaps
// one batch's round trips with the next; SQLite has one writer), may hold a
// batch open for MaxDelay to let it fill, and, when a batch fails for a
// reason tied to its content, commits its items again one by one so a bad
// item fails alone. Close commits what it accepted and refuses the rest.
//
// Who commits: leader/follower, not a committer goroutine. The caller that
// finds a committer slot free commits the batch itself (its own item first)
// on its own goroutine; callers arriving meanwhile queue and wait. When a
// commit ends with items queued, a goroutine takes over the slot and
// commits until the queue is empty, so the leader is never kept waiting for
// later arrivals. An idle server therefore commits a lone item with no
// hand-off between goroutines (two scheduler wake-ups fewer than a channel
// to a committer and back), and a loaded one behaves like a committer
// goroutine fed by a queue. docs/ARCHITECTURE.md ("Decisions") has the
// measurements that chose it.
//
// It must not know what it commits: no database, no logging. The caller
// supplies the commit functions and decides which errors split a batch.
package groupcommit
