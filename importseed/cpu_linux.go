package importseed

import (
	"syscall"
	"time"
)

// threadCPU is the CPU time the calling OS thread has used; callers lock
// their goroutine to its thread. On a shared machine it measures the work,
// not the wait for a core.
func threadCPU() time.Duration { return rusage(1) } // RUSAGE_THREAD

// processCPU is the CPU time the whole process has used.
func processCPU() time.Duration { return rusage(syscall.RUSAGE_SELF) }

func rusage(who int) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(who, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
