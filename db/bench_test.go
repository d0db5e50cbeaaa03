package db

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/uptrace/bun"
	"go.uber.org/zap"

	"github.com/parley-im/parley/config"
)

// Benchmarks run with: go test -run '^$' -bench SaveMessage ./db/
// Results are machine-dependent and kept in docs/PERFORMANCE.md, not asserted.

// openBenchStore opens and migrates the database of cfg for a benchmark,
// closed when it ends.
func openBenchStore(b *testing.B, cfg config.DB) *Store {
	b.Helper()
	bdb, err := Open(context.Background(), cfg, zap.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = bdb.Close() })
	return NewStore(bdb, 10*time.Second)
}

// benchStore is openBenchStore with 16 users, "0" to "15".
func benchStore(b *testing.B, cfg config.DB) *Store {
	b.Helper()
	s := openBenchStore(b, cfg)
	ctx := context.Background()
	for i := range 16 {
		if err := s.CreateUser(ctx, &User{Phone: fmt.Sprint(i)}); err != nil {
			b.Fatal(err)
		}
	}
	return s
}

func benchSQLite(b *testing.B) *Store {
	return benchStore(b, config.DB{Driver: "sqlite", DSN: filepath.Join(b.TempDir(), "bench.db")})
}

// One sender, one receiver, one message at a time: the latency of a durable
// send (insert + two chat upserts + commit, WAL fsync policy NORMAL).
func BenchmarkSaveMessageSQLite(b *testing.B) {
	s := benchSQLite(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		m := Message{SenderID: "0", ReceiverID: "1", Body: "hello, benchmark"}
		if err := s.SaveMessage(ctx, &m); err != nil {
			b.Fatal(err)
		}
	}
}

// With client message ids, as the extended protocol sends them.
func BenchmarkSaveMessageSQLiteClientID(b *testing.B) {
	s := benchSQLite(b)
	ctx := context.Background()
	var n atomic.Int64
	b.ReportAllocs()
	for b.Loop() {
		m := Message{SenderID: "0", ReceiverID: "1", Body: "hello", ClientMsgID: fmt.Sprint("c", n.Add(1))}
		if err := s.SaveMessage(ctx, &m); err != nil {
			b.Fatal(err)
		}
	}
}

// Many workers sending between 16 users at once: throughput with the
// store's writer serialisation.
func BenchmarkSaveMessageSQLiteParallel(b *testing.B) {
	s := benchSQLite(b)
	ctx := context.Background()
	var n atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			m := Message{SenderID: fmt.Sprint(i % 16), ReceiverID: fmt.Sprint((i + 1) % 16), Body: "parallel"}
			if err := s.SaveMessage(ctx, &m); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// The same against PostgreSQL, for comparison (skipped if unreachable).
func BenchmarkSaveMessagePostgresParallel(b *testing.B) {
	s := benchStore(b, postgresConfig(b))
	ctx := context.Background()
	var n atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			m := Message{SenderID: fmt.Sprint(i % 16), ReceiverID: fmt.Sprint((i + 1) % 16), Body: "parallel"}
			if err := s.SaveMessage(ctx, &m); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// UserByID is the one query of a warm password login. 10,000 users, lookups
// from every core; "bun" is the same query rendered by bun with the value
// inlined (how UserByID ran before it was prepared), for comparison.
func BenchmarkUserByID(b *testing.B) {
	s := benchSQLite(b)
	ctx := context.Background()
	const users = 10000
	err := s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		for i := range users {
			u := userRow{ID: fmt.Sprint("u", i), Phone: fmt.Sprint(i), Name: "bench", PasswordHash: "x", CreatedAt: now()}
			if _, err := tx.NewInsert().Model(&u).Exec(ctx); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	for _, impl := range []struct {
		name string
		get  func(id string) error
	}{
		{"prepared", func(id string) error { _, err := s.UserByID(ctx, id); return err }},
		{"bun", func(id string) error {
			var row userRow
			return s.db.NewSelect().Model(&row).Where("id = ?", id).Limit(1).Scan(ctx)
		}},
	} {
		b.Run(impl.name, func(b *testing.B) {
			var n atomic.Int64
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := impl.get(fmt.Sprint("u", n.Add(7919)%users)); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
