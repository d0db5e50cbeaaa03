package session

import (
	"sync"
	"sync/atomic"
	"time"
)

// Conn is the transport's side of a session. Send frames body and queues it
// for writing; Close ends the connection (OnClose follows on the transport's
// own goroutine). Both are safe to call from any goroutine and never block on
// the network.
type Conn interface {
	Send(body []byte) error
	Close() error
}

// Parker is implemented by a Conn whose transport can park a session: hold
// its turn (none of its later frames run) while no worker is used, until
// the returned resume is called with the code to run in that turn.
type Parker interface {
	Park() (resume func(then func()))
}

// Session is one client connection. Its ID is fixed at creation, its Peer
// before its first frame is served; the user it is logged in as changes at
// login. All methods are safe for concurrent use.
type Session struct {
	id     uint64
	peer   atomic.Pointer[string] // see SetPeer
	conn   Conn
	opened time.Time

	mu     sync.RWMutex
	user   string
	closed bool

	// pinged is set once the client sends a heartbeat; from then on the
	// (short) heartbeat timeout applies instead of the legacy idle cap.
	pinged atomic.Bool
	// lastSeen is the unix-nano time of the last frame received.
	lastSeen atomic.Int64

	valuesMu sync.Mutex
	values   map[any]any
}

// New returns a session for a freshly accepted connection.
func New(id uint64, peer string, conn Conn) *Session {
	now := time.Now()
	s := &Session{id: id, conn: conn, opened: now}
	s.peer.Store(&peer)
	s.lastSeen.Store(now.UnixNano())
	return s
}

// ID is unique among the sessions of this process.
func (s *Session) ID() uint64 { return s.id }

// Peer is the client's address, "ip:port": the TCP peer, or the client a
// trusted load balancer named in a PROXY protocol header.
func (s *Session) Peer() string { return *s.peer.Load() }

// SetPeer replaces the address given to New with the client's real one. The
// transport calls it once, when a trusted load balancer's PROXY header is
// read, which is before any frame of the session is served: everything
// that keys on Peer (rate limits, logs) sees only the real address.
func (s *Session) SetPeer(peer string) { s.peer.Store(&peer) }

// Opened is when the connection was accepted.
func (s *Session) Opened() time.Time { return s.opened }

// UserID is the logged-in user, or "" before login.
func (s *Session) UserID() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.user
}

// setUser is called by Registry.Bind so the session and the registry agree.
func (s *Session) setUser(id string) {
	s.mu.Lock()
	s.user = id
	s.mu.Unlock()
}

// framesSent counts every frame queued to any session, replies and pushes
// alike. It is process-wide because it feeds a process-wide metric.
var framesSent atomic.Uint64

// FramesSent is the number of frames queued to sessions since start.
func FramesSent() uint64 { return framesSent.Load() }

// Send queues one frame body for this connection.
func (s *Session) Send(body []byte) error {
	if err := s.conn.Send(body); err != nil {
		return err
	}
	framesSent.Add(1)
	return nil
}

// Park holds the session's turn without a worker, from inside a frame's
// handler (see Parker). It returns nil when the transport cannot.
func (s *Session) Park() (resume func(then func())) {
	if p, ok := s.conn.(Parker); ok {
		return p.Park()
	}
	return nil
}

// Close ends the connection. It is idempotent.
func (s *Session) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	return s.conn.Close()
}

// Closed reports whether Close was called or the transport saw the connection end.
func (s *Session) Closed() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.closed
}

// MarkClosed records that the transport has closed the connection.
func (s *Session) MarkClosed() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
}

// Touch records that a frame arrived now.
func (s *Session) Touch(now time.Time) { s.lastSeen.Store(now.UnixNano()) }

// LastSeen is when the last frame arrived.
func (s *Session) LastSeen() time.Time { return time.Unix(0, s.lastSeen.Load()) }

// MarkPinged records that the client speaks heartbeats.
func (s *Session) MarkPinged() { s.pinged.Store(true) }

// Pinged reports whether the client has ever sent a heartbeat.
func (s *Session) Pinged() bool { return s.pinged.Load() }

// Value returns per-session state stored by a middleware or handler under key.
// Use an unexported key type, never a string, so packages cannot collide.
func (s *Session) Value(key any) any {
	s.valuesMu.Lock()
	defer s.valuesMu.Unlock()
	return s.values[key]
}

// SetValue stores per-session state under key (see Value).
func (s *Session) SetValue(key, v any) {
	s.valuesMu.Lock()
	if s.values == nil {
		s.values = make(map[any]any, 2)
	}
	s.values[key] = v
	s.valuesMu.Unlock()
}
