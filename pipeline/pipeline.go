package pipeline

import (
	"context"
	"time"

	"github.com/parley-im/parley/session"
)

// Request is one decoded frame on its way through the chain. The envelope has
// been validated (one UTF-8 JSON object with a "type"); Body is the whole
// frame body, still raw, for the typed handler to decode. A Request is only
// valid during the call: middleware must not keep it.
type Request struct {
	Session  *session.Session
	Type     string
	Seq      uint64
	Body     []byte
	Received time.Time

	// Set by the Edge, for Park.
	edge   *Edge
	ctx    context.Context
	parked *Parked
}

// Reply is the encoded body answered to a request; nil means no reply.
type Reply []byte

// Handler serves one request. It returns the reply body, or an error that the
// edge turns into an error reply (see Error, Disconnect).
type Handler func(ctx context.Context, req *Request) (Reply, error)

// Middleware wraps a Handler. It may answer or refuse without calling next.
type Middleware func(next Handler) Handler

// Chain composes middleware so that the first is the outermost.
func Chain(h Handler, mws ...Middleware) Handler {
	for i := len(mws) - 1; i >= 0; i-- {
		h = mws[i](h)
	}
	return h
}
