package transport

import (
	"time"

	"go.uber.org/zap"
)

// sweepLoop runs the periodic policies on its own goroutine (one ticker for
// all connections, instead of gev's one timer, and one goroutine per firing,
// per connection).
func (s *Server) sweepLoop() {
	defer close(s.sweepDone)
	t := time.NewTicker(s.cfg.sweepEvery)
	defer t.Stop()
	for {
		select {
		case <-s.sweepStop:
			return
		case <-t.C:
			s.sweep()
		case done := <-s.sweepReq:
			s.sweep()
			close(done)
		}
	}
}

// sweep applies the policies to every connection, at s.now(). It runs only
// on the sweep goroutine, which owns the per-connection sweep state.
func (s *Server) sweep() {
	now := s.now()
	for _, c := range s.snapshot() {
		s.sweepConn(c, now)
	}
}

// sweepConn applies the frame, write-stall and idle policies to one
// connection.
//
// Frame timeout: a frame whose first byte arrived FrameTimeout ago and is
// still incomplete closes the connection (slowloris, or a peer holding
// partial frames to pin memory). A connection idle between frames has no
// deadline here, and the clock starts again whenever output to the peer is
// pending, because gev reads nothing then.
//
// Idle: a client that has pinged speaks heartbeats, so HeartbeatTimeout of
// silence means it is gone. A client that never pinged (the seed client) is
// closed only after LegacyIdle (6 h in the shipped configuration; 0 is off)
// with neither a frame in nor a frame out, because the seed client never
// reconnects: a close is permanent for its user, and a user who only reads
// (pushes arriving, nothing typed) is not idle. A peer that stopped reading
// is the write-stall policy's, and a vanished one TCP keepalive's.
func (s *Server) sweepConn(c *conn, now time.Time) {
	if c.ws != nil && s.sweepWS(c, now) {
		return
	}
	if c.closing.Load() {
		return
	}
	if since := c.partialSince.Load(); since != 0 {
		if c.gc.WriteBufferLength()+c.queuedOut.Load() > 0 {
			// gev does not read while output is pending, so the frame cannot
			// complete: restart its clock (a peer that reads nothing is the
			// write stall's; one that reads slowly stays under the budget).
			c.partialSince.CompareAndSwap(since, now.UnixNano())
		} else if now.Sub(time.Unix(0, since)) >= s.cfg.frameTimeout {
			r := reasonFrameTimeout
			if c.proxyPending.Load() {
				r = reasonProxyHeader // a trusted balancer's header, same deadline
			}
			c.closeFor(r, zap.Duration("for", now.Sub(time.Unix(0, since))))
			return
		}
	}
	if s.sweepStall(c, now) {
		return
	}
	if n := c.sent.Load(); n != c.seenSent {
		c.seenSent, c.sentAt = n, now
	}
	if c.mbox.busy() {
		return // frames are waiting for a worker: the client is not silent
	}
	silent := now.Sub(c.sess.LastSeen())
	switch {
	case c.sess.Pinged():
		if s.cfg.heartbeatTimeout > 0 && silent > s.cfg.heartbeatTimeout {
			c.closeFor(reasonHeartbeat, zap.Duration("silent", silent))
		}
	case s.cfg.legacyIdle > 0 && silent > s.cfg.legacyIdle && now.Sub(c.sentAt) > s.cfg.legacyIdle:
		c.closeFor(reasonIdle, zap.Duration("silent", silent))
	}
}

// sweepStall closes c, and reports true, when output is pending and the
// peer has taken none of it for WriteStall. Pending counts what gev and Send
// hold and what the kernel holds unacknowledged in the socket's send queue:
// a peer that stops reading after one big reply leaves gev's buffer empty
// and the bytes in the kernel, where they would otherwise keep the
// connection (and up to the socket's send buffer) forever. Progress is
// measured as bytes the peer acknowledged (everything ever sent minus
// everything pending), so a reading peer under a steady stream, whose output
// is never empty, is not closed.
//
// The counts are read in the order that makes a concurrent move between
// them look like less progress, never more (Send adds to queuedOut before
// outTotal; afterSend publishes gev's length before shrinking queuedOut; gev
// publishes after writing to the kernel); the high-water mark absorbs what
// is left.
func (s *Server) sweepStall(c *conn, now time.Time) bool {
	total := c.outTotal.Load()
	if total == c.delivered {
		c.stallSince = time.Time{}
		return false // all output ever sent was acknowledged: nothing to ask the kernel
	}
	queued := c.queuedOut.Load()
	if queued > 0 {
		// A flush task has not run yet: the loop, not the peer, is behind
		// (an 8 MiB reply took 300 ms to be copied under the race detector).
		// The deadline counts from when the server last had work for it.
		c.stallSince = now
		return false
	}
	user := c.gc.WriteBufferLength()
	kernel := unackedBytes(c.fd)
	if c.closing.Load() {
		return true // the fd may already be closed (and reused): kernel means nothing
	}
	switch delivered := total - user - kernel; {
	case user+kernel == 0:
		c.delivered = total
		c.stallSince = time.Time{}
	case delivered > c.delivered:
		c.delivered = delivered
		c.stallSince = now
	case c.stallSince.IsZero():
		c.stallSince = now
	case now.Sub(c.stallSince) >= s.cfg.writeStall:
		c.closeFor(reasonStall, zap.Int64("pending", user), zap.Int64("unacked", kernel),
			zap.Duration("for", now.Sub(c.stallSince)))
		return true
	}
	return false
}
