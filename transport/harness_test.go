package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/parley-im/parley/config"
	"github.com/parley-im/parley/session"
	"github.com/parley-im/parley/wire"
)

// gevLogs collects everything gev logs during the tests: gev logs only
// errors, and none should happen, shutdown included.
var gevCore, gevLogs = observer.New(zapcore.DebugLevel)

func TestMain(m *testing.M) {
	// gev's logger is global and unsynchronised: route it before any server.
	RouteGevLog(zap.New(gevCore))
	code := m.Run()
	for _, e := range gevLogs.AllUntimed() {
		fmt.Fprintf(os.Stderr, "gev logged: %s\n", e.Message)
		code = 1
	}
	if err := goleak.Find(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	os.Exit(code)
}

// serveFunc adapts a function to FrameServer.
type serveFunc func(ctx context.Context, s *session.Session, body []byte)

func (f serveFunc) Serve(ctx context.Context, s *session.Session, body []byte) { f(ctx, s, body) }

// echo replies with the body it received.
var echo = serveFunc(func(_ context.Context, s *session.Session, body []byte) { _ = s.Send(body) })

// loggedInEcho logs each session in as a user of its own, then echoes, so
// that reg.Users() counts the connections the server has not yet removed.
func loggedInEcho(reg *session.Registry) serveFunc {
	return func(_ context.Context, s *session.Session, body []byte) {
		reg.Bind(s, fmt.Sprint("u", s.ID()))
		_ = s.Send(body)
	}
}

// testConfig is small enough to exercise the parallel paths on 2 cores.
func testConfig() config.Transport {
	return config.Transport{Loops: 2, Workers: 4, MaxFrame: 64 << 10}
}

func testLogger(t testing.TB) *zap.Logger {
	return zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel))
}

// startServer runs a server on a free loopback port and stops it (checking
// the result) when the test ends.
func startServer(t *testing.T, cfg config.Transport, fs FrameServer) *Server {
	t.Helper()
	return startServerWith(t, cfg, session.NewRegistry(), fs)
}

// startServerWith is startServer over a registry the test holds; each of
// before runs between New and Start.
func startServerWith(t *testing.T, cfg config.Transport, reg *session.Registry, fs FrameServer, before ...func(*Server)) *Server {
	t.Helper()
	srv, err := New(cfg, "127.0.0.1:0", reg, fs, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range before {
		f(srv)
	}
	srv.Start()
	stopAtCleanup(t, srv)
	return srv
}

// stopAtCleanup stops srv, checking the result, when the test ends.
func stopAtCleanup(t *testing.T, srv *Server) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// frames concatenates the frames of bodies, for writing in one call.
func frames(bodies ...[]byte) []byte {
	var b []byte
	for _, body := range bodies {
		b = wire.AppendFrame(b, body)
	}
	return b
}

func write(t *testing.T, c net.Conn, b []byte) {
	t.Helper()
	_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
}

func readFrame(t *testing.T, c net.Conn) []byte {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	body, err := wire.NewReader(c, 64<<20).ReadFrame()
	if err != nil {
		t.Fatalf("reading a frame: %v", err)
	}
	return body
}

// expectClosed reads (discarding frames such as going_away) until the
// server closes c, failing if that takes longer than within.
func expectClosed(t *testing.T, c net.Conn, within time.Duration) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(within))
	buf := make([]byte, 64<<10)
	for {
		_, err := c.Read(buf)
		if err == nil {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("connection still open after %v", within)
		}
		if !errors.Is(err, io.EOF) && !errors.Is(err, os.ErrDeadlineExceeded) && !isReset(err) {
			t.Fatalf("unexpected read error: %v", err)
		}
		return
	}
}

func isReset(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "read"
}

// eventually polls cond every few milliseconds until it holds or within passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// recorder is a FrameServer that remembers every body per session.
type recorder struct {
	mu     sync.Mutex
	bodies map[uint64][][]byte
	seen   chan struct{}
}

func newRecorder() *recorder {
	return &recorder{bodies: make(map[uint64][][]byte), seen: make(chan struct{}, 1024)}
}

func (r *recorder) Serve(_ context.Context, s *session.Session, body []byte) {
	r.mu.Lock()
	r.bodies[s.ID()] = append(r.bodies[s.ID()], body)
	r.mu.Unlock()
	select {
	case r.seen <- struct{}{}:
	default:
	}
}

func (r *recorder) all() [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out [][]byte
	for _, b := range r.bodies {
		out = append(out, b...)
	}
	return out
}
