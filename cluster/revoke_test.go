package cluster_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/app"
	"github.com/parley-im/parley/wire"
)

// `parleyd revoke` takes effect on every node at once: the user's sessions
// on both nodes are closed (not only the tokens refused at the next
// resume), and a resume with the old token fails on any node.
func TestRevokeClosesSessionsOnEveryNode(t *testing.T) {
	n := startNATS(t)
	nodes := startNodes(t, n.url(), 2)
	u1 := signUp(t, nodes[0], "13300000001")
	u2 := &user{id: u1.id, c: nodes[1].Dial(t)}
	u2.login(t)
	other := signUp(t, nodes[1], "13300000002") // must stay connected

	cfg := filepath.Join(t.TempDir(), "parley.yaml")
	yaml := fmt.Sprintf("db: {driver: postgres, dsn: %q}\ncluster: {nats_url: %q, subject_prefix: %s}\n",
		nodes[0].Config.DB.DSN, n.url(), nodes[0].Config.Cluster.SubjectPrefix)
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := app.RevokeCommand(cfg, []string{"-id", u1.id}, &out, &errb); code != 0 {
		t.Fatalf("revoke exited %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "every node") {
		t.Fatalf("revoke said %q", out.String())
	}
	u1.c.ExpectClosed(10 * time.Second)
	u2.c.ExpectClosed(10 * time.Second)
	other.settle(t)

	for _, node := range nodes {
		r := &user{id: u1.id, c: node.Dial(t)}
		if m := r.try(t, map[string]any{"type": "resume", "token": u1.token}); m["code"] != wire.CodeUnauthenticated {
			t.Fatalf("%s: resume with a revoked token: %v", node, m)
		}
	}
	// The password still works (revoke is not a lockout).
	again := &user{id: u1.id, c: nodes[1].Dial(t)}
	again.login(t)
}
