package transport

import (
	"context"
	"testing"
	"time"

	"github.com/parley-im/parley/session"
)

// pingAware marks the session as a heartbeat speaker on "ping" (what
// handlers.Ping does) and echoes everything.
var pingAware = serveFunc(func(_ context.Context, s *session.Session, body []byte) {
	if string(body) == "ping" {
		s.MarkPinged()
	}
	_ = s.Send(body)
})

func TestHeartbeatTimeoutOnlyForClientsThatPinged(t *testing.T) {
	cfg := testConfig()
	cfg.HeartbeatTimeout = 200 * time.Millisecond
	srv := startServer(t, cfg, pingAware)
	pinger, legacy := dial(t, srv.Addr()), dial(t, srv.Addr())
	write(t, pinger, frames([]byte("ping")))
	readFrame(t, pinger)
	write(t, legacy, frames([]byte("hello")))
	readFrame(t, legacy)
	start := time.Now()
	expectClosed(t, pinger, 2*time.Second)
	if waited := time.Since(start); waited < 150*time.Millisecond {
		t.Fatalf("closed after %v, before the heartbeat timeout", waited)
	}
	// A positive control instead of a sleep: a pinger whose last frame comes
	// after legacy's. Once it is closed, legacy has been silent longer than
	// the heartbeat timeout too, whatever the load.
	control := dial(t, srv.Addr())
	write(t, control, frames([]byte("ping")))
	readFrame(t, control)
	expectClosed(t, control, 2*time.Second)
	write(t, legacy, frames([]byte("still here")))
	if got := readFrame(t, legacy); string(got) != "still here" {
		t.Fatalf("got %s", got)
	}
	if st := srv.Stats(); st.HeartbeatTimeout != 2 || st.IdleTimeout != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestLegacyIdle(t *testing.T) {
	cfg := testConfig()
	cfg.LegacyIdle = 300 * time.Millisecond
	srv := startServer(t, cfg, pingAware)
	idle, chatty := dial(t, srv.Addr()), dial(t, srv.Addr())
	// The chatty client talks until the idle one is closed, every 10ms
	// (pacing): only a stall near LegacyIdle could make it look idle, where
	// a fixed count of 100ms steps left the last one 200ms of slack.
	done, stop := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := chatty.Write(frames([]byte("hi"))); err != nil {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	expectClosed(t, idle, 2*time.Second)
	close(stop)
	<-done
	if st := srv.Stats(); st.IdleTimeout != 1 || st.Conns != 1 {
		t.Fatalf("the chatty client was closed too: %+v", st)
	}
}

// TestLegacyIdleCountsOutput: a client that never pings and only receives
// (a seed user reading pushes) is not idle while frames go out to it, and is
// closed once both directions have been quiet for LegacyIdle.
func TestLegacyIdleCountsOutput(t *testing.T) {
	cfg := testConfig()
	cfg.LegacyIdle = 300 * time.Millisecond
	pushes := make(chan *session.Session, 1)
	srv := startServer(t, cfg, serveFunc(func(_ context.Context, s *session.Session, body []byte) {
		if string(body) == "subscribe" {
			pushes <- s
		}
	}))
	reader := dial(t, srv.Addr())
	write(t, reader, frames([]byte("subscribe")))
	s := <-pushes
	// Pushes for 3 x LegacyIdle, the client sending nothing; one every 20ms
	// (pacing), so only a stall near LegacyIdle leaves a quiet gap.
	for start := time.Now(); time.Since(start) < 3*cfg.LegacyIdle; {
		if err := s.Send([]byte("push")); err != nil {
			t.Fatalf("send: %v", err)
		}
		if got := readFrame(t, reader); string(got) != "push" {
			t.Fatalf("got %s", got)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if st := srv.Stats(); st.IdleTimeout != 0 {
		t.Fatalf("a client receiving pushes was closed as idle: %+v", st)
	}
	expectClosed(t, reader, 2*time.Second)
	if st := srv.Stats(); st.IdleTimeout != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// TestBusySessionIsNotIdle: frames waiting behind a slow handler count as
// activity, whatever LastSeen says.
func TestBusySessionIsNotIdle(t *testing.T) {
	cfg := testConfig()
	cfg.HeartbeatTimeout = 100 * time.Millisecond
	srv := startServer(t, cfg, serveFunc(func(ctx context.Context, s *session.Session, body []byte) {
		if string(body) == "slow" {
			time.Sleep(400 * time.Millisecond)
		}
		pingAware.Serve(ctx, s, body)
	}))
	c := dial(t, srv.Addr())
	write(t, c, frames([]byte("ping"), []byte("slow"), []byte("ping")))
	for _, want := range []string{"ping", "slow", "ping"} {
		if got := readFrame(t, c); string(got) != want {
			t.Fatalf("got %s, want %s", got, want)
		}
	}
	if st := srv.Stats(); st.HeartbeatTimeout != 0 {
		t.Fatalf("closed while busy: %+v", st)
	}
}
