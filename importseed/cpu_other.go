//go:build !linux

package importseed

import "time"

// threadCPU and processCPU are measured on Linux only; elsewhere the
// summary's CPU figures stay 0.
func threadCPU() time.Duration  { return 0 }
func processCPU() time.Duration { return 0 }
