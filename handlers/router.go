package handlers

import (
	"context"
	"encoding/json"
	"sort"

	"github.com/parley-im/parley/pipeline"
	"github.com/parley-im/parley/wire"
)

// Router maps message types to handlers. It is filled at start-up and read-only
// afterwards, so lookups take no lock.
type Router struct {
	routes map[string]pipeline.Handler
}

// NewRouter returns an empty router.
func NewRouter() *Router {
	return &Router{routes: make(map[string]pipeline.Handler)}
}

// Validator is implemented by request types that check their own fields after
// decoding; a non-nil error becomes a "invalid" error reply.
type Validator interface {
	Validate() error
}

// On registers h for message type typ. The body is decoded into a new Req;
// a body whose fields have the wrong JSON types is answered with bad_request.
// The Resp value is encoded with encoding/json, unless it is a pipeline.Reply
// (already encoded), or a nil pointer, slice or Reply (no reply at all).
func On[Req, Resp any](r *Router, typ string, h func(ctx context.Context, req *pipeline.Request, in *Req) (Resp, error)) {
	if _, dup := r.routes[typ]; dup {
		panic("handlers: type registered twice: " + typ)
	}
	r.routes[typ] = func(ctx context.Context, req *pipeline.Request) (pipeline.Reply, error) {
		in := new(Req)
		if err := json.Unmarshal(req.Body, in); err != nil {
			return nil, &pipeline.Error{Code: wire.CodeBadRequest, Message: wire.ClientDecodeError(err).Error()}
		}
		if v, ok := any(in).(Validator); ok {
			if err := v.Validate(); err != nil {
				return nil, &pipeline.Error{Code: wire.CodeInvalid, Message: err.Error()}
			}
		}
		out, err := h(ctx, req, in)
		if err != nil {
			return nil, err
		}
		return encode(out)
	}
}

// OnRaw registers h for typ as is: the body is not decoded, so h reads
// req.Body itself if it needs to. For requests whose body carries nothing
// but the envelope (ping), where decoding it again would be pure cost: the
// edge already checked that the body is one valid JSON object with this type.
func OnRaw(r *Router, typ string, h pipeline.Handler) {
	if _, dup := r.routes[typ]; dup {
		panic("handlers: type registered twice: " + typ)
	}
	r.routes[typ] = h
}

// encode turns a handler's result into reply bytes.
func encode(v any) (pipeline.Reply, error) {
	switch x := v.(type) {
	case ListReply:
		return x.reply()
	case pipeline.Reply:
		return x, nil
	case nil:
		return nil, nil
	}
	if isNil(v) {
		return nil, nil
	}
	b, err := wire.Marshal(v)
	if err != nil {
		return nil, err
	}
	return b, nil
}

// Handle is the pipeline.Handler at the end of the chain.
func (r *Router) Handle(ctx context.Context, req *pipeline.Request) (pipeline.Reply, error) {
	h, ok := r.routes[req.Type]
	if !ok {
		return nil, pipeline.Errorf(wire.CodeUnknownType, "unknown type %q", req.Type)
	}
	return h(ctx, req)
}

// Types lists the registered message types, sorted.
func (r *Router) Types() []string {
	out := make([]string, 0, len(r.routes))
	for t := range r.routes {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}
