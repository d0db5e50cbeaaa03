//go:build unix

package db

import (
	"context"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/parley-im/parley/config"
)

// One Save at a time, as on an idle server: the latency of a lone message,
// the group commit's hand-offs between goroutines included. cpu-µs/op is
// the process's CPU time (user + system) per Save, less sensitive than
// ns/op to other load on the machine.
//
//	go test -run '^$' -bench 'WriterIdle' -benchtime 2s ./db/
func BenchmarkWriterIdleSQLite(b *testing.B) {
	s := benchStore(b, config.DB{Driver: "sqlite", DSN: filepath.Join(b.TempDir(), "bench.db")})
	w := NewMessageWriter(s, WriterOptions{})
	w.Start()
	defer w.Close(context.Background())
	ctx := context.Background()
	i := 0
	b.ReportAllocs()
	cpu0 := processCPU(b)
	for b.Loop() {
		i++
		m := Message{SenderID: fmt.Sprint(i % 16), ReceiverID: fmt.Sprint((i + 1) % 16), Body: "hello, idle"}
		if err := w.Save(ctx, &m); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((processCPU(b)-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
}

// processCPU is the CPU time this process has used so far.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
