package transport

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/parley-im/parley/session"
	"github.com/parley-im/parley/wire"
)

// setSendBuffer sets SO_SNDBUF on the server's side of c, to choose where
// a reply backs up: in gev (small) or in the kernel (large).
func setSendBuffer(t *testing.T, srv *Server, c net.Conn, size int) {
	t.Helper()
	if err := syscall.SetsockoptInt(serverConn(t, srv, c).fd, syscall.SOL_SOCKET, syscall.SO_SNDBUF, size); err != nil {
		t.Fatal(err)
	}
}

// bigReplies answers "big" with a size-byte body and echoes anything else.
func bigReplies(size int) serveFunc {
	big := bytes.Repeat([]byte{'b'}, size)
	return func(_ context.Context, s *session.Session, body []byte) {
		if string(body) == "big" {
			_ = s.Send(big)
			return
		}
		_ = s.Send(body)
	}
}

// TestReadingPeerGetsReplyLargerThanMaxPending: one reply larger than
// MaxPending reaches a reading peer, which stays connected (it used to be
// closed as a slow consumer, so a list grown by other users locked it out).
func TestReadingPeerGetsReplyLargerThanMaxPending(t *testing.T) {
	cfg := testConfig()
	cfg.MaxPending = 64 << 10
	srv := startServer(t, cfg, bigReplies(1<<20))
	c := dial(t, srv.Addr())
	write(t, c, frames([]byte("big")))
	if got := readFrame(t, c); len(got) != 1<<20 {
		t.Fatalf("got %d bytes", len(got))
	}
	write(t, c, frames([]byte("after")))
	if got := readFrame(t, c); string(got) != "after" {
		t.Fatalf("got %s", got)
	}
	if st := srv.Stats(); st.SlowConsumer != 0 || st.Conns != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// TestNonReadingPeerFloodedWithPushesIsClosed: pushes to a peer that does
// not read are bounded (closed as a slow consumer once its backlog passes
// twice MaxPending), while a reading peer receiving the same pushes gets
// every one and stays.
func TestNonReadingPeerFloodedWithPushesIsClosed(t *testing.T) {
	cfg := testConfig()
	cfg.MaxPending = 64 << 10
	cfg.WriteStall = time.Minute // the backlog rule, not the stall, must act
	subs := make(chan *session.Session, 2)
	srv := startServer(t, cfg, serveFunc(func(_ context.Context, s *session.Session, _ []byte) { subs <- s }))
	reader := dial(t, srv.Addr())
	sleeper := dialSmallWindow(t, srv.Addr())
	setSendBuffer(t, srv, sleeper, 16<<10) // back up in gev, not in a 4 MiB kernel buffer
	write(t, reader, frames([]byte("sub")))
	rs := <-subs
	write(t, sleeper, frames([]byte("sub")))
	ss := <-subs

	push := bytes.Repeat([]byte{'p'}, 1<<10)
	const pushes = 4096 // 4 MiB: far past any bound
	// The reader takes a token per push read; the pusher keeps at most 32
	// pushes in flight to it, like a steady stream of messages.
	read := make(chan struct{}, pushes)
	received := make(chan int, 1)
	go func() {
		r := wire.NewReader(reader, 1<<20)
		n := 0
		for ; n < pushes; n++ {
			_ = reader.SetReadDeadline(time.Now().Add(10 * time.Second))
			if _, err := r.ReadFrame(); err != nil {
				break
			}
			read <- struct{}{}
		}
		received <- n
	}()
	accepted := 0
	for i := range pushes {
		if i >= 32 {
			select {
			case <-read:
			case <-time.After(10 * time.Second):
				t.Fatalf("the reader stopped after %d pushes", i-32)
			}
		}
		if err := rs.Send(push); err != nil {
			t.Fatalf("push to the reader: %v", err)
		}
		if accepted >= 0 {
			switch err := ss.Send(push); {
			case err == nil:
				accepted++
			case errors.Is(err, ErrSlowConsumer):
				t.Logf("non-reader closed after %d pushes", accepted)
				accepted = -accepted
			default:
				t.Fatalf("push to the non-reader: %v", err)
			}
		}
	}
	if accepted >= 0 {
		t.Fatalf("the non-reader took all %d pushes", accepted)
	}
	// Its backlog is bounded by 2 x MaxPending; the kernel buffers (small
	// on both sides here) hold the rest.
	if bytes := -accepted * (len(push) + wire.HeaderSize); bytes > 2*cfg.MaxPending+256<<10 {
		t.Fatalf("the non-reader was given %d bytes before being closed", bytes)
	}
	expectClosed(t, sleeper, 5*time.Second)
	if n := <-received; n != pushes {
		t.Fatalf("the reader got %d of %d pushes", n, pushes)
	}
	if st := srv.Stats(); st.SlowConsumer != 1 || st.Conns != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// TestStallInKernelSendQueue: the peer asks for a reply and stops reading;
// the whole reply fits in the server's socket send buffer, so gev holds
// nothing. The unacknowledged bytes in the kernel must still count as
// pending output, and the connection be closed after WriteStall.
func TestStallInKernelSendQueue(t *testing.T) {
	cfg := testConfig()
	cfg.WriteStall = 300 * time.Millisecond
	srv := startServer(t, cfg, bigReplies(256<<10))
	c := dialSmallWindow(t, srv.Addr())
	setSendBuffer(t, srv, c, 1<<20)
	sc := serverConn(t, srv, c)
	write(t, c, frames([]byte("big")))
	eventually(t, 5*time.Second, "the reply to reach the kernel", func() bool {
		return sc.outTotal.Load() > 0 && sc.queuedOut.Load() == 0 && sc.gc.WriteBufferLength() == 0
	})
	// Not expectClosed: reading would be progress.
	eventually(t, 5*time.Second, "the stalled connection to close", func() bool { return srv.Stats().WriteStall == 1 })
	expectClosed(t, c, 5*time.Second)
}

// TestSteadyStreamToReadingPeerIsNotStalled: a peer that reads steadily,
// but slower than it is sent to, always has output pending; it is making
// progress, so WriteStall must not close it.
func TestSteadyStreamToReadingPeerIsNotStalled(t *testing.T) {
	const size = 8 << 20
	cfg := testConfig()
	cfg.MaxPending = 16 << 20
	cfg.WriteStall = 200 * time.Millisecond
	srv := startServer(t, cfg, bigReplies(size))
	c := dialSmallWindow(t, srv.Addr())
	setSendBuffer(t, srv, c, 16<<10)
	write(t, c, frames([]byte("big")))
	// 16 KiB every 2ms: about a second for the reply, five stall deadlines.
	got, chunk := 0, make([]byte, 16<<10)
	for got < wire.HeaderSize+size {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := io.ReadFull(c, chunk[:min(len(chunk), wire.HeaderSize+size-got)])
		if err != nil {
			t.Fatalf("after %d bytes: %v (stats %+v)", got, err, srv.Stats())
		}
		got += n
		time.Sleep(2 * time.Millisecond)
	}
	write(t, c, frames([]byte("after")))
	if got := readFrame(t, c); string(got) != "after" {
		t.Fatalf("got %s", got)
	}
	if st := srv.Stats(); st.WriteStall != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestMaxConnsDefaultsFromFileLimit: max_conns 0 is the open-file limit
// minus the reserve, not unlimited.
func TestMaxConnsDefaultsFromFileLimit(t *testing.T) {
	var r unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &r); err != nil {
		t.Fatal(err)
	}
	if r.Cur <= 2*fdReserve || r.Cur > 1<<31 {
		t.Skipf("open-file limit %d", r.Cur)
	}
	srv := startServer(t, testConfig(), echo)
	if got, want := srv.Stats().MaxConns, int64(r.Cur)-fdReserve; got != want {
		t.Fatalf("MaxConns %d, want %d", got, want)
	}
}
