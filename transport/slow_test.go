package transport

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/parley-im/parley/session"
)

// The tests in this file measure process CPU time, so none of them may run
// in parallel with other tests.

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cpuOver is the CPU time the whole process used during d.
func cpuOver(d time.Duration) time.Duration {
	start := cpuTime()
	time.Sleep(d)
	return cpuTime() - start
}

// maxCPUPerSecond is far below the ~1s/s of a loop spinning on epoll
// (LIBRARIES §1.5 measured 957ms/s) and far above an idle process.
const maxCPUPerSecond = 500 * time.Millisecond

// dialSmallWindow connects with a 16 KiB receive buffer, so a peer that does
// not read fills the server's socket quickly.
func dialSmallWindow(t *testing.T, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 2 * time.Second, Control: func(_, _ string, rc syscall.RawConn) error {
		var err error
		cerr := rc.Control(func(fd uintptr) {
			err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 16<<10)
		})
		return errors.Join(cerr, err)
	}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// sendForever writes small frames to c, about 3,000 per write and a write
// per millisecond, until the connection fails; it never reads. (Batching
// keeps the peer's own CPU out of the measurements.) It returns a channel
// closed when it stops.
func sendForever(c net.Conn, stopped *atomic.Bool) chan struct{} {
	done := make(chan struct{})
	var batch [][]byte
	for range 3000 {
		batch = append(batch, []byte(`{"type":"noop"}`))
	}
	f := frames(batch...)
	go func() {
		defer close(done)
		for !stopped.Load() {
			_ = c.SetWriteDeadline(time.Now().Add(20 * time.Millisecond))
			if _, err := c.Write(f); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
				return // reset or closed by the server
			}
			time.Sleep(time.Millisecond)
		}
	}()
	return done
}

// TestSlowReaderIsDisconnectedAndDoesNotPinCPU: a peer that sends requests
// continuously but never reads its replies. gev alone would buffer replies
// without limit and spin its loop (LIBRARIES §1.5). MaxPending must cut it
// off quickly, and afterwards the process must be idle.
func TestSlowReaderIsDisconnectedAndDoesNotPinCPU(t *testing.T) {
	cfg := testConfig()
	cfg.Loops = 1
	cfg.MaxPending = 256 << 10
	cfg.WriteStall = 500 * time.Millisecond
	reply := bytes.Repeat([]byte{'r'}, 64<<10)
	srv := startServer(t, cfg, serveFunc(func(_ context.Context, s *session.Session, _ []byte) { _ = s.Send(reply) }))
	c := dialSmallWindow(t, srv.Addr())
	var stop atomic.Bool
	defer stop.Store(true)
	writer := sendForever(c, &stop)

	eventually(t, 5*time.Second, "the slow reader to be disconnected", func() bool {
		st := srv.Stats()
		return st.Accepted == 1 && st.Conns == 0
	})
	select {
	case <-writer: // the peer sees the connection fail too
	case <-time.After(5 * time.Second):
		t.Fatal("the peer can still write after the server closed it")
	}
	if st := srv.Stats(); st.SlowConsumer+st.WriteStall != 1 {
		t.Fatalf("closed for the wrong reason: %+v", st)
	}
	used := cpuOver(time.Second)
	t.Logf("process CPU in 1s after the disconnect: %v", used)
	if used > maxCPUPerSecond {
		t.Fatalf("%v CPU in 1s after the disconnect", used)
	}
}

// TestNonReaderDoesNotSpinBeforeTheStallDeadline: pending output stays under
// MaxPending, and the peer keeps sending. While the stall deadline runs, the
// loop must not spin on the readable socket it will not read, and when the
// deadline passes the connection is closed as stalled.
func TestNonReaderDoesNotSpinBeforeTheStallDeadline(t *testing.T) {
	cfg := testConfig()
	cfg.Loops = 1
	cfg.MaxPending = 64 << 20
	cfg.WriteStall = 3 * time.Second
	big := bytes.Repeat([]byte{'b'}, 16<<20) // more than both socket buffers hold
	srv := startServer(t, cfg, serveFunc(func(_ context.Context, s *session.Session, body []byte) {
		if string(body) == "big" {
			_ = s.Send(big)
		}
	}))
	c := dialSmallWindow(t, srv.Addr())
	// The stall clock starts at the peer's last progress, which is after
	// this request: timing from here, a loaded machine cannot make the
	// close look early.
	start := time.Now()
	write(t, c, frames([]byte("big")))
	// The deadlines below are failure deadlines, not ordering: copying 16
	// MiB under the race detector on a loaded machine took over 5 s.
	eventually(t, 30*time.Second, "output to back up in gev", func() bool { return bufferedOutput(srv) > 0 })
	var stop atomic.Bool
	defer stop.Store(true)
	sendForever(c, &stop)

	used := cpuOver(time.Second)
	t.Logf("process CPU in 1s while the non-reader kept sending: %v", used)
	if used > maxCPUPerSecond {
		t.Fatalf("%v CPU in 1s while a non-reading peer kept sending", used)
	}
	eventually(t, cfg.WriteStall+30*time.Second, "the stalled connection to close", func() bool { return srv.Stats().Conns == 0 })
	if st := srv.Stats(); st.WriteStall != 1 {
		t.Fatalf("closed for the wrong reason: %+v", st)
	}
	if waited := time.Since(start); waited < cfg.WriteStall-cfg.WriteStall/4 {
		t.Fatalf("closed after %v, before the %v stall deadline", waited, cfg.WriteStall)
	}
}

// TestSilentNonReaderIsClosed: the peer asks once and then neither reads nor
// sends. No socket event follows, so gev's own WriteBufferLength would stay
// at its last value (0) forever; the connection must still be closed.
func TestSilentNonReaderIsClosed(t *testing.T) {
	cfg := testConfig()
	cfg.MaxPending = 64 << 20
	cfg.WriteStall = 300 * time.Millisecond
	big := bytes.Repeat([]byte{'b'}, 16<<20)
	srv := startServer(t, cfg, serveFunc(func(_ context.Context, s *session.Session, _ []byte) { _ = s.Send(big) }))
	c := dialSmallWindow(t, srv.Addr())
	write(t, c, frames([]byte("big")))
	eventually(t, 5*time.Second, "the stalled connection to close", func() bool { return srv.Stats().WriteStall == 1 })
	eventually(t, 2*time.Second, "the session to go", func() bool { return srv.Stats().Conns == 0 })
}

// bufferedOutput is the output gev holds for the first connection, once
// the loop has taken it over from Send.
func bufferedOutput(srv *Server) int64 {
	for _, c := range srv.snapshot() {
		if c.queuedOut.Load() == 0 {
			return c.gc.WriteBufferLength()
		}
	}
	return 0
}
