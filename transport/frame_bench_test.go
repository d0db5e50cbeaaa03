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
