package transport

import (
	"runtime"
	"testing"

	"github.com/parley-im/parley/config"
	"github.com/parley-im/parley/wire"
)

// TestZeroSettingsTakeConfigDefaults: the transport has no defaults of its
// own; a zero field takes config.Default()'s value, so a default is written
// once (issue 12).
func TestZeroSettingsTakeConfigDefaults(t *testing.T) {
	s, err := resolve(config.Transport{})
	if err != nil {
		t.Fatal(err)
	}
	d := config.Default().Transport
	got := []any{int(s.maxFrame), s.maxQueued, int(s.maxPending), s.writeStall, s.heartbeatTimeout, s.keepAlive, s.frameTimeout, int(s.maxPartial), s.workers, s.loginWorkers}
	want := []any{d.MaxFrame, d.MaxQueued, d.MaxPending, d.WriteStall, d.HeartbeatTimeout, d.KeepAlive, d.FrameTimeout, d.MaxPartialBytes,
		config.WorkersPerCPU * runtime.NumCPU(), config.LoginWorkersPerCPU * runtime.NumCPU()}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("setting %d = %v, want %v", i, got[i], want[i])
		}
	}
}

// TestClientFrameLimitIsTheServerDefault: wire.DefaultMaxFrame is what a
// client's Reader accepts by default (wire imports nothing of the server's,
// so it cannot take config's value); it must be the server's default
// transport.max_frame, or a client would refuse replies the server sends.
func TestClientFrameLimitIsTheServerDefault(t *testing.T) {
	if got := config.Default().Transport.MaxFrame; got != wire.DefaultMaxFrame {
		t.Fatalf("config default max_frame %d, wire.DefaultMaxFrame %d", got, wire.DefaultMaxFrame)
	}
}

// TestDefaultLoopsLeaveAPFree: unset, transport.loops leaves one P to the
// goroutines that are not gev loops (defaultLoops says why), and still runs
// a loop on a single P.
func TestDefaultLoopsLeaveAPFree(t *testing.T) {
	for procs, want := range map[int]int{1: 1, 2: 1, 4: 3, 16: 15} {
		if got := defaultLoops(procs); got != want {
			t.Errorf("defaultLoops(%d) = %d, want %d", procs, got, want)
		}
	}
	s, err := resolve(config.Transport{})
	if err != nil {
		t.Fatal(err)
	}
	if p := runtime.GOMAXPROCS(0); s.loops != max(1, p-1) {
		t.Errorf("resolve: %d loops on %d Ps, want %d", s.loops, p, max(1, p-1))
	}
	if s, _ := resolve(config.Transport{Loops: 7}); s.loops != 7 {
		t.Errorf("resolve: configured 7 loops, got %d", s.loops)
	}
}
