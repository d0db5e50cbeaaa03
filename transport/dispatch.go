package transport

import (
	"context"
	"runtime/debug"
	"sync"
	"sync/atomic"

	"go.uber.org/zap"
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
	// park and then: a frame whose handler parked it (park.go).
	park parkState
	then func()
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

// laneID names one of the dispatcher's worker sets.
type laneID int

const (
	// laneUser runs the frames of logged-in sessions.
	laneUser laneID = iota
	// laneLogin runs the frames of sessions not logged in yet: login,
	// register, resume, and anything else an anonymous peer sends. A login
	// that waits for a password hash parks (park.go) and holds no worker;
	// the lane still keeps a flood of anonymous frames (lookups, cache
	// checks) off the workers logged-in users' frames need.
	laneLogin
	laneCount
)

// lane is one run queue with its own fixed set of workers.
type lane struct {
	mu   sync.Mutex
	cond sync.Cond
	runq []*conn
}

// dispatcher runs received frames on worker goroutines: one connection's
// frames in order, different connections in parallel. Workers are split in
// two lanes (laneUser, laneLogin); a connection is queued on the lane its
// session belongs to when its turn is queued, and is in at most one run queue
// at a time, so its frames stay in order when it moves from one lane to the
// other at login. The run queues hold each connection at most once, so they
// are bounded by the number of connections, and each mailbox is bounded by
// MaxQueued bytes.
type dispatcher struct {
	serve func(c *conn, body []byte)
	// laneOf picks the lane for c's next turn.
	laneOf func(c *conn) laneID

	lanes   [laneCount]lane
	stopped atomic.Bool

	queued  atomic.Int64 // frames waiting in all mailboxes
	running atomic.Int64 // frames being served right now
	parked  atomic.Int64 // frames parked by their handler (park.go)
	wg      sync.WaitGroup
}

// sessionLane puts logged-in sessions on laneUser and the rest on laneLogin.
func sessionLane(c *conn) laneID {
	if c.sess != nil && c.sess.UserID() != "" {
		return laneUser
	}
	return laneLogin
}

func newDispatcher(serve func(*conn, []byte)) *dispatcher {
	d := &dispatcher{serve: serve, laneOf: sessionLane}
	for i := range d.lanes {
		d.lanes[i].cond.L = &d.lanes[i].mu
	}
	return d
}

// start launches user workers on laneUser and login workers on laneLogin.
func (d *dispatcher) start(user, login int) {
	d.wg.Add(user + login)
	for range user {
		go d.worker(laneUser)
	}
	for range login {
		go d.worker(laneLogin)
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

// push queues c's turn on the lane it belongs to now.
func (d *dispatcher) push(c *conn) {
	l := &d.lanes[d.laneOf(c)]
	l.mu.Lock()
	l.runq = append(l.runq, c)
	l.mu.Unlock()
	l.cond.Signal()
}

// pop waits for a connection with work on lane id; nil means the dispatcher
// stopped.
func (d *dispatcher) pop(id laneID) *conn {
	l := &d.lanes[id]
	l.mu.Lock()
	defer l.mu.Unlock()
	for len(l.runq) == 0 && !d.stopped.Load() {
		l.cond.Wait()
	}
	if d.stopped.Load() {
		return nil
	}
	c := l.runq[0]
	l.runq[0] = nil
	l.runq = l.runq[1:]
	return c
}

func (d *dispatcher) worker(id laneID) {
	defer d.wg.Done()
	for {
		c := d.pop(id)
		if c == nil {
			return
		}
		// Once take gives the turn up, a put on the loop may already have
		// scheduled c again: it must not be pushed a second time, or two
		// workers would run its frames at once. The same holds once a
		// parked frame is released: its resume pushes c.
		gaveUp := false
		parked := d.settle(c) // a resumed frame finishes first
		// A resumed login may have just logged in: its frames belong on
		// the user lane.
		moved := !parked && id == laneLogin && d.laneOf(c) != laneLogin
		for i := 0; i < batchSize && !parked && !moved; i++ {
			if d.stopped.Load() {
				break
			}
			body, ok := c.mbox.take()
			if !ok {
				gaveUp = true
				break
			}
			d.queued.Add(-1)
			d.running.Add(1)
			d.serve(c, body)
			d.running.Add(-1)
			if parked = d.settle(c); parked {
				break
			}
			if id == laneLogin && d.laneOf(c) != laneLogin {
				// Just logged in: its next frames belong on the user lane.
				break
			}
		}
		if !gaveUp && !parked && !d.stopped.Load() && c.mbox.keepTurn() {
			d.push(c)
		}
	}
}

// run runs a parked frame's continuation, with the same last-resort
// recover as a frame (Server.serve).
func (d *dispatcher) run(c *conn, then func()) {
	defer func() {
		if p := recover(); p != nil {
			c.srv.log.Error("parked frame panicked", zap.Uint64("conn", c.id),
				zap.Any("panic", p), zap.ByteString("stack", debug.Stack()))
		}
	}()
	then()
}

// stop makes workers exit after the frame each is running; frames still
// queued are not run.
func (d *dispatcher) stop() {
	d.stopped.Store(true)
	for i := range d.lanes {
		l := &d.lanes[i]
		// Taking the lock orders the store before any waiter's next check.
		l.mu.Lock()
		l.mu.Unlock() //nolint:staticcheck // empty critical section on purpose
		l.cond.Broadcast()
	}
}

// idle reports whether no frame is waiting for a worker, running, or parked.
func (d *dispatcher) idle() bool {
	return d.queued.Load() == 0 && d.running.Load() == 0 && d.parked.Load() == 0
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
