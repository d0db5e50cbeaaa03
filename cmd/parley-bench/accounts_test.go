package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/parley-im/parley/app/apptest"
	"github.com/parley-im/parley/db"
	"github.com/parley-im/parley/internal/passhash"
)

// -accounts lines map to indexes in file order, each with its partner's
// index; comments and blank lines are skipped; malformed lists are refused
// with the line that is wrong.
func TestParseAccounts(t *testing.T) {
	l, err := parseAccounts(strings.NewReader("# seed sample data\n3 666 4\n\n4  666\t3\n1 pw 2\n2 x 1\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []account{{"3", "666", "4"}, {"4", "666", "3"}, {"1", "pw", "2"}, {"2", "x", "1"}}
	if fmt.Sprint(l.accts) != fmt.Sprint(want) || fmt.Sprint(l.partner) != "[1 0 3 2]" {
		t.Fatalf("got %v partners %v", l.accts, l.partner)
	}
	if err := l.need(4); err != nil {
		t.Fatal(err)
	}
	if err := l.need(5); err == nil {
		t.Fatal("5 users from a list of 4")
	}
	for in, why := range map[string]string{
		"1 666\n":             "line 1",
		"1 666 2 x\n":         "line 1",
		"1 666 2\n1 666 2\n":  "twice",
		"1 666 1\n":           "own partner",
		"1 666 2\n":           "partner 2 is not listed",
		"# nothing\n":         "no accounts",
		"1 666 2\n2 666 1\n3": "line 3",
	} {
		if _, err := parseAccounts(strings.NewReader(in)); err == nil || !strings.Contains(err.Error(), why) {
			t.Errorf("%q: err %v, want %q", in, err, why)
		}
	}
}

// seedAccounts gives a fresh server database accounts the bench knows
// nothing about (the C++ sample data's shape: ids 1..n, password 666,
// n <-> n+1 friends for odd n) and returns the -accounts file listing them,
// partners first so the file's order is not the ids' order.
func seedAccounts(t *testing.T, srv *server, n int) string {
	t.Helper()
	ctx := context.Background()
	bdb, err := db.Open(ctx, srv.db, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer bdb.Close()
	st := db.NewStore(bdb, 30*time.Second)
	hash := passhash.Hash("666", passhash.Current)
	var lines []string
	for a := 1; a < n; a += 2 {
		for _, id := range []string{strconv.Itoa(a), strconv.Itoa(a + 1)} {
			if err := st.CreateUser(ctx, &db.User{ID: id, Phone: id, Name: "user " + id, PasswordHash: hash}); err != nil {
				t.Fatal(err)
			}
		}
		if err := st.RequestFriend(ctx, strconv.Itoa(a), strconv.Itoa(a+1)); err != nil {
			t.Fatal(err)
		}
		if _, err := st.AcceptFriend(ctx, strconv.Itoa(a+1), strconv.Itoa(a), ""); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, fmt.Sprintf("%d 666 %d", a+1, a), fmt.Sprintf("%d 666 %d", a, a+1))
	}
	path := filepath.Join(t.TempDir(), "accounts.txt")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// captureStdout runs f and returns what it printed.
func captureStdout(t *testing.T, f func() error) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stdout
	os.Stdout = w
	got := make(chan string)
	go func() { b, _ := io.ReadAll(r); got <- string(b) }()
	ferr := f()
	os.Stdout = old
	w.Close()
	out := <-got
	t.Log(out)
	if ferr != nil {
		t.Fatal(ferr)
	}
	return out
}

// storm and chat with -accounts against a parleyd started here, whose users
// the bench did not create (other ids, another password): every login and
// every message succeeds, and the CPU per operation is reported (the
// server's share must be above zero over chat's 60 messages; six logins can
// fit within one 10 ms clock tick, so the storm's figures are only required
// to be there). Without the roster the bench would log in as
// its own users, which this server does not have.
func TestAccountsStormAndChat(t *testing.T) {
	bin := apptest.BuildParleyd(t)
	start := func() *server {
		srv, err := startServer(serverFlags{parleyd: bin, driver: "sqlite"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(srv.stop)
		l, err := readAccounts(seedAccounts(t, srv, 6))
		if err != nil {
			t.Fatal(err)
		}
		roster = l
		t.Cleanup(func() { roster = nil })
		return srv
	}
	nonzero := regexp.MustCompile(`server=[0-9]*[1-9][0-9]*\.[0-9]µs`)

	out := captureStdout(t, func() error {
		return runStorm(start(), stormOpts{n: 6, loginTimeout: time.Minute, pushTimeout: time.Minute})
	})
	if !strings.Contains(out, "login ok=100.00%") || !strings.Contains(out, "delivery ok=100.00%") {
		t.Fatalf("storm with -accounts did not log in and deliver everything")
	}
	for _, what := range []string{"cpu/login", "cpu/message", "cpu/user"} {
		if !regexp.MustCompile(what + ` server=[0-9.]+µs db=-µs bench=[0-9.]+µs load=[0-9.]+`).MatchString(out) {
			t.Errorf("storm reports no %s", what)
		}
	}

	out = captureStdout(t, func() error {
		return runChat(start(), chatOpts{users: 6, rate: 30, duration: 2 * time.Second})
	})
	m := regexp.MustCompile(`delivered=\S+ \((\d+)/(\d+)\) errors=(\d+)`).FindStringSubmatch(out)
	if m == nil || m[1] != m[2] || m[2] == "0" || m[3] != "0" {
		t.Fatalf("chat with -accounts: %v", m)
	}
	if !nonzero.MatchString(regexp.MustCompile(`cpu/message server=\S+`).FindString(out)) {
		t.Fatalf("chat reports no server CPU per message")
	}
}

// On PostgreSQL the bench finds the started server's backends by the
// application_name it gave their connections and reports their CPU: the
// database column is a number, not "-" (unknown).
func TestChatPostgresDBCPU(t *testing.T) {
	bin := apptest.BuildParleyd(t)
	srv, err := startServer(serverFlags{parleyd: bin, driver: "postgres", pgDSN: "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"})
	if err != nil {
		t.Fatal(err) // with CI=true PostgreSQL must be up: unreachable is a failure
	}
	t.Cleanup(srv.stop)
	out := captureStdout(t, func() error { return runChat(srv, chatOpts{users: 6, rate: 30, duration: 2 * time.Second}) })
	if !regexp.MustCompile(`cpu/message server=[0-9.]+µs db=[0-9.]+µs`).MatchString(out) {
		t.Fatal("chat on PostgreSQL reports no database CPU")
	}
	if pids := srv.dbPids(); len(pids) == 0 {
		t.Fatal("no backends of the server's connections in pg_stat_activity")
	}
}
