package pipeline

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/parley-im/parley/session"
	"github.com/parley-im/parley/wire"
)

// Edge is where frames enter the pipeline and replies leave it. It is the one
// place that maps the three error outcomes to reply frames.
type Edge struct {
	handler Handler
	log     *zap.Logger
}

// NewEdge serves frames with h (normally the output of Build).
func NewEdge(h Handler, log *zap.Logger) *Edge {
	return &Edge{handler: h, log: log}
}

var requestPool = sync.Pool{New: func() any { return new(Request) }}

// Serve handles one frame body from s: decode the envelope, run the chain,
// send the reply. It is called by the dispatcher, one frame of a session at a
// time, and never panics.
func (e *Edge) Serve(ctx context.Context, s *session.Session, body []byte) {
	env, err := wire.DecodeEnvelope(body)
	if err != nil {
		typ := env.Type
		if typ == "" {
			typ = "error"
		}
		_ = s.Send(wire.EncodeError(typ, wire.CodeBadRequest, err.Error(), env.Seq))
		return
	}
	req := requestPool.Get().(*Request)
	*req = Request{Session: s, Type: env.Type, Seq: env.Seq, Body: body, Received: time.Now(), edge: e, ctx: ctx}
	reply, err := e.call(ctx, req, e.handler)
	if p := req.parked; p != nil {
		// The answer comes from Parked.Resume. A handler that parked and
		// answered anyway still gets its answer sent, and the session
		// its turn back.
		if reply != nil || err != nil {
			p.Resume(func(context.Context, *session.Session) (Reply, error) { return reply, err })
		}
	} else {
		e.finish(req, reply, err)
	}
	*req = Request{}
	requestPool.Put(req)
}

// call runs the chain with a last-resort recover, so that a chain configured
// without the recover middleware still cannot kill a worker.
func (e *Edge) call(ctx context.Context, req *Request, h Handler) (reply Reply, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = &Panic{Value: p, Stack: debug.Stack()}
		}
	}()
	return h(ctx, req)
}

// finish sends the reply or the error reply, and closes on Disconnect.
func (e *Edge) finish(req *Request, reply Reply, err error) {
	s := req.Session
	if err == nil {
		if reply != nil {
			_ = s.Send(wire.WithSeq(reply, req.Seq))
		}
		return
	}
	var pe *Error
	var de *Disconnect
	switch {
	case errors.As(err, &pe):
		_ = s.Send(wire.EncodeError(req.Type, pe.Code, pe.Message, req.Seq))
	case errors.As(err, &de):
		_ = s.Send(wire.EncodeError(req.Type, de.Code, de.Reason, req.Seq))
		_ = s.Close()
	default:
		if !IsLogged(err) {
			fields := []zap.Field{zap.String("type", req.Type), zap.Uint64("session", s.ID()), zap.String("user", s.UserID()), zap.Error(err)}
			var p *Panic
			if errors.As(err, &p) {
				fields = append(fields, zap.ByteString("stack", p.Stack))
			}
			e.log.Error("request failed", fields...)
		}
		_ = s.Send(wire.EncodeError(req.Type, wire.CodeInternal, "internal error", req.Seq))
	}
}

// Panic is a recovered panic, carried as an internal error with its stack.
type Panic struct {
	Value  any
	Stack  []byte
	Logged bool // the recover middleware already logged it
}

func (p *Panic) Error() string { return fmt.Sprintf("panic: %v", p.Value) }

// IsLogged reports whether err was already logged where it was handled, so the
// edge does not log it twice.
func IsLogged(err error) bool {
	var p *Panic
	return errors.As(err, &p) && p.Logged
}
