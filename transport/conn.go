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
	// ErrSlowConsumer: the peer is not reading and its pending output would
	// pass MaxPending; the connection is being closed.
	ErrSlowConsumer = errors.New("transport: slow consumer, connection closed")
)

// closeReason records why the server closed a connection.
type closeReason int32

const (
	reasonPeer      closeReason = iota // the peer closed, or a socket error
	reasonServer                       // Session.Close: a handler or middleware asked
	reasonOversize                     // a length prefix above MaxFrame
	reasonFlood                        // received frames above MaxQueued bytes
	reasonSlow                         // pending output above MaxPending
	reasonStall                        // pending output not drained for WriteStall
	reasonHeartbeat                    // pinged once, then silent for HeartbeatTimeout
	reasonIdle                         // never pinged, silent for LegacyIdle
	reasonShutdown                     // Server.Stop
	reasonCount
)

var reasonNames = [reasonCount]string{"peer", "server", "frame too large", "flood",
	"slow consumer", "write stalled", "heartbeat timeout", "idle timeout", "shutdown"}

func (r closeReason) String() string { return reasonNames[r] }

// conn is one accepted connection: the session.Conn of its Session, its
// mailbox, and the state the loop and the sweep keep about it.
type conn struct {
	srv     *Server
	gc      *gev.Connection
	sess    *session.Session
	id      uint64
	fd      int
	sendOpt gev.ConnectionOption

	closing   atomic.Bool  // set once: by closeFor or by OnClose
	queuedOut atomic.Int64 // bytes given to gev Send whose loop task has not run yet
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

	// Loop goroutine only.
	dropInput   bool   // discard all further input (oversize, flood)
	outWasEmpty bool   // set by Packet for afterSend
	flushed     []byte // what the running flush task gave gev, recycled by afterSend

	// Sweep goroutine only.
	stallSince time.Time
	seenSent   int64     // sent at the previous sweep
	sentAt     time.Time // when the sweep first saw sent move past seenSent

	mbox mailbox
}

func newConn(srv *Server, gc *gev.Connection, id uint64) *conn {
	c := &conn{srv: srv, gc: gc, id: id, fd: connFD(gc)}
	c.sendOpt = gev.SendInLoop(c.afterSend)
	c.sess = session.New(id, gc.PeerAddr(), c)
	return c
}

// Send implements session.Conn: it queues body as one frame and never waits
// for the network. Any goroutine may call it.
func (c *conn) Send(body []byte) error {
	if c.closing.Load() {
		return ErrClosed
	}
	n := int64(wire.HeaderSize + len(body))
	if c.gc.WriteBufferLength()+c.queuedOut.Load()+n > c.srv.cfg.maxPending {
		c.closeFor(reasonSlow, zap.Int64("pending", c.gc.WriteBufferLength()+c.queuedOut.Load()))
		return ErrSlowConsumer
	}
	c.goneMu.RLock()
	defer c.goneMu.RUnlock()
	if c.gone {
		return ErrClosed
	}
	c.queuedOut.Add(n)
	c.sent.Add(1)
	c.outMu.Lock()
	c.out = wire.AppendFrame(c.out, body)
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
	c.queuedOut.Add(-int64(len(c.flushed)))
	c.recycleOut()
	if !c.gc.Connected() {
		return // the write failed and gev closed it; its buffers are pooled
	}
	n := connOutLength(c.gc)
	publishOutLength(c.gc, n)
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
	if !c.gone {
		_ = c.gc.Close()
	}
}

// markGone forbids further use of gc (see gone).
func (c *conn) markGone() {
	c.goneMu.Lock()
	c.gone = true
	c.goneMu.Unlock()
}
