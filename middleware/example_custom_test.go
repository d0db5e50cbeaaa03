package middleware_test

import (
	"context"
	"fmt"

	"go.uber.org/zap"
	"go.yaml.in/yaml/v3"

	"github.com/parley-im/parley/config"
	"github.com/parley-im/parley/pipeline"
	"github.com/parley-im/parley/session"
	"github.com/parley-im/parley/wire"
)

// This whole file is the example: a middleware is a file like this one in
// package middleware (here named example_readonly, to stay out of the way of
// real names). docs/MIDDLEWARE.md walks through the same steps.

// 1. Register the factory by name, and do nothing else in init.
func init() { pipeline.Register("example_readonly", newReadOnly) }

// 2. Options: a struct with yaml tags. Keys it does not declare are start-up
// errors with their line; zero values mean "use the default".
type readOnlyOptions struct {
	// Types are refused while the server is read-only.
	Types []string `yaml:"types"`
	// Message is what the client is told. Default "read-only, try later".
	Message string `yaml:"message"`
}

// 3. The factory: apply defaults, validate, and compute everything the
// request path needs, once.
func newReadOnly(o readOnlyOptions, d pipeline.Deps) (pipeline.Middleware, error) {
	if len(o.Types) == 0 {
		return nil, fmt.Errorf("types: list the message types to refuse")
	}
	if o.Message == "" {
		o.Message = "read-only, try later"
	}
	refused := make(map[string]struct{}, len(o.Types))
	for _, t := range o.Types {
		refused[t] = struct{}{}
	}
	// One refusal for every request: the refusal path allocates nothing.
	errReadOnly := &pipeline.Error{Code: wire.CodeUnavailable, Message: o.Message}

	// 4. The middleware: read-only access to what the factory built, no
	// blocking, and one of the three outcomes.
	return func(next pipeline.Handler) pipeline.Handler {
		return func(ctx context.Context, req *pipeline.Request) (pipeline.Reply, error) {
			if _, ok := refused[req.Type]; ok {
				return nil, errReadOnly // reply, connection stays open
			}
			return next(ctx, req)
		}
	}, nil
}

type stdoutConn struct{}

func (stdoutConn) Send(b []byte) error { fmt.Println(string(b)); return nil }
func (stdoutConn) Close() error        { return nil }

// 5. Use it: one entry in the pipeline list; its place is its place in the chain.
func Example_writeAMiddleware() {
	var specs []config.Middleware
	_ = yaml.Unmarshal([]byte(`
- use: example_readonly
  with: {types: [send_message, add_friend], message: "maintenance until 03:00"}
`), &specs)
	h, err := pipeline.Build(specs, pipeline.Deps{}, func(_ context.Context, r *pipeline.Request) (pipeline.Reply, error) {
		return pipeline.Reply(`{"type":"` + r.Type + `","status":"success"}`), nil
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	edge := pipeline.NewEdge(h, zap.NewNop())
	s := session.New(1, "192.0.2.1:50000", stdoutConn{})
	edge.Serve(context.Background(), s, []byte(`{"type":"send_message","send_id":"1","receiver_id":"2"}`))
	edge.Serve(context.Background(), s, []byte(`{"type":"friends","user_id":"1"}`))

	// A typo in an option is a start-up error that names its line.
	_ = yaml.Unmarshal([]byte("- use: example_readonly\n  with: {typs: [send_message]}\n"), &specs)
	specs[0].Pos = "parley.yaml:1" // set by config.Load: where the entry is
	_, err = pipeline.Build(specs, pipeline.Deps{}, nil)
	fmt.Println(err)
	// Output:
	// {"type":"send_message","status":"error","code":"unavailable","message":"maintenance until 03:00"}
	// {"type":"friends","status":"success"}
	// pipeline:
	//   parley.yaml:1: example_readonly: line 2: unknown option "typs"; did you mean "types"?
}
