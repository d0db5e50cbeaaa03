package pipeline

import (
	"context"
	"testing"

	"go.uber.org/zap"

	"github.com/parley-im/parley/session"
	"github.com/parley-im/parley/wire"
)

// parkConn is a fakeConn whose transport can park: resume runs the
// continuation on the caller's goroutine, as a worker would.
type parkConn struct {
	fakeConn
	parks int
}

func (c *parkConn) Park() func(then func()) {
	c.parks++
	return func(then func()) { then() }
}

// A handler that parks answers later, through Resume: the reply carries
// the request's seq and type (the pooled Request is long reused by then),
// middleware sees the final result through Observe, and a session whose
// transport cannot park gets nil from Park.
func TestParkedRequestIsAnsweredOnResume(t *testing.T) {
	var later *Parked
	h := func(ctx context.Context, req *Request) (Reply, error) {
		later = req.Park()
		return nil, nil
	}
	var observed []string
	observe := func(next Handler) Handler {
		return func(ctx context.Context, req *Request) (Reply, error) {
			reply, err := next(ctx, req)
			if p := req.Parked(); p != nil {
				p.Observe(func(req *Request, _ Reply, err error) {
					_, code := Classify(err)
					observed = append(observed, req.Type+":"+code)
				})
			}
			return reply, err
		}
	}
	e := NewEdge(Chain(h, observe), zap.NewNop())
	c := &parkConn{}
	s := session.New(1, "127.0.0.1:1", c)
	e.Serve(context.Background(), s, []byte(`{"type":"login","seq":7}`))
	if later == nil || c.parks != 1 {
		t.Fatalf("Park gave %v after %d parks", later, c.parks)
	}
	if n := len(c.frames()); n != 0 {
		t.Fatalf("%d frames before the resume, want none", n)
	}
	later.Resume(func(context.Context, *session.Session) (Reply, error) {
		return nil, &Error{Code: wire.CodeBadCredentials, Message: "name or code error"}
	})
	later.Resume(func(context.Context, *session.Session) (Reply, error) { return Reply(`{}`), nil }) // ignored
	f := c.frames()
	if len(f) != 1 || f[0]["type"] != "login" || f[0]["code"] != wire.CodeBadCredentials || f[0]["seq"] != float64(7) {
		t.Fatalf("frames after the resume: %v", f)
	}
	if len(observed) != 1 || observed[0] != "login:"+wire.CodeBadCredentials {
		t.Fatalf("middleware observed %v", observed)
	}

	plain := session.New(2, "127.0.0.1:2", &fakeConn{})
	later = &Parked{}
	e.Serve(context.Background(), plain, []byte(`{"type":"login"}`))
	if later != nil {
		t.Fatal("Park succeeded on a session whose transport cannot park")
	}
}
