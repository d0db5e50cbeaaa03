package main

import (
	"os"
	"strings"
	"testing"
	"time"
)

// TestSampleCPU: the bench's own CPU time is read from /proc (the bench is
// Linux-only, like its RSS readings) and grows while it burns CPU, and the
// split names every party.
func TestSampleCPU(t *testing.T) {
	a := sampleCPU(os.Getpid())
	for end := time.Now().Add(300 * time.Millisecond); time.Now().Before(end); {
	}
	b := sampleCPU(os.Getpid())
	if b.bench <= a.bench || b.server <= a.server || b.all <= a.all {
		t.Fatalf("CPU ticks did not grow: %+v -> %+v", a, b)
	}
	s := cpuSplit(a, b)
	for _, want := range []string{"server=", "bench=", "postgres=", "softirq="} {
		if !strings.Contains(s, want) {
			t.Fatalf("split %q lacks %q", s, want)
		}
	}
}
