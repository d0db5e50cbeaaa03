package cluster_test

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/parley-im/parley/session"
)

// BenchmarkLoginPresence is a cluster node's share of a login storm: a
// user's first session on the node binds (the registry, then one NATS
// subscription flushed to the server before the login is answered) and
// later leaves (one unsubscribe). "registry" is the single-node cost of the
// same, side by side. Run with -benchtime 10000x for a 10,000-login storm;
// 64 logins at once (RunParallel with -cpu 1 and SetParallelism 64).
func BenchmarkLoginPresence(b *testing.B) {
	n := startNATS(b)
	for _, mode := range []string{"registry", "cluster"} {
		b.Run(mode, func(b *testing.B) {
			var bind func(*session.Session, string)
			var remove func(*session.Session)
			switch mode {
			case "registry":
				r := session.NewRegistry()
				bind, remove = r.Bind, r.Remove
			case "cluster":
				d := startDirectory(b, n.url(), randomPrefix(), "bench")
				bind, remove = d.Bind, d.Local().Remove
				b.Cleanup(func() { b.ReportMetric(float64(d.Stats().Subscribes)/float64(b.N), "subs/login") })
			}
			var next atomic.Uint64
			sessions := make([]*session.Session, b.N)
			b.SetParallelism(64)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := next.Add(1) - 1
					s := session.New(i, "p", &countConn{})
					sessions[i] = s
					bind(s, fmt.Sprint("1380", i))
				}
			})
			b.StopTimer()
			for _, s := range sessions {
				remove(s)
			}
		})
	}
}
