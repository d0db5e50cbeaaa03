package transport

import (
	"github.com/Allenxuxu/gev"
	"github.com/Allenxuxu/ringbuffer"
	"go.uber.org/zap"

	"github.com/parley-im/parley/wire"
)

// frameReady is the ctx UnPacket returns with every complete frame. gev stops
// parsing a read batch when UnPacket returns a nil ctx with empty data, so a
// zero-length frame reported as (nil, empty) would leave the frames behind it
// waiting for the next read event (LIBRARIES §1.3). A non-nil ctx avoids that.
var frameReady = new(struct{})

// nextFrame takes one complete frame off the front of buf, the way UnPacket
// must: a partial frame consumes nothing and returns (nil, nil, nil); a length
// above maxFrame returns an error (the stream cannot be resynchronised); a
// complete frame returns frameReady and a copy of its body, empty for a
// zero-length frame. The copy matters: buf may wrap memory gev shares between
// all connections of a loop. It has no connection argument so it can be fuzzed.
func nextFrame(buf *ringbuffer.RingBuffer, maxFrame uint32) (ctx any, body []byte, err error) {
	have := buf.Length()
	if have < wire.HeaderSize {
		return nil, nil, nil
	}
	size, err := wire.CheckSize(buf.PeekUint32(), maxFrame)
	if err != nil {
		return nil, nil, err
	}
	if uint64(have) < wire.HeaderSize+uint64(size) {
		return nil, nil, nil
	}
	buf.Retrieve(wire.HeaderSize)
	body = make([]byte, size)
	first, end := buf.Peek(int(size))
	copy(body[copy(body, first):], end)
	buf.Retrieve(int(size))
	return frameReady, body, nil
}

// protocol is the gev.Protocol for Parley framing. Both methods run on the
// connection's loop goroutine.
type protocol struct{ srv *Server }

// UnPacket implements gev.Protocol. It always consumes all of buf (an
// incomplete frame moves into the connection's assembler, see partial.go),
// so gev's own input buffer never holds anything. Input of refused or
// closing connections is discarded so nothing more reaches the dispatcher.
func (p protocol) UnPacket(gc *gev.Connection, buf *ringbuffer.RingBuffer) (any, []byte) {
	c, _ := gc.Context().(*conn)
	if c == nil {
		buf.RetrieveAll() // a refused connection
		return nil, nil
	}
	return c.unpack(buf)
}

// unpack is UnPacket for an admitted connection: a trusted balancer's PROXY
// header first (proxy.go), then the next frame. Loop goroutine only.
func (c *conn) unpack(buf *ringbuffer.RingBuffer) (any, []byte) {
	if c.dropInput || c.closing.Load() {
		buf.RetrieveAll()
		if c.asm.started() {
			c.dropPartial()
		}
		return nil, nil
	}
	if c.proxy != nil && !c.readProxyHeader(buf) {
		return nil, nil
	}
	ctx, body, err := c.nextFrameFrom(buf, c.srv.cfg.maxFrame)
	if err != nil {
		c.dropInput = true
		buf.RetrieveAll()
		c.dropPartial()
		c.srv.log.Warn("closing connection: frame too large",
			zap.Uint64("conn", c.id), zap.String("peer", c.sess.Peer()), zap.Error(err))
		c.closeFor(reasonOversize)
		return nil, nil
	}
	return ctx, body
}

// Packet implements gev.Protocol. For a session's flush task (flushMarker)
// it returns every frame the session queued since the last flush, already
// framed; a plain body (the refusal sent at accept) is framed here. OnMessage
// never returns a reply, so Connection.Send is the only caller.
func (p protocol) Packet(gc *gev.Connection, data any) []byte {
	c, _ := gc.Context().(*conn)
	if c != nil {
		// Remember whether gev's output buffer is empty before this write:
		// only then does sendInLoop re-arm EPOLLIN|EPOLLOUT (see afterSend).
		c.outWasEmpty = connOutLength(gc) == 0
	}
	if _, ok := data.(flushMarker); ok && c != nil {
		return c.takeOut()
	}
	return packet(data)
}

// packet frames a plain body for gev.
func packet(data any) []byte {
	body, _ := data.([]byte)
	return wire.AppendFrame(make([]byte, 0, wire.HeaderSize+len(body)), body)
}
