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
		{"TCP_KEEPINTVL", unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, 7},
		{"TCP_NODELAY", unix.IPPROTO_TCP, unix.TCP_NODELAY, 1},
	} {
		got, err := unix.GetsockoptInt(fd, o.level, o.opt)
		if err != nil || got != o.want {
			t.Errorf("%s = %d (%v), want %d", o.name, got, err, o.want)
		}
	}
	if idle, err := unix.GetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPIDLE); err != nil || idle < 7 || idle > 10 {
		t.Errorf("TCP_KEEPIDLE = %d (%v), want 7 to 10 (period to 1.5 period)", idle, err)
	}
}

// TestKeepAliveSpread: connections accepted together get different keepalive
// idle times, so their probes do not fire in one burst every period.
func TestKeepAliveSpread(t *testing.T) {
	cfg := testConfig()
	cfg.KeepAlive = 40 * time.Second
	srv := startServer(t, cfg, echo)
	const n = 20
	for range n {
		c := dial(t, srv.Addr())
		write(t, c, frames([]byte("x")))
		readFrame(t, c)
	}
	idles := map[int]int{}
	for _, c := range srv.snapshot() {
		idle, err := unix.GetsockoptInt(c.fd, unix.IPPROTO_TCP, unix.TCP_KEEPIDLE)
		if err != nil || idle < 40 || idle > 60 {
			t.Fatalf("TCP_KEEPIDLE = %d (%v), want 40 to 60", idle, err)
		}
		idles[idle]++
	}
	// 21 possible values: 20 connections on at most 3 of them is a chance
	// below 1e-13 for a uniform spread, and certain without one.
	if len(idles) < 4 {
		t.Fatalf("keepalive idle times of %d connections: %v, want them spread", n, idles)
	}
}
