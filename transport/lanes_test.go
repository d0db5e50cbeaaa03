package transport

import (
	"bytes"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/config"
	"github.com/parley-im/parley/session"
)

// laneServer is a FrameServer standing in for the pipeline: "login NAME"
// binds the session and answers "ok", "hash" waits until release is closed
// (a login stuck on the password-hash semaphore), anything else is echoed.
type laneServer struct {
	reg     *session.Registry
	release chan struct{}
	waiting chan struct{} // one token per "hash" frame that started waiting
}

func (l *laneServer) Serve(ctx context.Context, s *session.Session, body []byte) {
	switch {
	case bytes.HasPrefix(body, []byte("login ")):
		l.reg.Bind(s, string(body[len("login "):]))
		_ = s.Send([]byte("ok"))
	case string(body) == "hash":
		l.waiting <- struct{}{}
		select {
		case <-l.release:
		case <-ctx.Done():
		}
		_ = s.Send([]byte("hashed"))
	default:
		_ = s.Send(body)
	}
}

// TestLoginLaneCannotStarveUsers: with every login-lane worker held by
// frames of anonymous sessions (logins waiting for a hash slot) and more
// anonymous frames queued behind them, frames of logged-in sessions still
// run at once on their own lane; the anonymous queue drains once the hash
// waits end.
func TestLoginLaneCannotStarveUsers(t *testing.T) {
	const loginWorkers = 2
	reg := session.NewRegistry()
	ls := &laneServer{reg: reg, release: make(chan struct{}), waiting: make(chan struct{}, 16)}
	cfg := config.Transport{Loops: 2, Workers: 2, LoginWorkers: loginWorkers, MaxFrame: 64 << 10}
	srv := startServerWith(t, cfg, reg, ls)
	released := false
	t.Cleanup(func() { // runs before startServerWith's Stop (cleanups run last-in first-out)
		if !released {
			close(ls.release)
		}
	})
	if st := srv.Stats(); st.Workers != 2 || st.LoginWorkers != loginWorkers {
		t.Fatalf("Stats workers = %d/%d, want 2/%d", st.Workers, st.LoginWorkers, loginWorkers)
	}

	// Two users log in while the login lane is free.
	users := make([]net.Conn, 2)
	for i := range users {
		users[i] = dial(t, srv.Addr())
		write(t, users[i], frames([]byte("login user"+string(rune('a'+i)))))
		if got := readFrame(t, users[i]); string(got) != "ok" {
			t.Fatalf("login reply %q", got)
		}
	}

	// Saturate the login lane: one "hash" per login worker holds it, and
	// three more anonymous connections queue behind them.
	var anon []net.Conn
	for range loginWorkers + 3 {
		c := dial(t, srv.Addr())
		write(t, c, frames([]byte("hash")))
		anon = append(anon, c)
	}
	for range loginWorkers {
		select {
		case <-ls.waiting:
		case <-time.After(5 * time.Second):
			t.Fatal("login workers never started the hash frames")
		}
	}
	eventually(t, 5*time.Second, "the surplus anonymous frames to queue", func() bool {
		return srv.Stats().Queued == 3
	})

	// Logged-in users are served while the login lane is full.
	for round := range 20 {
		for i, u := range users {
			msg := []byte("message " + strings.Repeat("x", round) + string(rune('a'+i)))
			write(t, u, frames(msg))
			if got := readFrame(t, u); !bytes.Equal(got, msg) {
				t.Fatalf("user %d round %d: got %q", i, round, got)
			}
		}
	}
	// A brand-new anonymous session still waits: the lane really is full.
	late := dial(t, srv.Addr())
	write(t, late, frames([]byte("hello")))
	_ = late.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if _, err := late.Read(make([]byte, 1)); err == nil {
		t.Fatal("an anonymous frame ran although every login worker was held")
	}
	if n := len(ls.waiting); n != 0 {
		t.Fatalf("%d more hash frames started while the lane was full", n)
	}

	close(ls.release)
	released = true
	for i, c := range anon {
		if got := readFrame(t, c); string(got) != "hashed" {
			t.Fatalf("anonymous %d: got %q", i, got)
		}
	}
	if got := readFrame(t, late); string(got) != "hello" {
		t.Fatalf("late anonymous: got %q", got)
	}
}

// TestLaneSwitchKeepsOrder: frames sent right behind a login, in the same
// write, run after it and in order, although the login runs on the login
// lane and the frames after it on the user lane.
func TestLaneSwitchKeepsOrder(t *testing.T) {
	reg := session.NewRegistry()
	ls := &laneServer{reg: reg, release: make(chan struct{}), waiting: make(chan struct{}, 16)}
	close(ls.release)
	srv := startServerWith(t, config.Transport{Loops: 2, Workers: 4, LoginWorkers: 4, MaxFrame: 64 << 10}, reg, ls)
	for k := range 20 {
		c := dial(t, srv.Addr())
		bodies := [][]byte{[]byte("before"), []byte("login u" + string(rune('a'+k)))}
		for i := range 50 {
			bodies = append(bodies, []byte{'m', byte('0' + i/10), byte('0' + i%10)})
		}
		write(t, c, frames(bodies...))
		for i, want := range bodies {
			if i == 1 {
				want = []byte("ok")
			}
			if got := readFrame(t, c); !bytes.Equal(got, want) {
				t.Fatalf("conn %d frame %d: got %q, want %q", k, i, got, want)
			}
		}
		_ = c.Close()
	}
}
