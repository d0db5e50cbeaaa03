package middleware

import (
	"context"
	"runtime/debug"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/parley-im/parley/pipeline"
)

func init() { pipeline.Register("recover", newRecover) }

// recoverOptions is empty: recover has nothing to tune. It exists so that
// any key under "with:" is reported as unknown, like for every middleware.
type recoverOptions struct{}

// newRecover builds the middleware that turns a panic below it into an
// "internal" error reply. Put it first (outermost) so it covers every other
// middleware as well as the handlers.
//
// The panic is logged here, once, at error level with the panicking stack,
// and returned as a *pipeline.Panic marked Logged so the edge does not log it
// again. The worker goroutine and the connection both survive: one bad frame
// must not cost a user their session, let alone the server.
//
// The edge keeps a last-resort recover of its own, for chains configured
// without this one; this middleware adds the request's identity to the log
// line and lets the middleware outside it (logging, metrics) see the outcome.
func newRecover(_ recoverOptions, d pipeline.Deps) (pipeline.Middleware, error) {
	// The root logger attaches a stack trace to error lines; here that would
	// be the stack of this deferred function, a second, useless stack next to
	// the panicking one. Only fatal lines keep it.
	types := knownTypesOf(d)
	log := loggerOf(d).Named("recover").WithOptions(zap.AddStacktrace(zapcore.FatalLevel))

	return func(next pipeline.Handler) pipeline.Handler {
		return func(ctx context.Context, req *pipeline.Request) (reply pipeline.Reply, err error) {
			defer func() {
				v := recover()
				if v == nil {
					return
				}
				// debug.Stack inside the deferred call still shows the frames
				// that panicked: the stack has not unwound yet.
				stack := debug.Stack()
				log.Error("panic serving request",
					zap.String("type", types.label(req.Type)),
					zap.Uint64("seq", req.Seq),
					zap.Uint64("session", req.Session.ID()),
					zap.String("user", req.Session.UserID()),
					zap.Any("panic", v),
					zap.ByteString("stack", stack))
				reply, err = nil, &pipeline.Panic{Value: v, Stack: stack, Logged: true}
			}()
			return next(ctx, req)
		}
	}, nil
}
