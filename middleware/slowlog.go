package middleware

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/parley-im/parley/pipeline"
)

func init() { pipeline.Register("slowlog", newSlowLog) }

// slowLogOptions configure the slowlog middleware:
//
//	pipeline:
//	  - use: slowlog
//	    with: {threshold: 250ms}
type slowLogOptions struct {
	// Threshold is how long a request may take, from entering the pipeline
	// to its result reaching this middleware, before it is logged at warn.
	// Default 250ms.
	Threshold time.Duration `yaml:"threshold"`
}

// newSlowLog builds the middleware that warns about slow requests: the ones
// an operator wants to see even with debug logging off. Like the logging
// middleware it logs the envelope and the outcome, never the body, and a
// type the router does not serve as "other". Its lines are sampled by the
// root logger (log.sample_initial, log.sample_thereafter).
func newSlowLog(o slowLogOptions, d pipeline.Deps) (pipeline.Middleware, error) {
	if o.Threshold == 0 {
		o.Threshold = 250 * time.Millisecond
	}
	if o.Threshold < 0 {
		return nil, fmt.Errorf("threshold: %v: must be positive", o.Threshold)
	}
	types := knownTypesOf(d)
	log := loggerOf(d).Named("slowlog")

	record := func(req *pipeline.Request, start time.Time, err error) {
		if dur := time.Since(start); dur >= o.Threshold {
			outcome, code := outcomeOf(err)
			log.Warn("slow request",
				zap.String("type", types.label(req.Type)),
				zap.Uint64("seq", req.Seq),
				zap.Uint64("session", req.Session.ID()),
				zap.String("user", req.Session.UserID()),
				zap.Duration("dur", dur),
				zap.Duration("threshold", o.Threshold),
				zap.String("outcome", string(outcome)),
				zap.String("code", code))
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
