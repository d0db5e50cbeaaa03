package importseed_test

import (
	"flag"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/app/apptest"
	"github.com/parley-im/parley/importseed"
)

// The measured data set (docs/PERFORMANCE.md, "import-seed"): the size of
// the seed's sample database plus messages, which it has none of.
var (
	benchUsers     = flag.Int("import.users", 10000, "BenchmarkImport: seed users")
	benchRelations = flag.Int("import.relations", 20000, "BenchmarkImport: seed relation rows (two per friendship)")
	benchMessages  = flag.Int("import.messages", 100000, "BenchmarkImport: seed messages")
)

// generateSeed fills a seed database with users 1..users (password
// "pw-<id>"), relations/2 accepted friendships (both rows, and both chat
// rows) between user i and i+1, i+2, ... in turn, and messages spread over
// those friendships, in order: 80% read, 10% received, 10% send (so 20% are
// waiting for their receiver's catch-up). Multi-row INSERTs of 1000.
func generateSeed(tb testing.TB, dsn string, users, relations, messages int) {
	tb.Helper()
	var stmts []stmt
	batch := func(prefix string, n int, row func(i int) (string, []any)) {
		for start := 0; start < n; start += 1000 {
			var sb strings.Builder
			var args []any
			sb.WriteString(prefix)
			for i := start; i < min(start+1000, n); i++ {
				if i > start {
					sb.WriteByte(',')
				}
				q, a := row(i)
				sb.WriteString(q)
				args = append(args, a...)
			}
			stmts = append(stmts, stmt{sb.String(), args})
		}
	}
	at := func(i int) string {
		return time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Second).Format("2006-01-02 15:04:05")
	}
	batch("INSERT INTO m_user VALUES ", users, func(i int) (string, []any) {
		id := fmt.Sprint(i + 1)
		return "(?,?,?,?,?,'/default.jpg','active',?)", []any{id, "pw-" + id, id, "user " + id, id + "@an.com", at(i)}
	})
	pairs := relations / 2
	pair := func(k int) (string, string) { // friendship k: user a and a+d
		a, d := k%users, 1+k/users
		return fmt.Sprint(a + 1), fmt.Sprint((a+d)%users + 1)
	}
	batch("INSERT INTO m_friends_relation VALUES ", 2*pairs, func(i int) (string, []any) {
		a, b := pair(i / 2)
		if i%2 == 1 {
			a, b = b, a
		}
		return "(?,?,'accepted',?)", []any{a, b, at(i)}
	})
	batch("INSERT INTO m_chatlist VALUES ", 2*pairs, func(i int) (string, []any) {
		a, b := pair(i / 2)
		if i%2 == 1 {
			a, b = b, a
		}
		return "(?,?,'friend','hello','text',?,?,'chatting')", []any{a, b, at(i), i % 3}
	})
	statuses := []string{"read", "read", "read", "read", "read", "read", "read", "read", "received", "send"}
	batch("INSERT INTO m_friends_message (sender_id, receiver_id, chat_type, message_body, message_type, file_path, message_status, message_timestamp) VALUES ",
		messages, func(i int) (string, []any) {
			a, b := pair(i % pairs)
			if i%2 == 1 {
				a, b = b, a
			}
			return "(?,?,'friend',?,'text',' ',?,?)", []any{a, b, fmt.Sprintf("message %d: %s", i, strings.Repeat("x", i%64)), statuses[i%10], at(i)}
		})
	execSeed(tb, dsn, "", stmts...)
}

// BenchmarkImport measures a whole import of the generated data set, with
// 1 and 2 hashing workers, into SQLite (and PostgreSQL with 2), and reports
// the split: wall seconds hashing (workers in parallel) and writing.
// Run it once: go test -run '^$' -bench BenchmarkImport -benchtime 1x ./importseed/
func BenchmarkImport(b *testing.B) {
	dsn := seedDB(b)
	start := time.Now()
	generateSeed(b, dsn, *benchUsers, *benchRelations, *benchMessages)
	b.Logf("generated %d users, %d relations, %d messages in %s", *benchUsers, *benchRelations, *benchMessages, time.Since(start).Round(time.Millisecond))
	for _, c := range []struct {
		driver  string
		workers int
	}{{"sqlite", 2}, {"postgres", 2}, {"sqlite", 1}} {
		b.Run(fmt.Sprintf("%s/workers=%d", c.driver, c.workers), func(b *testing.B) {
			if c.driver == "postgres" && len(apptest.Drivers(b)) < 2 {
				b.Skip("PostgreSQL unreachable")
			}
			for range b.N {
				b.StopTimer()
				tg := emptyTarget(b, c.driver)
				b.StartTimer()
				sum := mustImport(b, dsn, tg, importseed.Options{Workers: c.workers})
				b.ReportMetric(sum.Elapsed.Seconds(), "total-s")
				b.ReportMetric(sum.HashWall.Seconds(), "hash-s")
				b.ReportMetric(sum.WriteWall.Seconds(), "write-s")
				b.ReportMetric(sum.CPU.Seconds(), "cpu-s")
				b.ReportMetric(sum.HashCPU.Seconds(), "hash-cpu-s")
				if sum.Changes() == 0 || sum.Steps[importseed.StepMessages].Added != int64(*benchMessages) {
					var out strings.Builder
					sum.Write(&out)
					b.Fatalf("not everything was imported:\n%s", out.String())
				}
			}
		})
	}
}
