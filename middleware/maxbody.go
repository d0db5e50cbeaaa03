package middleware

import (
	"context"
	"fmt"
	"strconv"

	"github.com/parley-im/parley/pipeline"
	"github.com/parley-im/parley/wire"
)

func init() { pipeline.Register("maxbody", newMaxBody) }

// maxBodyOptions configure the maxbody middleware:
//
//	pipeline:
//	  - use: maxbody
//	    with:
//	      default: 65536
//	      limits: {send_message: 65536, login: 1024}
type maxBodyOptions struct {
	// Default is the largest body, in bytes, of a type without its own
	// limit. Default 65536 (the seed's message_body column holds 65535).
	Default int `yaml:"default"`
	// Limits are per-type maximum body sizes, in bytes.
	Limits map[string]int `yaml:"limits"`
}

// maxBody is the resolved configuration: one limit and one prebuilt refusal
// per type, so a request is checked with one map lookup and refused without
// allocating.
type maxBody struct {
	byType   map[string]maxBodyLimit
	fallback maxBodyLimit
}

type maxBodyLimit struct {
	max     int
	refusal *pipeline.Error
}

// newMaxBody builds the middleware that refuses bodies above a per-type size
// with too_large. The connection stays open: the frame has been read whole,
// so the stream is still in sync, and the client may retry with less.
//
// This is the worked example of docs/MIDDLEWARE.md: the options struct, the
// defaults applied in the factory, validation with a clear message, work
// done once at start-up, and a per-request path that only reads.
//
// transport.max_frame is the hard limit; it closes the connection because a
// length it refuses cannot be skipped. maxbody is the soft limit under it,
// and it can differ by type.
func newMaxBody(o maxBodyOptions, d pipeline.Deps) (pipeline.Middleware, error) {
	if o.Default == 0 {
		o.Default = 64 << 10
	}
	if o.Default < 0 {
		return nil, fmt.Errorf("default: %d: want a positive number of bytes", o.Default)
	}
	types := make([]string, 0, len(o.Limits))
	for t, n := range o.Limits {
		if n <= 0 {
			return nil, fmt.Errorf("limits: %s: %d: want a positive number of bytes", t, n)
		}
		types = append(types, t)
	}
	if err := checkTypes(d, "limits", types); err != nil {
		return nil, err
	}

	m := &maxBody{byType: make(map[string]maxBodyLimit, len(o.Limits)), fallback: newMaxBodyLimit(o.Default)}
	for t, n := range o.Limits {
		m.byType[t] = newMaxBodyLimit(n)
	}
	return func(next pipeline.Handler) pipeline.Handler {
		return func(ctx context.Context, req *pipeline.Request) (pipeline.Reply, error) {
			limit, ok := m.byType[req.Type]
			if !ok {
				limit = m.fallback // unknown types too; the map never grows
			}
			if len(req.Body) > limit.max {
				return nil, limit.refusal
			}
			return next(ctx, req)
		}
	}, nil
}

func newMaxBodyLimit(n int) maxBodyLimit {
	return maxBodyLimit{max: n, refusal: &pipeline.Error{
		Code:    wire.CodeTooLarge,
		Message: "body larger than " + strconv.Itoa(n) + " bytes",
	}}
}
