package transport

import (
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// setSocketOptions turns on TCP keepalive (idle and probe interval = period,
// as net.Dialer does), which finds half-open peers without any frame the
// client would see, and TCP_NODELAY, because replies are small and written
// whole: Nagle plus delayed ACKs would add up to 40ms to pipelined requests.
// gev exposes no fd, so it comes from gevinternals. Runs in OnConnect.
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
	set(unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, secs)
	set(unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, secs)
}
