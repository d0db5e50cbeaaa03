package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	"go.yaml.in/yaml/v3"

	"github.com/parley-im/parley/config"
	"github.com/parley-im/parley/session"
	"github.com/parley-im/parley/wire"
)

// fakeConn records what a session sends.
type fakeConn struct {
	mu     sync.Mutex
	sent   [][]byte
	closed bool
}

func (c *fakeConn) Send(b []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sent = append(c.sent, append([]byte(nil), b...))
	return nil
}

func (c *fakeConn) Close() error { c.mu.Lock(); c.closed = true; c.mu.Unlock(); return nil }

func (c *fakeConn) frames() []map[string]any {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []map[string]any
	for _, b := range c.sent {
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			panic(string(b))
		}
		out = append(out, m)
	}
	return out
}

// tag returns a middleware that records its name on the way in.
func tag(name string, trace *[]string) Middleware {
	return func(next Handler) Handler {
		return func(ctx context.Context, req *Request) (Reply, error) {
			*trace = append(*trace, name)
			return next(ctx, req)
		}
	}
}

func final(trace *[]string) Handler {
	return func(context.Context, *Request) (Reply, error) {
		*trace = append(*trace, "handler")
		return Reply(`{"type":"pong","status":"success"}`), nil
	}
}

func TestChainOrderFirstIsOutermost(t *testing.T) {
	var trace []string
	h := Chain(final(&trace), tag("a", &trace), tag("b", &trace), tag("c", &trace))
	if _, err := h(context.Background(), &Request{Type: "ping"}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(trace, ","); got != "a,b,c,handler" {
		t.Fatalf("order %s", got)
	}
}

func TestChainShortCircuit(t *testing.T) {
	var trace []string
	refuse := func(Handler) Handler {
		return func(context.Context, *Request) (Reply, error) {
			trace = append(trace, "refuse")
			return nil, &Error{Code: wire.CodeForbidden, Message: "no"}
		}
	}
	h := Chain(final(&trace), tag("a", &trace), refuse, tag("never", &trace))
	_, err := h(context.Background(), &Request{Type: "ping"})
	var pe *Error
	if !errors.As(err, &pe) || pe.Code != wire.CodeForbidden {
		t.Fatalf("err %v", err)
	}
	if got := strings.Join(trace, ","); got != "a,refuse" {
		t.Fatalf("trace %s", got)
	}
}

type traceOpts struct {
	Name  string `yaml:"name"`
	Inner struct {
		Depth int `yaml:"depth"`
	} `yaml:"inner"`
}

var testTrace []string

func init() {
	Register("trace", func(o traceOpts, _ Deps) (Middleware, error) {
		if o.Name == "" {
			return nil, errors.New("name is required")
		}
		return tag(o.Name, &testTrace), nil
	})
}

func specs(t *testing.T, src string) []config.Middleware {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	var out []config.Middleware
	list := doc.Content[0]
	if err := list.Decode(&out); err != nil {
		t.Fatal(err)
	}
	for i := range out {
		out[i].Pos = "test.yaml:" + itoa(list.Content[i].Line)
	}
	return out
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func TestBuildOrderAndOnlyExcept(t *testing.T) {
	sp := specs(t, `
- use: trace
  with: {name: outer}
- use: trace
  with: {name: logins}
  only: [login]
- use: trace
  with: {name: notping}
  except: [ping]
`)
	h, err := Build(sp, Deps{}, final(&testTrace))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ typ, want string }{
		{"login", "outer,logins,notping,handler"},
		{"ping", "outer,handler"},
		{"friends", "outer,notping,handler"},
	} {
		testTrace = nil
		if _, err := h(context.Background(), &Request{Type: tc.typ}); err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(testTrace, ","); got != tc.want {
			t.Errorf("%s: trace %s, want %s", tc.typ, got, tc.want)
		}
	}
}

func TestBuildReportsEveryProblemWithItsLine(t *testing.T) {
	sp := specs(t, `
- use: trace
  with: {name: a}
- use: nosuch
- use: trace
  with:
    name: b
    colour: red
- use: trace
  with: {name: c, inner: {depth: 1, width: 2}}
- use: trace
  only: [a]
  except: [b]
- use: trace
`)
	_, err := Build(sp, Deps{}, final(&testTrace))
	if err == nil {
		t.Fatal("Build accepted a broken list")
	}
	for _, want := range []string{
		`test.yaml:4: unknown middleware "nosuch"`,
		`test.yaml:5: trace: line 8: unknown option "colour"`,
		`test.yaml:9: trace: line 10: unknown option "width"`,
		`test.yaml:11: trace: use either only or except`,
		`test.yaml:14: trace: name is required`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func TestEdgeMapsTheThreeOutcomes(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	handler := func(_ context.Context, req *Request) (Reply, error) {
		switch req.Type {
		case "ok":
			return Reply(`{"type":"ok","status":"success"}`), nil
		case "refuse":
			return nil, &Error{Code: wire.CodeForbidden, Message: "not yours"}
		case "kick":
			return nil, &Disconnect{Code: wire.CodeRateLimited, Reason: "flood"}
		case "boom":
			panic("kaboom")
		default:
			return nil, errors.New("db exploded")
		}
	}
	edge := NewEdge(handler, zap.New(core))
	conn := &fakeConn{}
	s := session.New(1, "127.0.0.1:5", conn)
	for _, body := range []string{
		`{"type":"ok","seq":1}`, `{"type":"refuse","seq":2}`, `{"type":"boom","seq":3}`,
		`{"type":"fail","seq":4}`, `[1]`, `{"type":"ok","seq":5}`, `{"type":"kick","seq":6}`,
	} {
		edge.Serve(context.Background(), s, []byte(body))
	}
	got := conn.frames()
	want := []struct {
		typ, status, code string
		seq               float64
	}{
		{"ok", "success", "", 1}, {"refuse", "error", wire.CodeForbidden, 2}, {"boom", "error", wire.CodeInternal, 3},
		{"fail", "error", wire.CodeInternal, 4}, {"error", "error", wire.CodeBadRequest, 0}, {"ok", "success", "", 5},
		{"kick", "error", wire.CodeRateLimited, 6},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d frames: %v", len(got), got)
	}
	for i, w := range want {
		g := got[i]
		if g["type"] != w.typ || g["status"] != w.status || (w.code != "" && g["code"] != w.code) {
			t.Errorf("frame %d = %v, want %+v", i, g, w)
		}
		if seq, _ := g["seq"].(float64); seq != w.seq {
			t.Errorf("frame %d seq %v, want %v", i, g["seq"], w.seq)
		}
	}
	if !conn.closed {
		t.Error("Disconnect did not close the connection")
	}
	if n := logs.FilterMessage("request failed").Len(); n != 2 {
		t.Errorf("internal errors logged %d times, want 2 (panic + plain error)", n)
	}
	for _, e := range logs.FilterMessage("request failed").All() {
		if e.ContextMap()["type"] == "boom" && e.ContextMap()["stack"] == nil {
			t.Error("panic logged without its stack")
		}
	}
}

func TestAcceptGate(t *testing.T) {
	var nilGate *AcceptGate
	if !nilGate.Allow("1.2.3.4") {
		t.Fatal("nil gate refused")
	}
	g := new(AcceptGate)
	g.Add(func(ip string) bool { return ip != "6.6.6.6" })
	if !g.Allow("1.2.3.4") || g.Allow("6.6.6.6") {
		t.Fatal("gate did not apply its check")
	}
}
