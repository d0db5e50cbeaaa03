package apptest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/uptrace/bun/driver/pgdriver"
	"go.uber.org/fx"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/parley-im/parley/app"
	"github.com/parley-im/parley/config"
	"github.com/parley-im/parley/transport"
	"github.com/parley-im/parley/web"
)

// PostgresURL is the test database: trust auth on this machine and in CI.
// PARLEY_TEST_POSTGRES overrides it.
func PostgresURL() string {
	if u := os.Getenv("PARLEY_TEST_POSTGRES"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// Server is a running Parley.
type Server struct {
	App    *fx.App
	Config *config.Config
	addr   string
	wsAddr string
	admin  string
	web    string
}

// Addr is the chat protocol address, host:port.
func (s *Server) Addr() string { return s.addr }

// WSAddr is the WebSocket endpoint's address, host:port (path
// transport.WSPath; "" when disabled).
func (s *Server) WSAddr() string { return s.wsAddr }

// WebAddr is the web client's HTTP address, host:port ("" when disabled):
// open http://WebAddr/ in a browser.
func (s *Server) WebAddr() string { return s.web }

// AdminAddr is the admin HTTP address, host:port ("" when disabled).
func (s *Server) AdminAddr() string { return s.admin }

// Option adjusts the configuration before the server starts.
type Option func(*options)

type options struct {
	driver string
	mutate []func(*config.Config)
	extra  []fx.Option
	logger *zap.Logger
}

// WithDriver selects "sqlite" or "postgres" (a fresh schema). Without it the
// driver is the first of PARLEY_TEST_DRIVERS, else sqlite.
func WithDriver(d string) Option { return func(o *options) { o.driver = d } }

// WithConfig edits the configuration (after the harness's own settings).
func WithConfig(f func(*config.Config)) Option {
	return func(o *options) { o.mutate = append(o.mutate, f) }
}

// WithFx appends fx options (decorators, populates) to the app.
func WithFx(opts ...fx.Option) Option { return func(o *options) { o.extra = append(o.extra, opts...) } }

// WithLogger replaces the server's logger (for tests that inspect logs).
func WithLogger(l *zap.Logger) Option { return func(o *options) { o.logger = l } }

// Drivers lists the databases the store tests must run on: sqlite always,
// postgres when reachable. Under CI=true postgres is mandatory: unreachable
// fails the test instead of skipping.
//
// PARLEY_TEST_DRIVERS (comma-separated, e.g. "postgres") narrows the list;
// `go tool task test:pg` uses it.
func Drivers(t testing.TB) []string {
	t.Helper()
	want := []string{"sqlite", "postgres"}
	if env := os.Getenv("PARLEY_TEST_DRIVERS"); env != "" {
		want = strings.Split(env, ",")
	}
	if !slices.Contains(want, "postgres") {
		return want
	}
	if err := pingPostgres(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL is mandatory under CI=true and unreachable: %v", err)
		}
		t.Logf("PostgreSQL unreachable, skipping it: %v", err)
		return slices.DeleteFunc(want, func(d string) bool { return d == "postgres" })
	}
	return want
}

func pingPostgres() error {
	db := sql.OpenDB(pgdriver.NewConnector(pgdriver.WithDSN(PostgresURL()), pgdriver.WithTimeout(3*time.Second)))
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	return db.PingContext(ctx)
}

// PostgresSchema creates a fresh schema for one test, drops it at cleanup, and
// returns a DSN whose connections use it.
func PostgresSchema(t testing.TB) string {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "parley_t_" + hex.EncodeToString(b[:])
	// One short-lived connection pool to create the schema and another to
	// drop it: none stays open during the test (goleak checks see none).
	exec := func(query string) error {
		db := sql.OpenDB(pgdriver.NewConnector(pgdriver.WithDSN(PostgresURL())))
		defer db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := db.ExecContext(ctx, query)
		return err
	}
	if err := exec("CREATE SCHEMA " + schema); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL is mandatory under CI=true: %v", err)
		}
		t.Skipf("PostgreSQL unreachable: %v", err)
	}
	t.Cleanup(func() { _ = exec("DROP SCHEMA " + schema + " CASCADE") })
	sep := "?"
	if strings.Contains(PostgresURL(), "?") {
		sep = "&"
	}
	return PostgresURL() + sep + "search_path=" + schema
}

// defaultDriver is the database of servers started without WithDriver: the
// first of PARLEY_TEST_DRIVERS, else sqlite. `go tool task test:pg` sets it to
// postgres, which moves every end-to-end test onto PostgreSQL.
func defaultDriver() string {
	if env := os.Getenv("PARLEY_TEST_DRIVERS"); env != "" {
		return strings.Split(env, ",")[0]
	}
	return "sqlite"
}

// Start runs a whole server for the duration of the test.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	o := options{driver: defaultDriver()}
	for _, f := range opts {
		f(&o)
	}
	cfg := config.Default()
	cfg.Server.Listen = "127.0.0.1:0"
	cfg.Server.ShutdownTimeout = 5 * time.Second
	cfg.Admin.Listen = "127.0.0.1:0"
	cfg.Web.WSListen = "127.0.0.1:0"
	cfg.Web.Listen = "127.0.0.1:0"
	cfg.Transport.Loops = 2
	cfg.Transport.Workers = 8
	cfg.Log.Level = "warn"
	switch o.driver {
	case "sqlite":
		cfg.DB.Driver = "sqlite"
		cfg.DB.DSN = filepath.Join(t.TempDir(), "parley.db")
	case "postgres":
		cfg.DB.Driver = "postgres"
		cfg.DB.DSN = PostgresSchema(t)
	default:
		t.Fatalf("apptest: unknown driver %q", o.driver)
	}
	for _, f := range o.mutate {
		f(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("apptest: config: %v", err)
	}
	logger := o.logger
	if logger == nil {
		logger = zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	}
	var srv *transport.Server
	var adm *app.Admin
	var webSrv *web.Server
	fxOpts := append([]fx.Option{
		fx.Decorate(func(l app.Logger) app.Logger { l.Logger = logger; return l }),
		fx.Populate(&srv, &adm, &webSrv),
	}, o.extra...)
	a := app.FromConfig(&cfg, fxOpts...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := a.Start(ctx); err != nil {
		t.Fatalf("apptest: start: %v", err)
	}
	s := &Server{App: a, Config: &cfg, addr: srv.Addr(), wsAddr: srv.WSAddr()}
	if adm != nil {
		s.admin = adm.Addr()
	}
	if webSrv != nil {
		s.web = webSrv.Addr()
	}
	t.Cleanup(func() { s.Stop(t) })
	return s
}

// Stop stops the server (idempotent; also run at cleanup).
func (s *Server) Stop(t testing.TB) {
	if s.App == nil {
		return
	}
	a := s.App
	s.App = nil
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := a.Stop(ctx); err != nil {
		t.Errorf("apptest: stop: %v", err)
	}
}

// Dial opens a raw protocol connection to the server.
func (s *Server) Dial(t testing.TB) *Client {
	t.Helper()
	conn, err := net.DialTimeout("tcp", s.addr, 5*time.Second)
	if err != nil {
		t.Fatalf("apptest: dial %s: %v", s.addr, err)
	}
	c := newClient(t, conn)
	t.Cleanup(func() { conn.Close() })
	return c
}

// String names the server in test logs.
func (s *Server) String() string { return fmt.Sprintf("parley(%s, %s)", s.Config.DB.Driver, s.addr) }
