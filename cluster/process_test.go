package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/parley-im/parley/app/apptest"
	"github.com/parley-im/parley/client"
)

// proc is one parleyd node run as a real process.
type proc struct {
	name, bin, cfg, addr string
	cmd                  *exec.Cmd
	exited               chan struct{} // closed when the process has ended
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startProcs writes one configuration per node (a shared PostgreSQL
// schema, the embedded NATS) and starts n parleyd processes.
func startProcs(t *testing.T, natsURL string, n int) []*proc {
	t.Helper()
	bin := apptest.BuildParleyd(t)
	dsn := apptest.PostgresSchema(t)
	prefix := randomPrefix()
	procs := make([]*proc, n)
	for i := range procs {
		p := &proc{name: fmt.Sprint("node", i+1), bin: bin, addr: freeAddr(t)}
		p.cfg = filepath.Join(t.TempDir(), "parley.yaml")
		yaml := fmt.Sprintf(`server: {listen: %q, shutdown_timeout: 10s}
admin: {listen: ""}
web: {listen: "", ws_listen: ""}
db: {driver: postgres, dsn: %q}
log: {level: error}
cluster: {nats_url: %q, node: %s, subject_prefix: %s}
pipeline:
  - use: recover
  - use: logging
  - use: metrics
  - use: auth
`, p.addr, dsn, natsURL, p.name, prefix)
		if err := os.WriteFile(p.cfg, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		p.start(t)
		t.Cleanup(p.kill)
		procs[i] = p
	}
	return procs
}

func (p *proc) start(t *testing.T) {
	t.Helper()
	p.cmd = exec.Command(p.bin, "-config", p.cfg)
	p.cmd.Stdout, p.cmd.Stderr = io.Discard, os.Stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(exited) }()
	p.exited = exited
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-exited:
			t.Fatalf("%s exited at start-up: %v", p.name, p.cmd.ProcessState)
		default:
		}
		c, err := net.DialTimeout("tcp", p.addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not listen on %s: %v", p.name, p.addr, err)
		}
		time.Sleep(20 * time.Millisecond) // polling with a deadline
	}
}

// kill is kill -9: nothing of the node's shutdown runs.
func (p *proc) kill() {
	if p.cmd != nil && p.cmd.Process != nil {
		_ = p.cmd.Process.Kill()
		<-p.exited
		p.cmd = nil
	}
}

// term is SIGTERM: the node drains (goaway) and must exit 0.
func (p *proc) term(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-p.exited
	if st := p.cmd.ProcessState; !st.Success() {
		t.Fatalf("%s exited with %v after SIGTERM", p.name, st)
	}
	p.cmd = nil
}

// sdkPair is a sender and a receiver, each an SDK client that knows every
// node and starts on its own.
type sdkPair struct{ from, to *client.Client }

// traffic records what senders got acknowledged and what receivers got.
type traffic struct {
	mu       sync.Mutex
	acked    map[string]string // message_id -> body
	received map[string]int    // message_id -> times received
	bodies   map[string]string // message_id -> body received
}

// TestThreeNodesKill9AndDrain runs three parleyd processes on one NATS and
// one PostgreSQL, with SDK clients spread over them, each given all three
// addresses. While they send, node 2 is killed with SIGKILL: its clients
// reconnect to another node, resume there and sync. Then node 3 is drained
// with SIGTERM (goaway): its clients move to node 1. After each fault every
// acknowledged message reaches its receiver exactly once: lost=0 dup=0.
func TestThreeNodesKill9AndDrain(t *testing.T) {
	n := startNATS(t)
	procs := startProcs(t, n.url(), 3)
	addrs := []string{procs[0].addr, procs[1].addr, procs[2].addr}
	dial := func(i int) *client.Client {
		first := addrs[i%3]
		var rest []string
		for j := 1; j < 3; j++ {
			rest = append(rest, addrs[(i+j)%3])
		}
		c, err := client.Dial(context.Background(), first, client.WithAddrs(rest...),
			client.WithBackoff(20*time.Millisecond, 300*time.Millisecond), client.WithRequestTimeout(10*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	ctx := context.Background()
	const npairs = 6
	pairs := make([]sdkPair, npairs)
	for i := range pairs {
		// Sender and receiver on different nodes: every message crosses.
		a, b := dial(i), dial(i+1)
		ida, idb := fmt.Sprintf("1340%03d1", i), fmt.Sprintf("1340%03d2", i)
		for _, x := range []struct {
			c  *client.Client
			id string
		}{{a, ida}, {b, idb}} {
			if _, err := x.c.Register(ctx, x.id, "u"+x.id, password); err != nil {
				t.Fatal(err)
			}
			if _, err := x.c.Login(ctx, x.id, password); err != nil {
				t.Fatal(err)
			}
		}
		if err := a.AddFriend(ctx, idb); err != nil {
			t.Fatal(err)
		}
		if err := b.AcceptFriend(ctx, ida); err != nil {
			t.Fatal(err)
		}
		pairs[i] = sdkPair{a, b}
	}

	tr := &traffic{acked: map[string]string{}, received: map[string]int{}, bodies: map[string]string{}}
	var recv sync.WaitGroup
	for _, p := range pairs {
		recv.Add(1)
		go func(c *client.Client) {
			defer recv.Done()
			for m := range c.Messages() {
				tr.mu.Lock()
				tr.received[m.ID]++
				tr.bodies[m.ID] = m.Body
				tr.mu.Unlock()
			}
		}(p.to)
	}
	phase := func(name string, fault func()) {
		stop := make(chan struct{})
		var send sync.WaitGroup
		for i, p := range pairs {
			send.Add(1)
			go func() {
				defer send.Done()
				for k := 0; ; k++ {
					select {
					case <-stop:
						return
					default:
					}
					body := fmt.Sprintf("%s-%d-%d", name, i, k)
					c, cancel := context.WithTimeout(ctx, 5*time.Second)
					id, err := p.from.Send(c, p.to.UserID(), body)
					cancel()
					if err == nil {
						tr.mu.Lock()
						tr.acked[id] = body
						tr.mu.Unlock()
					}
					if errors.Is(err, client.ErrClosed) {
						return
					}
				}
			}()
		}
		acked := func() int { tr.mu.Lock(); defer tr.mu.Unlock(); return len(tr.acked) }
		before := acked()
		eventually(t, name+": traffic before the fault", func() bool { return acked() >= before+10*npairs })
		fault()
		mid := acked()
		eventually(t, name+": traffic after the fault", func() bool { return acked() >= mid+10*npairs })
		close(stop)
		send.Wait()

		// Every acknowledged message arrives, once.
		deadline := time.Now().Add(60 * time.Second)
		for {
			tr.mu.Lock()
			lost, dup, wrong := 0, 0, 0
			for id, body := range tr.acked {
				switch c := tr.received[id]; {
				case c == 0:
					lost++
				case c > 1:
					dup++
				case tr.bodies[id] != body:
					wrong++
				}
			}
			total := len(tr.acked)
			tr.mu.Unlock()
			if lost == 0 || time.Now().After(deadline) {
				t.Logf("%s: %d acknowledged, lost=%d dup=%d wrong=%d", name, total, lost, dup, wrong)
				if lost != 0 || dup != 0 || wrong != 0 {
					t.Fatalf("%s: lost=%d dup=%d wrong=%d of %d acknowledged", name, lost, dup, wrong, total)
				}
				break
			}
			time.Sleep(50 * time.Millisecond) // polling with a deadline
		}
	}
	phase("kill9", procs[1].kill)
	phase("drain", func() { procs[2].term(t) })
	for _, p := range pairs {
		p.to.Close()
	}
	recv.Wait()
}
