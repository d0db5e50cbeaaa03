package transport

import (
	"container/list"
	"sync"

	"github.com/Allenxuxu/ringbuffer"

	"github.com/parley-im/parley/wire"
)

// Incomplete frames (issue 11, must-fix 4).
//
// gev keeps the bytes UnPacket leaves in a per-connection ring buffer that
// grows to fit (each growth allocates the new size and copies), never
// shrinks, and goes back to a process-wide pool on close, from which the next
// connection takes it, grown, for its whole life. So a peer that sends a
// 1 MiB length prefix and all but the last byte used to pin about 1 MiB of
// gev buffer per connection, with no deadline, and left it pinned by whoever
// connected next. Here UnPacket always consumes everything gev hands it: the
// bytes of a frame that has started but not finished move into the
// connection's assembler, where they are counted against a process-wide
// budget (MaxPartialBytes), bounded in time (FrameTimeout, checked by the
// sweep), and dropped with the connection. gev's input buffer is never
// written to.

// assembler collects one incomplete frame of a connection. Loop goroutine
// only, except where partialBudget says otherwise.
type assembler struct {
	hdr  [wire.HeaderSize]byte
	nhdr int    // header bytes received; the frame has started when > 0 or body != nil
	size uint32 // the body length, once nhdr == HeaderSize
	body []byte // body bytes received so far; cap grows with them, up to size
}

func (a *assembler) started() bool { return a.nhdr > 0 }

func (a *assembler) reset() { *a = assembler{} }

// minPartialCap is the first allocation for a partial body, so a body
// arriving in small pieces does not reallocate for each.
const minPartialCap = 512

// nextFrameFrom is UnPacket for a connection with an assembler: it returns
// the next complete frame from what the connection has assembled plus buf,
// and consumes all of buf, keeping a trailing incomplete frame in c.asm. It
// returns (nil, nil, nil) when buf is used up without completing a frame.
// Loop goroutine only.
func (c *conn) nextFrameFrom(buf *ringbuffer.RingBuffer, maxFrame uint32) (any, []byte, error) {
	if !c.asm.started() {
		ctx, body, err := nextFrame(buf, maxFrame)
		if ctx != nil || err != nil || buf.IsEmpty() {
			return ctx, body, err
		}
		c.partialSince.Store(c.srv.now().UnixNano())
	}
	a := &c.asm
	if a.nhdr < wire.HeaderSize {
		n, _ := buf.Read(a.hdr[a.nhdr:])
		a.nhdr += n
		if a.nhdr < wire.HeaderSize {
			return nil, nil, nil
		}
		size, err := wire.FrameSize(a.hdr[:], maxFrame)
		if err != nil {
			return nil, nil, err
		}
		a.size = size
	}
	want := int(a.size) - len(a.body)
	take := min(want, buf.Length())
	if take > 0 {
		if need := len(a.body) + take; need > cap(a.body) {
			newCap := min(int(a.size), max(need, 2*cap(a.body), minPartialCap))
			grown := make([]byte, len(a.body), newCap)
			copy(grown, a.body)
			delta := int64(newCap - cap(a.body))
			a.body = grown
			c.srv.partial.grow(c, delta)
			if c.closing.Load() {
				// Over the budget and this connection was the oldest
				// holder (or another close raced): stop collecting.
				buf.RetrieveAll()
				c.dropPartial()
				return nil, nil, nil
			}
		}
		first, end := buf.Peek(take)
		a.body = append(append(a.body, first...), end...)
		buf.Retrieve(take)
	}
	if len(a.body) < int(a.size) {
		return nil, nil, nil
	}
	body := a.body
	if body == nil {
		body = []byte{} // a zero-length frame split inside its header
	}
	c.dropPartial()
	return frameReady, body, nil
}

// dropPartial forgets the incomplete frame (completed, or the connection
// is closing) and returns its bytes to the budget. Loop goroutine only.
func (c *conn) dropPartial() {
	c.asm.reset()
	if c.ws != nil {
		c.ws.reset()
	}
	c.partialSince.Store(0)
	c.srv.partial.release(c)
}

// partialBudget bounds the bytes all connections hold in incomplete frames.
// When a connection's growth passes the limit, the connections that have
// held bytes the longest are closed until the total fits again: a frame of
// an honest client completes within a round trip or two of its first byte,
// so the oldest holders are the peers that start frames and do not finish
// them (whereas the largest holder could be an honest client sending one
// big legal frame while an attacker spreads its bytes over many small
// holders). The holder that grew may itself be the oldest. Any goroutine.
type partialBudget struct {
	limit int64

	mu    sync.Mutex
	total int64
	order list.List // *conn holding bytes, in the order they started to
}

// partialHold is a connection's share of partialBudget, guarded by its mu.
type partialHold struct {
	bytes int64
	elem  *list.Element // in partialBudget.order; nil when bytes == 0
}

// grow counts delta more bytes held by c and closes the oldest holders
// while the total is over the limit.
func (b *partialBudget) grow(c *conn, delta int64) {
	var evict []*conn
	b.mu.Lock()
	c.hold.bytes += delta
	b.total += delta
	if c.hold.elem == nil {
		c.hold.elem = b.order.PushBack(c)
	}
	for b.total > b.limit && b.order.Len() > 0 {
		v := b.order.Remove(b.order.Front()).(*conn)
		b.total -= v.hold.bytes
		v.hold = partialHold{}
		evict = append(evict, v)
	}
	b.mu.Unlock()
	// Their memory goes when their loops see them closing (UnPacket) or
	// run OnClose; it is no longer counted, so it cannot evict anyone else.
	for _, v := range evict {
		v.closeFor(reasonPartialBudget)
	}
}

// release forgets c's held bytes.
func (b *partialBudget) release(c *conn) {
	b.mu.Lock()
	if c.hold.elem != nil {
		b.order.Remove(c.hold.elem)
	}
	b.total -= c.hold.bytes
	c.hold = partialHold{}
	b.mu.Unlock()
}

// held is the total counted now.
func (b *partialBudget) held() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.total
}
