package transport

import (
	"math"

	"golang.org/x/sys/unix"
)

// fileLimit is the soft RLIMIT_NOFILE (false when unlimited, implausibly
// large or unreadable).
func fileLimit() (int64, bool) {
	var r unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &r); err != nil || r.Cur > math.MaxInt32 {
		return 0, false
	}
	return int64(r.Cur), true
}
