package transport

import (
	"encoding/binary"
	"sync/atomic"
	"unicode/utf8"

	"github.com/Allenxuxu/gev"
	"github.com/Allenxuxu/ringbuffer"
)

// WebSocket (RFC 6455) on gev's reactors: Parley's own framing, not gev's
// plugins/websocket, which reassembles no fragments, trusts a 64-bit payload
// length, can miss the handshake's end across the ring buffer's wrap, has no
// header cap and leaves a failed handshake open (LIBRARIES §1.7). The parser
// here is a byte-at-a-time state machine over whatever gev hands UnPacket, so
// like the TCP framing it consumes all input, never leaves bytes in gev's
// ring buffer, and holds an incomplete frame or message in the connection's
// own memory, counted against MaxPartialBytes and bounded by FrameTimeout.
//
// One text message is one request body; Send writes each body as one
// unfragmented text frame. Ping is answered with pong, and ping and pong are
// liveness (Session.Touch). Every violation closes that connection with the
// close code RFC 6455 §7.4.1 gives it (wsError).

// WebSocket opcodes (RFC 6455 §5.2).
const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xA
)

// maxControlPayload is RFC 6455's limit for ping, pong and close payloads.
const maxControlPayload = 125

var wsOpcodeOf = [...]byte{outData: opText, outPong: opPong, outClose: opClose}

// wsConn is a connection's WebSocket state. Loop goroutine only, except
// the atomics: upgraded and lingerSince (read by the sweep) and closeCode
// (set on the loop before its closeFor, which may lose to a closeFor on
// another goroutine that reads it).
type wsConn struct {
	upgraded    atomic.Bool  // the 101 response is queued: frames follow
	lingerSince atomic.Int64 // unix ns when our close frame was queued; 0 before

	hs []byte // the upgrade request so far

	// The frame being read.
	hdr     [14]byte
	nhdr    int  // header bytes received
	hdrLen  int  // the full header's length, known once nhdr >= 2
	op      byte // this frame's opcode
	fin     bool // this frame ends its message
	mask    [4]byte
	left    uint64 // payload bytes of this frame still to come
	maskPos int    // payload bytes of this frame unmasked so far
	ctl     []byte // a control frame's payload

	msg     []byte // the data message being assembled
	msgOp   byte   // its opcode (opText), 0 when none is in progress
	discard bool   // lingering after our close frame: data payloads are skipped

	counted   int64         // bytes counted in the partial budget
	closeCode atomic.Uint32 // the code closeFor sends, when a violation or the peer's close set one
}

// reset forgets all input state (the connection completed a message, or
// is closing). The budget is released by the caller (dropPartial).
func (w *wsConn) reset() {
	w.hs = nil
	w.nhdr, w.hdrLen, w.left, w.maskPos = 0, 0, 0, 0
	w.ctl, w.msg, w.msgOp = nil, nil, 0
	w.counted = 0
}

// midMessage reports whether a frame or a fragmented message has started.
func (w *wsConn) midMessage() bool { return w.nhdr > 0 || w.msgOp != 0 }

// wsError is a violation: the connection is closed with code.
type wsError struct {
	code uint16
	text string
}

func (e *wsError) Error() string { return e.text }

func violation(code uint16, text string) *wsError { return &wsError{code, text} }

// wsProtocol is the gev.Protocol of the WebSocket listener.
type wsProtocol struct{ srv *Server }

// UnPacket implements gev.Protocol: the upgrade request, then frames. It
// returns one complete text message per call (frameReady, body) and
// consumes all of buf before returning (nil, nil).
func (p wsProtocol) UnPacket(gc *gev.Connection, buf *ringbuffer.RingBuffer) (any, []byte) {
	c, _ := gc.Context().(*conn)
	if c == nil || c.dropInput || c.closing.Load() {
		if c != nil && !c.dropInput && c.ws.lingerSince.Load() != 0 {
			c.lingerWS(buf)
			return nil, nil
		}
		buf.RetrieveAll()
		if c != nil && c.ws.midMessage() {
			c.dropPartial()
		}
		return nil, nil
	}
	// A trusted balancer's PROXY header precedes the upgrade request.
	if c.proxy != nil && !c.readProxyHeader(buf) {
		return nil, nil
	}
	w := c.ws
	if !w.upgraded.Load() {
		if !p.srv.handshake(c, buf) {
			return nil, nil
		}
	}
	for !buf.IsEmpty() {
		first, _ := buf.PeekAll()
		n, msg, err := c.feedWS(first)
		buf.Retrieve(n)
		if err != nil {
			c.failWS(err)
			buf.RetrieveAll()
			return nil, nil
		}
		if msg != nil {
			c.settleWS()
			return frameReady, msg
		}
		if c.closing.Load() {
			buf.RetrieveAll()
			return nil, nil
		}
	}
	c.settleWS()
	return nil, nil
}

// Packet implements gev.Protocol: a flush task's output (see protocol), or
// bytes sent as they are (the HTTP refusal at accept).
func (p wsProtocol) Packet(gc *gev.Connection, data any) []byte {
	if b, ok := data.([]byte); ok {
		return b
	}
	return protocol{p.srv}.Packet(gc, data)
}

// settleWS brings the partial budget and the frame clock in line with what
// the connection holds now: nothing between messages, or an incomplete frame
// or message, whose clock starts now if it was not running.
func (c *conn) settleWS() {
	w := c.ws
	if !w.midMessage() {
		if w.counted > 0 {
			c.srv.partial.release(c)
			w.counted = 0
		}
		c.partialSince.Store(0)
		return
	}
	if c.partialSince.Load() == 0 {
		c.partialSince.Store(c.srv.now().UnixNano())
	}
	if held := int64(cap(w.msg) + cap(w.ctl)); held > w.counted {
		delta := held - w.counted
		w.counted = held
		c.srv.partial.grow(c, delta) // may close c: UnPacket drops its input then
	}
}

// feedWS parses frames from b until it is used up or a data message
// completes. It returns the bytes consumed, the message (nil if none) and a
// violation. Control frames are answered here.
func (c *conn) feedWS(b []byte) (int, []byte, error) {
	w := c.ws
	maxMsg := uint64(c.srv.cfg.maxFrame)
	used := 0
	for used < len(b) {
		if w.left == 0 && (w.nhdr < 2 || w.nhdr < w.hdrLen) {
			// Header bytes.
			want := 2
			if w.nhdr >= 2 {
				want = w.hdrLen
			}
			k := copy(w.hdr[w.nhdr:want], b[used:])
			w.nhdr += k
			used += k
			if w.nhdr == 2 {
				if err := w.checkStart(); err != nil {
					return used, nil, err
				}
			}
			if w.nhdr < 2 || w.nhdr < w.hdrLen {
				continue
			}
			if err := w.startFrame(maxMsg); err != nil {
				return used, nil, err
			}
			if w.left > 0 {
				continue
			}
		} else {
			// Payload bytes.
			k := int(min(w.left, uint64(len(b)-used)))
			src := b[used : used+k]
			var dst []byte
			switch {
			case w.op >= opClose:
				w.ctl = append(w.ctl, src...)
				dst = w.ctl[len(w.ctl)-k:]
			case !w.discard:
				w.msg = append(w.msg, src...)
				dst = w.msg[len(w.msg)-k:]
			}
			unmask(dst, w.mask, w.maskPos)
			w.maskPos += k
			w.left -= uint64(k)
			used += k
			if w.left > 0 {
				continue
			}
		}
		// A frame is complete.
		w.nhdr, w.hdrLen, w.maskPos = 0, 0, 0
		if w.op >= opClose {
			if err := c.controlWS(); err != nil {
				return used, nil, err
			}
			if c.closing.Load() {
				return used, nil, nil
			}
			continue
		}
		if !w.fin || w.discard {
			if w.fin {
				w.msgOp = 0
			}
			continue
		}
		msg := w.msg
		w.msg, w.msgOp = nil, 0
		if !utf8.Valid(msg) {
			return used, nil, violation(closeInvalidPayload, "text message is not valid UTF-8")
		}
		if msg == nil {
			msg = []byte{} // an empty message is still a request (answered bad_request)
		}
		return used, msg, nil
	}
	return used, nil, nil
}

// checkStart validates the first two header bytes and learns the header's
// length.
func (w *wsConn) checkStart() error {
	b0, b1 := w.hdr[0], w.hdr[1]
	if b0&0x70 != 0 {
		return violation(closeProtocolError, "reserved bits set (no extension was negotiated)")
	}
	if b1&0x80 == 0 {
		return violation(closeProtocolError, "client frame not masked")
	}
	op := b0 & 0x0F
	n := b1 & 0x7F
	switch op {
	case opContinuation, opText:
	case opBinary:
		return violation(closeUnsupportedData, "binary messages are not supported: send JSON as text")
	case opClose, opPing, opPong:
		if b0&0x80 == 0 {
			return violation(closeProtocolError, "fragmented control frame")
		}
		if n > maxControlPayload {
			return violation(closeProtocolError, "control frame payload over 125 bytes")
		}
	default:
		return violation(closeProtocolError, "reserved opcode")
	}
	w.hdrLen = 2 + 4
	switch n {
	case 126:
		w.hdrLen += 2
	case 127:
		w.hdrLen += 8
	}
	return nil
}

// startFrame reads the complete header and checks the frame against the
// message in progress and the size cap.
func (w *wsConn) startFrame(maxMsg uint64) error {
	h := w.hdr[:w.hdrLen]
	w.op = h[0] & 0x0F
	w.fin = h[0]&0x80 != 0
	n := uint64(h[1] & 0x7F)
	switch n {
	case 126:
		n = uint64(binary.BigEndian.Uint16(h[2:]))
	case 127:
		n = binary.BigEndian.Uint64(h[2:])
		if n>>63 != 0 {
			return violation(closeProtocolError, "payload length with the high bit set")
		}
	}
	copy(w.mask[:], h[w.hdrLen-4:])
	w.left, w.maskPos = n, 0
	switch w.op {
	case opClose, opPing, opPong:
		w.ctl = w.ctl[:0]
		if n > 0 && w.ctl == nil {
			w.ctl = make([]byte, 0, n)
		}
		return nil
	case opContinuation:
		if w.msgOp == 0 {
			return violation(closeProtocolError, "continuation frame without a message")
		}
	default: // opText
		if w.msgOp != 0 {
			return violation(closeProtocolError, "new message inside a fragmented one")
		}
		w.msgOp = w.op
	}
	if w.discard {
		return nil
	}
	if uint64(len(w.msg))+n > maxMsg {
		return violation(closeTooBig, "message larger than max_frame")
	}
	if w.msg == nil && w.fin {
		w.msg = make([]byte, 0, n) // the common case: exactly one allocation
	}
	return nil
}

// controlWS handles a complete ping, pong or close frame.
func (c *conn) controlWS() error {
	w := c.ws
	payload := w.ctl
	w.ctl = w.ctl[:0]
	if w.discard {
		if w.op == opClose {
			_ = c.gc.Close() // the peer answered our close frame (loop goroutine: gc is live)
		}
		return nil
	}
	switch w.op {
	case opPing:
		c.sess.Touch(c.srv.now())
		_ = c.send(outPong, payload)
	case opPong:
		c.sess.Touch(c.srv.now())
	case opClose:
		code := uint16(closeNormal)
		switch {
		case len(payload) == 1:
			return violation(closeProtocolError, "close frame with a 1-byte payload")
		case len(payload) >= 2:
			code = binary.BigEndian.Uint16(payload)
			if !validCloseCode(code) {
				return violation(closeProtocolError, "invalid close code")
			}
			if !utf8.Valid(payload[2:]) {
				return violation(closeInvalidPayload, "close reason is not valid UTF-8")
			}
		}
		// Echo the peer's code (RFC 6455 §5.5.1) and close.
		w.closeCode.Store(uint32(code))
		c.dropInput = true
		c.closeFor(reasonPeer)
	}
	return nil
}

// wsHeaderLen is the size of a server frame's header for n payload bytes
// (servers do not mask).
func wsHeaderLen(n int) int {
	switch {
	case n <= 125:
		return 2
	case n <= 0xFFFF:
		return 4
	default:
		return 10
	}
}

// appendWSFrame appends one unfragmented, unmasked frame.
func appendWSFrame(out []byte, op byte, payload []byte) []byte {
	n := len(payload)
	switch {
	case n <= 125:
		out = append(out, 0x80|op, byte(n))
	case n <= 0xFFFF:
		out = append(out, 0x80|op, 126, byte(n>>8), byte(n))
	default:
		out = append(out, 0x80|op, 127)
		out = binary.BigEndian.AppendUint64(out, uint64(n))
	}
	return append(out, payload...)
}

// unmask XORs b with the frame's mask key, starting pos bytes into the
// payload.
func unmask(b []byte, key [4]byte, pos int) {
	// Eight bytes at a time once aligned to the key: a 1 MiB message is
	// unmasked on the loop goroutine.
	i := 0
	for ; i < len(b) && (pos+i)&3 != 0; i++ {
		b[i] ^= key[(pos+i)&3]
	}
	if len(b)-i >= 8 {
		k32 := uint64(binary.LittleEndian.Uint32(key[:]))
		k64 := k32 | k32<<32
		for ; len(b)-i >= 8; i += 8 {
			v := binary.LittleEndian.Uint64(b[i:])
			binary.LittleEndian.PutUint64(b[i:], v^k64)
		}
	}
	for ; i < len(b); i++ {
		b[i] ^= key[(pos+i)&3]
	}
}
