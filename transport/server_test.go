package transport

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley/config"
	"github.com/parley-im/parley/session"
	"github.com/parley-im/parley/wire"
)

func TestPipelinedFramesAnsweredInOrder(t *testing.T) {
	srv := startServer(t, testConfig(), echo)
	c := dial(t, srv.Addr())
	var bodies [][]byte
	for i := range 100 {
		bodies = append(bodies, []byte(fmt.Sprintf(`{"type":"m","n":%d}`, i)))
	}
	write(t, c, frames(bodies...)) // one write: gev sees them in one read
	for i, want := range bodies {
		if got := readFrame(t, c); !bytes.Equal(got, want) {
			t.Fatalf("reply %d = %s, want %s", i, got, want)
		}
	}
}

func TestFrameSplitAcrossWrites(t *testing.T) {
	srv := startServer(t, testConfig(), echo)
	c := dial(t, srv.Addr())
	body := []byte(`{"type":"login","user_id":"alice","user_password":"secret"}`)
	f := frames(body, []byte(`{"type":"ping"}`))
	// Cut inside the header, inside the body, and between frames.
	for _, piece := range [][]byte{f[:1], f[1:3], f[3:10], f[10:40], f[40 : 4+len(body)+2], f[4+len(body)+2:]} {
		write(t, c, piece)
		time.Sleep(30 * time.Millisecond)
	}
	if got := readFrame(t, c); !bytes.Equal(got, body) {
		t.Fatalf("got %s", got)
	}
	if got := readFrame(t, c); string(got) != `{"type":"ping"}` {
		t.Fatalf("got %s", got)
	}
}

// TestZeroLengthFrameDoesNotStallTheNext: gev stops parsing a read batch on
// (nil ctx, empty data); the frame behind a zero-length one must still be
// served without waiting for another read.
func TestZeroLengthFrameDoesNotStallTheNext(t *testing.T) {
	rec := newRecorder()
	srv := startServer(t, testConfig(), rec)
	c := dial(t, srv.Addr())
	write(t, c, frames(nil, []byte(`{"type":"ping"}`), nil))
	eventually(t, 2*time.Second, "three frames", func() bool { return len(rec.all()) == 3 })
	got := rec.all()
	if len(got[0]) != 0 || string(got[1]) != `{"type":"ping"}` || len(got[2]) != 0 {
		t.Fatalf("frames = %q", got)
	}
}

func TestOversizeFrameClosesOnlyThatConnection(t *testing.T) {
	srv := startServer(t, testConfig(), echo)
	good := dial(t, srv.Addr())
	bad := dial(t, srv.Addr())
	write(t, good, frames([]byte("before")))
	if got := readFrame(t, good); string(got) != "before" {
		t.Fatalf("got %s", got)
	}
	write(t, bad, binary.BigEndian.AppendUint32(nil, 64<<10+1))
	expectClosed(t, bad, 2*time.Second)
	write(t, good, frames([]byte("after")))
	if got := readFrame(t, good); string(got) != "after" {
		t.Fatalf("got %s", got)
	}
	if st := srv.Stats(); st.Oversize != 1 || st.Conns != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// TestOrderPerSessionUnderConcurrency: many clients pipeline numbered
// frames at once; a handler with jittery latency must still answer each
// client's frames in order.
func TestOrderPerSessionUnderConcurrency(t *testing.T) {
	srv := startServer(t, testConfig(), serveFunc(func(_ context.Context, s *session.Session, body []byte) {
		if rand.IntN(4) == 0 {
			time.Sleep(time.Duration(rand.IntN(200)) * time.Microsecond)
		}
		_ = s.Send(body)
	}))
	const clients, perClient = 30, 200
	var wg sync.WaitGroup
	for k := range clients {
		c := dial(t, srv.Addr())
		wg.Go(func() {
			var batch [][]byte
			for i := range perClient {
				batch = append(batch, []byte(fmt.Sprintf("%d/%d", k, i)))
				if len(batch) == 25 {
					if _, err := c.Write(frames(batch...)); err != nil {
						t.Error(err)
						return
					}
					batch = nil
				}
			}
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			r := wire.NewReader(c, 1<<20)
			for i := range perClient {
				got, err := r.ReadFrame()
				if err != nil {
					t.Errorf("client %d: %v", k, err)
					return
				}
				if want := fmt.Sprintf("%d/%d", k, i); string(got) != want {
					t.Errorf("client %d: got %s, want %s", k, got, want)
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestSessionsRunInParallel: a session blocked in its handler does not hold
// up another session.
func TestSessionsRunInParallel(t *testing.T) {
	release := make(chan struct{})
	srv := startServer(t, testConfig(), serveFunc(func(_ context.Context, s *session.Session, body []byte) {
		if string(body) == "block" {
			<-release
		}
		_ = s.Send(body)
	}))
	a, b := dial(t, srv.Addr()), dial(t, srv.Addr())
	write(t, a, frames([]byte("block"), []byte("after-block")))
	write(t, b, frames([]byte("free")))
	if got := readFrame(t, b); string(got) != "free" {
		t.Fatalf("got %s", got)
	}
	close(release)
	if got := readFrame(t, a); string(got) != "block" {
		t.Fatalf("got %s", got)
	}
	if got := readFrame(t, a); string(got) != "after-block" {
		t.Fatalf("got %s", got)
	}
}

func TestMailboxOverflowClosesOnlyTheFlooder(t *testing.T) {
	cfg := testConfig()
	cfg.MaxFrame = 1 << 10
	cfg.MaxQueued = 8 << 10
	release := make(chan struct{})
	srv := startServer(t, cfg, serveFunc(func(_ context.Context, s *session.Session, body []byte) {
		if body[0] == 'f' {
			<-release // the flooder's first frame holds a worker; the rest queue
		}
		_ = s.Send(body)
	}))
	defer close(release)
	flooder, other := dial(t, srv.Addr()), dial(t, srv.Addr())
	var flood [][]byte
	for range 50 {
		flood = append(flood, bytes.Repeat([]byte{'f'}, 1<<10))
	}
	write(t, flooder, frames(flood...))
	expectClosed(t, flooder, 2*time.Second)
	write(t, other, frames([]byte("still served")))
	if got := readFrame(t, other); string(got) != "still served" {
		t.Fatalf("got %s", got)
	}
	st := srv.Stats()
	if st.Flood != 1 || st.Conns != 1 {
		t.Fatalf("stats %+v", st)
	}
	if st.Queued != 0 {
		t.Fatalf("%d frames of the closed flooder still queued", st.Queued)
	}
}

func TestMaxConns(t *testing.T) {
	cfg := testConfig()
	cfg.MaxConns = 2
	srv := startServer(t, cfg, echo)
	c1, c2 := dial(t, srv.Addr()), dial(t, srv.Addr())
	for _, c := range []net.Conn{c1, c2} {
		write(t, c, frames([]byte("x")))
		readFrame(t, c)
	}
	c3 := dial(t, srv.Addr())
	if code := errorCode(t, readFrame(t, c3)); code != wire.CodeOverloaded {
		t.Fatalf("refusal code %q", code)
	}
	expectClosed(t, c3, 2*time.Second)
	_ = c1.Close()
	eventually(t, 2*time.Second, "c1 to be gone", func() bool { return srv.Stats().Conns == 1 })
	c4 := dial(t, srv.Addr())
	write(t, c4, frames([]byte("in")))
	if got := readFrame(t, c4); string(got) != "in" {
		t.Fatalf("got %s", got)
	}
	if st := srv.Stats(); st.Refused != 1 || st.Accepted != 4 || st.Conns != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func errorCode(t *testing.T, body []byte) string {
	t.Helper()
	var r wire.ErrorReply
	if err := json.Unmarshal(body, &r); err != nil || r.Status != wire.StatusError {
		t.Fatalf("not an error reply: %s", body)
	}
	return r.Code
}

func TestAcceptCheck(t *testing.T) {
	srv, err := New(testConfig(), "127.0.0.1:0", session.NewRegistry(), echo, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	asked := make(chan string, 4)
	srv.SetAcceptCheck(func(ip string) bool { asked <- ip; return false })
	srv.Start()
	defer func() { _ = srv.Stop(context.Background()) }()
	c := dial(t, srv.Addr())
	expectClosed(t, c, 2*time.Second)
	if ip := <-asked; ip != "127.0.0.1" {
		t.Fatalf("accept check got %q, want the bare IP", ip)
	}
	if st := srv.Stats(); st.Refused != 1 || st.Conns != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestAddrReportsTheBoundPort(t *testing.T) {
	for _, listen := range []string{":0", "127.0.0.1:0"} {
		srv, err := New(testConfig(), listen, session.NewRegistry(), echo, testLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		srv.Start()
		_, port, err := net.SplitHostPort(srv.Addr())
		if err != nil || port == "0" {
			t.Fatalf("%s: Addr() = %q", listen, srv.Addr())
		}
		c := dial(t, net.JoinHostPort("127.0.0.1", port))
		write(t, c, frames([]byte("hi")))
		readFrame(t, c)
		if err := srv.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSessionLifecycle: a session is registered while its connection is
// open, and Send fails once it has closed.
func TestSessionLifecycle(t *testing.T) {
	got := make(chan *session.Session, 1)
	cfg := testConfig()
	reg := session.NewRegistry()
	srv := startServerWith(t, cfg, reg, serveFunc(func(_ context.Context, s *session.Session, body []byte) {
		if string(body) == "bye" {
			_ = s.Close() // what a Disconnect outcome does
			return
		}
		reg.Bind(s, "alice")
		got <- s
		_ = s.Send(body)
	}))
	c := dial(t, srv.Addr())
	write(t, c, frames([]byte("hello")))
	readFrame(t, c)
	s := <-got
	if s.Peer() != c.LocalAddr().String() || !reg.Online("alice") || srv.Stats().Conns != 1 {
		t.Fatalf("peer %s (want %s), online %v, stats %+v", s.Peer(), c.LocalAddr(), reg.Online("alice"), srv.Stats())
	}
	write(t, c, frames([]byte("bye")))
	expectClosed(t, c, 2*time.Second)
	eventually(t, 2*time.Second, "the session to be removed", func() bool { return !reg.Online("alice") && srv.Stats().Conns == 0 })
	if err := s.Send([]byte("late")); err == nil {
		t.Fatal("Send on a closed session succeeded")
	}
}

func TestNewRejectsBadSettings(t *testing.T) {
	reg := session.NewRegistry()
	for _, cfg := range []config.Transport{
		{Workers: -1},
		{MaxFrame: 2 << 20, MaxQueued: 1 << 20},
		{MaxFrame: 2 << 20, MaxQueued: 4 << 20, MaxPartialBytes: 1 << 20},
		{FrameTimeout: -time.Second},
	} {
		if srv, err := New(cfg, "127.0.0.1:0", reg, echo, nil); err == nil {
			_ = srv.Stop(context.Background())
			t.Fatalf("%+v accepted", cfg)
		}
	}
	srv := startServer(t, testConfig(), echo)
	if _, err := New(testConfig(), srv.Addr(), reg, echo, nil); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second bind on %s: %v", srv.Addr(), err)
	}
}
