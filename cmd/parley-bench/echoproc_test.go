package main

import (
	"os"
	"testing"
	"time"
)

// TestMain lets the test binary stand in for parley-bench when ping starts
// its echo-server child (os.Executable is the test binary here).
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == echoScenario {
		os.Exit(runEchoProcess(os.Args[2:]))
	}
	os.Exit(m.Run())
}

// The echo floor runs in a process of its own: pings through it come back,
// its CPU per frame is read from its own /proc entry (above zero, and not
// this process's), and closing its stdin stops it.
func TestEchoProcess(t *testing.T) {
	e, err := startEchoProcess(1)
	if err != nil {
		t.Fatal(err)
	}
	if e.pid == os.Getpid() {
		t.Fatal("echo server runs in the bench's process")
	}
	r, err := pingRun("echo", e.addr, e.pid, pingOpts{conns: 4, window: 4, duration: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if r.frames == 0 || r.cpuPerFrame <= 0 || r.benchPerFrame <= 0 {
		t.Fatalf("%d frames, echo %.2f µs/frame, bench %.2f µs/frame", r.frames, r.cpuPerFrame, r.benchPerFrame)
	}
	e.stop()
	if e.cmd.ProcessState == nil || !e.cmd.ProcessState.Exited() {
		t.Fatalf("echo server still running after stop: %v", e.cmd.ProcessState)
	}
}
