package app_test

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/app/apptest"
)

// scrape reads /metrics from the admin server into "name{labels}" → value.
func scrape(t *testing.T, srv *apptest.Server) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + srv.AdminAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("/metrics: %s %s", resp.Status, b)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("bad metrics line %q", line)
		}
		out[line[:i]] = v
	}
	return out
}

// sentAtLeast scrapes once frames_sent has reached n: a frame is counted
// when the loop has written it, which can be just after the client read it.
// The test counts the frames its clients read, so it knows n; waiting for
// the counter to go quiet instead guessed at the load.
func sentAtLeast(t *testing.T, srv *apptest.Server, n int) map[string]float64 {
	t.Helper()
	var m map[string]float64
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if m = scrape(t, srv); m[`parley_frames_sent_total`] >= float64(n) {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("frames_sent %v, want %d", m[`parley_frames_sent_total`], n)
		}
	}
}

func TestMetricsAfterRealTraffic(t *testing.T) {
	srv := apptest.Start(t)
	alice, bob := srv.Dial(t), srv.Dial(t)
	reads := 0 // every frame the clients read: each one the server sent
	read := func(c *apptest.Client) []byte { reads++; return c.Read() }
	call := func(c *apptest.Client, fields map[string]any) {
		t.Helper()
		c.Send(apptest.QtJSON(fields))
		body := string(read(c))
		if !strings.Contains(body, `"status":"success"`) {
			t.Fatalf("%v: %s", fields["type"], body)
		}
	}
	call(alice, map[string]any{"type": "register", "user_name": "alice", "user_password": "pw", "user_phone": "111"})
	call(alice, map[string]any{"type": "register", "user_name": "bob", "user_password": "pw", "user_phone": "222"})
	call(alice, map[string]any{"type": "login", "user_id": "111", "user_password": "pw"})
	call(bob, map[string]any{"type": "login", "user_id": "222", "user_password": "pw"})
	call(alice, map[string]any{"type": "add_friend", "user_id": "111", "friend_id": "222"})
	read(bob) // the friends list pushed to bob
	call(bob, map[string]any{"type": "accept_friend", "user_id": "222", "friend_id": "111"})
	read(alice) // the greeting
	read(alice) // the chat list pushed to alice
	// A ping on each connection: the pong comes after every push the
	// friendship queued for it, so once both pongs are read, every frame
	// sent so far has been read (and counted in reads).
	for _, c := range []*apptest.Client{alice, bob} {
		c.Send([]byte(`{"type":"ping"}`))
		for !strings.Contains(string(read(c)), `"type":"pong"`) {
		}
	}

	before := sentAtLeast(t, srv, reads)
	const sends = 5
	for i := range sends {
		call(alice, map[string]any{
			"type": "send_message", "send_id": "111", "receiver_id": "222", "chat_type": "friend",
			"file_path": " ", "message_type": "text", "message_body": fmt.Sprint("hi ", i),
			"message_timestamp": "2025-07-14 11:00:00",
		})
		if push := string(read(bob)); !strings.Contains(push, `"type":"receive_message"`) {
			t.Fatalf("push: %s", push)
		}
	}
	alice.Send([]byte(`{"type":"friends","user_id":"222"}`)) // someone else's list: forbidden
	if body := string(read(alice)); !strings.Contains(body, `"code":"forbidden"`) {
		t.Fatalf("want forbidden, got %s", body)
	}
	after := sentAtLeast(t, srv, reads)

	delta := func(name string) float64 { return after[name] - before[name] }
	for _, c := range []struct {
		name string
		want float64
	}{
		{`parley_frames_in_total{type="send_message"}`, sends},
		{`parley_frames_out_total{outcome="ok",type="send_message"}`, sends},
		{`parley_handler_seconds_count{type="send_message"}`, sends},
		{`parley_refusals_total{code="forbidden",type="friends"}`, 1},
		{`parley_pushes_total`, sends},
		{`parley_messages_stored_total`, sends},
		{`parley_frames_sent_total`, 2*sends + 1}, // acks, pushes, the refusal
	} {
		if got := delta(c.name); got != c.want {
			t.Errorf("%s grew by %v, want %v", c.name, got, c.want)
		}
	}
	for _, c := range []struct {
		name string
		want float64
	}{
		{`parley_connections`, 2},
		{`parley_sessions_online`, 2},
		{`parley_frames_in_total{type="login"}`, 2},
		{`parley_frames_in_total{type="register"}`, 2},
	} {
		if got := after[c.name]; got != c.want {
			t.Errorf("%s = %v, want %v", c.name, got, c.want)
		}
	}
	if after[`parley_writer_batches_total`] < 1 {
		t.Error("parley_writer_batches_total did not count the commits")
	}
	for _, name := range []string{`go_sql_open_connections{db_name="parley"}`, `parley_dispatch_queue_depth`, `parley_writer_pending`, `go_goroutines`} {
		if _, ok := after[name]; !ok {
			t.Errorf("%s missing from /metrics", name)
		}
	}
}

// TestCloseReasonsExported: a connection the server closes for an oversize
// length prefix is counted under its reason on /metrics, and one the client
// closes under peer; every reason is exported from the start (at 0), so a
// dashboard's rate() has a series before the first incident.
func TestCloseReasonsExported(t *testing.T) {
	srv := apptest.Start(t)
	const oversize, peer = `parley_connections_closed_total{reason="frame_too_large"}`, `parley_connections_closed_total{reason="peer"}`
	before := scrape(t, srv)
	for _, name := range []string{oversize, peer, `parley_connections_closed_total{reason="slow_consumer"}`, `parley_connections_closed_total{reason="flood"}`} {
		if _, ok := before[name]; !ok {
			t.Fatalf("%s not exported before any close", name)
		}
	}

	bad := srv.Dial(t)
	bad.SendRaw(binary.BigEndian.AppendUint32(nil, uint32(srv.Config.Transport.MaxFrame)+1))
	bad.ExpectClosed(5 * time.Second)
	leaver := srv.Dial(t)
	leaver.Send([]byte(`{"type":"ping","seq":1}`))
	leaver.Read()
	leaver.Conn.Close()

	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		m := scrape(t, srv)
		if m[oversize] == before[oversize]+1 && m[peer] >= before[peer]+1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("oversize %v → %v (want +1), peer %v → %v (want ≥ +1)", before[oversize], m[oversize], before[peer], m[peer])
		}
	}
}
