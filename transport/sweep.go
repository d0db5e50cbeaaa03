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
		case now := <-t.C:
			for _, c := range s.snapshot() {
				s.sweepConn(c, now)
			}
		}
	}
}

// sweepConn applies the write-stall and idle policies to one connection.
//
// Write stall: output that has stayed pending for WriteStall means the peer
// stopped reading. MaxPending bounds the memory; this bounds the time, for a
// peer that stops reading without being sent much.
//
// Idle: a client that has pinged speaks heartbeats, so HeartbeatTimeout of
// silence means it is gone. A client that never pinged (the seed client) is
// closed only after LegacyIdle (6 h in the shipped configuration; 0 is off)
// with neither a frame in nor a frame out, because the seed client never
// reconnects: a close is permanent for its user, and a user who only reads
// (pushes arriving, nothing typed) is not idle. A peer that stopped reading
// is the write-stall policy's, and a vanished one TCP keepalive's.
func (s *Server) sweepConn(c *conn, now time.Time) {
	if c.closing.Load() {
		return
	}
	pending := c.gc.WriteBufferLength() + c.queuedOut.Load()
	switch {
	case pending == 0:
		c.stallSince = time.Time{}
	case c.stallSince.IsZero():
		c.stallSince = now
	case now.Sub(c.stallSince) >= s.cfg.writeStall:
		c.closeFor(reasonStall, zap.Int64("pending", pending), zap.Duration("for", now.Sub(c.stallSince)))
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
