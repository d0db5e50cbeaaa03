package cluster_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/app/apptest"
	"github.com/parley-im/parley/client"
	"github.com/parley-im/parley/wire"
)

// NATS goes down while users on two nodes talk, then comes back:
//
//   - local delivery goes on (a and b2 on node 1 keep chatting);
//   - a message from node 1 to node 2 is stored and acknowledged as usual;
//   - /readyz says "degraded" (200) on both nodes, and node 1 counts the
//     publish that failed;
//   - when NATS is back, without reconnecting: the seed-style session on
//     node 2 gets the missed message through the claim + push path, and
//     the SDK session on node 2, whose user was also online on node 1 (so
//     the message was marked delivered there), gets it through sync_hint
//     and sync; both nodes count a reconnect and are ready again.
func TestNATSOutageAndRecovery(t *testing.T) {
	n := startNATS(t)
	nodes := startNodes(t, n.url(), 2)
	a := signUp(t, nodes[0], "13500000001")  // sender, node 1
	r := signUp(t, nodes[1], "13500000002")  // seed-style receiver, node 2
	s1 := signUp(t, nodes[0], "13500000003") // SDK user: raw session on node 1...
	befriend(t, a, r)
	befriend(t, a, s1)
	sdk, err := client.Dial(context.Background(), nodes[1].Addr(), client.WithRequestTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer sdk.Close()
	if _, err := sdk.Login(context.Background(), s1.id, password); err != nil { // ...and an SDK session on node 2
		t.Fatal(err)
	}
	drainGreetings(t, sdk)
	for _, u := range []*user{a, r, s1} {
		u.settle(t)
		u.take()
	}

	n.stop()
	for _, node := range nodes {
		waitReady(t, node, "degraded: ")
	}
	// Local delivery does not depend on NATS.
	a.call(t, map[string]any{"type": "send_message", "send_id": a.id, "receiver_id": s1.id, "message_body": "local during outage"})
	s1.settle(t)
	if !hasMessage(s1.take(), "local during outage") {
		t.Fatal("a local push was lost while NATS was down")
	}
	// Cross-node messages are stored and acknowledged.
	if m := a.call(t, map[string]any{"type": "send_message", "send_id": a.id, "receiver_id": r.id, "message_body": "cross during outage"}); m["message_id"] == "" {
		t.Fatalf("no message id: %v", m)
	}
	if v := metric(t, nodes[0], "parley_cluster_publish_failures_total"); v < 1 {
		t.Fatalf("publish failures on node 1 = %v, want at least 1", v)
	}

	n.start()
	for _, node := range nodes {
		waitReady(t, node, "ok")
	}
	// The seed session on node 2 gets it without reconnecting.
	for !hasMessage(r.pushes, "cross during outage") {
		b, err := r.c.ReadErr(15 * time.Second)
		if err != nil {
			t.Fatalf("node 2's seed session never got the message sent during the outage: %v", err)
		}
		r.pushes = append(r.pushes, b)
	}
	// The SDK session on node 2 gets the message node 1 pushed locally
	// during the outage, through the sync hint.
	select {
	case m := <-sdk.Messages():
		if m.Body != "local during outage" {
			t.Fatalf("SDK got %q", m.Body)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the SDK session on node 2 did not sync what it missed during the outage")
	}
	for _, node := range nodes {
		if v := metric(t, node, "parley_cluster_reconnects_total"); v < 1 {
			t.Errorf("%s: reconnects = %v", node, v)
		}
	}
}

func befriend(t *testing.T, a, b *user) {
	t.Helper()
	a.call(t, map[string]any{"type": "add_friend", "user_id": a.id, "friend_id": b.id})
	b.call(t, map[string]any{"type": "accept_friend", "user_id": b.id, "friend_id": a.id})
}

// drainGreetings takes the accept greetings the SDK synced after login.
func drainGreetings(t *testing.T, c *client.Client) {
	t.Helper()
	for {
		select {
		case m := <-c.Messages():
			if !strings.Contains(m.Body, "好友") {
				t.Fatalf("unexpected message %q", m.Body)
			}
		case <-time.After(500 * time.Millisecond):
			return
		}
	}
}

func hasMessage(frames [][]byte, body string) bool {
	for _, f := range frames {
		var m map[string]any
		if json.Unmarshal(f, &m) == nil && m["type"] == wire.TypeReceiveMessage && m["message_body"] == body {
			return true
		}
	}
	return false
}

// waitReady polls /readyz until its body starts with want.
func waitReady(t *testing.T, srv *apptest.Server, want string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + srv.AdminAddr() + "/readyz")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			last = string(b)
			if resp.StatusCode == http.StatusOK && strings.HasPrefix(last, want) {
				return
			}
		}
		time.Sleep(20 * time.Millisecond) // polling with a deadline
	}
	t.Fatalf("%s: /readyz = %q, want %q...", srv, last, want)
}

// metric reads one unlabelled sample from /metrics.
func metric(t *testing.T, srv *apptest.Server, name string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + srv.AdminAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^` + name + ` (\S+)$`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("%s: no %s in /metrics", srv, name)
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	return v
}
