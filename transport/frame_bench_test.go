package transport

import (
	"testing"

	"github.com/Allenxuxu/ringbuffer"

	"github.com/parley-im/parley/wire"
)

// BenchmarkPacket frames one reply body for gev.
func BenchmarkPacket(b *testing.B) {
	body := []byte(`{"type":"send_message","seq":7,"message_id":"123456789","status":"ok"}`)
	b.ReportAllocs()
	for range b.N {
		_ = echoProtocol{}.Packet(nil, body)
	}
}

// BenchmarkNextFrame takes frames off a ring buffer the way UnPacket does.
func BenchmarkNextFrame(b *testing.B) {
	body := []byte(`{"type":"send_message","seq":7,"send_id":"1","recv_id":"2","content":"hello"}`)
	frame := wire.AppendFrame(nil, body)
	buf := ringbuffer.New(4096)
	b.ReportAllocs()
	for range b.N {
		_, _ = buf.Write(frame)
		if ctx, _, err := nextFrame(buf, 1<<20); ctx == nil || err != nil {
			b.Fatal(ctx, err)
		}
	}
}

// BenchmarkWSFeed takes one masked text message off the wire the way the
// WebSocket UnPacket does (feedWS), to compare with BenchmarkNextFrame.
func BenchmarkWSFeed(b *testing.B) {
	body := []byte(`{"type":"send_message","seq":7,"send_id":"1","recv_id":"2","content":"hello"}`)
	msg := frame(fin|opText, true, body)
	c := &conn{srv: &Server{cfg: settings{maxFrame: 1 << 20}}, ws: &wsConn{}}
	b.ReportAllocs()
	for range b.N {
		if n, got, err := c.feedWS(msg); n != len(msg) || len(got) != len(body) || err != nil {
			b.Fatal(n, got, err)
		}
	}
}

// BenchmarkWSFrameOut frames one reply as a WebSocket text frame, to compare
// with BenchmarkPacket.
func BenchmarkWSFrameOut(b *testing.B) {
	body := []byte(`{"type":"send_message","seq":7,"message_id":"123456789","status":"ok"}`)
	out := make([]byte, 0, 256)
	b.ReportAllocs()
	for range b.N {
		out = appendWSFrame(out[:0], opText, body)
	}
}
