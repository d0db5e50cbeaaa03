package middleware

import (
	"context"
	"errors"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/parley-im/parley/pipeline"
	"github.com/parley-im/parley/session"
	"github.com/parley-im/parley/wire"
)

func TestRecover(t *testing.T) {
	errPlain := errors.New("database is on fire")
	for _, tc := range []struct {
		name      string
		handler   pipeline.Handler
		wantReply bool
		wantErr   error // compared with errors.Is; nil means no error
		wantPanic any   // the recovered value, when the handler panics
	}{
		{name: "reply passes through", handler: (&counter{}).handle, wantReply: true},
		{name: "refusal passes through", wantErr: pipeline.ErrUnauthenticated,
			handler: func(context.Context, *pipeline.Request) (pipeline.Reply, error) {
				return nil, pipeline.ErrUnauthenticated
			}},
		{name: "plain error passes through", wantErr: errPlain,
			handler: func(context.Context, *pipeline.Request) (pipeline.Reply, error) { return nil, errPlain }},
		{name: "panic with a string", wantPanic: "boom",
			handler: func(context.Context, *pipeline.Request) (pipeline.Reply, error) { panic("boom") }},
		{name: "panic with an error", wantPanic: errPlain,
			handler: func(context.Context, *pipeline.Request) (pipeline.Reply, error) { panic(errPlain) }},
		{name: "runtime error", wantPanic: "index out of range",
			handler: func(_ context.Context, r *pipeline.Request) (pipeline.Reply, error) {
				return pipeline.Reply{r.Body[len(r.Body)+1]}, nil
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			core, logs := observer.New(zapcore.DebugLevel)
			d := testDeps(zap.New(core))
			h := one(t, "recover", "", d, tc.handler)
			s, conn := newSession(d.Sessions, "10.0.0.1:4000")

			reply, err := h(context.Background(), request(s, wire.TypePing, nil))

			if tc.wantPanic == nil {
				if (reply != nil) != tc.wantReply || !errors.Is(err, tc.wantErr) {
					t.Fatalf("got (%q, %v), want reply=%v err=%v", reply, err, tc.wantReply, tc.wantErr)
				}
				if logs.Len() != 0 {
					t.Fatalf("logged %d lines for a request that did not panic", logs.Len())
				}
				return
			}
			var p *pipeline.Panic
			if !errors.As(err, &p) || !p.Logged || reply != nil {
				t.Fatalf("got (%q, %v), want a *pipeline.Panic marked Logged", reply, err)
			}
			if !strings.Contains(anyString(p.Value), anyString(tc.wantPanic)) {
				t.Errorf("panic value %v, want %v", p.Value, tc.wantPanic)
			}
			// The stack is the panicking one: it names this test's handler.
			if !strings.Contains(string(p.Stack), "TestRecover") {
				t.Errorf("stack does not show where the panic happened:\n%s", p.Stack)
			}
			entries := logs.All()
			if len(entries) != 1 || entries[0].Level != zapcore.ErrorLevel {
				t.Fatalf("want exactly one error line, got %v", entries)
			}
			fields := entries[0].ContextMap()
			if fields["stack"] == nil || fields["type"] != wire.TypePing || fields["session"] != s.ID() {
				t.Errorf("log line lacks stack or request identity: %v", fields)
			}
			if conn.isClosed() {
				t.Error("a panic closed the connection")
			}
		})
	}
}

// TestRecoverThroughEdge checks the promise end to end: the client gets an
// "internal" reply, the connection and the worker survive, and the panic is
// logged once (by recover), not a second time by the edge.
func TestRecoverThroughEdge(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	d := testDeps(zap.New(core))
	panicky := func(next pipeline.Handler) pipeline.Handler {
		return func(ctx context.Context, r *pipeline.Request) (pipeline.Reply, error) {
			if r.Type == wire.TypeFriends {
				var m map[string]int
				m["inner middleware"]++ // nil map write: a panic in a middleware, not a handler
			}
			return next(ctx, r)
		}
	}
	// Recover outermost, the panicking middleware inside it.
	h := one(t, "recover", "", d, panicky((&counter{}).handle))
	edge := pipeline.NewEdge(h, zap.New(core).Named("edge"))

	s, conn := newSession(session.NewRegistry(), "10.0.0.1:4000")
	edge.Serve(context.Background(), s, []byte(`{"type":"friends","seq":7}`))
	edge.Serve(context.Background(), s, []byte(`{"type":"ping","seq":8}`))

	got := conn.replies(t)
	if len(got) != 2 || got[0].Code != wire.CodeInternal || got[0].Seq != 7 || got[1].Status != "success" {
		t.Fatalf("replies %+v: want internal for seq 7, then success", got)
	}
	if conn.isClosed() {
		t.Fatal("connection closed after a panic")
	}
	if n := logs.FilterLevelExact(zapcore.ErrorLevel).Len(); n != 1 {
		t.Fatalf("panic logged %d times, want once: %v", n, logs.All())
	}
}

func TestRecoverRefusesOptions(t *testing.T) {
	if err := buildErr(t, "recover", "{stack: true}", testDeps(nil)); !contains(err, "line 2", `unknown option "stack"`) {
		t.Fatalf("got %q", err)
	}
}

func anyString(v any) string {
	switch x := v.(type) {
	case error:
		return x.Error()
	case string:
		return x
	}
	return ""
}
