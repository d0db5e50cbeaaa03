package transport

import (
	"context"
	"encoding/json"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/parley-im/parley/session"
	"github.com/parley-im/parley/wire"
)

// listenAgain proves the port is free in this process (gev's own Stop
// leaves its dup of the listening fd open: LIBRARIES §1.6).
func listenAgain(t *testing.T, addr string) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("port not released: %v", err)
	}
	_ = ln.Close()
}

func TestStopClosesClientsAndReleasesThePort(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	reg := session.NewRegistry()
	srv, err := New(testConfig(), "127.0.0.1:0", reg, loggedInEcho(reg), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	var clients []net.Conn
	for range 5 {
		c := dial(t, srv.Addr())
		write(t, c, frames([]byte("hi")))
		readFrame(t, c)
		clients = append(clients, c)
	}
	if err := srv.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, c := range clients {
		if code := errorCode(t, readFrame(t, c)); code != wire.CodeGoingAway {
			t.Fatalf("last frame code %q, want going_away", code)
		}
		expectClosed(t, c, time.Second)
		_ = c.Close()
	}
	if reg.Users() != 0 || srv.Stats().Conns != 0 {
		t.Fatalf("registry %d, stats %+v", reg.Users(), srv.Stats())
	}
	listenAgain(t, srv.Addr())
	if _, err := net.DialTimeout("tcp", srv.Addr(), time.Second); err == nil {
		t.Fatal("a stopped server still accepts")
	}
}

// TestStopRightAfterStart: gev ignores Stop until Start has set its running
// flag, and a poller closed before its Poll began never stops (§1.6).
func TestStopRightAfterStart(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	for range 50 {
		srv, err := New(testConfig(), "127.0.0.1:0", session.NewRegistry(), echo, testLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		srv.Start()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = srv.Stop(ctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		listenAgain(t, srv.Addr())
	}
}

func TestStopWithoutStart(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	srv, err := New(testConfig(), "127.0.0.1:0", session.NewRegistry(), echo, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	listenAgain(t, srv.Addr())
	srv.Start() // after Stop: does nothing
}

func TestStopIsIdempotent(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	srv, err := New(testConfig(), "127.0.0.1:0", session.NewRegistry(), echo, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	dial(t, srv.Addr())
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if err := srv.Stop(context.Background()); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if err := srv.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestStopFinishesInFlightFrames: Stop returns only after the frame a worker
// is running has finished, and its context is still live meanwhile.
func TestStopFinishesInFlightFrames(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	started, release := make(chan struct{}, 2), make(chan struct{})
	var ctxEnded atomic.Bool
	srv, err := New(testConfig(), "127.0.0.1:0", session.NewRegistry(), serveFunc(func(ctx context.Context, s *session.Session, body []byte) {
		started <- struct{}{}
		<-release // held until Stop is draining, not for a guessed duration
		if ctx.Err() != nil {
			ctxEnded.Store(true)
		}
		_ = s.Send(append([]byte("done "), body...))
	}), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	c := dial(t, srv.Addr())
	write(t, c, frames([]byte("running"), []byte("queued")))
	<-started
	stopped := make(chan error, 1)
	go func() { stopped <- srv.Stop(context.Background()) }()
	// The frame still runs when Stop reaches the drain: Stop must wait for it.
	eventually(t, 5*time.Second, "Stop to start draining", srv.draining.Load)
	close(release)
	// Both frames were received before the stop: both run, and both
	// replies reach the client before the goaway and the close.
	for _, want := range []string{"done running", "done queued"} {
		if got := string(readFrame(t, c)); got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
	var bye wire.ErrorReply
	if err := json.Unmarshal(readFrame(t, c), &bye); err != nil || bye.Type != wire.TypeGoAway || bye.Code != wire.CodeGoingAway {
		t.Fatalf("want a goaway frame, got %+v (%v)", bye, err)
	}
	expectClosed(t, c, 5*time.Second)
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	if ctxEnded.Load() {
		t.Fatal("the serving context ended while frames were still running")
	}
}

// TestStopWithExpiredContext: no time to drain. Stop must still release
// everything: no open fd (clients see EOF), no port, no goroutine.
func TestStopWithExpiredContext(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	reg := session.NewRegistry()
	srv, err := New(testConfig(), "127.0.0.1:0", reg, loggedInEcho(reg), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	var clients []net.Conn
	for range 20 {
		c := dial(t, srv.Addr())
		write(t, c, frames([]byte("hi")))
		readFrame(t, c)
		clients = append(clients, c)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = srv.Stop(ctx)
	t.Logf("Stop with a cancelled context: %v", err)
	for _, c := range clients {
		expectClosed(t, c, 2*time.Second)
		_ = c.Close()
	}
	if reg.Users() != 0 || srv.Stats().Conns != 0 {
		t.Fatalf("registry %d, stats %+v", reg.Users(), srv.Stats())
	}
	listenAgain(t, srv.Addr())
}
