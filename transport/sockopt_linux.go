package transport

import (
	"math/rand/v2"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// setSocketOptions turns on TCP keepalive (probe interval = period, idle time
// spread over [period, 1.5 period], see keepAliveIdle), which finds half-open
// peers without any frame the client would see, and TCP_NODELAY, because
// replies are small and written whole: Nagle plus delayed ACKs would add up
// to 40ms to pipelined requests. gev exposes no fd, so it comes from
// gevinternals. Runs in OnConnect.
func setSocketOptions(fd int, keepAlive time.Duration, log *zap.Logger) {
	set := func(level, opt, v int) {
		if err := unix.SetsockoptInt(fd, level, opt, v); err != nil {
			log.Debug("setsockopt", zap.Int("opt", opt), zap.Error(err))
		}
	}
	set(unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	if keepAlive <= 0 {
		return
	}
	secs := int(max((keepAlive+time.Second-1)/time.Second, 1))
	set(unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1)
	set(unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, keepAliveIdle(secs))
	set(unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, secs)
}

// keepAliveIdle spreads the idle time before the first probe uniformly over
// [secs, 1.5 secs]. Connections accepted together (a login storm) would
// otherwise probe together, period after period: in a 10,000-client storm
// on loopback the synchronised probes and their ACKs overflowed the kernel's
// 1,000-packet input backlog (net.core.netdev_max_backlog), the same
// connections lost every probe, and the kernel aborted about 3,000 of them
// (lab notes, `git show d0db37a:docs/PERFORMANCE.md`, round 3, cold storm). A real network drops such
// bursts too, at the NIC or at a middlebox.
func keepAliveIdle(secs int) int { return secs + rand.IntN(secs/2+1) }

// unackedBytes is how much of what was written to the socket the peer has
// not acknowledged yet (SIOCOUTQ): with a peer that stopped reading, what
// sits in the kernel's send queue. 0 when it cannot be read. Any goroutine;
// the caller checks afterwards that the fd was still this connection's.
func unackedBytes(fd int) int64 {
	n, err := unix.IoctlGetInt(fd, unix.SIOCOUTQ)
	if err != nil {
		return 0
	}
	return int64(n)
}
