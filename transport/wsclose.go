package transport

import (
	"encoding/binary"
	"time"

	"github.com/Allenxuxu/ringbuffer"
	"go.uber.org/zap"
)

// Closing a WebSocket connection: the close codes, the server's close frame
// and the linger after it, and the WebSocket deadlines of the sweep.

// Close codes Parley sends (RFC 6455 §7.4.1).
const (
	closeNormal          = 1000
	closeGoingAway       = 1001
	closeProtocolError   = 1002
	closeUnsupportedData = 1003
	closeNoStatus        = 1005 // never sent: "the close frame had no code"
	closeInvalidPayload  = 1007
	closePolicy          = 1008
	closeTooBig          = 1009
	closeInternal        = 1011
)

// lingerWS reads what the peer sends after our close frame, skipping data,
// until its close frame arrives, which ends the wait at once: the socket is
// then closed with nothing unread. Anything unparseable is dropped and the
// wait ends at EOF or wsLinger. Loop goroutine.
func (c *conn) lingerWS(buf *ringbuffer.RingBuffer) {
	w := c.ws
	if !w.discard {
		w.discard = true
		w.msg = nil
		if w.counted > 0 {
			c.srv.partial.release(c)
			w.counted = 0
		}
	}
	for !buf.IsEmpty() {
		first, _ := buf.PeekAll()
		n, _, err := c.feedWS(first)
		buf.Retrieve(n)
		if err != nil {
			c.dropInput = true
			buf.RetrieveAll()
		}
	}
}

// validCloseCode reports whether a peer may send code (RFC 6455 §7.4).
func validCloseCode(code uint16) bool {
	switch {
	case code >= 3000 && code <= 4999:
		return true
	case code >= 1000 && code <= 1011:
		return code != 1004 && code != closeNoStatus && code != 1006
	}
	return false
}

// failWS closes the connection for a violation, with its close code.
func (c *conn) failWS(err error) {
	c.dropInput = true
	c.dropPartial()
	e, ok := err.(*wsError)
	if !ok {
		e = violation(closeInternal, err.Error())
	}
	c.ws.closeCode.Store(uint32(e.code))
	r := reasonWSProtocol
	if e.code == closeTooBig {
		r = reasonOversize
	}
	c.closeFor(r, zap.Uint16("code", e.code), zap.String("why", e.text))
}

// wsCloseFor is the close code sent when the server closes for r.
func wsCloseFor(r closeReason) uint16 {
	switch r {
	case reasonOversize:
		return closeTooBig
	case reasonShutdown, reasonHeartbeat, reasonIdle:
		return closeGoingAway
	case reasonFlood, reasonFrameTimeout, reasonPartialBudget, reasonServer:
		return closePolicy
	case reasonPeer:
		return closeNormal
	}
	return closeProtocolError
}

// wsLinger bounds how long a connection that sent its close frame waits for
// the peer to close. Closing a socket with unread input sends an RST, which
// can destroy the close frame before the peer reads it; so after the close
// frame the server shuts its side down (the peer reads the frame, then EOF),
// keeps reading and discarding, and closes at the peer's close frame, its
// EOF, or after wsLinger, whichever comes first.
const wsLinger = time.Second

// wsCloseFrame queues the close frame for r on an upgraded connection and
// starts its linger; false means there is nothing to wait for and the
// caller closes now (behind the queued frame): the connection is not
// upgraded, the peer does not read, or the peer closed first. Called by
// closeFor with goneMu held.
func (c *conn) wsCloseFrame(r closeReason) bool {
	w := c.ws
	if !w.upgraded.Load() || r == reasonSlow || r == reasonStall {
		return false
	}
	code := uint16(w.closeCode.Load())
	if code == 0 {
		code = wsCloseFor(r)
	}
	var payload [2]byte
	binary.BigEndian.PutUint16(payload[:], code)
	body := payload[:]
	if err := c.enqueue(outClose, c.framed(outClose, len(body)), body); err != nil || r == reasonPeer {
		return false
	}
	w.lingerSince.Store(c.srv.now().UnixNano())
	gc := c.gc
	connQueueInLoop(gc, func() {
		// After the flush task that carries the close frame. With output
		// still pending (a slow reader) the linger's end closes instead.
		if gc.Connected() && connOutLength(gc) == 0 {
			_ = gc.ShutdownWrite()
		}
	})
	return true
}

// sweepWS applies the WebSocket deadlines: the handshake timeout and the
// end of a close's linger. It reports whether the
// connection is done with (closed or closing). Sweep goroutine.
func (s *Server) sweepWS(c *conn, now time.Time) bool {
	w := c.ws
	if since := w.lingerSince.Load(); since != 0 {
		if now.Sub(time.Unix(0, since)) >= wsLinger {
			c.goneMu.RLock()
			if !c.gone {
				_ = c.gc.Close()
			}
			c.goneMu.RUnlock()
		}
		return true
	}
	if c.closing.Load() {
		return true
	}
	if !w.upgraded.Load() {
		if now.Sub(c.sess.Opened()) >= s.wsc.handshakeTimeout {
			c.closeFor(reasonHandshakeTimeout)
			return true
		}
	}
	return false
}
