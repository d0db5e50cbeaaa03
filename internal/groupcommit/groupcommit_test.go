package groupcommit

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// waitFor polls cond (a state change, not a duration being measured).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached in 10s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// store is a fake durable set that records its batches; "bad" items fail
// their batch and themselves.
type store struct {
	mu      sync.Mutex
	stored  map[string]bool
	batches [][]string
	ones    int
}

var errBad = errors.New("bad item")

func newStore() *store { return &store{stored: map[string]bool{}} }

func (s *store) commit() Commit[string] {
	return Commit[string]{
		Batch: func(_ context.Context, items []string) error {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.batches = append(s.batches, slices.Clone(items))
			if slices.Contains(items, "bad") {
				return errBad
			}
			for _, it := range items {
				s.stored[it] = true
			}
			return nil
		},
		One: func(_ context.Context, item string) error {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.ones++
			if item == "bad" {
				return errBad
			}
			s.stored[item] = true
			return nil
		},
	}
}

// checkIdle waits until b holds no request and no committer slot: a
// committer gives its slot up just after answering its last batch.
func checkIdle(t *testing.T, b *Batcher[string]) {
	t.Helper()
	waitFor(t, "batcher idle", func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return b.running == 0 && len(b.queue) == 0 && b.Pending() == 0
	})
}

// Concurrent calls share batches, every call gets its own result, and a bad
// item fails alone: its batch is redone one by one.
func TestGroupsAndSplits(t *testing.T) {
	s := newStore()
	c := s.commit()
	gate, entered := make(chan struct{}), make(chan struct{})
	var once sync.Once
	batch := c.Batch
	c.Batch = func(ctx context.Context, items []string) error {
		once.Do(func() { close(entered); <-gate }) // hold the first commit so others queue
		return batch(ctx, items)
	}
	b := New(Options{MaxBatch: 256, Queue: 1000}, c)
	b.Start()
	const n = 100
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		item := fmt.Sprint(i)
		if i == 57 {
			item = "bad"
		}
		wg.Go(func() { errs[i] = b.Do(context.Background(), item) })
		if i == 0 {
			<-entered // the first leads, holding its commit open
		}
	}
	waitFor(t, "99 calls queued behind the first commit", func() bool { return b.Pending() == n })
	close(gate)
	wg.Wait()
	for i, err := range errs {
		if i == 57 {
			if !errors.Is(err, errBad) {
				t.Fatalf("bad item: %v, want %v", err, errBad)
			}
			continue
		}
		if err != nil {
			t.Fatalf("Do %d: %v", i, err)
		}
		if !s.stored[fmt.Sprint(i)] {
			t.Fatalf("item %d acknowledged but not stored", i)
		}
	}
	// The first commits alone; the 99 that queued behind it share one
	// batch, which fails on the bad item and is redone one by one.
	if len(s.batches) != 2 || len(s.batches[0]) != 1 || len(s.batches[1]) != n-1 {
		t.Fatalf("batch sizes %v, want [1 %d]", sizes(s.batches), n-1)
	}
	if s.ones != n-1 {
		t.Fatalf("%d single commits, want %d", s.ones, n-1)
	}
	if b.Batches() != 1 {
		t.Fatalf("Batches = %d, want 1 (the split one does not count)", b.Batches())
	}
	checkIdle(t, b)
}

func sizes(bs [][]string) []int {
	out := make([]int, len(bs))
	for i, b := range bs {
		out[i] = len(b)
	}
	return out
}

// An error that Split refuses (the database is unavailable) answers every
// item of the batch at once, with no single commits.
func TestUnsplitErrorFailsBatch(t *testing.T) {
	s := newStore()
	c := s.commit()
	down := errors.New("database unavailable")
	c.Batch = func(context.Context, []string) error { return down }
	c.Split = func(err error) bool { return !errors.Is(err, down) }
	b := New(Options{MaxBatch: 8}, c)
	wait := enqueue(t, b, "a", "b", "c")
	b.Start()
	for i, err := range wait() {
		if !errors.Is(err, down) {
			t.Fatalf("Do %d: %v, want %v", i, err, down)
		}
	}
	if s.ones != 0 {
		t.Fatalf("%d single commits after an unavailable database, want 0", s.ones)
	}
	checkIdle(t, b)
}

// enqueue starts one Do per item, in order, each once the previous one is
// queued, on a Batcher not started: after Start they form batches in this
// order. It returns a function that waits for every result.
func enqueue(t *testing.T, b *Batcher[string], items ...string) func() []error {
	t.Helper()
	errs := make([]error, len(items))
	var wg sync.WaitGroup
	for i, it := range items {
		wg.Go(func() { errs[i] = b.Do(context.Background(), it) })
		waitFor(t, "queued", func() bool { return b.Pending() == i+1 })
	}
	return func() []error { wg.Wait(); return errs }
}

// Batches hold at most MaxBatch items, in the order they were given.
func TestMaxBatchKeepsOrder(t *testing.T) {
	s := newStore()
	b := New(Options{MaxBatch: 3, Queue: 100}, s.commit())
	items := []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}
	wait := enqueue(t, b, items...)
	b.Start()
	for i, err := range wait() {
		if err != nil {
			t.Fatalf("Do %d: %v", i, err)
		}
	}
	if got := slices.Concat(s.batches...); !slices.Equal(got, items) {
		t.Fatalf("committed %v, want %v", got, items)
	}
	if !slices.Equal(sizes(s.batches), []int{3, 3, 3, 1}) {
		t.Fatalf("batch sizes %v, want [3 3 3 1]", sizes(s.batches))
	}
	checkIdle(t, b)
}

// A full queue blocks Do until there is room, or until its context ends
// (then the item is not accepted).
func TestQueueBackPressure(t *testing.T) {
	s := newStore()
	b := New(Options{MaxBatch: 10, Queue: 2}, s.commit())
	wait := enqueue(t, b, "a", "b")
	waitingForRoom := func() bool { b.mu.Lock(); defer b.mu.Unlock(); return b.space != nil }

	ctx, cancel := context.WithCancel(context.Background())
	refused := make(chan error, 1)
	go func() { refused <- b.Do(ctx, "refused") }()
	waitFor(t, "a call waiting for room", waitingForRoom)
	cancel()
	if err := <-refused; !errors.Is(err, context.Canceled) {
		t.Fatalf("Do on a full queue = %v, want context.Canceled", err)
	}

	later := make(chan error, 1)
	go func() { later <- b.Do(context.Background(), "later") }()
	waitFor(t, "a call waiting for room", waitingForRoom)
	if b.Pending() != 2 {
		t.Fatalf("Pending = %d with a full queue of 2", b.Pending())
	}
	b.Start() // the first batch makes room for the waiting call
	for i, err := range append(wait(), <-later) {
		if err != nil {
			t.Fatalf("Do %d: %v", i, err)
		}
	}
	if !s.stored["later"] || s.stored["refused"] {
		t.Fatalf("stored %v: want \"later\" and not \"refused\"", s.stored)
	}
	checkIdle(t, b)
}

// A caller that gives up before its batch begins gets its context's error
// and its item is not committed.
func TestCancelledBeforeBatch(t *testing.T) {
	s := newStore()
	b := New(Options{MaxBatch: 10}, s.commit())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Do(ctx, "gone") }()
	waitFor(t, "queued", func() bool { return b.Pending() == 1 })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Do = %v, want context.Canceled", err)
	}
	b.Start()
	waitFor(t, "answered", func() bool { return b.Pending() == 0 })
	if err := b.Do(context.Background(), "kept"); err != nil {
		t.Fatal(err)
	}
	if len(s.batches) != 1 || !slices.Equal(s.batches[0], []string{"kept"}) {
		t.Fatalf("batches %v, want only [kept]", s.batches)
	}
	checkIdle(t, b)
}

// Up to Committers batches commit at once, never more.
func TestCommittersBound(t *testing.T) {
	var in, most atomic.Int64
	gate := make(chan struct{})
	c := Commit[string]{Batch: func(context.Context, []string) error {
		now := in.Add(1)
		for old := most.Load(); now > old && !most.CompareAndSwap(old, now); old = most.Load() {
		}
		<-gate
		in.Add(-1)
		return nil
	}}
	b := New(Options{MaxBatch: 4, Queue: 100, Committers: 2}, c)
	b.Start()
	const n = 40
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { errs[i] = b.Do(context.Background(), fmt.Sprint(i)) })
	}
	waitFor(t, "two batches committing", func() bool { return in.Load() == 2 })
	waitFor(t, "every call accepted", func() bool { return b.Pending() == n })
	close(gate)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Do %d: %v", i, err)
		}
	}
	if most.Load() != 2 {
		t.Fatalf("%d batches committed at once, want 2", most.Load())
	}
	waitFor(t, "batcher idle", func() bool { b.mu.Lock(); defer b.mu.Unlock(); return b.running == 0 })
}

// With MaxDelay, a batch waits for more items, but not once it is full.
func TestMaxDelayEndsWhenFull(t *testing.T) {
	s := newStore()
	b := New(Options{MaxBatch: 4, MaxDelay: time.Hour, Queue: 100}, s.commit())
	b.Start()
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			if err := b.Do(context.Background(), fmt.Sprint(i)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait() // an hour if the full batch did not end the wait
	if !slices.Equal(sizes(s.batches), []int{4}) {
		t.Fatalf("batch sizes %v, want [4]", sizes(s.batches))
	}
	checkIdle(t, b)
}

// Close commits what was accepted, even while a batch waits out MaxDelay or
// the Batcher was never started, and refuses what comes after.
func TestCloseFlushes(t *testing.T) {
	for _, start := range []bool{true, false} {
		t.Run(fmt.Sprint("started=", start), func(t *testing.T) {
			s := newStore()
			closed := errors.New("closed for the test")
			b := New(Options{MaxBatch: 1000, MaxDelay: time.Hour, Queue: 1000, Closed: closed}, s.commit())
			if start {
				b.Start()
			}
			const n = 20
			var wg sync.WaitGroup
			errs := make([]error, n)
			for i := range n {
				wg.Go(func() { errs[i] = b.Do(context.Background(), fmt.Sprint(i)) })
			}
			waitFor(t, "every call accepted", func() bool { return b.Pending() == n })
			if err := b.Close(context.Background()); err != nil {
				t.Fatalf("Close: %v", err)
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Fatalf("Do %d: %v", i, err)
				}
			}
			if len(s.stored) != n {
				t.Fatalf("%d stored after Close, want %d", len(s.stored), n)
			}
			if err := b.Do(context.Background(), "late"); !errors.Is(err, closed) {
				t.Fatalf("Do after Close = %v, want %v", err, closed)
			}
			if err := b.Close(context.Background()); err != nil {
				t.Fatalf("second Close: %v", err)
			}
			checkIdle(t, b)
		})
	}
}

// Close gives up waiting when its context ends, and the batch still
// completes afterwards.
func TestCloseHonoursContext(t *testing.T) {
	gate := make(chan struct{})
	b := New(Options{}, Commit[string]{Batch: func(context.Context, []string) error { <-gate; return nil }})
	b.Start()
	done := make(chan error, 1)
	go func() { done <- b.Do(context.Background(), "slow") }()
	waitFor(t, "committing", func() bool { return b.Pending() == 1 })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.Close(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Close = %v, want context.Canceled", err)
	}
	close(gate)
	if err := <-done; err != nil {
		t.Fatalf("Do = %v", err)
	}
	if err := b.Close(context.Background()); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}
