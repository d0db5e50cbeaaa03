package transport

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestSocketOptions: keepalive (cfg.KeepAlive, default 30s) and TCP_NODELAY
// are set on accepted sockets, whose fd gev does not expose.
func TestSocketOptions(t *testing.T) {
	cfg := testConfig()
	cfg.KeepAlive = 7 * time.Second
	srv := startServer(t, cfg, echo)
	c := dial(t, srv.Addr())
	write(t, c, frames([]byte("x")))
	readFrame(t, c)
	conns := srv.snapshot()
	if len(conns) != 1 {
		t.Fatalf("%d conns", len(conns))
	}
	fd := conns[0].fd
	for _, o := range []struct {
		name             string
		level, opt, want int
	}{
		{"SO_KEEPALIVE", unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1},
		{"TCP_KEEPIDLE", unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, 7},
		{"TCP_KEEPINTVL", unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, 7},
		{"TCP_NODELAY", unix.IPPROTO_TCP, unix.TCP_NODELAY, 1},
	} {
		got, err := unix.GetsockoptInt(fd, o.level, o.opt)
		if err != nil || got != o.want {
			t.Errorf("%s = %d (%v), want %d", o.name, got, err, o.want)
		}
	}
}
