package transport

// Parking lets a handler give its worker back while its frame waits for
// something that needs no worker (a password hash in the handlers' hash
// pool), without letting the session's later frames run first: the mailbox
// stays scheduled, so the connection is in no run queue and no put queues
// it, until resume puts it back with the code that finishes the frame.
//
// The states of one frame's park, guarded by mailbox.mu:
//
//	parkNone --Park (handler, on the worker)--> parkHeld
//	parkHeld --worker returns from serve--> parkReleased (the worker moves on)
//	parkHeld --resume before that--> parkNone (the worker runs then itself)
//	parkReleased --resume--> parkNone, and the connection is pushed
type parkState uint8

const (
	parkNone parkState = iota
	parkHeld
	parkReleased
)

// Park implements session.Parker. It must be called by the handler of the
// frame a worker is serving for c (the pipeline's Request.Park does).
func (c *conn) Park() (resume func(then func())) { return c.srv.disp.park(c) }

// park marks c's current frame as parked and returns the function that ends
// the park. then runs on a worker of c's lane before any later frame of c.
func (d *dispatcher) park(c *conn) func(then func()) {
	m := &c.mbox
	m.mu.Lock()
	m.park = parkHeld
	m.mu.Unlock()
	d.parked.Add(1)
	return func(then func()) {
		m.mu.Lock()
		released := m.park == parkReleased
		m.park, m.then = parkNone, then
		m.mu.Unlock()
		// parked stays counted until settle has run then, so the
		// drain at shutdown (idle) does not see a gap.
		if released {
			// Still scheduled: only this push can give c a worker again.
			d.push(c)
		}
	}
}

// settle is called by the worker after each frame and when it picks c up:
// it runs a resumed frame's continuation, and reports whether c is parked,
// in which case the worker must leave c alone (resume will push it).
func (d *dispatcher) settle(c *conn) (parked bool) {
	m := &c.mbox
	for {
		m.mu.Lock()
		if m.park == parkHeld {
			m.park = parkReleased
			m.mu.Unlock()
			return true
		}
		then := m.then
		m.then = nil
		m.mu.Unlock()
		if then == nil {
			return false
		}
		d.running.Add(1)
		d.parked.Add(-1)
		d.run(c, then)
		d.running.Add(-1)
	}
}
