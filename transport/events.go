package transport

import (
	"net"

	"github.com/Allenxuxu/gev"
	"go.uber.org/zap"

	"github.com/parley-im/parley/wire"
)

// events is the gev.Handler. Every method runs on the connection's loop
// goroutine and must never block: a blocked loop stalls every connection on
// it. gev guarantees OnConnect runs before any UnPacket, OnMessage or OnClose
// of the same connection (the fd is registered with epoll after OnConnect).
type events struct {
	*Server
	ws bool // the WebSocket listener's: its connections speak ws.go
}

// OnConnect admits or refuses a new connection. A refused one gets an error
// frame and is closed; its OnClose still follows, with no context set.
func (e events) OnConnect(gc *gev.Connection) {
	s := e.Server
	s.accepted.Add(1)
	s.open.Add(1)
	// A trusted balancer's connection is checked per address once its
	// PROXY header names the client (readProxyHeader), not as the balancer.
	proxied := s.trusted(gc.PeerAddr())
	if why := s.refusal(gc.PeerAddr(), !proxied); why != "" {
		s.refused.Add(1)
		s.log.Debug("refusing connection", zap.String("peer", gc.PeerAddr()), zap.String("reason", why))
		code := wire.CodeOverloaded
		if s.stopping.Load() {
			code = wire.CodeGoingAway
		}
		refusal := wire.EncodeError("error", code, why, 0)
		if e.ws {
			refusal = httpRefusal(refusal)
		}
		_ = gc.Send(refusal)
		_ = gc.Close()
		return
	}
	c := newConn(s, gc, s.nextID.Add(1), e.ws)
	if proxied {
		c.awaitProxyHeader()
	}
	setSocketOptions(c.fd, s.cfg.keepAlive, s.log)
	gc.SetContext(c)
	s.addConn(c)
}

// refusedByPolicy is the refusal message of the accept check.
const refusedByPolicy = "connection refused by policy"

// refusal says why a new connection may not stay, or "" to admit it; the
// accept check is asked only with checkAddr. On admission it has counted
// the connection in live.
func (s *Server) refusal(peer string, checkAddr bool) string {
	if s.stopping.Load() {
		return "server shutting down"
	}
	if checkAddr && !s.accepts(peer) {
		return refusedByPolicy
	}
	if n := s.live.Add(1); s.cfg.maxConns > 0 && n > s.cfg.maxConns {
		s.live.Add(-1)
		return "too many connections"
	}
	return ""
}

// accepts asks the accept check, if any, about the client "ip:port".
func (s *Server) accepts(peer string) bool {
	if s.acceptCheck == nil {
		return true
	}
	ip, _, err := net.SplitHostPort(peer)
	if err != nil {
		ip = peer
	}
	return s.acceptCheck(ip)
}

// OnMessage hands a frame copied out by UnPacket to the dispatcher. It
// always returns nil: replies go through Send only, so they stay in order
// (gev writes a returned value at once, ahead of queued Sends).
func (e events) OnMessage(gc *gev.Connection, ctx any, data []byte) any {
	c, _ := gc.Context().(*conn)
	if c == nil || ctx != frameReady || c.dropInput || e.draining.Load() {
		// While Stop drains, a new request could never be answered: the
		// connection is about to close. Parley clients resend what was not
		// acknowledged after the goaway (send_message is idempotent).
		return nil
	}
	e.frames.Add(1)
	if e.disp.submit(c, data, e.cfg.maxQueued) == putOverflow {
		c.dropInput = true
		c.closeFor(reasonFlood, zap.Int("max_queued", e.cfg.maxQueued))
	}
	return nil
}

// OnClose unregisters the connection. gev closes the fd after it returns,
// then puts the connection's ring buffers in a process-wide pool, grown as
// they are; shedBuffers swaps grown ones for empty ones first, so the next
// connection does not inherit (and keep for its whole life) the memory of a
// big reply.
func (e events) OnClose(gc *gev.Connection) {
	shedBuffers(gc)
	c, _ := gc.Context().(*conn)
	if c == nil {
		e.release() // a refused connection
		return
	}
	c.onClosed.Store(true)
	if c.closing.CompareAndSwap(false, true) {
		// Nobody on our side closed it: the peer left (or its socket
		// failed). Counted here so every close has exactly one reason.
		c.srv.closed[reasonPeer].Add(1)
	}
	c.markGone()
	c.dropPartial()
	e.finalize(c)
}
