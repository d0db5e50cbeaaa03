package app_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/parley-im/parley/app"
	"github.com/parley-im/parley/app/apptest"
	"github.com/parley-im/parley/config"
	"github.com/parley-im/parley/wire"
)

func ping(seq int) []byte { return []byte(fmt.Sprintf(`{"type":"ping","seq":%d}`, seq)) }

func expectPong(t *testing.T, c *apptest.Client, seq int) {
	t.Helper()
	m := c.Object()
	if m["type"] != "pong" || m["status"] != "success" || m["seq"] != float64(seq) {
		t.Fatalf("want pong %d, got %v", seq, m)
	}
}

func expectError(t *testing.T, c *apptest.Client, code string) map[string]any {
	t.Helper()
	m := c.Object()
	if m["status"] != "error" || m["code"] != code {
		t.Fatalf("want error %s, got %v", code, m)
	}
	return m
}

func TestStartStopLeavesNothingBehind(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	srv := apptest.Start(t)
	c := srv.Dial(t)
	c.Send(ping(1))
	expectPong(t, c, 1)
	addr := srv.Addr()
	srv.Stop(t)
	c.ExpectClosed(5 * time.Second)
	// The port is released: gev's Stop alone would keep it bound.
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("port still bound after stop: %v", err)
	}
	ln.Close()
}

func TestFramingEndToEnd(t *testing.T) {
	srv := apptest.Start(t)

	t.Run("100 pipelined frames in one write", func(t *testing.T) {
		c := srv.Dial(t)
		var buf []byte
		for i := 1; i <= 100; i++ {
			buf = wire.AppendFrame(buf, ping(i))
		}
		c.SendRaw(buf)
		for i := 1; i <= 100; i++ {
			expectPong(t, c, i)
		}
	})

	t.Run("one frame split across writes with pauses", func(t *testing.T) {
		c := srv.Dial(t)
		frame := wire.AppendFrame(nil, []byte("{\n    \"seq\": 7,\n    \"type\": \"ping\"\n}\n"))
		for _, cut := range [][2]int{{0, 2}, {2, 5}, {5, len(frame) - 1}, {len(frame) - 1, len(frame)}} {
			c.SendRaw(frame[cut[0]:cut[1]])
			time.Sleep(30 * time.Millisecond)
		}
		expectPong(t, c, 7)
	})

	t.Run("zero-length frame then a valid one", func(t *testing.T) {
		c := srv.Dial(t)
		c.SendRaw(wire.AppendFrame(wire.AppendFrame(nil, nil), ping(3)))
		expectError(t, c, wire.CodeBadRequest)
		expectPong(t, c, 3)
	})

	t.Run("bad JSON, non-object JSON, invalid UTF-8 and unknown type keep the connection", func(t *testing.T) {
		c := srv.Dial(t)
		for _, body := range []string{`{"type":`, `[{"type":"ping"}]`, `"ping"`, "{\"type\":\"p\xffng\"}", `{"type":"ping","seq":"x"}`} {
			c.Send([]byte(body))
			expectError(t, c, wire.CodeBadRequest)
		}
		// Before login, auth refuses every type it does not allow: an
		// unknown type is just one of them.
		c.Send([]byte(`{"type":"teleport","seq":4}`))
		expectError(t, c, wire.CodeUnauthenticated)
		c.Send(ping(5))
		expectPong(t, c, 5)
	})

	t.Run("oversize length closes that connection only", func(t *testing.T) {
		bad, good := srv.Dial(t), srv.Dial(t)
		good.Send(ping(1))
		expectPong(t, good, 1)
		bad.SendRaw(binary.BigEndian.AppendUint32(nil, uint32(srv.Config.Transport.MaxFrame)+1))
		bad.ExpectClosed(5 * time.Second)
		good.Send(ping(2))
		expectPong(t, good, 2)
	})
}

func TestUnknownTypeWithoutAuth(t *testing.T) {
	// With auth removed from the YAML chain, the router answers unknown
	// types itself, and the connection stays usable.
	srv := apptest.Start(t, apptest.WithConfig(func(c *config.Config) {
		c.Pipeline = slices.DeleteFunc(c.Pipeline, func(s config.Middleware) bool { return s.Use == "auth" })
	}))
	c := srv.Dial(t)
	c.Send([]byte(`{"type":"teleport","seq":4}`))
	m := expectError(t, c, wire.CodeUnknownType)
	if m["type"] != "teleport" || m["seq"] != float64(4) {
		t.Fatalf("unknown type reply %v", m)
	}
	c.Send(ping(5))
	expectPong(t, c, 5)
}

func TestAddUserCommandCreatesALoginableAccount(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "parley.yaml")
	dbPath := filepath.Join(dir, "parley.db")
	cfgText := fmt.Sprintf("server:\n  listen: 127.0.0.1:0\nadmin:\n  listen: \"\"\nweb:\n  listen: \"\"\n  ws_listen: \"\"\ndb:\n  driver: sqlite\n  dsn: %s\n", dbPath)
	if err := os.WriteFile(cfgPath, []byte(cfgText), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	code := app.AddUserCommand(cfgPath, []string{"-id", "13800000000", "-name", "alice"}, strings.NewReader("s3cret'pw\n"), &out, &errOut)
	if code != 0 || !strings.Contains(out.String(), "created user 13800000000") {
		t.Fatalf("adduser exit %d, out %q, err %q", code, out.String(), errOut.String())
	}
	// A second run refuses the duplicate and says why.
	errOut.Reset()
	if code := app.AddUserCommand(cfgPath, []string{"-id", "13800000000", "-name", "alice"}, strings.NewReader("x\n"), &out, &errOut); code == 0 || !strings.Contains(errOut.String(), wire.CodeConflict) {
		t.Fatalf("duplicate adduser exit %d, err %q", code, errOut.String())
	}

	srv := apptest.Start(t, apptest.WithDriver("sqlite"), apptest.WithConfig(func(c *config.Config) { c.DB.DSN = dbPath }))
	c := srv.Dial(t)
	c.Send(apptest.QtJSON(map[string]any{"type": "login", "user_id": "13800000000", "user_password": "s3cret'pw", "want_token": true}))
	var reply []map[string]any
	c.ReadJSON(&reply)
	if len(reply) != 1 || reply[0]["status"] != "success" || reply[0]["user_id"] != "13800000000" {
		t.Fatalf("login after adduser: %v", reply)
	}
	token, _ := reply[0]["token"].(string)
	resume := func() map[string]any {
		rc := srv.Dial(t)
		rc.Send([]byte(`{"type":"resume","token":"` + token + `"}`))
		return rc.Object()
	}
	if m := resume(); token == "" || m["status"] != "success" {
		t.Fatalf("resume before revoke (token %q): %v", token, m)
	}
	out.Reset()
	if code := app.RevokeCommand(cfgPath, []string{"-id", "13800000000"}, &out, &errOut); code != 0 {
		t.Fatalf("revoke exit %d: %s", code, errOut.String())
	}
	if m := resume(); m["status"] != "error" {
		t.Fatalf("resume after revoke: %v", m)
	}
}

func TestNewReportsConfigErrors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(path, []byte("server:\n  lisen: \":1\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := app.New(path).Start(context.Background())
	if err == nil || !strings.Contains(err.Error(), "bad.yaml:2") {
		t.Fatalf("want a file:line error, got %v", err)
	}
}

func TestExampleConfigStarts(t *testing.T) {
	// parley.example.yaml documents every key and every shipped middleware
	// option; it must also be a configuration the server really accepts.
	ex, err := config.Load("../parley.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	srv := apptest.Start(t, apptest.WithConfig(func(c *config.Config) { c.Pipeline = ex.Pipeline }))
	c := srv.Dial(t)
	c.Send(ping(1))
	expectPong(t, c, 1)
}
