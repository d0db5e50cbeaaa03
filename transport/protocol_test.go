package transport

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/Allenxuxu/ringbuffer"

	"github.com/parley-im/parley/wire"
)

func TestNextFrame(t *testing.T) {
	frame := func(n int) []byte { return wire.AppendFrame(nil, bytes.Repeat([]byte{'x'}, n)) }
	header := func(n uint32) []byte { return binary.BigEndian.AppendUint32(nil, n) }
	tests := []struct {
		name     string
		in       []byte
		max      uint32
		body     []byte // nil: no frame
		left     int    // bytes left in the buffer
		tooLarge bool
	}{
		{"empty", nil, 16, nil, 0, false},
		{"partial header", []byte{0, 0, 0}, 16, nil, 3, false},
		{"header only", header(5), 16, nil, 4, false},
		{"partial body", append(header(5), "abc"...), 16, nil, 7, false},
		{"zero length", header(0), 16, []byte{}, 0, false},
		{"zero length then more", append(header(0), frame(2)...), 16, []byte{}, 6, false},
		{"complete", frame(5), 16, []byte("xxxxx"), 0, false},
		{"complete then partial", append(frame(3), 0, 0), 16, []byte("xxx"), 2, false},
		{"exactly max", frame(16), 16, bytes.Repeat([]byte{'x'}, 16), 0, false},
		{"max plus one", header(17), 16, nil, 4, true},
		{"near 2^32", header(0xffffffff), 1 << 20, nil, 4, true},
		{"max 0 allows empty", header(0), 0, []byte{}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			buf := ringbuffer.New(0)
			_, _ = buf.Write(tt.in)
			ctx, body, err := nextFrame(buf, tt.max)
			if tt.tooLarge != errors.Is(err, wire.ErrFrameTooLarge) {
				t.Fatalf("err = %v, want too large: %v", err, tt.tooLarge)
			}
			if tt.body == nil {
				if ctx != nil || body != nil {
					t.Fatalf("got a frame (%v, %q), want none", ctx, body)
				}
			} else if ctx != frameReady || !bytes.Equal(body, tt.body) {
				t.Fatalf("got (%v, %q), want (frameReady, %q)", ctx, body, tt.body)
			}
			if buf.Length() != tt.left {
				t.Fatalf("%d bytes left, want %d", buf.Length(), tt.left)
			}
		})
	}
}

// TestNextFrameWrapped places header and body across the end of the ring.
func TestNextFrameWrapped(t *testing.T) {
	for shift := range 12 {
		buf := ringbuffer.New(12)
		_, _ = buf.Write(make([]byte, shift))
		buf.Retrieve(shift)
		_, _ = buf.Write(wire.AppendFrame(nil, []byte("hello!")))
		ctx, body, err := nextFrame(buf, 64)
		if err != nil || ctx != frameReady || string(body) != "hello!" || !buf.IsEmpty() {
			t.Fatalf("shift %d: (%v, %q, %v), %d left", shift, ctx, body, err, buf.Length())
		}
	}
}

// gevReader replays how gev v0.5.0 hands input to UnPacket
// (connection.go handleRead and handlerProtocol): each read lands in a
// buffer shared by the whole loop; with no leftover input that buffer is
// wrapped without copying, and what UnPacket leaves is copied into the
// connection's own ring buffer, which later reads append to. Parsing stops
// when UnPacket returns a nil ctx and empty data.
type gevReader struct {
	shared []byte
	wrap   *ringbuffer.RingBuffer
	in     *ringbuffer.RingBuffer
	next   func(*ringbuffer.RingBuffer) (any, []byte, error) // the UnPacket under test
	bodies [][]byte
	err    error
}

func newGevReader(max uint32) *gevReader {
	return &gevReader{shared: make([]byte, 64), wrap: ringbuffer.New(0), in: ringbuffer.New(0),
		next: func(buf *ringbuffer.RingBuffer) (any, []byte, error) { return nextFrame(buf, max) }}
}

func (g *gevReader) read(chunk []byte) {
	n := copy(g.shared, chunk)
	if g.in.IsEmpty() {
		g.wrap.WithData(g.shared[:n])
		g.parse(g.wrap)
		if !g.wrap.IsEmpty() {
			first, _ := g.wrap.PeekAll()
			_, _ = g.in.Write(first)
		}
	} else {
		_, _ = g.in.Write(g.shared[:n])
		g.parse(g.in)
	}
	if g.in.IsEmpty() {
		g.in.Reset()
	}
	// The next read on the loop, for any connection, overwrites the buffer.
	for i := range g.shared {
		g.shared[i] = 0xAA
	}
}

func (g *gevReader) parse(buf *ringbuffer.RingBuffer) {
	ctx, body, err := g.next(buf)
	for ctx != nil || len(body) != 0 {
		g.bodies = append(g.bodies, body)
		ctx, body, err = g.next(buf)
	}
	if err != nil {
		g.err = err
		buf.RetrieveAll() // what UnPacket does before closing
	}
}

// FuzzUnPacket feeds a byte stream, cut into chunks by cuts, through
// nextFrame the way gev does, and checks the result against wire.Split over
// the whole stream: the same frames in the same order, copied out of gev's
// shared buffer, the same too-large error, and nothing consumed past a
// partial frame. A zero-length frame must not stop the frames behind it.
func FuzzUnPacket(f *testing.F) {
	f.Add(frames(nil, []byte(`{"type":"ping"}`)), []byte{1}, uint16(1024))
	f.Add(frames(nil, nil, nil), []byte{64}, uint16(16))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 'x'}, []byte{2}, uint16(65535))
	f.Add(frames([]byte(`{"type":"login"}`))[:10], []byte{3, 1}, uint16(64))
	f.Add(frames(bytes.Repeat([]byte("ab"), 40)), []byte{7, 13, 64}, uint16(80))
	f.Fuzz(func(t *testing.T, stream, cuts []byte, max uint16) {
		want, consumed, wantErr := splitStream(stream, uint32(max))
		g := newGevReader(uint32(max))
		feed(g, stream, cuts)
		checkFrames(t, g, want, wantErr)
		if wantErr == nil {
			if left := g.in.Length(); left != len(stream)-consumed {
				t.Fatalf("%d bytes kept, want %d", left, len(stream)-consumed)
			}
		}
	})
}

// FuzzAssembler is FuzzUnPacket for the server's UnPacket (nextFrameFrom):
// the same frames, but gev's own buffer never keeps a byte (a partial frame
// moves into the assembler, counted in the partial budget).
func FuzzAssembler(f *testing.F) {
	f.Add(frames(nil, []byte(`{"type":"ping"}`)), []byte{1}, uint16(1024))
	f.Add(frames(nil, nil, nil), []byte{1, 2}, uint16(16))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 'x'}, []byte{2}, uint16(65535))
	f.Add(frames([]byte(`{"type":"login"}`))[:10], []byte{3, 1}, uint16(64))
	f.Add(frames(bytes.Repeat([]byte("ab"), 400)), []byte{7, 13, 64}, uint16(1000))
	f.Fuzz(func(t *testing.T, stream, cuts []byte, max uint16) {
		want, consumed, wantErr := splitStream(stream, uint32(max))
		srv := &Server{partial: partialBudget{limit: 1 << 30}, now: time.Now}
		c := &conn{srv: srv}
		g := newGevReader(uint32(max))
		g.next = func(buf *ringbuffer.RingBuffer) (any, []byte, error) { return c.nextFrameFrom(buf, uint32(max)) }
		feed(g, stream, cuts)
		checkFrames(t, g, want, wantErr)
		if g.in.Length() != 0 {
			t.Fatalf("gev's input buffer kept %d bytes", g.in.Length())
		}
		if wantErr != nil {
			return
		}
		if held := c.asm.nhdr + len(c.asm.body); held != len(stream)-consumed {
			t.Fatalf("assembler holds %d bytes, want %d", held, len(stream)-consumed)
		}
		if (c.partialSince.Load() != 0) != c.asm.started() {
			t.Fatalf("partialSince %d with a frame started: %v", c.partialSince.Load(), c.asm.started())
		}
		if b := srv.partial.held(); b != int64(cap(c.asm.body)) {
			t.Fatalf("budget counts %d bytes, the assembler holds %d", b, cap(c.asm.body))
		}
	})
}

// feed reads stream into g in chunks of 1..64 bytes sized by cuts.
func feed(g *gevReader, stream, cuts []byte) {
	i := 0
	for off := 0; off < len(stream) && g.err == nil; i++ {
		size := 64
		if len(cuts) > 0 {
			size = int(cuts[i%len(cuts)])%64 + 1
		}
		end := min(off+size, len(stream))
		g.read(stream[off:end])
		off = end
	}
}

func checkFrames(t *testing.T, g *gevReader, want [][]byte, wantErr error) {
	t.Helper()
	if (wantErr != nil) != (g.err != nil) {
		t.Fatalf("error %v, want %v", g.err, wantErr)
	}
	if len(g.bodies) != len(want) {
		t.Fatalf("%d frames, want %d", len(g.bodies), len(want))
	}
	for k := range want {
		if !bytes.Equal(g.bodies[k], want[k]) {
			t.Fatalf("frame %d = %q, want %q", k, g.bodies[k], want[k])
		}
	}
}

// splitStream is the reference: wire.Split over the unchunked stream.
func splitStream(stream []byte, max uint32) (bodies [][]byte, consumed int, err error) {
	for {
		body, n, err := wire.Split(stream[consumed:], max)
		if err != nil || n == 0 {
			return bodies, consumed, err
		}
		bodies = append(bodies, body)
		consumed += n
	}
}
