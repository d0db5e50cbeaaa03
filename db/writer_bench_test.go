package db

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-im/parley/config"
)

// Group commit: batch size vs latency.
//
//	go test -run '^$' -bench 'Writer' -benchtime 3s ./db/
//
// Each sub-benchmark runs b.RunParallel with 64 goroutines per CPU (a busy
// server's workers) saving messages between 16 users, and reports:
//   - ns/op: the inverse of throughput (all goroutines together);
//   - msgs/batch: the mean batch size actually formed;
//   - p50-µs, p99-µs: the latency of one Save (queueing + commit);
//
// "direct" is Store.SaveMessage, one transaction per message, for reference.
// Results belong in docs/PERFORMANCE.md; nothing here is asserted.

var writerBenchCases = []struct {
	name  string
	batch int
	delay time.Duration
}{
	{"batch=1", 1, 0},
	{"batch=16/delay=0", 16, 0},
	{"batch=64/delay=0", 64, 0},
	{"batch=256/delay=0", 256, 0},
	{"batch=256/delay=1ms", 256, time.Millisecond},
	{"batch=256/delay=5ms", 256, 5 * time.Millisecond},
}

func BenchmarkWriterSQLite(b *testing.B) {
	benchWriter(b, func(b *testing.B) config.DB {
		return config.DB{Driver: "sqlite", DSN: filepath.Join(b.TempDir(), "bench.db")}
	})
}

func BenchmarkWriterPostgres(b *testing.B) {
	benchWriter(b, func(b *testing.B) config.DB { return postgresConfig(b) })
}

func benchWriter(b *testing.B, cfg func(*testing.B) config.DB) {
	b.Run("direct", func(b *testing.B) {
		s := benchStore(b, cfg(b))
		runSaveBench(b, s.SaveMessage, nil)
	})
	for _, c := range writerBenchCases {
		b.Run(c.name, func(b *testing.B) {
			s := benchStore(b, cfg(b))
			w := NewMessageWriter(s, WriterOptions{MaxBatch: c.batch, MaxDelay: c.delay})
			w.Start()
			defer w.Close(context.Background())
			runSaveBench(b, w.Save, w)
		})
	}
}

// runSaveBench saves messages from many goroutines and reports latency
// percentiles (and the mean batch size when w is set).
func runSaveBench(b *testing.B, save func(context.Context, *Message) error, w *MessageWriter) {
	ctx := context.Background()
	var n atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	b.SetParallelism(64)
	b.ReportAllocs()
	b.ResetTimer()
	startBatches := int64(0)
	if w != nil {
		startBatches = w.Batches()
	}
	b.RunParallel(func(pb *testing.PB) {
		local := make([]time.Duration, 0, 1024)
		for pb.Next() {
			i := n.Add(1)
			m := Message{SenderID: fmt.Sprint(i % 16), ReceiverID: fmt.Sprint((i + 1) % 16), Body: "hello, group commit"}
			t0 := time.Now()
			if err := save(ctx, &m); err != nil {
				b.Error(err)
				return
			}
			local = append(local, time.Since(t0))
		}
		mu.Lock()
		lat = append(lat, local...)
		mu.Unlock()
	})
	b.StopTimer()
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds())
	}
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
	if w != nil {
		if batches := w.Batches() - startBatches; batches > 0 {
			b.ReportMetric(float64(n.Load())/float64(batches), "msgs/batch")
		}
	}
}

// The shape of parley-bench's chat and storm scenarios: 4,000 users in 2,000
// friend pairs, each message between one pair, the receiver online
// (delivered), so chat rows rarely net within a batch and every message
// costs its own two chat upserts.
//
//	go test -run '^$' -bench 'WriterPairs' -benchtime 3s -count 3 ./db/
func BenchmarkWriterPairsSQLite(b *testing.B) {
	benchWriterPairs(b, config.DB{Driver: "sqlite", DSN: filepath.Join(b.TempDir(), "bench.db")}, WriterOptions{})
}

func BenchmarkWriterPairsPostgres(b *testing.B) {
	for _, c := range []int{1, 2, 4} {
		b.Run(fmt.Sprintf("committers=%d", c), func(b *testing.B) {
			benchWriterPairs(b, postgresConfig(b), WriterOptions{Committers: c})
		})
	}
}

const pairUsers = 4000

func benchWriterPairs(b *testing.B, cfg config.DB, opts WriterOptions) {
	s := openBenchStore(b, cfg)
	ctx := context.Background()
	users := make([]userRow, pairUsers)
	for i := range users {
		id := fmt.Sprintf("u%05d", i)
		users[i] = userRow{ID: id, Phone: id, Name: id, CreatedAt: time.Now()}
	}
	if _, err := s.db.NewInsert().Model(&users).Exec(ctx); err != nil {
		b.Fatal(err)
	}
	w := NewMessageWriter(s, opts)
	w.Start()
	defer w.Close(context.Background())
	var n atomic.Int64
	b.SetParallelism(64)
	b.ReportAllocs()
	b.ResetTimer()
	startBatches := w.Batches()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := int(n.Add(1)*7919) % pairUsers // spread over the pairs
			m := Message{SenderID: users[i].ID, ReceiverID: users[i^1].ID, Delivered: true,
				Body: "1764249000123456789 stamp of a bench message"}
			if err := w.Save(ctx, &m); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	if batches := w.Batches() - startBatches; batches > 0 {
		b.ReportMetric(float64(n.Load())/float64(batches), "msgs/batch")
	}
}
