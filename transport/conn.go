package transport

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Allenxuxu/gev"
	"go.uber.org/zap"

	"github.com/parley-im/parley/session"
	"github.com/parley-im/parley/wire"
)

// Errors returned by a session's Send.
var (
	// ErrClosed: the connection is closed or closing; the frame was dropped.
	ErrClosed = errors.New("transport: connection closed")
	// ErrSlowConsumer: the peer is not reading: its pending output was
	// already above MaxPending and this frame would take it past twice
	// that; the connection is being closed.
	ErrSlowConsumer = errors.New("transport: slow consumer, connection closed")
)

// closeReason records why the server closed a connection.
type closeReason int32

const (
	reasonPeer             closeReason = iota // the peer closed, or a socket error (counted in OnClose)
	reasonServer                              // Session.Close: a handler or middleware asked
	reasonOversize                            // a length prefix above MaxFrame
	reasonFlood                               // received frames above MaxQueued bytes
	reasonSlow                                // pending output past the slow-consumer rule (Send)
	reasonStall                               // output, ours or the kernel's, not taken for WriteStall
	reasonHeartbeat                           // pinged once, then silent for HeartbeatTimeout
	reasonIdle                                // never pinged, silent for LegacyIdle
	reasonFrameTimeout                        // a started frame not completed within FrameTimeout
	reasonPartialBudget                       // oldest holder of incomplete frames over MaxPartialBytes
	reasonShutdown                            // Server.Stop
	reasonWSProtocol                          // a WebSocket frame broke RFC 6455 or Parley's rules (ws.go)
	reasonHandshake                           // a bad WebSocket upgrade request, answered with an HTTP error
	reasonHandshakeTimeout                    // no complete upgrade request within ws_handshake_timeout
	reasonProxyHeader                         // a trusted balancer's PROXY header missing, bad or late
	reasonRefused                             // the accept check refused the client a PROXY header named
	reasonCount
)

var reasonNames = [reasonCount]string{"peer", "server", "frame too large", "flood",
	"slow consumer", "write stalled", "heartbeat timeout", "idle timeout",
	"frame timeout", "partial frame budget", "shutdown", "websocket protocol error",
	"bad websocket handshake", "websocket handshake timeout", "bad proxy header",
	"refused by policy"}

func (r closeReason) String() string { return reasonNames[r] }

// conn is one accepted connection: the session.Conn of its Session, its
// mailbox, and the state the loop and the sweep keep about it.
// *conn is the session's Conn: the transport's side of a session.
var _ session.Conn = (*conn)(nil)

type conn struct {
	srv     *Server
	gc      *gev.Connection
	sess    *session.Session
	id      uint64
	fd      int
	sendOpt gev.ConnectionOption

	closing   atomic.Bool  // set once: by closeFor or by OnClose
	queuedOut atomic.Int64 // bytes given to gev Send whose loop task has not run yet
	outTotal  atomic.Int64 // bytes ever accepted by Send, for the write-stall sweep
	sent      atomic.Int64 // frames queued by Send, for the idle sweep
	finalized atomic.Bool  // unregistered (OnClose, or abandoned by Stop)
	onClosed  atomic.Bool  // gev ran OnClose, so gev owns closing the fd

	// gone is set (under the write lock) by OnClose, or by Stop when it
	// abandons the connection. After that gc is never used again: its loop
	// may be gone, and gev would queue work on a closed eventfd. The lock is
	// held only around gev's non-blocking Send/Close calls.
	goneMu sync.RWMutex
	gone   bool

	// Output coalescing: Send appends the framed body to out and queues a
	// flush task on the loop only if none is queued yet, so frames sent
	// while the loop is busy leave in one write(2) instead of one each
	// (docs/PERFORMANCE.md, "ping"). outMu is never held across a gev call.
	outMu       sync.Mutex
	out         []byte // framed output not yet taken by a flush task
	flushQueued bool   // a flush task is queued and has not taken out yet

	// Loop goroutine only, except hold (partialBudget's lock) and
	// partialSince (atomic: unix nanoseconds when the incomplete frame in
	// asm started, 0 when there is none; the sweep reads it).
	asm          assembler
	hold         partialHold
	partialSince atomic.Int64
	dropInput    bool // discard all further input (oversize, flood)
	// proxy is the PROXY header still to read from a trusted balancer
	// (proxy.go); nil otherwise. proxyPending mirrors it for the sweep.
	proxy        *proxyHeader
	proxyPending atomic.Bool
	outWasEmpty  bool   // set by Packet for afterSend
	flushed      []byte // what the running flush task gave gev, recycled by afterSend

	// Sweep goroutine only.
	stallSince time.Time // since when no pending output byte was taken
	delivered  int64     // most bytes seen taken by the peer (outTotal minus pending)
	seenSent   int64     // sent at the previous sweep
	sentAt     time.Time // when the sweep first saw sent move past seenSent

	mbox mailbox

	// ws is the WebSocket state of a connection accepted on the WebSocket
	// listener, nil for TCP (ws.go). It decides how Send frames a body.
	ws *wsConn
}

func newConn(srv *Server, gc *gev.Connection, id uint64, ws bool) *conn {
	c := &conn{srv: srv, gc: gc, id: id, fd: connFD(gc)}
	if ws {
		c.ws = &wsConn{}
	}
	c.sendOpt = gev.SendInLoop(c.afterSend)
	c.sess = session.New(id, gc.PeerAddr(), c)
	c.sess.Touch(srv.now()) // on the policies' clock (session.New uses time.Now)
	return c
}

// Send implements session.Conn: it queues body as one frame and never waits
// for the network. Any goroutine may call it.
func (c *conn) Send(body []byte) error { return c.send(outData, body) }

// outKind says how send frames its bytes.
type outKind uint8

const (
	outData  outKind = iota // a body: a wire frame on TCP, a text message on WebSocket
	outRaw                  // bytes written as they are (the WebSocket handshake's HTTP response)
	outPong                 // a WebSocket pong with this payload
	outClose                // a WebSocket close frame with this payload
)

// framed is the number of bytes appendOut adds for a body of n bytes.
func (c *conn) framed(k outKind, n int) int64 {
	switch {
	case k == outRaw:
		return int64(n)
	case c.ws != nil:
		return int64(wsHeaderLen(n) + n)
	default:
		return int64(wire.HeaderSize + n)
	}
}

func (c *conn) appendOut(out []byte, k outKind, body []byte) []byte {
	switch {
	case k == outRaw:
		return append(out, body...)
	case c.ws != nil:
		return appendWSFrame(out, wsOpcodeOf[k], body)
	default:
		return wire.AppendFrame(out, body)
	}
}

// send queues body, framed as k says, and never waits for the network.
func (c *conn) send(k outKind, body []byte) error {
	if c.closing.Load() {
		return ErrClosed
	}
	n := c.framed(k, len(body))
	if backlog := c.gc.WriteBufferLength() + c.queuedOut.Load(); slowConsumer(backlog, n, c.srv.cfg.maxPending) {
		c.closeFor(reasonSlow, zap.Int64("pending", backlog), zap.Int64("frame", n))
		return ErrSlowConsumer
	}
	c.goneMu.RLock()
	defer c.goneMu.RUnlock()
	if c.gone {
		return ErrClosed
	}
	return c.enqueue(k, n, body)
}

// enqueue appends body to the output and queues a flush task unless one is
// queued already. The caller holds goneMu (read) and found gone false.
func (c *conn) enqueue(k outKind, n int64, body []byte) error {
	c.queuedOut.Add(n)
	c.outTotal.Add(n) // after queuedOut: see sweepStall
	c.sent.Add(1)
	c.outMu.Lock()
	c.out = c.appendOut(c.out, k, body)
	schedule := !c.flushQueued
	c.flushQueued = true
	c.outMu.Unlock()
	if !schedule {
		return nil // the queued flush task will take this frame too
	}
	if err := c.gc.Send(flushMarker{}, c.sendOpt); err != nil {
		// Closed: nothing will ever flush, so forget the output.
		c.outMu.Lock()
		c.queuedOut.Add(-int64(len(c.out)))
		c.out, c.flushQueued = nil, false
		c.outMu.Unlock()
		return ErrClosed
	}
	return nil
}

// slowConsumer is the slow-consumer rule (issue 11, must-fix 2): it
// measures a peer that does not read, not the size of one reply. A frame is
// always queued while the backlog (output not yet taken by the kernel) is at
// most maxPending, so a reply of any size the handlers allow reaches a
// reading peer, and the pushes that follow a big reply still fit while it
// drains. Past maxPending, frames are queued until the backlog would pass
// twice maxPending: a peer that far behind receives faster than it reads,
// and is closed. Memory per connection stays below max(2 x maxPending,
// maxPending + one frame); a peer that takes nothing at all is closed by the
// write-stall sweep whatever its backlog.
func slowConsumer(backlog, frame, maxPending int64) bool {
	return backlog > maxPending && backlog+frame > 2*maxPending
}

// flushMarker is what Send gives gev's Connection.Send: Packet, on the loop,
// replaces it with every frame queued so far (takeOut).
type flushMarker struct{}

// maxKeptOut is the largest output buffer a connection keeps for reuse
// between flushes; a larger one (a big catch-up) goes back to the GC, so
// idle connections stay small.
const maxKeptOut = 4 << 10

// takeOut hands the queued output to the flush task running now. Loop
// goroutine only (Packet).
func (c *conn) takeOut() []byte {
	c.outMu.Lock()
	b := c.out
	c.out, c.flushQueued = nil, false
	c.outMu.Unlock()
	c.flushed = b
	return b
}

// recycleOut returns the flushed buffer for reuse once gev has written or
// copied it. Loop goroutine only (afterSend).
func (c *conn) recycleOut() {
	b := c.flushed
	c.flushed = nil
	if cap(b) > maxKeptOut {
		return
	}
	c.outMu.Lock()
	if c.out == nil {
		c.out = b[:0]
	}
	c.outMu.Unlock()
}

// Close implements session.Conn (handler-initiated close). Any goroutine.
func (c *conn) Close() error {
	c.closeFor(reasonServer)
	return nil
}

// afterSend runs on the loop right after gev wrote (or buffered) a flush.
// It fixes two gev behaviours: WriteBufferLength is refreshed only after
// socket events, so on a silent connection it would not show output queued
// by Send; and while output is pending gev leaves EPOLLIN armed but ignores
// it, so a peer that sends without reading spins the loop (LIBRARIES §1.5).
func (c *conn) afterSend(any) {
	connected := c.gc.Connected()
	n := 0
	if connected {
		// Publish before queuedOut shrinks, so the sweep never sees these
		// bytes in neither place and takes that for progress.
		n = connOutLength(c.gc)
		publishOutLength(c.gc, n)
	}
	c.queuedOut.Add(-int64(len(c.flushed)))
	c.recycleOut()
	if !connected {
		return // the write failed and gev closed it; its buffers are pooled
	}
	// gev armed EPOLLIN|EPOLLOUT iff the buffer went from empty to non-empty;
	// watch writes only until it drains (gev then calls EnableRead itself).
	if n > 0 && c.outWasEmpty {
		if err := connWatchWriteOnly(c.gc); err != nil {
			c.srv.log.Debug("epoll write-only", zap.Uint64("conn", c.id), zap.Error(err))
		}
	}
}

// closeFor closes the connection for reason r; only the first call acts.
// Waiting frames are dropped at once; OnClose follows on the loop. Any
// goroutine may call it.
func (c *conn) closeFor(r closeReason, fields ...zap.Field) {
	if !c.closing.CompareAndSwap(false, true) {
		return
	}
	c.srv.closed[r].Add(1)
	c.srv.logClose(c, r, fields)
	c.srv.disp.drop(c)
	c.goneMu.RLock()
	defer c.goneMu.RUnlock()
	if c.gone {
		return
	}
	if c.ws != nil && c.wsCloseFrame(r) {
		return // the peer answers the close frame; the sweep ends the wait (ws.go)
	}
	_ = c.gc.Close()
}

// markGone forbids further use of gc (see gone).
func (c *conn) markGone() {
	c.goneMu.Lock()
	c.gone = true
	c.goneMu.Unlock()
}
