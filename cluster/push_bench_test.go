package cluster_test

import (
	"syscall"
	"testing"
	"time"

	"github.com/parley-im/parley/session"
)

// BenchmarkCrossNodePush is the CPU one message push costs when the
// receiver is on another node, by both paths: "confirmed" waits for the
// holding node's answer (Deliver, a NATS request/reply, what message
// pushes used before), "misses-only" publishes and is answered only on a
// miss (DeliverMessage). Both nodes and the NATS server run in this
// process, so cpu-µs/op is all three; pushes are paced (-rate-like, one
// every 2 ms) as in a chat, where NATS cannot batch many into one write.
// Run: go test -run '^$' -bench CrossNodePush -benchtime 2000x -count 3 ./cluster/
func BenchmarkCrossNodePush(b *testing.B) {
	n := startNATS(b)
	prefix := randomPrefix()
	from := startDirectory(b, n.url(), prefix, "a")
	to := startDirectory(b, n.url(), prefix, "b")
	c := &countConn{}
	to.Bind(session.New(1, "p", c), "u")
	body := []byte(`{"type":"receive_message","message_body":"hello"}`)
	for _, mode := range []string{"confirmed", "misses-only"} {
		b.Run(mode, func(b *testing.B) {
			before := c.count()
			tick := time.NewTicker(2 * time.Millisecond)
			defer tick.Stop()
			cpu0 := cpuTime(b)
			b.ResetTimer()
			for i := range b.N {
				<-tick.C
				if mode == "confirmed" {
					from.Deliver("u", body)
				} else {
					from.DeliverMessage("u", int64(i+1), body)
				}
			}
			for c.count()-before < b.N {
				time.Sleep(time.Millisecond) // the last pushes in flight
			}
			b.StopTimer()
			b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
			if st := from.Stats(); st.Misses != 0 {
				b.Fatalf("%d misses, want none", st.Misses)
			}
		})
	}
}

// cpuTime is this process's user + system CPU time so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
