package middleware_test

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	"go.yaml.in/yaml/v3"

	"github.com/parley-im/parley/config"
	_ "github.com/parley-im/parley/middleware" // registers the middleware by name
	"github.com/parley-im/parley/pipeline"
	"github.com/parley-im/parley/session"
)

// printConn stands for a client connection: it prints what the server sends.
type printConn struct{}

func (printConn) Send(b []byte) error { fmt.Println(string(b)); return nil }
func (printConn) Close() error        { fmt.Println("(connection closed)"); return nil }

// chain builds a pipeline from its YAML list, as the server does at start-up,
// around a final handler that logs in on "login" and answers success to
// everything else.
func chain(src string, deps pipeline.Deps) *pipeline.Edge {
	var specs []config.Middleware
	if err := yaml.Unmarshal([]byte(src), &specs); err != nil {
		panic(err)
	}
	if deps.Sessions == nil {
		deps.Sessions = session.NewRegistry()
	}
	if deps.Types == nil {
		deps.Types = []string{"login", "register", "ping", "friends", "send_message"}
	}
	final := func(_ context.Context, r *pipeline.Request) (pipeline.Reply, error) {
		if r.Type == "login" {
			deps.Sessions.Bind(r.Session, "1") // what the login handler does
		}
		return pipeline.Reply(`{"type":"` + r.Type + `","status":"success"}`), nil
	}
	h, err := pipeline.Build(specs, deps, final)
	if err != nil {
		fmt.Println(err)
		return nil
	}
	return pipeline.NewEdge(h, zap.NewNop())
}

// The default chain: before login only public types are served; after it,
// a request must name the logged-in user.
func Example() {
	edge := chain(`
- use: recover
- use: logging
- use: metrics
- use: auth
- use: ratelimit
`, pipeline.Deps{})
	s := session.New(1, "192.0.2.1:50000", printConn{})
	for _, frame := range []string{
		`{"type":"friends","user_id":"1"}`,
		`{"type":"login","user_id":"1","user_password":"666"}`,
		`{"type":"friends","user_id":"2"}`,
		`{"type":"friends","user_id":"1","seq":7}`,
	} {
		edge.Serve(context.Background(), s, []byte(frame))
	}
	// Output:
	// {"type":"friends","status":"error","code":"unauthenticated","message":"log in first"}
	// {"type":"login","status":"success"}
	// {"type":"friends","status":"error","code":"forbidden","message":"user_id is not the logged-in user"}
	// {"seq":7,"type":"friends","status":"success"}
}

// auth serves only the public types before login, and after it refuses a
// request whose identity fields name someone else.
func Example_auth() {
	edge := chain(`
- use: auth
  with:
    public: [login, register]          # no ping before login
    identity_fields: [user_id, send_id]
`, pipeline.Deps{})
	s := session.New(1, "192.0.2.1:50000", printConn{})
	for _, frame := range []string{
		`{"type":"ping"}`,
		`{"type":"login","user_id":"1","user_password":"666"}`,
		`{"type":"send_message","send_id":"2","receiver_id":"1","message_body":"hi"}`,
		`{"type":"send_message","send_id":"1","receiver_id":"2","message_body":"hi"}`,
	} {
		edge.Serve(context.Background(), s, []byte(frame))
	}
	// Output:
	// {"type":"ping","status":"error","code":"unauthenticated","message":"log in first"}
	// {"type":"login","status":"success"}
	// {"type":"send_message","status":"error","code":"forbidden","message":"send_id is not the logged-in user"}
	// {"type":"send_message","status":"success"}
}

// maxbody refuses a body above its type's limit; the connection stays open.
func Example_maxbody() {
	edge := chain(`
- use: maxbody
  with: {default: 65536, limits: {login: 64}}
`, pipeline.Deps{})
	s := session.New(1, "192.0.2.1:50000", printConn{})
	edge.Serve(context.Background(), s, []byte(`{"type":"login","user_id":"1","user_password":"a very long password indeed"}`))
	edge.Serve(context.Background(), s, []byte(`{"type":"login","user_id":"1","user_password":"666"}`))
	// Output:
	// {"type":"login","status":"error","code":"too_large","message":"body larger than 64 bytes"}
	// {"type":"login","status":"success"}
}

// ratelimit answers rate_limited past a bucket's burst, and closes the
// connection of a client that keeps going.
func Example_ratelimit() {
	edge := chain(`
- use: ratelimit
  with:
    disconnect_after: 1
    rules:
      default: {session: {rate: 1, burst: 2}}
`, pipeline.Deps{})
	s := session.New(1, "192.0.2.1:50000", printConn{})
	for range 5 {
		if s.Closed() {
			break
		}
		edge.Serve(context.Background(), s, []byte(`{"type":"ping"}`))
	}
	// Output:
	// {"type":"ping","status":"success"}
	// {"type":"ping","status":"success"}
	// {"type":"ping","status":"error","code":"rate_limited","message":"too many requests (per session), slow down"}
	// {"type":"ping","status":"error","code":"rate_limited","message":"too many requests"}
	// (connection closed)
}

// recover turns a panic into an "internal" reply; the connection stays open.
func Example_recover() {
	var specs []config.Middleware
	_ = yaml.Unmarshal([]byte("- use: recover"), &specs)
	h, _ := pipeline.Build(specs, pipeline.Deps{}, func(context.Context, *pipeline.Request) (pipeline.Reply, error) {
		panic("a bug")
	})
	edge := pipeline.NewEdge(h, zap.NewNop())
	s := session.New(1, "192.0.2.1:50000", printConn{})
	edge.Serve(context.Background(), s, []byte(`{"type":"ping","seq":3}`))
	fmt.Println("closed:", s.Closed())
	// Output:
	// {"type":"ping","status":"error","code":"internal","message":"internal error","seq":3}
	// closed: false
}

// logging writes one line per frame; refusals at warn. Bodies never appear.
func Example_logging() {
	core, logs := observer.New(zapcore.DebugLevel)
	edge := chain(`
- use: logging
- use: auth
`, pipeline.Deps{Log: zap.New(core)})
	s := session.New(1, "192.0.2.1:50000", printConn{})
	edge.Serve(context.Background(), s, []byte(`{"type":"login","user_id":"1","user_password":"666"}`))
	edge.Serve(context.Background(), s, []byte(`{"type":"friends","user_id":"2"}`))
	for _, e := range logs.All() {
		f := e.ContextMap()
		line := fmt.Sprint(e.Level, " ", e.Message, " ", f["type"], " ", f["user"], " ", f["outcome"])
		if code := f["code"]; code != "" {
			line += fmt.Sprint(" ", code)
		}
		fmt.Println(line)
	}
	// Output:
	// {"type":"login","status":"success"}
	// {"type":"friends","status":"error","code":"forbidden","message":"user_id is not the logged-in user"}
	// debug frame login 1 ok
	// warn frame refused friends 1 error forbidden
}

// slowlog warns about requests slower than its threshold.
func Example_slowlog() {
	core, logs := observer.New(zapcore.DebugLevel)
	var specs []config.Middleware
	_ = yaml.Unmarshal([]byte("- use: slowlog\n  with: {threshold: 10ms}\n"), &specs)
	h, _ := pipeline.Build(specs, pipeline.Deps{Log: zap.New(core), Types: []string{"search_user"}},
		func(_ context.Context, r *pipeline.Request) (pipeline.Reply, error) {
			if r.Type == "search_user" {
				time.Sleep(20 * time.Millisecond) // a slow query
			}
			return nil, nil
		})
	edge := pipeline.NewEdge(h, zap.NewNop())
	s := session.New(1, "192.0.2.1:50000", printConn{})
	edge.Serve(context.Background(), s, []byte(`{"type":"ping"}`))
	edge.Serve(context.Background(), s, []byte(`{"type":"search_user","search_id":"2"}`))
	for _, e := range logs.All() {
		fmt.Println(e.Level, e.Message, e.ContextMap()["type"])
	}
	// Output:
	// warn slow request search_user
}

// metrics counts frames by type and outcome on the registry in Deps.
func Example_metrics() {
	reg := prometheus.NewRegistry()
	edge := chain(`
- use: metrics
- use: auth
`, pipeline.Deps{Metrics: reg})
	s := session.New(1, "192.0.2.1:50000", printConn{})
	edge.Serve(context.Background(), s, []byte(`{"type":"friends","user_id":"1"}`))
	fams, _ := reg.Gather()
	for _, f := range fams {
		if f.GetName() != "parley_refusals_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			if v := m.GetCounter().GetValue(); v > 0 {
				fmt.Println(f.GetName(), m.GetLabel()[0].GetValue(), m.GetLabel()[1].GetValue(), v)
			}
		}
	}
	// Output:
	// {"type":"friends","status":"error","code":"unauthenticated","message":"log in first"}
	// parley_refusals_total unauthenticated friends 1
}
