// Command parley-cluster starts a three-node Parley cluster on this machine,
// for anyone to try (`go tool task cluster`, docs/CLUSTER.md):
//
//   - NATS at -nats (127.0.0.1:4222 by default); when nothing answers there
//     and the address is local, it starts the nats-server found in PATH;
//   - three parleyd processes on consecutive ports from -port (chat) and
//     -admin (admin HTTP), all on the PostgreSQL database -dsn;
//   - every line a node logs, prefixed with its name.
//
// Ctrl-C (or SIGTERM) drains the nodes with SIGTERM, stops the nats-server it
// started, and exits. Kill one node (`kill -9 PID`, printed at start) to see
// its clients move to the others.
//
//	go run ./cmd/parley-cluster [-parleyd bin/parleyd] [-nodes 3] [-port 12345] [-admin 9091]
//	                            [-nats nats://127.0.0.1:4222] [-dsn postgres://...]
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

func main() {
	bin := flag.String("parleyd", "bin/parleyd", "parleyd binary (go tool task cluster builds it)")
	nodes := flag.Int("nodes", 3, "number of nodes")
	port := flag.Int("port", 12345, "chat port of the first node; the others follow")
	admin := flag.Int("admin", 9091, "admin HTTP port of the first node; the others follow")
	natsURL := flag.String("nats", "nats://127.0.0.1:4222", "NATS server URL")
	dsn := flag.String("dsn", envOr("PARLEY_DB_DSN", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"), "PostgreSQL DSN shared by every node")
	dir := flag.String("dir", "bin/cluster", "where the nodes' configuration files are written")
	flag.Parse()
	if err := run(*bin, *nodes, *port, *admin, *natsURL, *dsn, *dir); err != nil {
		fmt.Fprintln(os.Stderr, "parley-cluster:", err)
		os.Exit(1)
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func run(bin string, n, port, admin int, natsURL, dsn, dir string) error {
	stopNATS, err := ensureNATS(natsURL)
	if err != nil {
		return err
	}
	defer stopNATS()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var procs []*exec.Cmd
	var wg sync.WaitGroup
	for i := range n {
		name := fmt.Sprint("node", i+1)
		cfg := filepath.Join(dir, name+".yaml")
		yaml := fmt.Sprintf(`server: {listen: "127.0.0.1:%d"}
admin: {listen: "127.0.0.1:%d"}
web: {listen: "", ws_listen: ""}
db: {driver: postgres, dsn: %q}
log: {encoding: console}
cluster: {nats_url: %q, node: %s}
`, port+i, admin+i, dsn, natsURL, name)
		if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
			return err
		}
		cmd := exec.Command(bin, "-config", cfg)
		out, _ := cmd.StdoutPipe()
		cmd.Stderr = cmd.Stdout
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		procs = append(procs, cmd)
		wg.Add(1)
		go func() { defer wg.Done(); prefix(name, out) }()
		if err := waitListen(fmt.Sprintf("127.0.0.1:%d", port+i), cmd); err != nil {
			stopAll(procs)
			wg.Wait()
			return fmt.Errorf("%s: %w", name, err)
		}
		fmt.Printf("parley-cluster: %s pid %d chat 127.0.0.1:%d admin http://127.0.0.1:%d/readyz\n", name, cmd.Process.Pid, port+i, admin+i)
	}
	fmt.Printf("parley-cluster: %d nodes on %s and %s; Ctrl-C drains them\n", n, natsURL, redact(dsn))
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	stopAll(procs)
	wg.Wait()
	return nil
}

// stopAll sends SIGTERM (a drain: goaway to every client) and waits.
func stopAll(procs []*exec.Cmd) {
	for _, p := range procs {
		_ = p.Process.Signal(syscall.SIGTERM)
	}
	for _, p := range procs {
		_ = p.Wait()
	}
}

func prefix(name string, r io.Reader) {
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 64<<10), 1<<20)
	for s.Scan() {
		fmt.Printf("%s | %s\n", name, s.Text())
	}
}

func waitListen(addr string, cmd *exec.Cmd) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not listening on %s after 30s: %w", addr, err)
		}
		if cmd.ProcessState != nil {
			return errors.New("exited at start-up")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ensureNATS returns at once when NATS answers at natsURL; otherwise, for a
// local address, it starts the nats-server in PATH there and returns how to
// stop it.
func ensureNATS(natsURL string) (stop func(), err error) {
	u, err := url.Parse(natsURL)
	if err != nil {
		return nil, err
	}
	if c, err := net.DialTimeout("tcp", u.Host, time.Second); err == nil {
		c.Close()
		return func() {}, nil
	}
	host, port, _ := net.SplitHostPort(u.Host)
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("NATS does not answer at %s", natsURL)
	}
	path, err := exec.LookPath("nats-server")
	if err != nil {
		return nil, fmt.Errorf("NATS does not answer at %s and no nats-server in PATH (apt-get install nats-server)", natsURL)
	}
	cmd := exec.Command(path, "-a", host, "-p", port)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	if err := waitListen(u.Host, cmd); err != nil {
		_ = cmd.Process.Kill()
		return nil, fmt.Errorf("nats-server: %w", err)
	}
	fmt.Printf("parley-cluster: started nats-server on %s (pid %d)\n", u.Host, cmd.Process.Pid)
	return func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() }, nil
}

// redact hides a DSN's password.
func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "the database"
	}
	return u.Redacted()
}
