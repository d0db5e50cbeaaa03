//go:build !linux

package transport

import (
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// setSocketOptions sets TCP_NODELAY and SO_KEEPALIVE; the keepalive period
// options differ between BSDs, so the system default period applies here.
func setSocketOptions(fd int, keepAlive time.Duration, log *zap.Logger) {
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	if keepAlive > 0 {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1)
	}
}

// unackedBytes is not measured outside Linux: only output still in user
// space counts towards the write stall there.
func unackedBytes(int) int64 { return 0 }
