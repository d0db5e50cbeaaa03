package importseed

import (
	"syscall"
	"time"
)

// processCPU is the CPU time the process has used. On a shared machine it
// measures the work, not the wait for a core.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
