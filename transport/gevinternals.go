package transport

import (
	"errors"
	"fmt"
	"net"
	"os"
	"reflect"
	"unsafe"

	"github.com/Allenxuxu/gev"
	"github.com/Allenxuxu/gev/eventloop"
	"github.com/Allenxuxu/gev/poller"
	"github.com/Allenxuxu/ringbuffer"
	tkatomic "github.com/Allenxuxu/toolkit/sync/atomic"
)

// gev v0.5.0 keeps everything we need to work around its bugs in unexported
// fields: the connection's fd (keepalive), its output ring buffer and the
// atomic snapshot of its length (slow-consumer policy), its loop's poller
// (stop watching reads while output is pending), the listener's fds (release
// the port, learn the bound address) and the loops (make Stop race-free).
//
// This file is the only place that reaches in. Offsets are looked up by field
// name and checked by type when the package loads, so a gev upgrade that moves
// or retypes a field makes New fail with errGevLayout instead of corrupting
// memory. Every accessor documents on which goroutine it may be used.

var errGevLayout = errors.New("transport: unexpected gev internals (only gev v0.5.0 is supported)")

// gevOffsets are byte offsets of unexported fields, found by reflection.
type gevOffsets struct {
	connFD, connLoop, connOutBuffer, connOutLen uintptr // in gev.Connection
	connInBuffer                                uintptr
	loopPoll                                    uintptr // in eventloop.EventLoop (promoted)
	srvListener, srvLoops                       uintptr // in gev.Server
	lnFile, lnFD, lnNet, lnLoop                 uintptr // in gev's listener
}

var layout, layoutErr = inspectGev()

func inspectGev() (gevOffsets, error) {
	var o gevOffsets
	var errs []error
	field := func(t reflect.Type, name string, want reflect.Type) uintptr {
		f, ok := t.FieldByName(name)
		if !ok {
			errs = append(errs, fmt.Errorf("%s.%s missing", t, name))
			return 0
		}
		if want != nil && f.Type != want {
			errs = append(errs, fmt.Errorf("%s.%s is %s, want %s", t, name, f.Type, want))
		}
		// A promoted field's Offset is relative to its embedded struct: add
		// the offsets along the index path.
		var off uintptr
		cur := t
		for _, i := range f.Index {
			sf := cur.Field(i)
			off += sf.Offset
			cur = sf.Type
		}
		return off
	}
	loopPtr := reflect.TypeFor[*eventloop.EventLoop]()
	conn := reflect.TypeFor[gev.Connection]()
	o.connFD = field(conn, "fd", reflect.TypeFor[int]())
	o.connLoop = field(conn, "loop", loopPtr)
	o.connOutBuffer = field(conn, "outBuffer", reflect.TypeFor[*ringbuffer.RingBuffer]())
	o.connOutLen = field(conn, "outBufferLen", reflect.TypeFor[tkatomic.Int64]())
	o.connInBuffer = field(conn, "inBuffer", reflect.TypeFor[*ringbuffer.RingBuffer]())
	o.loopPoll = field(reflect.TypeFor[eventloop.EventLoop](), "poll", reflect.TypeFor[*poller.Poller]())

	srv := reflect.TypeFor[gev.Server]()
	o.srvListener = field(srv, "listener", nil)
	o.srvLoops = field(srv, "workLoops", reflect.TypeFor[[]*eventloop.EventLoop]())
	if f, ok := srv.FieldByName("listener"); ok && f.Type.Kind() == reflect.Pointer && f.Type.Elem().Kind() == reflect.Struct {
		ln := f.Type.Elem()
		o.lnFile = field(ln, "file", reflect.TypeFor[*os.File]())
		o.lnFD = field(ln, "fd", reflect.TypeFor[int]())
		o.lnNet = field(ln, "listener", reflect.TypeFor[net.Listener]())
		o.lnLoop = field(ln, "loop", loopPtr)
	} else {
		errs = append(errs, errors.New("gev.Server.listener is not a struct pointer"))
	}
	if len(errs) > 0 {
		return o, fmt.Errorf("%w: %w", errGevLayout, errors.Join(errs...))
	}
	return o, nil
}

func at[T any](base unsafe.Pointer, off uintptr) *T { return (*T)(unsafe.Add(base, off)) }

// connFD is the connection's socket. Written once before the connection is
// shared, so any goroutine may read it.
func connFD(c *gev.Connection) int { return *at[int](unsafe.Pointer(c), layout.connFD) }

// connOutLength is the real length of gev's output buffer. Loop goroutine
// only, and only while c.Connected() (the buffer goes back to a pool on close).
func connOutLength(c *gev.Connection) int {
	return (*at[*ringbuffer.RingBuffer](unsafe.Pointer(c), layout.connOutBuffer)).Length()
}

// publishOutLength stores n where WriteBufferLength reads it. gev refreshes
// that snapshot only at the end of a socket event, so output queued by Send
// on a silent connection would otherwise stay invisible. Loop goroutine only.
func publishOutLength(c *gev.Connection, n int) {
	at[tkatomic.Int64](unsafe.Pointer(c), layout.connOutLen).Swap(int64(n))
}

// connWatchWriteOnly re-registers the connection for EPOLLOUT alone. gev
// leaves EPOLLIN armed while output is pending but ignores it, so a peer that
// sends without reading makes level-triggered epoll spin. gev itself
// re-enables reads (EnableRead) once the output buffer drains. Loop goroutine
// only.
func connWatchWriteOnly(c *gev.Connection) error {
	loop := *at[*eventloop.EventLoop](unsafe.Pointer(c), layout.connLoop)
	p := *at[*poller.Poller](unsafe.Pointer(loop), layout.loopPoll)
	return p.EnableWrite(connFD(c))
}

// connQueueInLoop runs f on the connection's loop after the tasks queued
// before it (gev's Send and Close queue theirs the same way). Any goroutine
// while the connection is not gone.
func connQueueInLoop(c *gev.Connection, f func()) {
	(*at[*eventloop.EventLoop](unsafe.Pointer(c), layout.connLoop)).QueueInLoop(f)
}

// maxPooledBuffer is the largest ring buffer shedBuffers lets gev put back
// in its pool.
const maxPooledBuffer = 16 << 10

// shedBuffers replaces the connection's input and output ring buffers by
// new empty ones when they have grown past maxPooledBuffer. gev's ring
// buffers never shrink, and on close gev puts them in a process-wide pool
// whatever their size (ringbuffer's pool only starts refusing big buffers
// after calibrating on 42,000 returns), so the next connection would take
// one grown by a big reply, or a peer's partial frame, and keep it for its
// whole life. The replaced buffers are left to the GC. Loop goroutine only,
// from OnClose: gev only pools the buffers after it.
func shedBuffers(c *gev.Connection) {
	for _, off := range []uintptr{layout.connInBuffer, layout.connOutBuffer} {
		b := at[*ringbuffer.RingBuffer](unsafe.Pointer(c), off)
		if (*b).Capacity() > maxPooledBuffer {
			*b = ringbuffer.New(0)
		}
	}
}

// gevListener is what Server needs from gev's unexported listener. The
// pointers are fixed after gev.NewServer returns.
type gevListener struct {
	file *os.File     // the dup(2) of the listening socket that gev polls and never closes
	fd   int          // file's descriptor number, registered with loop
	net  net.Listener // the original listener: its Addr is the bound address
	loop *eventloop.EventLoop
}

func listenerOf(s *gev.Server) gevListener {
	ln := *at[unsafe.Pointer](unsafe.Pointer(s), layout.srvListener)
	return gevListener{
		file: *at[*os.File](ln, layout.lnFile),
		fd:   *at[int](ln, layout.lnFD),
		net:  *at[net.Listener](ln, layout.lnNet),
		loop: *at[*eventloop.EventLoop](ln, layout.lnLoop),
	}
}

// workLoopsOf returns gev's sub reactors (fixed after gev.NewServer).
func workLoopsOf(s *gev.Server) []*eventloop.EventLoop {
	return *at[[]*eventloop.EventLoop](unsafe.Pointer(s), layout.srvLoops)
}
