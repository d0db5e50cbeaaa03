package middleware

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/parley-im/parley/pipeline"
)

func init() { pipeline.Register("logging", newLogging) }

// loggingOptions configure the logging middleware:
//
//	pipeline:
//	  - use: logging
//	    with:
//	      sample_initial: 100
//	      sample_thereafter: 100
type loggingOptions struct {
	// SampleInitial and SampleThereafter bound how much a flood can write:
	// each second, for each level and message, the first SampleInitial lines
	// are written, then every SampleThereafter-th. Defaults: 100 and 100.
	SampleInitial    int `yaml:"sample_initial"`
	SampleThereafter int `yaml:"sample_thereafter"`
}

// The three log messages. Sampling counts per message, so a flood of refusals
// cannot crowd out the debug trace of normal frames, nor the reverse.
const (
	msgFrame      = "frame"
	msgRefused    = "frame refused"
	msgDisconnect = "frame refused, closing connection"
)

// newLogging builds the middleware that writes one line per frame.
//
//   - Served frames, and internal errors, are logged at debug. Internal errors
//     are logged at error level exactly once elsewhere (by recover, or by the
//     edge), with the error and stack; repeating them here would log twice.
//   - Refusals (*pipeline.Error) and disconnects (*pipeline.Disconnect) are
//     logged at warn: they are what an operator looks for in a flood or an
//     attack.
//
// A line carries the envelope (type, seq), the session and user, the time
// since the request entered the pipeline, the outcome and the error code. It never
// carries the body nor an error's message: bodies hold passwords, tokens and
// private messages, and handler messages may quote the body. Even the type is
// client input: a type the router does not serve is logged as "other".
//
// The line is built only when its level is enabled, so in production (info)
// a served frame costs a level check: no clock read, no allocation.
func newLogging(o loggingOptions, d pipeline.Deps) (pipeline.Middleware, error) {
	if o.SampleInitial < 0 || o.SampleThereafter < 0 {
		return nil, fmt.Errorf("sample_initial and sample_thereafter must not be negative")
	}
	if o.SampleInitial == 0 {
		o.SampleInitial = 100
	}
	if o.SampleThereafter == 0 {
		o.SampleThereafter = 100
	}
	types := knownTypesOf(d)
	log := loggerOf(d).Named("frames").WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core {
		return zapcore.NewSamplerWithOptions(c, time.Second, o.SampleInitial, o.SampleThereafter)
	}))

	record := func(req *pipeline.Request, start time.Time, err error) {
		outcome, code := outcomeOf(err)
		level, msg := zapcore.DebugLevel, msgFrame
		switch outcome {
		case pipeline.OutcomeError:
			level, msg = zapcore.WarnLevel, msgRefused
		case pipeline.OutcomeDisconnect:
			level, msg = zapcore.WarnLevel, msgDisconnect
		}
		if ce := log.Check(level, msg); ce != nil {
			ce.Write(
				zap.String("type", types.label(req.Type)),
				zap.Uint64("seq", req.Seq),
				zap.Uint64("session", req.Session.ID()),
				zap.String("user", req.Session.UserID()),
				zap.Duration("dur", time.Since(start)),
				zap.String("outcome", string(outcome)),
				zap.String("code", code),
			)
		}
	}
	// observe records a request when it is answered (later, if parked).
	observe := func(req *pipeline.Request, _ pipeline.Reply, err error) { record(req, receivedAt(req), err) }
	return func(next pipeline.Handler) pipeline.Handler {
		return func(ctx context.Context, req *pipeline.Request) (pipeline.Reply, error) {
			markReceived(req)
			reply, err := next(ctx, req)
			pipeline.Finished(req, reply, err, observe)
			return reply, err
		}
	}, nil
}
