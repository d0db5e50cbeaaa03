package middleware

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/parley-im/parley/pipeline"
)

// The benchmarks measure what each middleware adds to one request, and what
// the default chain adds in total, on a ping whose final handler returns a
// constant reply. Results and the machine are in docs/PERFORMANCE.md:
//
//	go test -run x -bench . -benchmem ./middleware/

// benchLimits are rate limits no benchmark reaches, so every request takes
// the served path through every bucket.
const benchLimits = `{rules: {default: {session: {rate: 1e9, burst: 1000000000}, user: {rate: 1e9, burst: 1000000000}, ip: {rate: 1e9, burst: 1000000000}}}}`

// benchDeps are production-like: a JSON logger at info writing to nowhere,
// a real metrics registry.
func benchDeps() pipeline.Deps {
	d := testDeps(zap.New(zapcore.NewCore(
		zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(io.Discard), zapcore.InfoLevel)))
	return d
}

// constant is the final handler: it answers a prebuilt reply.
func constant(context.Context, *pipeline.Request) (pipeline.Reply, error) { return okReply, nil }

// benchServe runs req through h b.N times and fails on any error.
func benchServe(b *testing.B, h pipeline.Handler, req *pipeline.Request) {
	b.Helper()
	ctx := context.Background()
	// The edge stamps each frame with one clock reading that the middleware
	// share; that reading is the edge's cost, not theirs.
	req.Received = time.Now()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := h(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBaseline(b *testing.B) {
	d := benchDeps()
	s, _ := newSession(d.Sessions, "192.0.2.1:50000")
	benchServe(b, constant, request(s, "ping", nil))
}

func BenchmarkEach(b *testing.B) {
	for _, tc := range []struct{ name, with string }{
		{"recover", ""},
		{"logging", ""},
		{"metrics", ""},
		{"auth", ""},
		{"ratelimit", benchLimits},
		{"maxbody", ""},
		// The stamp stays fixed while the loop runs, so the request seems
		// ever slower: a long threshold keeps this on the fast path.
		{"slowlog", "{threshold: 1h}"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			d := benchDeps()
			h := one(b, tc.name, tc.with, d, constant)
			s, _ := newSession(d.Sessions, "192.0.2.1:50000")
			benchServe(b, h, request(s, "ping", nil))
		})
	}
}

// BenchmarkAuthIdentity is auth's real work: a logged-in send_message as the
// seed client writes it, scanned for user_id and send_id.
func BenchmarkAuthIdentity(b *testing.B) {
	d := benchDeps()
	h := one(b, "auth", "", d, constant)
	s, _ := newSession(d.Sessions, "192.0.2.1:50000")
	d.Sessions.Bind(s, "13800000000")
	benchServe(b, h, request(s, "send_message", seedSendMessage))
}

// seedSendMessage is a send_message exactly as the Qt client sends it.
var seedSendMessage = []byte("{\n    \"chat_type\": \"friend\",\n    \"file_path\": \" \",\n" +
	"    \"message_body\": \"hello, how are you doing today?\",\n    \"message_timestamp\": \"2025-07-14 11:04:00\",\n" +
	"    \"message_type\": \"text\",\n    \"receiver_id\": \"13900000000\",\n    \"send_id\": \"13800000000\",\n" +
	"    \"type\": \"send_message\"\n}\n")

func BenchmarkDefaultChain(b *testing.B) {
	build := func(b *testing.B) (pipeline.Handler, pipeline.Deps) {
		d := benchDeps()
		h, err := pipeline.Build(specs(b, defaultChainYAML(benchLimits)), d, constant)
		if err != nil {
			b.Fatal(err)
		}
		return h, d
	}
	b.Run("ping", func(b *testing.B) {
		h, d := build(b)
		s, _ := newSession(d.Sessions, "192.0.2.1:50000")
		benchServe(b, h, request(s, "ping", nil))
	})
	b.Run("send_message", func(b *testing.B) {
		h, d := build(b)
		s, _ := newSession(d.Sessions, "192.0.2.1:50000")
		d.Sessions.Bind(s, "13800000000")
		benchServe(b, h, request(s, "send_message", seedSendMessage))
	})
	// Many sessions on all cores, as the dispatcher's workers run them:
	// shows lock contention in the shared buckets and metrics.
	b.Run("ping_parallel", func(b *testing.B) {
		h, d := build(b)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			s, _ := newSession(d.Sessions, fmt.Sprintf("192.0.2.%d:50000", nextSessionID.Load()%250))
			req := request(s, "ping", nil)
			req.Received = time.Now()
			for pb.Next() {
				if _, err := h(context.Background(), req); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkRefusals measures the refusal paths a flood exercises.
func BenchmarkRefusals(b *testing.B) {
	b.Run("auth_unauthenticated", func(b *testing.B) {
		d := benchDeps()
		h := one(b, "auth", "", d, constant)
		s, _ := newSession(d.Sessions, "192.0.2.1:50000")
		req := request(s, "friends", nil)
		b.ReportAllocs()
		for b.Loop() {
			h(context.Background(), req)
		}
	})
	b.Run("ratelimit_rate_limited", func(b *testing.B) {
		d := benchDeps()
		h := one(b, "ratelimit", "{disconnect_after: -1, rules: {default: {session: {rate: 0.01, burst: 1}}}}", d, constant)
		s, _ := newSession(d.Sessions, "192.0.2.1:50000")
		req := request(s, "ping", nil)
		b.ReportAllocs()
		for b.Loop() {
			h(context.Background(), req)
		}
	})
}

// BenchmarkAcceptCheck is the conn_per_ip check that runs on a gev loop, for
// one address reconnecting and for a flood of distinct addresses (each a new
// bucket, evicting once the map is full).
func BenchmarkAcceptCheck(b *testing.B) {
	b.Run("same_address", func(b *testing.B) {
		rl, err := buildRateLimiter(rateLimitOptions{ConnPerIP: &limitOptions{Rate: 1e9, Burst: 1e9}}, testDeps(nil))
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			rl.allowConn("192.0.2.1")
		}
	})
	b.Run("distinct_addresses", func(b *testing.B) {
		rl, err := buildRateLimiter(rateLimitOptions{MaxEntries: 10_000}, testDeps(nil))
		if err != nil {
			b.Fatal(err)
		}
		ips := make([]string, 1<<16)
		for i := range ips {
			ips[i] = netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}).String()
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			rl.allowConn(ips[i&(len(ips)-1)])
			i++
		}
	})
}
