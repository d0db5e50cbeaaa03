package cluster_test

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"

	"github.com/parley-im/parley/app/apptest"
	"github.com/parley-im/parley/config"
	"github.com/parley-im/parley/wire"
)

// natsd is a NATS server embedded in the test process, so the cluster tests
// need nothing but PostgreSQL. It can be stopped and started again on the
// same port (an outage).
type natsd struct {
	t    testing.TB
	port int
	srv  *natsserver.Server
}

func startNATS(t testing.TB) *natsd {
	n := &natsd{t: t, port: -1}
	n.start()
	n.port = n.srv.Addr().(*net.TCPAddr).Port
	t.Cleanup(n.stop)
	return n
}

func (n *natsd) start() {
	n.t.Helper()
	srv, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: n.port, NoLog: true, NoSigs: true})
	if err != nil {
		n.t.Fatal(err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		n.t.Fatal("embedded NATS did not start")
	}
	n.srv = srv
}

func (n *natsd) stop() {
	if n.srv != nil {
		n.srv.Shutdown()
		n.srv.WaitForShutdown()
		n.srv = nil
	}
}

func (n *natsd) url() string { return fmt.Sprintf("nats://127.0.0.1:%d", n.port) }

// randomPrefix keeps concurrent tests on one NATS from hearing each other.
func randomPrefix() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "t" + hex.EncodeToString(b[:])
}

// startNodes starts n parleyd nodes in this process, sharing one fresh
// PostgreSQL schema and the NATS at url.
func startNodes(t *testing.T, url string, n int, opts ...apptest.Option) []*apptest.Server {
	t.Helper()
	dsn := apptest.PostgresSchema(t)
	prefix := randomPrefix()
	nodes := make([]*apptest.Server, n)
	for i := range nodes {
		o := append([]apptest.Option{apptest.WithDriver("postgres"), apptest.WithConfig(func(c *config.Config) {
			c.DB.DSN = dsn
			c.Cluster.NATSURL = url
			c.Cluster.Node = fmt.Sprint("node", i+1)
			c.Cluster.SubjectPrefix = prefix
			noRateLimit(c)
		})}, opts...)
		nodes[i] = apptest.Start(t, o...)
	}
	return nodes
}

// startSingle starts one node without a cluster, on PostgreSQL: the
// reference the cluster's behaviour is compared with.
func startSingle(t *testing.T) *apptest.Server {
	return apptest.Start(t, apptest.WithDriver("postgres"), apptest.WithConfig(noRateLimit))
}

func noRateLimit(c *config.Config) {
	c.Pipeline = slices.DeleteFunc(c.Pipeline, func(s config.Middleware) bool { return s.Use == "ratelimit" })
	c.Transport.HeartbeatTimeout = time.Hour
}

const password = "correct horse battery"

// user is a raw protocol connection logged in as one user.
type user struct {
	id    string
	c     *apptest.Client
	seq   int
	token string
	// pushes collects every frame that is not the reply to one of this
	// user's requests, in arrival order.
	pushes [][]byte
}

// signUp registers id on srv and logs in there.
func signUp(t *testing.T, srv *apptest.Server, id string) *user {
	t.Helper()
	u := &user{id: id, c: srv.Dial(t)}
	u.call(t, map[string]any{"type": "register", "user_phone": id, "user_name": "user " + id, "user_password": password})
	u.login(t)
	return u
}

// login logs u in on its connection (seed style: the reply is an array).
func (u *user) login(t *testing.T) {
	t.Helper()
	u.c.Send(apptest.QtJSON(map[string]any{"type": "login", "user_id": u.id, "user_password": password, "want_token": true}))
	for {
		b := u.c.Read()
		var reply []map[string]any
		if json.Unmarshal(b, &reply) == nil && len(reply) == 1 && reply[0]["type"] == wire.TypeLogin {
			if reply[0]["status"] != wire.StatusSuccess {
				t.Fatalf("login %s: %s", u.id, b)
			}
			u.token, _ = reply[0]["token"].(string)
			return
		}
		u.pushes = append(u.pushes, b)
	}
}

// call sends a request with the next seq and returns its reply; frames
// before it are pushes. An error reply fails the test.
func (u *user) call(t *testing.T, req map[string]any) map[string]any {
	t.Helper()
	m := u.try(t, req)
	if m["status"] != wire.StatusSuccess {
		t.Fatalf("%s %v: %v", u.id, req, m)
	}
	return m
}

func (u *user) try(t *testing.T, req map[string]any) map[string]any {
	t.Helper()
	u.seq++
	req["seq"] = u.seq
	body, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	u.c.Send(body)
	for {
		b := u.c.Read()
		var m map[string]any
		if json.Unmarshal(b, &m) == nil && m["seq"] == float64(u.seq) {
			return m
		}
		u.pushes = append(u.pushes, b)
	}
}

// settle pings and keeps what came before the pong as pushes.
func (u *user) settle(t *testing.T) { u.call(t, map[string]any{"type": "ping"}) }

// take returns the pushes collected so far and forgets them.
func (u *user) take() [][]byte {
	p := u.pushes
	u.pushes = nil
	return p
}
