package groupcommit

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// Options tune a Batcher. Values below 1 (below 0 for MaxDelay) become the
// smallest that works: a batch of 1, a queue of MaxBatch, one committer, no
// delay; the callers own their defaults.
type Options struct {
	// MaxBatch caps the items committed in one batch.
	MaxBatch int
	// MaxDelay is how long a batch may wait for more items after its first
	// one, when fewer than MaxBatch are queued. Zero never waits: a batch is
	// whatever queued up while the previous one was committing, which
	// batches under load and adds no latency when idle.
	MaxDelay time.Duration
	// Queue bounds the items waiting for a batch; Do blocks (until its
	// context ends) while it is full.
	Queue int
	// Committers is how many batches may commit at once.
	Committers int
	// Closed is what Do returns after Close (ErrClosed when nil).
	Closed error
}

// Commit is what a Batcher does with its items.
type Commit[T any] struct {
	// Batch commits items together, all or nothing, in the order they were
	// given to Do. Returning nil answers every item with nil; an item may
	// carry a result (or a refusal of its own) for its caller to read.
	Batch func(ctx context.Context, items []T) error
	// One commits one item alone, with its caller's context: the fallback
	// when Batch failed with an error that Split accepts, so each item gets
	// its own answer. Nil: a failed batch fails all its items.
	One func(ctx context.Context, item T) error
	// Split reports whether items of a batch that failed with err are
	// committed again one by one (a content error: one bad item, a lost
	// deadlock) rather than all answered with err (the database is
	// unavailable: N more timeouts would help nobody). Nil: always.
	Split func(err error) bool
}

// ErrClosed is returned by Do after Close when Options.Closed is nil.
var ErrClosed = errors.New("groupcommit: closed")

// Batcher group-commits items of type T. It is safe for concurrent use;
// Start once, Close once.
type Batcher[T any] struct {
	opts   Options
	commit Commit[T]
	reqs   sync.Pool // of *req[T]

	mu      sync.Mutex
	queue   []*req[T] // accepted, waiting for a batch, in arrival order
	running int       // committer slots taken (≤ opts.Committers)
	started bool
	closed  bool
	free    []*work[T]    // batch buffers not in use
	space   chan struct{} // closed when the queue shrinks; nil when nobody waits for room
	delayed int           // committers waiting out MaxDelay
	full    chan struct{} // buffered 1: the queue reached MaxBatch (for delayed committers)
	closing chan struct{} // closed by Close: ends MaxDelay waits
	idle    chan struct{} // closed once closed, no committer runs and the queue is empty

	pending atomic.Int64 // accepted by Do, not yet answered
	batches atomic.Int64 // batches committed
}

// req is one Do waiting for its answer.
type req[T any] struct {
	item T
	ctx  context.Context
	done chan error // buffered 1: a committer never waits on a caller
}

// work is one committer's batch buffers, reused from batch to batch.
type work[T any] struct {
	reqs  []*req[T]
	items []T
}

// New returns a Batcher that commits through c. It holds what it is given
// until Start.
func New[T any](opts Options, c Commit[T]) *Batcher[T] {
	opts.MaxBatch = max(opts.MaxBatch, 1)
	opts.MaxDelay = max(opts.MaxDelay, 0)
	if opts.Queue < 1 {
		opts.Queue = opts.MaxBatch
	}
	opts.Committers = max(opts.Committers, 1)
	if opts.Closed == nil {
		opts.Closed = ErrClosed
	}
	b := &Batcher[T]{opts: opts, commit: c, full: make(chan struct{}, 1), closing: make(chan struct{})}
	b.reqs.New = func() any { return &req[T]{done: make(chan error, 1)} }
	return b
}

// Options returns the options in force (floors applied).
func (b *Batcher[T]) Options() Options { return b.opts }

// Pending is the number of items accepted by Do and not yet answered.
func (b *Batcher[T]) Pending() int { return int(b.pending.Load()) }

// Batches is the number of batches committed (a batch that failed and was
// redone one by one is not counted).
func (b *Batcher[T]) Batches() int64 { return b.batches.Load() }

// Start lets the Batcher commit: what was queued before is committed now,
// by goroutines that stop when the queue is empty. Calling it again does
// nothing.
func (b *Batcher[T]) Start() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.started {
		return
	}
	b.started = true
	b.spawn()
}

// spawn starts committers for the queue, up to the free slots, one per
// MaxBatch items. b.mu is held.
func (b *Batcher[T]) spawn() {
	want := (len(b.queue) + b.opts.MaxBatch - 1) / b.opts.MaxBatch
	for ; want > 0 && b.running < b.opts.Committers; want-- {
		b.running++
		go b.drain()
	}
}

// Do commits item in a batch and returns once that batch committed: nil,
// or the error that its batch (or, split, its own commit) failed with.
//
// If ctx ends while item waits for a batch, it is not committed and ctx's
// error is returned. If ctx ends while item's batch is committing, Do
// returns ctx's error at once and item may or may not be committed, unless
// this caller is the one committing the batch: it returns when the batch
// is done, which the commit functions bound (a store's query timeout).
func (b *Batcher[T]) Do(ctx context.Context, item T) error {
	r := b.reqs.Get().(*req[T])
	r.item, r.ctx = item, ctx
	b.mu.Lock()
	for !b.closed && len(b.queue) >= b.opts.Queue {
		if b.space == nil {
			b.space = make(chan struct{})
		}
		space := b.space
		b.mu.Unlock()
		select {
		case <-space:
		case <-ctx.Done():
			b.recycle(r)
			return ctx.Err()
		}
		b.mu.Lock()
	}
	if b.closed {
		b.mu.Unlock()
		b.recycle(r)
		return b.opts.Closed
	}
	b.queue = append(b.queue, r)
	b.pending.Add(1)
	lead := b.started && b.running < b.opts.Committers
	if lead {
		b.running++
	} else if b.delayed > 0 && len(b.queue) >= b.opts.MaxBatch {
		select {
		case b.full <- struct{}{}:
		default:
		}
	}
	b.mu.Unlock()
	if lead {
		// Commit one batch here, then leave any backlog to a goroutine:
		// this caller's answer is in the batch it just committed.
		if b.commitNext() {
			go b.drain()
		}
	}
	select {
	case err := <-r.done:
		b.recycle(r)
		return err
	case <-ctx.Done():
		// r still belongs to its batch: the committer sends into r.done
		// (never blocking, it is buffered) and r is left to the GC.
		return ctx.Err()
	}
}

func (b *Batcher[T]) recycle(r *req[T]) {
	var zero T
	r.item, r.ctx = zero, nil
	b.reqs.Put(r)
}

// drain commits batches until the queue is empty; it holds a committer slot.
func (b *Batcher[T]) drain() {
	for b.commitNext() {
	}
}

// commitNext commits one batch from the queue, on a committer slot the
// caller holds. It reports whether the caller must go on (items are
// queued) with the slot; false means the slot was given up.
func (b *Batcher[T]) commitNext() bool {
	b.mu.Lock()
	if b.opts.MaxDelay > 0 && len(b.queue) < b.opts.MaxBatch && !b.closed {
		b.waitForMore()
	}
	w := b.take()
	b.mu.Unlock()

	b.run(w)

	b.mu.Lock()
	defer b.mu.Unlock()
	clear(w.reqs)
	clear(w.items)
	b.free = append(b.free, w)
	if len(b.queue) > 0 {
		return true
	}
	b.running--
	if b.closed && b.running == 0 && b.idle != nil {
		close(b.idle)
		b.idle = nil
	}
	return false
}

// waitForMore waits until MaxBatch items are queued, MaxDelay has passed,
// or Close; b.mu is held, and released while waiting.
func (b *Batcher[T]) waitForMore() {
	select {
	case <-b.full: // a stale signal, from a batch already taken
	default:
	}
	b.delayed++
	b.mu.Unlock()
	t := time.NewTimer(b.opts.MaxDelay)
	select {
	case <-t.C:
	case <-b.full:
	case <-b.closing:
	}
	t.Stop()
	b.mu.Lock()
	b.delayed--
}

// take moves up to MaxBatch queued requests into a batch buffer, frees
// their room in the queue, and starts another committer if more are queued
// and a slot is free. b.mu is held.
func (b *Batcher[T]) take() *work[T] {
	var w *work[T]
	if n := len(b.free); n > 0 {
		w, b.free = b.free[n-1], b.free[:n-1]
	} else {
		w = &work[T]{}
	}
	n := min(len(b.queue), b.opts.MaxBatch)
	w.reqs = append(w.reqs[:0], b.queue[:n]...)
	rest := copy(b.queue, b.queue[n:])
	clear(b.queue[rest:])
	b.queue = b.queue[:rest]
	if b.space != nil && n > 0 {
		close(b.space)
		b.space = nil
	}
	b.spawn()
	return w
}

// run commits one batch and answers every request in it.
func (b *Batcher[T]) run(w *work[T]) {
	live := w.reqs[:0]
	w.items = w.items[:0]
	for _, r := range w.reqs {
		if err := r.ctx.Err(); err != nil {
			b.answer(r, err) // given up before its batch began: not committed
			continue
		}
		live = append(live, r)
		w.items = append(w.items, r.item)
	}
	w.reqs = live
	if len(live) == 0 {
		return
	}
	// The batch outlives any one caller's request, so it takes none of
	// their cancellations; the commit functions bound it (a query timeout).
	err := b.commit.Batch(context.Background(), w.items)
	switch {
	case err == nil:
		b.batches.Add(1)
		for _, r := range live {
			b.answer(r, nil)
		}
	case b.commit.One != nil && (b.commit.Split == nil || b.commit.Split(err)):
		// The failed batch committed nothing: one commit per item, so each
		// gets its own answer.
		for _, r := range live {
			b.answer(r, b.commit.One(r.ctx, r.item))
		}
	default:
		for _, r := range live {
			b.answer(r, err)
		}
	}
}

func (b *Batcher[T]) answer(r *req[T], err error) {
	b.pending.Add(-1)
	r.done <- err
}

// Close stops accepting items, commits every item already accepted (at
// once, without waiting out MaxDelay) and waits for that, or for ctx.
// Later calls to Do return Options.Closed. Closing again waits again.
func (b *Batcher[T]) Close(ctx context.Context) error {
	b.mu.Lock()
	if !b.closed {
		b.closed = true
		close(b.closing)
		if b.space != nil { // callers waiting for room are refused now
			close(b.space)
			b.space = nil
		}
	}
	b.started = true // a Batcher closed before Start still answers what it accepted
	b.spawn()
	if b.running == 0 {
		b.mu.Unlock()
		return nil
	}
	if b.idle == nil {
		b.idle = make(chan struct{})
	}
	idle := b.idle
	b.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
