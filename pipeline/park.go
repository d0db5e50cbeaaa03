package pipeline

import (
	"context"
	"sync"
	"time"

	"github.com/parley-im/parley/session"
)

// Parked is a request whose handler gave its worker back while it waits for
// something slow that does not need the worker (a password hash in the hash
// pool). The session's turn stays taken, so none of its later frames run
// before this one is answered; Resume ends the wait.
type Parked struct {
	edge     *Edge
	ctx      context.Context
	req      Request // a copy: the pooled Request is reused once Serve returns
	resume   func(then func())
	once     sync.Once
	observed []func(req *Request, reply Reply, err error)
}

// Park asks the transport to hold the session's turn without a worker. It
// returns nil when the session cannot be parked (a transport without the
// seam, a test harness): the handler must then finish inline. After a
// successful Park the handler returns (nil, nil) and, exactly once, from any
// goroutine, calls Resume. Park is only valid while the handler runs.
func (r *Request) Park() *Parked {
	if r == nil {
		return nil
	}
	if r.parked != nil {
		return r.parked
	}
	if r.edge == nil || r.Session == nil {
		return nil
	}
	resume := r.Session.Park()
	if resume == nil {
		return nil
	}
	r.parked = &Parked{edge: r.edge, ctx: r.ctx, req: Request{
		Session: r.Session, Type: r.Type, Seq: r.Seq, Received: r.Received,
	}, resume: resume}
	return r.parked
}

// Parked is the request's Parked if its handler parked it, else nil.
// Middleware that reports a request's outcome calls Observe on it.
func (r *Request) Parked() *Parked {
	if r == nil {
		return nil
	}
	return r.parked
}

// Observe registers fn to see the request's final result, before it is
// answered; req is a copy of the request without its Body. Middleware
// calls it right after the chain returned (on the worker, before Resume can
// run), so no lock is needed.
func (p *Parked) Observe(fn func(req *Request, reply Reply, err error)) {
	p.observed = append(p.observed, fn)
}

// Finished hands a request's result to fn: now, or, when the handler parked
// the request, once it is answered. Middleware that reports outcomes
// (logging, metrics, slowlog) calls it after the chain returned, so a parked
// login is counted and timed with its wait for the hash. fn should be built
// once, not per request: Finished itself allocates nothing.
func Finished(req *Request, reply Reply, err error, fn func(req *Request, reply Reply, err error)) {
	if p := req.Parked(); p != nil {
		p.Observe(fn)
		return
	}
	fn(req, reply, err)
}

// Received is when the parked request's frame entered the pipeline.
func (p *Parked) Received() time.Time { return p.req.Received }

// Resume finishes the request: fn runs on a dispatcher worker in the
// session's turn (so it may query the database and bind the session like any
// handler), and its result is answered as a handler's would be. Only the
// first call counts.
func (p *Parked) Resume(fn func(ctx context.Context, s *session.Session) (Reply, error)) {
	p.once.Do(func() {
		p.resume(func() {
			reply, err := p.edge.call(p.ctx, &p.req, func(ctx context.Context, req *Request) (Reply, error) {
				return fn(ctx, req.Session)
			})
			for _, o := range p.observed {
				o(&p.req, reply, err)
			}
			p.edge.finish(&p.req, reply, err)
		})
	})
}
