//go:build !linux

package importseed

import "time"

// processCPU is measured on Linux only; elsewhere the summary's CPU
// figures stay 0.
func processCPU() time.Duration { return 0 }
