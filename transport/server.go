package transport

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Allenxuxu/gev"
	"github.com/Allenxuxu/gev/eventloop"
	"go.uber.org/zap"

	"github.com/parley-im/parley/config"
	"github.com/parley-im/parley/session"
)

// FrameServer handles one received frame body of a session (implemented by
// *pipeline.Edge). It runs on a dispatcher worker, never on a loop, one frame
// of a session at a time; replies go through s.Send.
type FrameServer interface {
	Serve(ctx context.Context, s *session.Session, body []byte)
}

// Server is the gev TCP server: accept, framing, ordered dispatch, the
// slow-consumer and idle policies, and a shutdown that works around gev's.
type Server struct {
	cfg  settings
	reg  *session.Registry
	fs   FrameServer
	log  *zap.Logger
	disp *dispatcher

	partial partialBudget // bytes of incomplete frames, all connections

	tcp engine  // the seed protocol's listener and loops
	ws  *engine // the WebSocket listener and loops (ListenWebSocket), or nil
	wsc wsSettings

	acceptCheck func(ip string) bool // set before Start, read on loops

	// now is the clock of the time policies (frame timeout, write stall,
	// idle): when a frame arrived, a partial frame began, a sweep ran.
	// time.Now; a test sets its own before Start and sweeps on demand
	// (sweepReq), so the policies are tested without waiting for them.
	now func() time.Time

	// ctx is passed to FrameServer.Serve; Stop cancels it once it stops
	// waiting for in-flight frames.
	ctx    context.Context
	cancel context.CancelFunc

	nextID  atomic.Uint64
	open    atomic.Int64 // connections between OnConnect and OnClose, refused ones included
	live    atomic.Int64 // sessions (accepted connections not yet closed)
	connsMu sync.Mutex
	conns   map[uint64]*conn
	drained chan struct{} // signalled when open drops to 0 while stopping

	accepted, refused, frames atomic.Uint64
	closed                    [reasonCount]atomic.Uint64

	stopping  atomic.Bool
	draining  atomic.Bool // Stop is finishing the frames it has: new ones are dropped
	startOnce sync.Once
	sweepStop chan struct{}
	sweepDone chan struct{}
	sweepReq  chan chan struct{} // a sweep now, closing the channel when done
	stopOnce  sync.Once
	stopErr   error
}

// New binds listen (":0" picks a free port, see Addr) and prepares the
// reactors: one main reactor accepting, cfg.Loops sub reactors doing I/O.
// Nothing runs until Start. Zero fields of cfg take the package defaults.
func New(cfg config.Transport, listen string, reg *session.Registry, fs FrameServer, log *zap.Logger) (*Server, error) {
	if layoutErr != nil {
		return nil, layoutErr
	}
	if reg == nil || fs == nil {
		return nil, errors.New("transport: New needs a registry and a frame server")
	}
	if log == nil {
		log = zap.NewNop()
	}
	set, err := resolve(cfg)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg: set, reg: reg, fs: fs, log: log,
		conns:     make(map[uint64]*conn),
		drained:   make(chan struct{}, 1),
		sweepStop: make(chan struct{}),
		sweepDone: make(chan struct{}),
		sweepReq:  make(chan chan struct{}),
		now:       time.Now,
	}
	s.partial.limit = set.maxPartial
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.disp = newDispatcher(s.serve)
	if err := s.tcp.listen(listen, set.loops, events{s, false}, protocol{s}); err != nil {
		s.cancel()
		return nil, err
	}
	return s, nil
}

// engine is one gev server: a listener on its main reactor and its sub
// reactors. All engines of a Server share its dispatcher, connection table,
// limits and sweep; only framing differs (events.ws picks it per
// connection).
type engine struct {
	gev       *gev.Server
	ln        gevListener
	loops     []*eventloop.EventLoop
	addr      string
	startDone chan struct{} // closed when gev's Start returns
}

func (e *engine) listen(addr string, loops int, h gev.Handler, p gev.Protocol) error {
	g, err := gev.NewServer(h,
		gev.Network("tcp"),
		gev.Address(addr),
		gev.NumLoops(loops),
		gev.CustomProtocol(p),
	)
	if err != nil {
		return fmt.Errorf("transport: listen on %q: %w", addr, err)
	}
	e.gev = g
	e.ln = listenerOf(g)
	e.loops = workLoopsOf(g)
	e.addr = e.ln.net.Addr().String()
	e.startDone = make(chan struct{})
	return nil
}

// engines lists the running gev servers (fixed once Start ran).
func (s *Server) engines() []*engine {
	if s.ws == nil {
		return []*engine{&s.tcp}
	}
	return []*engine{&s.tcp, s.ws}
}

// Addr is the bound address, "host:port", with the real port when listen
// was ":0". gev has no API for it; it comes from gev's own listener.
func (s *Server) Addr() string { return s.tcp.addr }

// SetAcceptCheck installs f, asked with the peer IP for every new
// connection; false closes it at once. Call before Start. f runs on a loop
// goroutine, so it must be fast and never block.
func (s *Server) SetAcceptCheck(f func(ip string) bool) { s.acceptCheck = f }

// Start runs the reactors, the workers and the sweep in the background. It
// returns at once; calling it again, or after Stop, does nothing.
func (s *Server) Start() {
	s.startOnce.Do(func() {
		// max_conns may be derived from the file limit: say what is in force.
		s.log.Info("transport limits", zap.Int64("max_conns", s.cfg.maxConns),
			zap.Int64("max_partial_bytes", s.cfg.maxPartial), zap.Duration("frame_timeout", s.cfg.frameTimeout))
		s.disp.start(s.cfg.workers, s.cfg.loginWorkers)
		for _, e := range s.engines() {
			go func() {
				defer close(e.startDone)
				e.gev.Start()
			}()
		}
		go s.sweepLoop()
	})
}

// Stats is a snapshot of the server's counters.
type Stats struct {
	Conns   int // open sessions
	Queued  int // frames received and waiting for a worker
	Workers int // dispatcher goroutines for logged-in sessions
	// LoginWorkers are the dispatcher goroutines for sessions not logged
	// in yet (their own lane, see config.Transport.LoginWorkers).
	LoginWorkers int

	Accepted uint64 // connections accepted since New, refused ones included
	Refused  uint64 // closed at accept: stopping, MaxConns or the accept check (after a PROXY header: its client)
	Frames   uint64 // frames received

	// MaxConns is the connection cap in force (config, or derived from the
	// open-file limit); -1 is none.
	MaxConns int64
	// PartialBytes are held now in incomplete frames, all connections.
	PartialBytes int64

	// Connections the server closed, by reason.
	Oversize, Flood, SlowConsumer, WriteStall, HeartbeatTimeout, IdleTimeout uint64
	FrameTimeout, PartialBudget                                              uint64
	// WebSocket only: frames that broke RFC 6455 or Parley's rules (close
	// codes 1002, 1003, 1007), refused upgrade requests, and handshakes that
	// did not complete in time. An oversize message counts in Oversize.
	WSProtocol, HandshakeFailed, HandshakeTimeout uint64
	// ProxyHeader: a trusted balancer's connection without a valid PROXY
	// header within FrameTimeout.
	ProxyHeader uint64
}

// Stats returns current counters. Any goroutine may call it.
func (s *Server) Stats() Stats {
	return Stats{
		Conns:            int(s.live.Load()),
		Queued:           int(s.disp.queued.Load()),
		Workers:          s.cfg.workers,
		LoginWorkers:     s.cfg.loginWorkers,
		Accepted:         s.accepted.Load(),
		Refused:          s.refused.Load(),
		Frames:           s.frames.Load(),
		MaxConns:         s.cfg.maxConns,
		PartialBytes:     s.partial.held(),
		Oversize:         s.closed[reasonOversize].Load(),
		Flood:            s.closed[reasonFlood].Load(),
		SlowConsumer:     s.closed[reasonSlow].Load(),
		WriteStall:       s.closed[reasonStall].Load(),
		HeartbeatTimeout: s.closed[reasonHeartbeat].Load(),
		IdleTimeout:      s.closed[reasonIdle].Load(),
		FrameTimeout:     s.closed[reasonFrameTimeout].Load(),
		PartialBudget:    s.closed[reasonPartialBudget].Load(),
		WSProtocol:       s.closed[reasonWSProtocol].Load(),
		HandshakeFailed:  s.closed[reasonHandshake].Load(),
		HandshakeTimeout: s.closed[reasonHandshakeTimeout].Load(),
		ProxyHeader:      s.closed[reasonProxyHeader].Load(),
	}
}

// EachCloseReason calls f with every reason the server closes a connection
// for (peer and shutdown included) and how many it closed for it, in a fixed
// order, so metrics can export them all without a second list of reasons.
// Reason names are snake_case ("slow_consumer"). Any goroutine may call it.
func (s *Server) EachCloseReason(f func(reason string, n uint64)) {
	for r := closeReason(0); r < reasonCount; r++ {
		f(strings.ReplaceAll(r.String(), " ", "_"), s.closed[r].Load())
	}
}

// serve runs one frame on a worker goroutine.
func (s *Server) serve(c *conn, body []byte) {
	defer func() {
		if p := recover(); p != nil {
			// The pipeline recovers its own panics; this is the last resort
			// that keeps a worker alive.
			s.log.Error("frame server panicked", zap.Uint64("conn", c.id),
				zap.Any("panic", p), zap.ByteString("stack", debug.Stack()))
		}
	}()
	c.sess.Touch(s.now())
	s.fs.Serve(s.ctx, c.sess, body)
}

func (s *Server) addConn(c *conn) {
	s.connsMu.Lock()
	s.conns[c.id] = c
	s.connsMu.Unlock()
}

// snapshot returns the open connections (for the sweep and Stop).
func (s *Server) snapshot() []*conn {
	s.connsMu.Lock()
	defer s.connsMu.Unlock()
	list := make([]*conn, 0, len(s.conns))
	for _, c := range s.conns {
		list = append(list, c)
	}
	return list
}

// finalize unregisters c once, from OnClose or from Stop's abandon path.
func (s *Server) finalize(c *conn) {
	if !c.finalized.CompareAndSwap(false, true) {
		return
	}
	c.closing.Store(true)
	s.disp.drop(c)
	s.partial.release(c) // OnClose dropped it already; Stop's abandon path did not
	s.reg.Remove(c.sess)
	s.connsMu.Lock()
	delete(s.conns, c.id)
	s.connsMu.Unlock()
	s.live.Add(-1)
	s.release()
}

// release ends one connection's share of open and signals a drain.
func (s *Server) release() {
	if s.open.Add(-1) == 0 && s.stopping.Load() {
		select {
		case s.drained <- struct{}{}:
		default:
		}
	}
}

func (s *Server) logClose(c *conn, r closeReason, fields []zap.Field) {
	fields = append(fields, zap.Uint64("conn", c.id), zap.String("peer", c.sess.Peer()),
		zap.String("reason", r.String()))
	if u := c.sess.UserID(); u != "" {
		fields = append(fields, zap.String("user", u))
	}
	switch r {
	case reasonOversize, reasonFlood, reasonSlow, reasonStall, reasonFrameTimeout, reasonPartialBudget, reasonProxyHeader:
		s.log.Warn("closing connection", fields...)
	case reasonHeartbeat, reasonIdle:
		s.log.Info("closing connection", fields...)
	default:
		s.log.Debug("closing connection", fields...)
	}
}
