package client_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley/app/apptest"
	"github.com/parley-im/parley/client"
	"github.com/parley-im/parley/config"
)

// Fault tests of issue 5: a crashed server, an unreachable database.

// freeAddr returns a loopback address nobody listens on right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// parleyd is a server process built from cmd/parleyd.
type parleyd struct {
	bin, cfg, addr string
	db             config.DB
	cmd            *exec.Cmd
}

// buildParleyd compiles cmd/parleyd into the test's temp dir and writes a
// configuration for it (a SQLite file in the temp dir or a fresh PostgreSQL
// schema, no rate limits).
func buildParleyd(t *testing.T, driver string) *parleyd {
	t.Helper()
	bin := apptest.BuildParleyd(t)
	dir := t.TempDir()
	p := &parleyd{bin: bin, cfg: filepath.Join(dir, "parley.yaml"), addr: freeAddr(t)}
	p.db = config.DB{Driver: "sqlite", DSN: filepath.Join(dir, "parley.db")}
	if driver == "postgres" {
		p.db = config.DB{Driver: "postgres", DSN: apptest.PostgresSchema(t)}
	}
	yaml := fmt.Sprintf(`server: {listen: %q, shutdown_timeout: 5s}
admin: {listen: ""}
web: {listen: "", ws_listen: ""}
db: {driver: %s, dsn: %q}
log: {level: error}
pipeline:
  - use: recover
  - use: logging
  - use: metrics
  - use: auth
`, p.addr, p.db.Driver, p.db.DSN)
	if err := os.WriteFile(p.cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.kill)
	return p
}

// start runs the server and waits until it accepts connections.
func (p *parleyd) start(t *testing.T) {
	t.Helper()
	p.cmd = exec.Command(p.bin, "-config", p.cfg)
	p.cmd.Stdout, p.cmd.Stderr = io.Discard, os.Stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", p.addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("parleyd did not listen on %s: %v", p.addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill sends SIGKILL: no shutdown code runs, nothing is flushed.
func (p *parleyd) kill() {
	if p.cmd != nil && p.cmd.Process != nil {
		_ = p.cmd.Process.Kill()
		_, _ = p.cmd.Process.Wait()
		p.cmd = nil
	}
}

// Clients send while the server is killed with SIGKILL and restarted.
// Every message whose send_message reply arrived is stored and reaches its
// receiver exactly once after the receiver's resume and sync; no message is
// stored twice, acknowledged or not (retries carry the same client_msg_id).
func TestKill9WhileSending(t *testing.T) {
	for _, driver := range apptest.Drivers(t) {
		t.Run(driver, func(t *testing.T) { testKill9(t, driver) })
	}
}

func testKill9(t *testing.T, driver string) {
	srv := buildParleyd(t, driver)
	srv.start(t)
	opts := []client.Option{client.WithBackoff(20*time.Millisecond, 300*time.Millisecond), client.WithRequestTimeout(20 * time.Second)}
	ps := pairs(t, srv.addr, 4, "136", opts...)

	// Receivers collect everything that arrives, from the start.
	type inbox struct {
		mu   sync.Mutex
		got  []client.Message
		done chan struct{}
	}
	boxes := make([]*inbox, len(ps))
	for i, p := range ps {
		b := &inbox{done: make(chan struct{})}
		boxes[i] = b
		go func(c *client.Client) {
			defer close(b.done)
			for m := range c.Messages() {
				b.mu.Lock()
				b.got = append(b.got, m)
				b.mu.Unlock()
			}
		}(p.to)
	}

	log, stop, wg := startSending(ps, "k")
	// Kill while messages are flowing, and stop sending only once the
	// restarted server has acknowledged more: progress, not durations, so a
	// loaded machine cannot turn the scenario into "killed before any send".
	log.waitAcked(t, 2*len(ps))
	srv.kill()
	before := log.acks()
	// The outage itself (scenario, not ordering): clients see failures and
	// back off while nothing listens.
	time.Sleep(300 * time.Millisecond)
	srv.start(t)
	log.waitAcked(t, before+2*len(ps))
	close(stop)
	wg.Wait()

	log.mu.Lock()
	acked := len(log.acked)
	log.mu.Unlock()
	if acked == 0 {
		t.Fatal("nothing acknowledged")
	}

	// Every acknowledged message reaches its receiver, once.
	deadline := time.Now().Add(30 * time.Second)
	for i, p := range ps {
		want := map[string]string{}
		for id, body := range log.acked {
			if len(body) > 2 && body[:len(fmt.Sprint("k", i))+1] == fmt.Sprint("k", i, "-") {
				want[id] = body
			}
		}
		for {
			boxes[i].mu.Lock()
			seen := map[string]int{}
			for _, m := range boxes[i].got {
				seen[m.ID]++
			}
			boxes[i].mu.Unlock()
			missing := 0
			for id := range want {
				if seen[id] == 0 {
					missing++
				}
			}
			for id, n := range seen {
				if n > 1 {
					t.Fatalf("receiver %s got message %s %d times", p.to.UserID(), id, n)
				}
			}
			if missing == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("receiver %s is missing %d of %d acknowledged messages", p.to.UserID(), missing, len(want))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	// In the database: every acknowledged message, and no body twice.
	for _, p := range ps {
		p.from.Close()
		p.to.Close()
	}
	for _, b := range boxes {
		<-b.done
	}
	srv.kill()
	var receivers []string
	for _, p := range ps {
		receivers = append(receivers, p.to.UserID())
	}
	stored := storedBodies(t, srv.db, receivers...)
	count := map[string]int{}
	for _, body := range stored {
		count[body]++
	}
	for body, n := range count {
		if n > 1 {
			t.Errorf("%q stored %d times", body, n)
		}
	}
	for id, body := range log.acked {
		if stored[id] != body {
			t.Errorf("acknowledged %s (%q) stored as %q", id, body, stored[id])
		}
	}
	t.Logf("%d acknowledged, %d stored, %d attempted", acked, len(stored), len(log.tried))
}

// pgProxy forwards TCP to PostgreSQL and can cut every connection and
// refuse new ones for a while: the database "unreachable" from the server.
type pgProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	down   bool
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup
}

func startPGProxy(t *testing.T, target string) *pgProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &pgProxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		ln.Close()
		p.cut(true)
		p.wg.Wait()
	})
	return p
}

func (p *pgProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		down := p.down
		if !down {
			p.conns[c] = struct{}{}
		}
		p.mu.Unlock()
		if down {
			c.Close()
			continue
		}
		up, err := net.DialTimeout("tcp", p.target, 2*time.Second)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns[up] = struct{}{}
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(c, up)
		go p.pipe(up, c)
	}
}

func (p *pgProxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	_, _ = io.Copy(dst, src)
	dst.Close()
	src.Close()
}

// cut closes every proxied connection; while down, new ones are refused.
func (p *pgProxy) cut(down bool) {
	p.mu.Lock()
	p.down = down
	if down {
		for c := range p.conns {
			c.Close()
		}
		clear(p.conns)
	}
	p.mu.Unlock()
}

func readyz(adminAddr string) int {
	c := http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get("http://" + adminAddr + "/readyz")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// PostgreSQL unreachable for a few seconds under traffic: the server stays
// up, requests get "unavailable", /readyz says 503, and service comes back
// by itself when the database does.
func TestPostgresOutage(t *testing.T) {
	drivers := apptest.Drivers(t)
	hasPG := false
	for _, d := range drivers {
		hasPG = hasPG || d == "postgres"
	}
	if !hasPG {
		t.Skip("PostgreSQL unreachable")
	}
	dsn := apptest.PostgresSchema(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	proxy := startPGProxy(t, u.Host)
	u.Host = proxy.ln.Addr().String()
	srv := apptest.Start(t, apptest.WithDriver("sqlite"), apptest.WithConfig(func(c *config.Config) {
		noRateLimit(c)
		c.DB.Driver = "postgres"
		c.DB.DSN = u.String()
		c.DB.QueryTimeout = time.Second
	}))
	ps := pairs(t, srv.Addr(), 1, "135")
	p := ps[0]
	ctx := realCtx(t)
	if _, err := p.from.Send(ctx, p.to.UserID(), "before"); err != nil {
		t.Fatal(err)
	}
	next(t, p.to)
	if code := readyz(srv.AdminAddr()); code != http.StatusOK {
		t.Fatalf("/readyz before the outage: %d", code)
	}

	proxy.cut(true)
	var unavailable bool
	for i := 0; i < 20 && !unavailable; i++ {
		_, err := p.from.Send(ctx, p.to.UserID(), fmt.Sprint("during ", i))
		unavailable = errors.Is(err, client.ErrUnavailable)
		if err != nil && !unavailable {
			t.Logf("send during the outage: %v", err)
		}
	}
	if !unavailable {
		t.Fatal("no unavailable reply during the outage")
	}
	if code := readyz(srv.AdminAddr()); code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz during the outage: %d, want 503", code)
	}
	// The connection itself is fine: a ping needs no database.
	if err := p.from.Ping(ctx); err != nil {
		t.Fatalf("ping during the outage: %v", err)
	}

	proxy.cut(false)
	deadline := time.Now().Add(30 * time.Second)
	for {
		id, err := p.from.Send(ctx, p.to.UserID(), "after")
		if err == nil {
			for {
				if m := next(t, p.to); m.ID == id {
					break
				}
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("service did not come back: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if code := readyz(srv.AdminAddr()); code != http.StatusOK {
		t.Fatalf("/readyz after the outage: %d", code)
	}
}
