package middleware

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/parley-im/parley/pipeline"
	"github.com/parley-im/parley/wire"
)

func TestLogging(t *testing.T) {
	for _, tc := range []struct {
		name        string
		typ         string
		err         error
		wantLevel   zapcore.Level
		wantMsg     string
		wantOutcome string
		wantCode    string
		wantType    string
	}{
		{name: "served", typ: "friends", wantLevel: zapcore.DebugLevel, wantMsg: msgFrame, wantOutcome: "ok", wantType: "friends"},
		{name: "refused", typ: "friends", err: &pipeline.Error{Code: wire.CodeForbidden, Message: "x"},
			wantLevel: zapcore.WarnLevel, wantMsg: msgRefused, wantOutcome: "error", wantCode: wire.CodeForbidden, wantType: "friends"},
		{name: "disconnected", typ: "ping", err: &pipeline.Disconnect{Code: wire.CodeRateLimited},
			wantLevel: zapcore.WarnLevel, wantMsg: msgDisconnect, wantOutcome: "disconnect", wantCode: wire.CodeRateLimited, wantType: "ping"},
		// Internal errors are logged at error level once, by recover or the
		// edge; here they are only a debug trace.
		{name: "internal", typ: "friends", err: errors.New("disk full"),
			wantLevel: zapcore.DebugLevel, wantMsg: msgFrame, wantOutcome: "internal", wantCode: wire.CodeInternal, wantType: "friends"},
		{name: "unknown type is not echoed", typ: "hello from the client", wantLevel: zapcore.DebugLevel, wantMsg: msgFrame,
			wantOutcome: "ok", wantType: "other"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			core, logs := observer.New(zapcore.DebugLevel)
			d := testDeps(zap.New(core))
			h := one(t, "logging", "", d, func(context.Context, *pipeline.Request) (pipeline.Reply, error) {
				return nil, tc.err
			})
			s, _ := newSession(d.Sessions, "10.0.0.1:1")
			d.Sessions.Bind(s, "alice")
			req := request(s, tc.typ, nil)
			req.Seq = 42

			if _, err := h(context.Background(), req); err != tc.err {
				t.Fatalf("logging changed the result: %v", err)
			}

			entries := logs.All()
			if len(entries) != 1 {
				t.Fatalf("want one line, got %d: %v", len(entries), entries)
			}
			e := entries[0]
			f := e.ContextMap()
			if e.Level != tc.wantLevel || e.Message != tc.wantMsg || f["outcome"] != tc.wantOutcome ||
				f["code"] != tc.wantCode || f["type"] != tc.wantType {
				t.Fatalf("got %v %q %v", e.Level, e.Message, f)
			}
			if f["seq"] != uint64(42) || f["session"] != s.ID() || f["user"] != "alice" || f["dur"] == nil {
				t.Fatalf("line lacks request identity: %v", f)
			}
		})
	}
}

// TestNoSecretsInLogs runs login and register frames carrying a password and
// a token through the whole default chain, with every log at debug, and
// handlers that fail in every way (one even quotes the password in its error
// message, the way a careless handler might). No line may contain them.
func TestNoSecretsInLogs(t *testing.T) {
	const password, token = "hunter2-s3cret", "tok-7f3a9c"
	core, logs := observer.New(zapcore.DebugLevel)
	d := testDeps(zap.New(core))
	results := []error{
		nil,
		&pipeline.Error{Code: wire.CodeBadCredentials, Message: "wrong password " + password},
		&pipeline.Disconnect{Code: wire.CodeRateLimited, Reason: "flood with " + token},
		errors.New("db: insert user_password=" + password),
	}
	var i int
	final := func(context.Context, *pipeline.Request) (pipeline.Reply, error) {
		err := results[i%len(results)]
		i++
		return nil, err
	}
	h, err := pipeline.Build(specs(t, defaultChainYAML("")), d, final)
	if err != nil {
		t.Fatal(err)
	}
	edge := pipeline.NewEdge(h, zap.New(core).Named("edge"))
	s, _ := newSession(d.Sessions, "10.0.0.1:1")
	bodies := [][]byte{
		body("login", "user_id", "1", "user_password", password),
		body("register", "user_phone", "1", "user_name", "a", "user_password", password),
		body("resume", "token", token),
		body(password, "token", token), // even a secret in the type
	}
	for range results {
		for _, b := range bodies {
			edge.Serve(context.Background(), s, b)
		}
	}

	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	lines := 0
	for _, e := range logs.All() {
		buf, err := enc.EncodeEntry(e.Entry, e.Context)
		if err != nil {
			t.Fatal(err)
		}
		line := buf.String()
		buf.Free()
		lines++
		// The edge logs internal errors with their text: that is its job, and
		// the handler that put a password there is the bug. Everything the
		// middleware write must be clean.
		if strings.HasPrefix(e.LoggerName, "edge") {
			continue
		}
		for _, secret := range []string{password, token, "user_password"} {
			if strings.Contains(line, secret) {
				t.Errorf("log line contains %q:\n%s", secret, line)
			}
		}
	}
	if lines < len(results)*len(bodies) {
		t.Fatalf("only %d lines logged; the test did not exercise the logger", lines)
	}
}

// TestLoggingIsSampled floods refusals and checks the sampler keeps the
// volume bounded: sample_initial lines a second, then every
// sample_thereafter-th.
func TestLoggingIsSampled(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	d := testDeps(zap.New(core))
	refused := &pipeline.Error{Code: wire.CodeRateLimited}
	h := one(t, "logging", "{sample_initial: 10, sample_thereafter: 1000}", d,
		func(context.Context, *pipeline.Request) (pipeline.Reply, error) { return nil, refused })
	s, _ := newSession(d.Sessions, "10.0.0.1:1")
	start := time.Now()
	for range 5000 {
		h(context.Background(), request(s, "ping", nil))
	}
	// Per second: 10, then 1 per 1000 more. Allow for the flood straddling
	// a few second boundaries.
	seconds := int(time.Since(start)/time.Second) + 1
	if n := logs.Len(); n < 10 || n > seconds*(10+5) {
		t.Fatalf("%d lines for 5000 refusals in %ds", n, seconds)
	}
}

func TestLoggingOptionErrors(t *testing.T) {
	for with, want := range map[string]string{
		"{sample_initial: -1}": "must not be negative",
		"{level: debug}":       `unknown option "level"`,
	} {
		if got := buildErr(t, "logging", with, testDeps(nil)); !contains(got, want) {
			t.Errorf("%s: got %q, want %q", with, got, want)
		}
	}
}
