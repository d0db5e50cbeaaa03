package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/parley-im/parley/config"
)

// server is the parleyd under test: started by the bench (build + exec with
// a temporary SQLite file or PostgreSQL schema) or given by -addr.
type server struct {
	addr, admin string
	ws          string // the WebSocket listener, host:port ("" if unknown)
	pid         int
	cmd         *exec.Cmd
	db          config.DB // where setup writes users (the server's own database)
	dbPid       int       // -db-pid: the database's process (with its children)
	pgApp       string    // application_name of the started server's PostgreSQL connections
	pgAdmin     *sql.DB   // finds their backends (cpuop.go)
	cleanup     []func()
	// bin, cfgPath, dir and env start more nodes like this one (chat -cross-node).
	bin, cfgPath, dir string
	env               []string
	envAll            []string // a peer's whole environment, to restart it
	logf              *os.File // a peer's log, to restart it
}

type serverFlags struct {
	addr, admin, parleyd, driver, pgDSN, dir string
	wsAddr                                   string
	pid, dbPid                               int
	env                                      multiFlag
	logOut, config                           string
}

// benchConfig is the started server's configuration: the default chain in
// the default order with default options, except that the load generator's
// address is exempt from per-address limits (every bench client comes from
// 127.0.0.1; the seed's per-IP login and connect limits would refuse a
// 10,000-client storm from one address) and ping has no per-connection rate
// (the ping scenario measures throughput). The other rules restate the
// built-in ones (a rules key replaces them all).
const benchConfig = `pipeline:
  - use: recover
  - use: logging
  - use: metrics
  - use: auth
  - use: ratelimit
    with:
      exempt: ["127.0.0.0/8"]
      rules:
        default:
          session: {rate: 100, burst: 1000}
          user: {rate: 200, burst: 2000}
          ip: {rate: 1000, burst: 5000}
        login:
          session: {rate: 0.5, burst: 5}
          ip: {rate: 1, burst: 10}
        register:
          session: {rate: 0.2, burst: 3}
          ip: {rate: 0.1, burst: 5}
        send_message:
          user: {rate: 20, burst: 200}
        group_send:
          user: {rate: 10, burst: 100}
        ping:
          session: {rate: 0}
`

// multiFlag collects repeated -env KEY=VALUE flags.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// startServer builds and runs parleyd on loopback ports, unless -addr names a
// running server. Everything it creates is removed by stop.
func startServer(f serverFlags) (*server, error) {
	if f.addr != "" {
		s := &server{addr: f.addr, admin: f.admin, ws: f.wsAddr, pid: f.pid, dbPid: f.dbPid}
		if f.driver == "sqlite" && f.dir != "" {
			s.db = config.DB{Driver: "sqlite", DSN: filepath.Join(f.dir, "parley.db")}
		} else if f.pgDSN != "" {
			s.db = config.DB{Driver: "postgres", DSN: f.pgDSN}
		}
		return s, nil
	}
	s := &server{dbPid: f.dbPid}
	dir := f.dir
	if dir == "" {
		d, err := os.MkdirTemp("", "parley-bench-")
		if err != nil {
			return nil, err
		}
		dir = d
		s.cleanup = append(s.cleanup, func() { os.RemoveAll(d) })
	}
	bin := f.parleyd
	if bin == "" {
		bin = filepath.Join(dir, "parleyd")
		out, err := exec.Command("go", "build", "-o", bin, "./cmd/parleyd").CombinedOutput()
		if err != nil {
			return nil, fmt.Errorf("build parleyd (run the bench from the repository root): %v\n%s", err, out)
		}
	}
	switch f.driver {
	case "sqlite":
		s.db = config.DB{Driver: "sqlite", DSN: filepath.Join(dir, "parley.db")}
	case "postgres":
		dsn, drop, err := freshSchema(f.pgDSN)
		if err != nil {
			return nil, err
		}
		s.cleanup = append(s.cleanup, drop)
		// The schema's name also names the server's connections, so the
		// bench can count their backends' CPU (and nobody else's).
		app := dsn[strings.LastIndex(dsn, "=")+1:]
		s.db = config.DB{Driver: "postgres", DSN: dsn + "&application_name=" + app}
		s.watchPostgres(f.pgDSN, app)
	default:
		return nil, fmt.Errorf("unknown -driver %q", f.driver)
	}
	s.addr, s.admin, s.ws = freePort(), freePort(), freePort()
	cfgPath := f.config
	if cfgPath == "" {
		cfgPath = filepath.Join(dir, "bench.yaml")
		if err := os.WriteFile(cfgPath, []byte(benchConfig), 0o644); err != nil {
			return nil, err
		}
	}
	s.bin, s.cfgPath, s.dir, s.env = bin, cfgPath, dir, f.env
	s.cmd = exec.Command(bin, "-config", cfgPath)
	s.cmd.Dir = dir
	s.cmd.Env = append(os.Environ(),
		"PARLEY_SERVER_LISTEN="+s.addr, "PARLEY_ADMIN_LISTEN="+s.admin,
		"PARLEY_WEB_WS_LISTEN="+s.ws, "PARLEY_WEB_LISTEN="+freePort(),
		"PARLEY_DB_DRIVER="+s.db.Driver, "PARLEY_DB_DSN="+s.db.DSN, "PARLEY_LOG_LEVEL=warn")
	s.cmd.Env = append(s.cmd.Env, f.env...)
	logf, err := os.Create(filepath.Join(dir, "parleyd.log"))
	if err != nil {
		return nil, err
	}
	if f.logOut != "" {
		logf.Close()
		if logf, err = os.Create(f.logOut); err != nil {
			return nil, err
		}
	}
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	s.cleanup = append(s.cleanup, func() { logf.Close() })
	return s, nil
}

// peer prepares another node of the same cluster: the same binary,
// configuration, database and environment, its own ports, extra env last.
// Start it with run; stop it with stop.
func (s *server) peer(name string, extra ...string) (*server, error) {
	if s.bin == "" {
		return nil, fmt.Errorf("a second node needs a server started by the bench (no -addr)")
	}
	p := &server{addr: freePort(), admin: freePort(), ws: freePort(), db: s.db}
	p.cmd = exec.Command(s.bin, "-config", s.cfgPath)
	p.cmd.Dir = s.dir
	p.cmd.Env = append(os.Environ(),
		"PARLEY_SERVER_LISTEN="+p.addr, "PARLEY_ADMIN_LISTEN="+p.admin,
		"PARLEY_WEB_WS_LISTEN="+p.ws, "PARLEY_WEB_LISTEN="+freePort(),
		"PARLEY_DB_DRIVER="+s.db.Driver, "PARLEY_DB_DSN="+s.db.DSN, "PARLEY_LOG_LEVEL=warn")
	p.cmd.Env = append(append(p.cmd.Env, s.env...), extra...)
	logf, err := os.Create(filepath.Join(s.dir, name+".log"))
	if err != nil {
		return nil, err
	}
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	p.dir, p.envAll, p.logf = s.dir, p.cmd.Env, logf
	p.cleanup = append(p.cleanup, func() { logf.Close() })
	return p, nil
}

// run starts the process (after setup wrote the database) and waits until
// its port accepts connections.
func (s *server) run() error {
	if s.cmd == nil {
		return nil
	}
	if err := s.cmd.Start(); err != nil {
		return err
	}
	s.pid = s.cmd.Process.Pid
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", s.addr, time.Second); err == nil {
			c.Close()
			return nil
		}
		if s.cmd.ProcessState != nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("parleyd did not listen on %s within 60s (see parleyd.log)", s.addr)
}

func (s *server) stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = s.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = s.cmd.Process.Kill()
			<-done
		}
	}
	for i := len(s.cleanup) - 1; i >= 0; i-- {
		s.cleanup[i]()
	}
}

// rssKiB is the server's resident memory: /proc/<pid>/status when the pid is
// known (same machine), else process_resident_memory_bytes from /metrics.
func (s *server) rssKiB() (int64, error) {
	if s.pid > 0 {
		f, err := os.Open(fmt.Sprintf("/proc/%d/status", s.pid))
		if err != nil {
			return 0, err
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
				return strconv.ParseInt(strings.Fields(rest)[0], 10, 64)
			}
		}
		return 0, fmt.Errorf("no VmRSS in /proc/%d/status", s.pid)
	}
	if s.admin == "" {
		return 0, fmt.Errorf("no server pid (-pid) and no admin address (-admin)")
	}
	v, err := s.metric("process_resident_memory_bytes")
	return int64(v / 1024), err
}

// heapInUseKiB is go_memstats_heap_inuse_bytes from the server's /metrics,
// or -1 when it cannot be read (no admin address).
func (s *server) heapInUseKiB() int64 {
	if s.admin == "" {
		return -1
	}
	v, err := s.metric("go_memstats_heap_inuse_bytes")
	if err != nil {
		return -1
	}
	return int64(v / 1024)
}

// procLimit returns the "Max open files" line of the server's /proc limits.
func (s *server) procLimit() string {
	if s.pid <= 0 {
		return "unknown (no pid)"
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", s.pid))
	if err != nil {
		return err.Error()
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "Max open files") {
			return strings.Join(strings.Fields(l), " ")
		}
	}
	return "not found"
}

// metric reads one unlabelled value from the admin /metrics page.
func (s *server) metric(name string) (float64, error) {
	resp, err := http.Get("http://" + s.admin + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, name+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(rest), 64)
		}
	}
	return 0, fmt.Errorf("metric %s not found", name)
}

// profile saves a CPU profile of the server taken over d to path.
func (s *server) profile(d time.Duration, path string) error {
	return s.fetch(fmt.Sprintf("/debug/pprof/profile?seconds=%d", int(d.Seconds())), path)
}

// fetch saves an admin-server page (a pprof profile) to path.
func (s *server) fetch(page, path string) error {
	if s.admin == "" {
		return fmt.Errorf("no admin address")
	}
	resp, err := http.Get("http://" + s.admin + page)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(f, resp.Body)
	return err
}

func freePort() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// freshSchema creates a schema on the PostgreSQL server and returns a DSN
// that uses it, and a function that drops it.
func freshSchema(base string) (string, func(), error) {
	admin := openPG(base)
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "parley_bench_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		admin.Close()
		return "", nil, fmt.Errorf("postgres %s: %w", base, err)
	}
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	drop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = admin.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE")
		admin.Close()
	}
	return base + sep + "search_path=" + schema, drop, nil
}
