package transport

import (
	"context"
	"fmt"
	"time"

	"github.com/Allenxuxu/gev"
	"github.com/Allenxuxu/gev/eventloop"
	"github.com/Allenxuxu/ringbuffer"

	"github.com/parley-im/parley/wire"
)

// EchoServer is a bare gev server with Parley's framing that sends every
// frame straight back from its loop: no dispatcher, no pipeline, no
// session. It exists as a baseline (cmd/parley-bench's ping scenario
// compares the full chain against it) and for tests; it lives here because
// this is the only package that may import gev. Not for production use: it
// has no limits besides MaxFrame.
type EchoServer struct {
	gev       *gev.Server
	ln        gevListener
	addr      string
	startDone chan struct{}
	started   bool
}

// NewEchoServer binds listen (":0" picks a port, see Addr) with loops sub
// reactors (0 means one per CPU).
func NewEchoServer(listen string, loops int) (*EchoServer, error) {
	if layoutErr != nil {
		return nil, layoutErr
	}
	e := &EchoServer{startDone: make(chan struct{})}
	g, err := gev.NewServer(echoHandler{},
		gev.Network("tcp"), gev.Address(listen), gev.NumLoops(loops),
		gev.CustomProtocol(echoProtocol{max: wire.DefaultMaxFrame}))
	if err != nil {
		return nil, fmt.Errorf("transport: echo listen on %q: %w", listen, err)
	}
	e.gev = g
	e.ln = listenerOf(g)
	e.addr = e.ln.net.Addr().String()
	return e, nil
}

// Addr is the bound "host:port".
func (e *EchoServer) Addr() string { return e.addr }

// Start runs the reactors in the background.
func (e *EchoServer) Start() {
	if e.started {
		return
	}
	e.started = true
	go func() { defer close(e.startDone); e.gev.Start() }()
}

// Stop frees the port and stops the loops (connections are the client's to
// close first). Call it once, after Start.
func (e *EchoServer) Stop(ctx context.Context) error {
	if err := runOnLoops(ctx, []*eventloop.EventLoop{e.ln.loop}, func() {
		e.ln.loop.DeleteFdInLoop(e.ln.fd)
		_ = e.ln.file.Close()
		_ = e.ln.net.Close()
	}); err != nil {
		return err
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		e.gev.Stop()
		select {
		case <-e.startDone:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

type echoHandler struct{}

func (echoHandler) OnConnect(*gev.Connection) {}
func (echoHandler) OnClose(*gev.Connection)   {}

// OnMessage returns the body, which gev frames with Packet and writes at once.
func (echoHandler) OnMessage(_ *gev.Connection, ctx any, data []byte) any {
	if ctx != frameReady {
		return nil
	}
	return data
}

type echoProtocol struct{ max uint32 }

func (p echoProtocol) UnPacket(c *gev.Connection, buf *ringbuffer.RingBuffer) (any, []byte) {
	ctx, body, err := nextFrame(buf, p.max)
	if err != nil {
		buf.RetrieveAll()
		_ = c.Close()
		return nil, nil
	}
	return ctx, body
}

func (echoProtocol) Packet(_ *gev.Connection, data any) []byte { return packet(data) }
