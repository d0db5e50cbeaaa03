package cluster_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/parley-im/parley/cluster"
	"github.com/parley-im/parley/config"
	"github.com/parley-im/parley/session"
)

type countConn struct {
	mu     sync.Mutex
	frames [][]byte
}

func (c *countConn) Send(b []byte) error {
	c.mu.Lock()
	c.frames = append(c.frames, append([]byte(nil), b...))
	c.mu.Unlock()
	return nil
}
func (c *countConn) Close() error { return nil }
func (c *countConn) count() int   { c.mu.Lock(); defer c.mu.Unlock(); return len(c.frames) }

func startDirectory(t testing.TB, url, prefix, node string) *cluster.Directory {
	t.Helper()
	cfg := config.Default().Cluster
	cfg.NATSURL, cfg.SubjectPrefix, cfg.Node = url, prefix, node
	d := cluster.New(cfg, nil)
	if err := d.Start(cluster.Hooks{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Stop(t.Context()) })
	return d
}

func eventually(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond) // polling with a deadline
	}
}

// A group fan-out is one NATS publish whatever the member count: each node
// delivers it to the members it holds (a member on both nodes gets it on
// both), and the count DeliverMany returns is this node's sessions.
func TestDeliverManyIsOnePublishForEveryNode(t *testing.T) {
	n := startNATS(t)
	prefix := randomPrefix()
	a := startDirectory(t, n.url(), prefix, "a")
	b := startDirectory(t, n.url(), prefix, "b")

	watch, err := nats.Connect(n.url())
	if err != nil {
		t.Fatal(err)
	}
	defer watch.Close()
	var published atomic.Int64
	if _, err := watch.Subscribe(prefix+".many", func(*nats.Msg) { published.Add(1) }); err != nil {
		t.Fatal(err)
	}
	if err := watch.Flush(); err != nil {
		t.Fatal(err)
	}

	conns := map[string]*countConn{}
	bind := func(d *cluster.Directory, key, user string) {
		c := &countConn{}
		conns[key] = c
		d.Bind(session.New(uint64(len(conns)), "p", c), user)
	}
	bind(a, "u1@a", "u1")
	bind(b, "u2@b", "u2")
	bind(a, "u3@a", "u3")
	bind(b, "u3@b", "u3")
	members := []string{"u1", "u2", "u3", "u4"} // u4 is online nowhere
	for i := range 100 {
		members = append(members, "x"+string(rune('a'+i%26))+string(rune('a'+i/26)))
	}
	if got := a.DeliverMany(members, []byte("group")); got != 2 {
		t.Fatalf("DeliverMany reached %d sessions on node a, want 2", got)
	}
	eventually(t, "node b's members", func() bool { return conns["u2@b"].count() == 1 && conns["u3@b"].count() == 1 })
	if err := watch.Flush(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the publish count", func() bool { return published.Load() == 1 })
	for k, c := range conns {
		if c.count() != 1 {
			t.Errorf("%s got %d frames, want 1", k, c.count())
		}
	}
}

// Presence follows the registry: a user's subscription exists on a node
// exactly while they have a session there, so Online and Deliver from
// another node see them come and go, and a node that dies (its NATS
// connection closed) stops answering for its users at once.
func TestPresenceFollowsSessionsAndDiesWithTheNode(t *testing.T) {
	n := startNATS(t)
	prefix := randomPrefix()
	a := startDirectory(t, n.url(), prefix, "a")
	b := startDirectory(t, n.url(), prefix, "b")
	if a.Online("u") {
		t.Fatal("online before any login")
	}
	c := &countConn{}
	s := session.New(1, "p", c)
	b.Bind(s, "u")
	if !a.Online("u") || a.Deliver("u", []byte("x")) != 1 || c.count() != 1 {
		t.Fatal("a session on b is not reachable from a")
	}
	b.Local().Remove(s)
	// The unsubscribe reaches NATS asynchronously (a logout does not wait
	// for it); once it has, a push to the user reaches nobody, and a
	// push answered by nobody also clears a's "online elsewhere" memory.
	eventually(t, "the last session's unsubscribe", func() bool { return a.Deliver("u", []byte("y")) == 0 })
	if a.Online("u") {
		t.Fatal("the user stayed online after their last session left")
	}
	if st := b.Stats(); st.Subscribes != 1 || st.Unsubscribes != 1 || st.Subscriptions != 0 {
		t.Fatalf("b stats %+v", st)
	}
	s2 := session.New(2, "p", &countConn{})
	b.Bind(s2, "u")
	if !a.Online("u") {
		t.Fatal("not online again")
	}
	_ = b.Stop(t.Context()) // the node dies: NATS drops its subscriptions
	if n := a.Deliver("u", []byte("z")); n != 0 {
		t.Fatalf("a push to a dead node's user reached %d sessions", n)
	}
	if a.Online("u") {
		t.Fatal("a dead node's user still looks online")
	}
}

// The NATS options pass through: a credentials file or a TLS CA that does
// not exist stops the node at start-up with the key that names it, rather
// than a node that silently runs alone.
func TestMissingCredentialsOrCAFailStart(t *testing.T) {
	for key, set := range map[string]func(*config.Cluster){
		"cluster.credentials": func(c *config.Cluster) { c.Credentials = "/nonexistent/parley.creds" },
		"cluster.tls_ca":      func(c *config.Cluster) { c.TLSCA = "/nonexistent/ca.pem" },
	} {
		cfg := config.Default().Cluster
		cfg.NATSURL = "nats://127.0.0.1:1"
		set(&cfg)
		err := cluster.New(cfg, nil).Start(cluster.Hooks{})
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%s: Start = %v, want an error naming it", key, err)
		}
	}
}

// goneConn is a connection that refuses every frame: a session whose
// socket is gone but which is still bound (the instant between a
// connection's end and its removal).
type goneConn struct{}

func (goneConn) Send([]byte) error { return errors.New("closed") }
func (goneConn) Close() error      { return nil }

// startRecordingMisses starts node "a", whose Hooks.Undeliver sends every
// message id given back to the channel it returns.
func startRecordingMisses(t *testing.T, url, prefix string) (*cluster.Directory, chan int64) {
	t.Helper()
	undelivered := make(chan int64, 16)
	cfg := config.Default().Cluster
	cfg.NATSURL, cfg.SubjectPrefix, cfg.Node = url, prefix, "a"
	a := cluster.New(cfg, nil)
	if err := a.Start(cluster.Hooks{Undeliver: func(_ context.Context, id int64) error {
		undelivered <- id
		return nil
	}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Stop(t.Context()) })
	return a, undelivered
}

// A message push to another node is published without waiting and counted
// as reached; only misses come back, each naming its message, and each is
// given back to the catch-up through Hooks.Undeliver: a holding node whose
// sessions no longer take it answers "0", and NATS answers for a user no
// node subscribes to. A push that a session took is never answered.
func TestMessagePushesReportOnlyMisses(t *testing.T) {
	n := startNATS(t)
	prefix := randomPrefix()
	a, undelivered := startRecordingMisses(t, n.url(), prefix)
	b := startDirectory(t, n.url(), prefix, "b")

	c := &countConn{}
	s := session.New(1, "p", c)
	b.Bind(s, "u")
	if got := a.DeliverMessage("u", 1, []byte("taken")); got != 1 {
		t.Fatalf("DeliverMessage to a user on b = %d, want 1 (counted as reached)", got)
	}
	eventually(t, "the push on b", func() bool { return c.count() == 1 })

	// Bound on b, but the session refuses the frame: b answers "0".
	gone := session.New(2, "p", goneConn{})
	b.Bind(gone, "v")
	if got := a.DeliverMessage("v", 2, []byte("refused")); got != 1 {
		t.Fatalf("DeliverMessage to v = %d, want 1", got)
	}
	// Online nowhere: NATS answers "no responders".
	if got := a.DeliverMessage("w", 3, []byte("nobody")); got != 1 {
		t.Fatalf("DeliverMessage to w = %d, want 1", got)
	}
	// Misses are served in arrival order by one subscription, and b
	// answers in the order it got the pushes: had b answered message 1,
	// that answer would have come before its "0" for message 2.
	got := map[int64]bool{}
	for len(got) < 2 {
		select {
		case id := <-undelivered:
			if id != 2 && id != 3 || got[id] {
				t.Fatalf("message %d given back (so far %v), want 2 and 3 once each", id, got)
			}
			got[id] = true
		case <-time.After(10 * time.Second):
			t.Fatalf("given back %v, want 2 and 3", got)
		}
	}
	if st := a.Stats(); st.Misses != 2 {
		t.Fatalf("misses = %d, want 2", st.Misses)
	}
	if a.Online("w") {
		t.Fatal("a user nobody holds looks online after a miss")
	}
}

// A user whose last session on one node has just gone (the node still
// holds their subscription) and who is already logged in on another: a
// message push reaches both nodes, the second delivers it, and the first
// must not report a miss, which would give the message back to a catch-up
// that could send it again (a seed client's logout on b then login on c).
// Once no other node holds the user, the first node's "0" comes back.
func TestMissIsNotReportedWhileAnotherNodeHoldsTheUser(t *testing.T) {
	n := startNATS(t)
	prefix := randomPrefix()
	a, undelivered := startRecordingMisses(t, n.url(), prefix)
	b := startDirectory(t, n.url(), prefix, "b")
	c := startDirectory(t, n.url(), prefix, "c")

	b.Bind(session.New(1, "p", goneConn{}), "u") // subscribed on b, no live session
	onC := &countConn{}
	sc := session.New(2, "p", onC)
	c.Bind(sc, "u")
	if got := a.DeliverMessage("u", 7, []byte("on c")); got != 1 {
		t.Fatalf("DeliverMessage = %d, want 1", got)
	}
	eventually(t, "the push on c", func() bool { return onC.count() == 1 })

	// b serves u's pushes in order on one lane, and answers on one
	// connection: had it answered "0" for message 7, that answer would
	// reach a before its answer for message 9.
	c.Local().Remove(sc)
	eventually(t, "c's unsubscribe", func() bool { return c.Stats().Subscriptions == 0 })
	if got := a.DeliverMessage("u", 9, []byte("nobody live")); got != 1 {
		t.Fatalf("DeliverMessage = %d, want 1", got)
	}
	select {
	case id := <-undelivered:
		if id != 9 {
			t.Fatalf("message %d was given back, want only 9 (7 reached c)", id)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("message 9, which no session took, was never given back")
	}
}
