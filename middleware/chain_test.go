package middleware

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/parley-im/parley/pipeline"
	"github.com/parley-im/parley/wire"
)

// defaultOrder is the default pipeline, first entry outermost.
var defaultOrder = []string{"recover", "logging", "metrics", "auth", "ratelimit"}

// chainYAML writes a pipeline list as it appears in the configuration: the
// middleware in order, each with its options from with, if any.
func chainYAML(order []string, with map[string]string) string {
	var b strings.Builder
	b.WriteString("\n") // so that line numbers count from the first entry at line 2
	for _, name := range order {
		b.WriteString("- use: " + name + "\n")
		if w := with[name]; w != "" {
			b.WriteString("  with: " + w + "\n")
		}
	}
	return b.String()
}

// defaultChainYAML is the default chain; ratelimitWith, if not empty, sets
// ratelimit's options.
func defaultChainYAML(ratelimitWith string) string {
	return chainYAML(defaultOrder, map[string]string{"ratelimit": ratelimitWith})
}

// remove returns order without name.
func remove(order []string, name string) []string {
	return slices.DeleteFunc(slices.Clone(order), func(s string) bool { return s == name })
}

func TestShippedMiddlewareAreRegistered(t *testing.T) {
	for _, name := range []string{"recover", "logging", "metrics", "auth", "ratelimit", "maxbody", "slowlog"} {
		if !slices.Contains(pipeline.Registered(), name) {
			t.Errorf("%s is not registered", name)
		}
	}
}

// TestDefaultChain builds the default chain from YAML, as the server does, and
// shows that the list decides behaviour: order, presence, options.
func TestDefaultChain(t *testing.T) {
	// A tight limit so a short flood crosses it: 3 requests, then refusals,
	// and a disconnect after 2 refusals.
	const tight = "{idle_ttl: 1000h, disconnect_after: 2, rules: {default: {session: {rate: 0.001, burst: 3}}}}"
	const flood = 8

	// serve sends up to n unauthenticated friends requests through a chain built
	// from src, and returns the codes the client saw and whether the
	// connection was closed.
	serve := func(t *testing.T, src string, n int) (codes []string, closed bool) {
		t.Helper()
		d := testDeps(nil)
		h, err := pipeline.Build(specs(t, src), d, (&counter{}).handle)
		if err != nil {
			t.Fatalf("build:\n%s\n%v", src, err)
		}
		edge := pipeline.NewEdge(h, d.Log)
		s, conn := newSession(d.Sessions, "10.0.0.1:1")
		// Like transport, stop reading once the connection is closed.
		for i := 0; i < n && !conn.isClosed(); i++ {
			edge.Serve(context.Background(), s, []byte(`{"type":"friends","user_id":"1"}`))
		}
		for _, r := range conn.replies(t) {
			codes = append(codes, r.Code)
		}
		return codes, conn.isClosed()
	}
	count := func(codes []string, code string) int {
		n := 0
		for _, c := range codes {
			if c == code {
				n++
			}
		}
		return n
	}

	t.Run("ratelimit after auth does not count unauthenticated floods", func(t *testing.T) {
		codes, closed := serve(t, defaultChainYAML(tight), flood)
		if count(codes, wire.CodeUnauthenticated) != flood || closed {
			t.Fatalf("codes %v, closed %v: want %d unauthenticated, connection open", codes, closed, flood)
		}
	})

	t.Run("ratelimit before auth counts them", func(t *testing.T) {
		order := []string{"recover", "logging", "metrics", "ratelimit", "auth"}
		codes, closed := serve(t, chainYAML(order, map[string]string{"ratelimit": tight}), flood)
		// 3 pass ratelimit (and are refused by auth), then 2 rate_limited,
		// then the disconnect, which answers rate_limited too and closes.
		if count(codes, wire.CodeUnauthenticated) != 3 || count(codes, wire.CodeRateLimited) != 3 || !closed {
			t.Fatalf("codes %v, closed %v: want 3 unauthenticated, 3 rate_limited, closed", codes, closed)
		}
	})

	t.Run("removing auth removes its refusals", func(t *testing.T) {
		codes, _ := serve(t, chainYAML(remove(defaultOrder, "auth"), nil), 1)
		if len(codes) != 1 || codes[0] != "" {
			t.Fatalf("codes %v: want the request served", codes)
		}
	})

	t.Run("removing ratelimit removes its refusals", func(t *testing.T) {
		order := remove([]string{"recover", "logging", "metrics", "ratelimit", "auth"}, "ratelimit")
		codes, closed := serve(t, chainYAML(order, nil), 3*flood)
		if count(codes, wire.CodeRateLimited) != 0 || count(codes, wire.CodeUnauthenticated) != 3*flood || closed {
			t.Fatalf("codes %v: want only unauthenticated without ratelimit", codes)
		}
	})

	t.Run("an unknown option fails, naming its line", func(t *testing.T) {
		src := defaultChainYAML("{rules: {default: {session: {rate: 1}}}, burstiness: 3}")
		_, err := pipeline.Build(specs(t, src), testDeps(nil), (&counter{}).handle)
		// Line 7 of src holds ratelimit's with: (line 1 is empty).
		if err == nil || !contains(err.Error(), "ratelimit", "line 7", `unknown option "burstiness"`) {
			t.Fatalf("got %v", err)
		}
	})

	t.Run("every problem is reported at once", func(t *testing.T) {
		src := "- use: auth\n  with: {publik: []}\n- use: ratelimt\n- use: maxbody\n  with: {default: -1}\n"
		_, err := pipeline.Build(specs(t, src), testDeps(nil), (&counter{}).handle)
		if err == nil || !contains(err.Error(), `line 2: unknown option "publik"`, `unknown middleware "ratelimt"`, "default: -1") {
			t.Fatalf("got %v", err)
		}
	})
}
