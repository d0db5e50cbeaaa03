package importseed_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	_ "embed"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// The seed fixture: our own, written from seed-protocol.md §4 (schema.sql),
// with the rows below. Passwords hold quotes, backslashes and non-ASCII
// characters, and are long enough that finding one in a database file or a
// log is never a coincidence.

var (
	//go:embed testdata/schema.sql
	schemaSQL string
	//go:embed testdata/dirty.sql
	dirtySQL string
)

const (
	pwAlice = `it's "Alice's" \ 密码 über-secret`
	pwBob   = `Bob\'s p"ss\\wörd ☃ long enough`
	pwCarol = `carol-Ωmega-'quoted' password`
	pwDave  = `dave's \"escaped\" passphrase`
)

// fillerPassword is the password of filler user i (ids 100..119): enough
// users for two users batches with one worker.
func fillerPassword(i int) string { return fmt.Sprintf("filler %d's pässword \\ %d", i, i) }

const fillers = 20

// clashPhone is the phone of the Parley account that already has id "9"
// before the import: another person than the seed's user 9.
const clashPhone = "555000999"

// mariaRoot is the MariaDB server of the tests: root without a password
// (this machine and CI). PARLEY_TEST_MYSQL overrides it (a DSN without a
// database name, ending in "/").
func mariaRoot() string {
	if d := os.Getenv("PARLEY_TEST_MYSQL"); d != "" {
		return d
	}
	return "root@tcp(127.0.0.1:3306)/"
}

// seedDB creates an empty throwaway database with the seed's schema (dropped
// at cleanup) and returns its DSN. Under CI=true MariaDB is mandatory.
func seedDB(t testing.TB) string {
	t.Helper()
	admin, err := sql.Open("mysql", mariaRoot())
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = admin.PingContext(ctx)
		cancel()
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("MariaDB is mandatory under CI=true and unreachable at %s: %v", mariaRoot(), err)
		}
		t.Skipf("MariaDB unreachable at %s: %v", mariaRoot(), err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "seed_t_" + hex.EncodeToString(b[:])
	if _, err := admin.Exec("CREATE DATABASE " + name + " CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = admin.Exec("DROP DATABASE " + name)
		admin.Close()
	})
	cfg, err := mysql.ParseDSN(mariaRoot())
	if err != nil {
		t.Fatal(err)
	}
	cfg.DBName = name
	dsn := cfg.FormatDSN()
	execSeed(t, dsn, schemaSQL)
	return dsn
}

// execSeed runs a script of ;-separated statements (and the fixture's
// statements with arguments) on one connection, so session settings hold.
func execSeed(t testing.TB, dsn, script string, stmts ...stmt) {
	t.Helper()
	src, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	ctx := context.Background()
	conn, err := src.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, q := range strings.Split(script, ";") {
		if q = strings.TrimSpace(stripComments(q)); q != "" {
			if _, err := conn.ExecContext(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
	}
	for _, s := range stmts {
		if _, err := conn.ExecContext(ctx, s.q, s.args...); err != nil {
			t.Fatalf("%s %v: %v", s.q, s.args, err)
		}
	}
}

func stripComments(q string) string {
	var out []string
	for _, l := range strings.Split(q, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "--") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

type stmt struct {
	q    string
	args []any
}

func user(id string, pw, phone any, name, email, avatar, status, created string) stmt {
	return stmt{"INSERT INTO m_user VALUES (?, ?, ?, ?, ?, ?, ?, ?)", []any{id, pw, phone, name, email, avatar, status, created}}
}

func rel(u, f, r, created string) stmt {
	return stmt{"INSERT INTO m_friends_relation VALUES (?, ?, ?, ?)", []any{u, f, r, created}}
}

func chat(u, c, typ string, last, lastType any, at string, unread int, status string) stmt {
	return stmt{"INSERT INTO m_chatlist VALUES (?, ?, ?, ?, ?, ?, ?, ?)", []any{u, c, typ, last, lastType, at, unread, status}}
}

// msg inserts a message; body is an SQL expression (a hex literal for raw
// bytes in the latin1 column, or ? for the argument).
func msg(id int, from, to, typ, body string, bodyArg any, mtype string, file any, status, at string) stmt {
	args := []any{id, from, to, typ}
	if body == "?" {
		args = append(args, bodyArg)
	}
	args = append(args, mtype, file, status, at)
	return stmt{"INSERT INTO m_friends_message VALUES (?, ?, ?, ?, " + body + ", ?, ?, ?, ?)", args}
}

// loadFixture fills a seed database (see the comments for what each dirty
// row is).
func loadFixture(t testing.TB, dsn string) {
	t.Helper()
	long := strings.Repeat("é", 300) // over Parley's 255 characters
	rows := []stmt{
		user("1", pwAlice, "1", "Alice", "1@an.com", ":/images/avatar/1.png", "active", "2024-11-02 16:08:43"),
		user("2", pwBob, "2", "Bob", "2@an.com", "/default.jpg", "inactive", "2024-11-03 09:00:00"),
		user("3", pwCarol, "3", "Carol", "3@an.com", ":/images/avatar/9.PNG", "busy", "2024-11-04 10:00:00"),
		user("4", pwDave, "4", "Dave", "4@an.com", "/default.jpg", "active", "2024-11-05 11:00:00"),
		user("5", "eve-pw", "5", long, "5@an.com", "/default.jpg", "active", "2024-11-06 12:00:00"),      // name too long
		user("6", "frank-pw", "6", "Frank", "6@an.com", "/default.jpg", "zombie", "2024-11-07 13:00:00"), // invalid ENUM -> ''
		user("7", "grace-pw", "7", "Grace", "7@an.com", "/default.jpg", "active", "0000-00-00 00:00:00"), // zero date
		user("8", "", "8", "Heidi", "8@an.com", "/default.jpg", "active", "2024-11-09 15:00:00"),         // no password
		user("9", "ivan-pw", "9", "Ivan", "9@an.com", "/default.jpg", "active", "2024-11-10 16:00:00"),   // clashes with Parley's 9
		user("10", "judy-pw", "10", "Judy", "10@an.com", "/default.jpg", "active", "2024-11-11 17:00:00"),
		user("11", "ken-pw", "11", "Ken", "11@an.com", "/default.jpg", "active", "2024-11-12 18:00:00"),
		user("12", "leo-pw", "12", "Leo", "12@an.com", "/default.jpg", "active", "2024-11-13 19:00:00"),
		user("13", "mia-pw", nil, "Mia", "13@an.com", "/default.jpg", "active", "2024-11-14 20:00:00"), // NULL phone

		rel("1", "2", "accepted", "2025-01-01 10:00:00"), rel("2", "1", "accepted", "2025-01-01 10:00:00"),
		rel("1", "3", "accepted", "2025-01-02 10:00:00"), rel("3", "1", "accepted", "2025-01-02 10:00:00"),
		rel("1", "4", "pending", "2025-01-03 10:00:00"), rel("4", "1", "pending", "2025-01-03 10:00:00"),
		rel("1", "10", "accepted", "2025-01-04 10:00:00"),                                                   // the reverse row is missing
		rel("2", "11", "accepted", "2025-01-05 10:00:00"), rel("11", "2", "pending", "2025-01-05 10:00:00"), // contradictory
		rel("3", "12", "refused", "2025-01-06 10:00:00"), rel("12", "3", "refused", "2025-01-06 10:00:00"),
		rel("1", "99", "accepted", "2025-01-07 10:00:00"),                                                  // dangling
		rel("3", "3", "accepted", "2025-01-08 10:00:00"),                                                   // self
		rel("1", "9", "accepted", "2025-01-09 10:00:00"), rel("9", "1", "accepted", "2025-01-09 10:00:00"), // clash
		rel("5", "6", "pending", "2025-01-10 10:00:00"), // alone: 6 asked 5

		chat("1", "2", "friend", "see you", "text", "2025-02-01 10:00:00", 5, "chatting"),
		chat("2", "1", "friend", "see you", "text", "2025-02-01 10:00:00", 0, "chatting"),
		chat("1", "3", "friend", "bye", "text", "2025-02-02 10:00:00", 2, "chatting"),
		chat("3", "1", "friend", "bye", "text", "2025-02-02 10:00:00", 0, "close"),
		chat("1", "10", "friend", nil, nil, "2025-01-04 10:00:00", 0, "chatting"),        // NULL summary
		chat("1", "99", "friend", "ghost", "text", "2025-02-03 10:00:00", 1, "chatting"), // dangling peer
		chat("1", "9", "friend", "clash", "text", "2025-02-04 10:00:00", 1, "chatting"),  // clashing peer
		chat("4", "5", "friend", "neg", "text", "2025-02-05 10:00:00", -3, "chatting"),   // negative count

		msg(231132, "2", "1", "friend", "?", "hello Alice", "text", " ", "read", "2025-02-01 09:00:00"),
		msg(231133, "2", "1", "friend", "?", "offline one", "text", " ", "send", "2025-02-01 09:01:00"),
		msg(231134, "2", "1", "friend", "?", "it's pushed", "text", " ", "received", "2025-02-01 09:02:00"),
		msg(231135, "1", "2", "friend", "?", "reply", "text", " ", "read", "2025-02-01 09:03:00"),
		msg(231136, "3", "1", "friend", "?", "deleted", "text", " ", "delete", "2025-02-01 09:04:00"),
		msg(231137, "9", "1", "friend", "?", "from the clash", "text", " ", "send", "2025-02-01 09:05:00"),
		msg(231138, "3", "99", "friend", "?", "to nobody", "text", " ", "send", "2025-02-01 09:06:00"),
		msg(231139, "3", "1", "friend", "?", nil, "text", " ", "send", "2025-02-01 09:07:00"),       // NULL body
		msg(231140, "2", "1", "friend", "X'E4'", nil, "text", " ", "send", "2025-02-01 09:08:00"),   // not UTF-8
		msg(231141, "2", "1", "friend", "X'C3A4'", nil, "text", " ", "send", "2025-02-01 09:09:00"), // UTF-8 in latin1
		msg(231142, "1", "2", "group", "?", "group", "text", " ", "send", "2025-02-01 09:10:00"),
		msg(231143, "3", "1", "friend", "?", "bad status", "text", " ", "lost", "2025-02-01 09:11:00"), // invalid ENUM
		msg(231144, "2", "1", "friend", "?", "no file", "text", nil, "send", "2025-02-01 09:12:00"),    // NULL file_path
	}
	for i := range fillers {
		id := fmt.Sprint(100 + i)
		rows = append(rows, user(id, fillerPassword(i), id, "filler "+id, id+"@an.com", "/default.jpg", "inactive", "2024-12-01 00:00:00"))
	}
	execSeed(t, dsn, dirtySQL, rows...)
}

// aliceUnread are the messages user 1's first catch-up delivers, in order.
var aliceUnread = []string{"offline one", "it's pushed", "", "\uFFFD", "ä", "bad status", "no file"}

// passwords are every fixture password, for the no-plaintext checks.
func passwords() []string {
	out := []string{pwAlice, pwBob, pwCarol, pwDave}
	for i := range fillers {
		out = append(out, fillerPassword(i))
	}
	return out
}
