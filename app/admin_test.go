package app

import (
	"context"
	"database/sql"
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/ncruces/go-sqlite3/driver"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"
	"go.uber.org/zap"

	"github.com/parley-im/parley/session"
)

// nopConn is a session.Conn that goes nowhere.
type nopConn struct{}

func (nopConn) Send([]byte) error { return nil }
func (nopConn) Close() error      { return nil }

// startAdmin starts an admin server on a free port and stops it at the end
// of the test.
func startAdmin(t *testing.T, reg *prometheus.Registry, ready func(context.Context) error, level zap.AtomicLevel) (*Admin, *http.Client) {
	t.Helper()
	return startAdminToken(t, "", reg, ready, level)
}

// startAdminToken is startAdmin with an admin.token.
func startAdminToken(t *testing.T, token string, reg *prometheus.Registry, ready func(context.Context) error, level zap.AtomicLevel) (*Admin, *http.Client) {
	t.Helper()
	adm := NewAdmin("127.0.0.1:0", token, reg, ready, level, zap.NewNop())
	if adm.Addr() != "" {
		t.Fatalf("Addr before Start = %q, want empty", adm.Addr())
	}
	if err := adm.Start(); err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{}, Timeout: 10 * time.Second}
	t.Cleanup(func() {
		client.CloseIdleConnections()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := adm.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return adm, client
}

// get fetches path from adm and returns the status and body.
func get(t *testing.T, c *http.Client, adm *Admin, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+adm.Addr()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// onDefaultMux registers TestAdminEndpoints' probe handler once.
var onDefaultMux sync.Once

func TestAdminEndpoints(t *testing.T) {
	reg := prometheus.NewRegistry()

	sessions := session.NewRegistry()
	s := session.New(1, "192.0.2.1:5000", nopConn{})
	sessions.Bind(s, "alice")

	db, err := sql.Open("sqlite3", filepath.Join(t.TempDir(), "admin.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if err := db.Ping(); err != nil {
		t.Fatal(err)
	}

	// The default mux is process-wide: register once, so the test can run
	// again in the same process (-count, -cpu 1,2).
	onDefaultMux.Do(func() { http.HandleFunc("/on-default-mux", func(http.ResponseWriter, *http.Request) {}) })

	RegisterRuntimeCollectors(reg, sessions, func() (int, int) { return 3, 5 }, db)
	level := zap.NewAtomicLevelAt(zap.InfoLevel)
	adm, c := startAdmin(t, reg, nil, level)

	for _, tc := range []struct {
		method, path, body string
		wantStatus         int
		wantBody           []string
	}{
		{"GET", "/healthz", "", 200, []string{"ok"}},
		{"GET", "/readyz", "", 200, []string{"ok"}},
		{"GET", "/metrics", "", 200, []string{
			"parley_connections 3",
			"parley_dispatch_queue_depth 5",
			"parley_sessions_online 1",
			`go_sql_open_connections{db_name="parley"} 1`,
			"go_goroutines ",
			"process_start_time_seconds ",
		}},
		{"GET", "/debug/pprof/", "", 200, []string{"goroutine", "heap"}},
		{"GET", "/debug/pprof/goroutine?debug=1", "", 200, []string{"goroutine profile"}},
		{"GET", "/debug/pprof/cmdline", "", 200, nil},
		{"GET", "/loglevel", "", 200, []string{`"level":"info"`}},
		{"PUT", "/loglevel", `{"level":"debug"}`, 200, []string{`"level":"debug"`}},
		// Only the admin mux is served, never http.DefaultServeMux.
		{"GET", "/on-default-mux", "", 404, nil},
	} {
		status, body := get(t, c, adm, tc.method, tc.path, tc.body)
		if status != tc.wantStatus {
			t.Errorf("%s %s: status %d, want %d\n%s", tc.method, tc.path, status, tc.wantStatus, body)
			continue
		}
		for _, want := range tc.wantBody {
			if !strings.Contains(body, want) {
				t.Errorf("%s %s: body lacks %q", tc.method, tc.path, want)
			}
		}
	}
	if level.Level() != zap.DebugLevel {
		t.Errorf("PUT /loglevel did not change the level: %v", level.Level())
	}
}

// TestAdminToken: with admin.token set, pprof and PUT /loglevel need the
// bearer token (a wrong one, another scheme or none is 401 and changes
// nothing), while probes, metrics and reading the level stay open.
func TestAdminToken(t *testing.T) {
	const token = "s3cret-admin-token"
	level := zap.NewAtomicLevelAt(zap.InfoLevel)
	adm, c := startAdminToken(t, token, prometheus.NewRegistry(), nil, level)
	do := func(method, path, auth, body string) int {
		t.Helper()
		req, err := http.NewRequest(method, "http://"+adm.Addr()+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, tc := range []struct {
		method, path, auth, body string
		want                     int
	}{
		{"GET", "/healthz", "", "", 200},
		{"GET", "/readyz", "", "", 200},
		{"GET", "/metrics", "", "", 200},
		{"GET", "/loglevel", "", "", 200},
		{"GET", "/debug/pprof/", "", "", 401},
		{"GET", "/debug/pprof/goroutine?debug=1", "Bearer wrong", "", 401},
		{"GET", "/debug/pprof/cmdline", "Basic " + token, "", 401},
		{"PUT", "/loglevel", "", `{"level":"debug"}`, 401},
		{"PUT", "/loglevel", "Bearer " + token + "x", `{"level":"debug"}`, 401},
		{"GET", "/debug/pprof/goroutine?debug=1", "Bearer " + token, "", 200},
	} {
		if got := do(tc.method, tc.path, tc.auth, tc.body); got != tc.want {
			t.Errorf("%s %s (auth %q): %d, want %d", tc.method, tc.path, tc.auth, got, tc.want)
		}
	}
	if level.Level() != zap.InfoLevel {
		t.Fatalf("an unauthorised PUT changed the level to %v", level.Level())
	}
	if got := do("PUT", "/loglevel", "Bearer "+token, `{"level":"debug"}`); got != 200 || level.Level() != zap.DebugLevel {
		t.Fatalf("authorised PUT: %d, level %v", got, level.Level())
	}
}

func TestAdminReadyz(t *testing.T) {
	for _, tc := range []struct {
		name       string
		ready      func(context.Context) error
		wantStatus int
		wantBody   string
	}{
		{"ready", func(context.Context) error { return nil }, 200, "ok"},
		{"not ready", func(context.Context) error { return errors.New("database: connection refused") }, 503, "database: connection refused"},
		{"too slow", func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }, 503, "deadline exceeded"},
		{"late success is not ready", func(ctx context.Context) error { <-ctx.Done(); return nil }, 503, "deadline exceeded"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			adm, c := startAdmin(t, prometheus.NewRegistry(), tc.ready, zap.NewAtomicLevel())
			status, body := get(t, c, adm, "GET", "/readyz", "")
			if status != tc.wantStatus || !strings.Contains(body, tc.wantBody) {
				t.Fatalf("got %d %q, want %d %q", status, body, tc.wantStatus, tc.wantBody)
			}
		})
	}
}

func TestAdminLifecycle(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())

	adm := NewAdmin("127.0.0.1:0", "", prometheus.NewRegistry(), nil, zap.NewAtomicLevel(), nil)
	if err := adm.Stop(context.Background()); err != nil {
		t.Fatalf("stop before start: %v", err)
	}
	if err := adm.Start(); err != nil {
		t.Fatal(err)
	}
	// A second server on the same port fails at Start, not later.
	other := NewAdmin(adm.Addr(), "", prometheus.NewRegistry(), nil, zap.NewAtomicLevel(), nil)
	if err := other.Start(); err == nil {
		t.Fatal("second server on a bound port started")
	}

	c := &http.Client{Transport: &http.Transport{}}
	status, _ := get(t, c, adm, "GET", "/healthz", "")
	c.CloseIdleConnections()
	if status != 200 {
		t.Fatalf("healthz %d", status)
	}
	if err := adm.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get("http://" + adm.Addr() + "/healthz"); err == nil {
		t.Fatal("server still answers after Stop")
	}
}
