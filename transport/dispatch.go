package transport

import (
	"context"
	"sync"
	"sync/atomic"
)

// batchSize is how many frames a worker runs for one session before putting
// it back at the end of the run queue, so a busy session cannot starve others.
const batchSize = 16

// mailbox holds one connection's received frames until a worker runs them.
// A connection is on the run queue, or held by a worker, exactly when
// scheduled is true; that is what keeps its frames in order.
type mailbox struct {
	mu        sync.Mutex
	frames    [][]byte
	head      int // frames[head:] are waiting
	bytes     int // cost of the waiting frames (body + frameOverhead each)
	scheduled bool
	closed    bool
}

type putResult int

const (
	putQueued    putResult = iota // queued; the connection already had a turn coming
	putScheduled                  // queued; the caller must put the connection on the run queue
	putDropped                    // the mailbox is closed: the connection is going away
	putOverflow                   // over the byte limit: nothing queued
)

func (m *mailbox) put(body []byte, limit int) putResult {
	cost := len(body) + frameOverhead
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case m.closed:
		return putDropped
	case m.bytes+cost > limit:
		return putOverflow
	}
	m.frames = append(m.frames, body)
	m.bytes += cost
	if m.scheduled {
		return putQueued
	}
	m.scheduled = true
	return putScheduled
}

// take removes the oldest frame. With none left (or closed) it gives up the
// connection's turn: the next put schedules it again.
func (m *mailbox) take() ([]byte, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed || m.head == len(m.frames) {
		m.scheduled = false
		return nil, false
	}
	body := m.frames[m.head]
	m.frames[m.head] = nil
	m.head++
	m.bytes -= len(body) + frameOverhead
	if m.head == len(m.frames) {
		m.frames, m.head = m.frames[:0], 0
	} else if m.head >= 64 && m.head*2 >= len(m.frames) {
		// Reuse the front of the array instead of growing it forever under a
		// steady backlog.
		n := copy(m.frames, m.frames[m.head:])
		clear(m.frames[n:])
		m.frames, m.head = m.frames[:n], 0
	}
	return body, true
}

// keepTurn is called after a batch: true means frames are still waiting and
// the caller must requeue the connection; false gives the turn up.
func (m *mailbox) keepTurn() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed || m.head == len(m.frames) {
		m.scheduled = false
		return false
	}
	return true
}

// close drops the waiting frames and refuses new ones; it returns how many
// were dropped. A frame already taken by a worker still runs.
func (m *mailbox) close() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return 0
	}
	m.closed = true
	n := len(m.frames) - m.head
	m.frames, m.head, m.bytes = nil, 0, 0
	return n
}

// busy reports whether frames are waiting or running, for the idle sweep: a
// connection whose frames wait for a worker is not idle.
func (m *mailbox) busy() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.scheduled
}

// dispatcher runs received frames on a fixed set of worker goroutines: one
// connection's frames in order, different connections in parallel. The run
// queue holds each connection at most once, so it is bounded by the number
// of connections, and each mailbox is bounded by MaxQueued bytes.
type dispatcher struct {
	serve func(c *conn, body []byte)

	mu      sync.Mutex
	cond    sync.Cond
	runq    []*conn
	stopped atomic.Bool

	queued atomic.Int64 // frames waiting in all mailboxes
	wg     sync.WaitGroup
}

func newDispatcher(serve func(*conn, []byte)) *dispatcher {
	d := &dispatcher{serve: serve}
	d.cond.L = &d.mu
	return d
}

// start launches n workers.
func (d *dispatcher) start(n int) {
	d.wg.Add(n)
	for range n {
		go d.worker()
	}
}

// submit queues a frame for c. It runs on c's loop goroutine and never
// blocks beyond two short critical sections.
func (d *dispatcher) submit(c *conn, body []byte, limit int) putResult {
	r := c.mbox.put(body, limit)
	switch r {
	case putScheduled:
		d.queued.Add(1)
		d.push(c)
	case putQueued:
		d.queued.Add(1)
	}
	return r
}

// drop closes c's mailbox and forgets its waiting frames.
func (d *dispatcher) drop(c *conn) { d.queued.Add(-int64(c.mbox.close())) }

func (d *dispatcher) push(c *conn) {
	d.mu.Lock()
	d.runq = append(d.runq, c)
	d.mu.Unlock()
	d.cond.Signal()
}

// pop waits for a connection with work; nil means the dispatcher stopped.
func (d *dispatcher) pop() *conn {
	d.mu.Lock()
	defer d.mu.Unlock()
	for len(d.runq) == 0 && !d.stopped.Load() {
		d.cond.Wait()
	}
	if d.stopped.Load() {
		return nil
	}
	c := d.runq[0]
	d.runq[0] = nil
	d.runq = d.runq[1:]
	return c
}

func (d *dispatcher) worker() {
	defer d.wg.Done()
	for {
		c := d.pop()
		if c == nil {
			return
		}
		// Once take gives the turn up, a put on the loop may already have
		// scheduled c again: it must not be pushed a second time, or two
		// workers would run its frames at once.
		gaveUp := false
		for range batchSize {
			if d.stopped.Load() {
				break
			}
			body, ok := c.mbox.take()
			if !ok {
				gaveUp = true
				break
			}
			d.queued.Add(-1)
			d.serve(c, body)
		}
		if !gaveUp && !d.stopped.Load() && c.mbox.keepTurn() {
			d.push(c)
		}
	}
}

// stop makes workers exit after the frame each is running; frames still
// queued are not run.
func (d *dispatcher) stop() {
	d.mu.Lock()
	d.stopped.Store(true)
	d.mu.Unlock()
	d.cond.Broadcast()
}

// wait blocks until every worker has exited or ctx ends.
func (d *dispatcher) wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() { d.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
