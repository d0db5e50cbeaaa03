package transport

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley/config"
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

// testClock is the policies' clock in these tests: real time plus an offset
// only the test moves, by hours, while every timeout is an hour. Real time
// passing (milliseconds, or seconds on a loaded machine) then decides
// nothing, and the sweeps run when the test asks (sweepNow), never on their
// own: the ticker fires every quarter of an hour.
type testClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}

// policyConfig is testConfig with every time policy at an hour, legacy idle
// included when legacy is set.
func policyConfig(legacy bool) config.Transport {
	cfg := testConfig()
	cfg.HeartbeatTimeout = time.Hour
	cfg.WriteStall = time.Hour
	cfg.FrameTimeout = time.Hour
	if legacy {
		cfg.LegacyIdle = time.Hour
	}
	return cfg
}

// startClocked is startServer on a testClock.
func startClocked(t *testing.T, cfg config.Transport, fs FrameServer) (*Server, *testClock) {
	t.Helper()
	clock := &testClock{}
	srv := startServerWith(t, cfg, session.NewRegistry(), fs, func(s *Server) { s.now = clock.now })
	return srv, clock
}

// sweepNow runs one sweep at the clock's time and returns once it is done:
// every close it decided is counted in Stats by then.
func (s *Server) sweepNow() {
	done := make(chan struct{})
	s.sweepReq <- done
	<-done
}

func TestHeartbeatTimeoutOnlyForClientsThatPinged(t *testing.T) {
	srv, clock := startClocked(t, policyConfig(false), pingAware)
	pinger, legacy := dial(t, srv.Addr()), dial(t, srv.Addr())
	write(t, pinger, frames([]byte("ping")))
	readFrame(t, pinger)
	write(t, legacy, frames([]byte("hello")))
	readFrame(t, legacy)

	clock.advance(59 * time.Minute)
	srv.sweepNow()
	if st := srv.Stats(); st.HeartbeatTimeout != 0 {
		t.Fatalf("closed before the heartbeat timeout: %+v", st)
	}
	clock.advance(2 * time.Minute)
	srv.sweepNow()
	if st := srv.Stats(); st.HeartbeatTimeout != 1 || st.IdleTimeout != 0 {
		t.Fatalf("stats %+v, want the pinger (only) closed for its heartbeat", st)
	}
	expectClosed(t, pinger, 10*time.Second)
	// The client that never pinged, as silent, is not under the heartbeat
	// timeout (legacy idle is off here).
	write(t, legacy, frames([]byte("still here")))
	if got := readFrame(t, legacy); string(got) != "still here" {
		t.Fatalf("got %s", got)
	}
}

func TestLegacyIdle(t *testing.T) {
	srv, clock := startClocked(t, policyConfig(true), pingAware)
	idle, chatty := dial(t, srv.Addr()), dial(t, srv.Addr())
	eventually(t, 10*time.Second, "both connections accepted", func() bool { return srv.Stats().Conns == 2 })

	clock.advance(40 * time.Minute)
	write(t, chatty, frames([]byte("hi")))
	readFrame(t, chatty)
	srv.sweepNow()
	if st := srv.Stats(); st.IdleTimeout != 0 {
		t.Fatalf("closed before LegacyIdle: %+v", st)
	}
	clock.advance(40 * time.Minute) // idle: 80 min silent; chatty: 40
	srv.sweepNow()
	if st := srv.Stats(); st.IdleTimeout != 1 {
		t.Fatalf("stats %+v, want one client closed as idle", st)
	}
	expectClosed(t, idle, 10*time.Second) // the idle one, so chatty is open:
	write(t, chatty, frames([]byte("still here")))
	if got := readFrame(t, chatty); string(got) != "still here" {
		t.Fatalf("got %s", got)
	}
}

// TestLegacyIdleCountsOutput: a client that never pings and only receives
// (a seed user reading pushes) is not idle while frames go out to it, and is
// closed once both directions have been quiet for LegacyIdle.
func TestLegacyIdleCountsOutput(t *testing.T) {
	pushes := make(chan *session.Session, 1)
	srv, clock := startClocked(t, policyConfig(true), serveFunc(func(_ context.Context, s *session.Session, body []byte) {
		if string(body) == "subscribe" {
			pushes <- s
		}
	}))
	reader := dial(t, srv.Addr())
	write(t, reader, frames([]byte("subscribe")))
	s := <-pushes

	// The client sends nothing more; a push goes out every 40 minutes.
	for range 3 {
		clock.advance(40 * time.Minute)
		if err := s.Send([]byte("push")); err != nil {
			t.Fatalf("send: %v", err)
		}
		if got := readFrame(t, reader); string(got) != "push" {
			t.Fatalf("got %s", got)
		}
		srv.sweepNow() // sees the push: output at this time
	}
	clock.advance(40 * time.Minute) // 160 min without input, 40 without output
	srv.sweepNow()
	if st := srv.Stats(); st.IdleTimeout != 0 {
		t.Fatalf("a client receiving pushes was closed as idle: %+v", st)
	}
	clock.advance(30 * time.Minute) // 70 min without output
	srv.sweepNow()
	if st := srv.Stats(); st.IdleTimeout != 1 {
		t.Fatalf("stats %+v, want the reader closed once quiet both ways", st)
	}
	expectClosed(t, reader, 10*time.Second)
}

// TestBusySessionIsNotIdle: frames waiting behind a slow handler count as
// activity, whatever LastSeen says.
func TestBusySessionIsNotIdle(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	srv, clock := startClocked(t, policyConfig(false), serveFunc(func(ctx context.Context, s *session.Session, body []byte) {
		if string(body) == "slow" {
			close(entered)
			<-release
		}
		pingAware.Serve(ctx, s, body)
	}))
	c := dial(t, srv.Addr())
	write(t, c, frames([]byte("ping"), []byte("slow"), []byte("ping")))
	if got := readFrame(t, c); string(got) != "ping" {
		t.Fatalf("got %s", got)
	}
	<-entered // "slow" runs, the second ping waits behind it
	clock.advance(2 * time.Hour)
	srv.sweepNow()
	if st := srv.Stats(); st.HeartbeatTimeout != 0 {
		t.Fatalf("closed while busy: %+v", st)
	}
	close(release)
	for _, want := range []string{"slow", "ping"} {
		if got := readFrame(t, c); string(got) != want {
			t.Fatalf("got %s, want %s", got, want)
		}
	}
	// Control: once nothing is queued, the same silence closes it. The
	// reply is read before the worker has finished with the session, so
	// sweep until the worker lets go (polling, not a fixed wait).
	clock.advance(2 * time.Hour)
	deadline := time.Now().Add(10 * time.Second)
	for srv.sweepNow(); srv.Stats().HeartbeatTimeout != 1; srv.sweepNow() {
		if time.Now().After(deadline) {
			t.Fatalf("stats %+v, want closed once idle", srv.Stats())
		}
		time.Sleep(time.Millisecond)
	}
	expectClosed(t, c, 10*time.Second)
}
