package transport

import (
	"fmt"
	"math"
	"net/netip"
	"runtime"
	"time"

	"github.com/parley-im/parley/config"
)

// frameOverhead is what each queued frame costs on top of its body when
// counting against MaxQueued, so that a stream of zero-length frames is
// bounded too (a slice header plus allocator rounding).
const frameOverhead = 32

// settings is config.Transport with defaults applied and units resolved.
type settings struct {
	loops, workers   int
	loginWorkers     int
	maxFrame         uint32
	maxQueued        int
	maxPending       int64
	writeStall       time.Duration
	heartbeatTimeout time.Duration // <= 0: off
	legacyIdle       time.Duration // <= 0: off
	keepAlive        time.Duration // <= 0: off
	maxConns         int64         // <= 0: unlimited
	frameTimeout     time.Duration
	maxPartial       int64
	sweepEvery       time.Duration
	proxyTrusted     []netip.Prefix // peers that must send a PROXY header; empty: none
}

// resolve applies defaults: a zero field takes config.Default()'s value, or
// for the computed ones (loops, workers, login workers, max conns) the
// per-CPU or per-file-limit value, so the package is usable with a partial
// config.Transport. A negative HeartbeatTimeout or KeepAlive turns the
// feature off; zero always means "default".
func resolve(cfg config.Transport) (settings, error) {
	def := config.Default().Transport
	s := settings{
		loops:            cfg.Loops,
		workers:          cfg.Workers,
		loginWorkers:     cfg.LoginWorkers,
		maxQueued:        cfg.MaxQueued,
		maxPending:       int64(cfg.MaxPending),
		writeStall:       cfg.WriteStall,
		heartbeatTimeout: cfg.HeartbeatTimeout,
		legacyIdle:       cfg.LegacyIdle,
		keepAlive:        cfg.KeepAlive,
		maxConns:         int64(cfg.MaxConns),
		frameTimeout:     cfg.FrameTimeout,
		maxPartial:       int64(cfg.MaxPartialBytes),
	}
	if cfg.Loops < 0 || cfg.Workers < 0 || cfg.LoginWorkers < 0 || cfg.MaxFrame < 0 || cfg.MaxQueued < 0 || cfg.MaxPending < 0 ||
		cfg.WriteStall < 0 || cfg.MaxConns < 0 || cfg.FrameTimeout < 0 || cfg.MaxPartialBytes < 0 {
		return s, fmt.Errorf("transport: negative setting in %+v", cfg)
	}
	if s.loops == 0 {
		s.loops = defaultLoops(runtime.GOMAXPROCS(0))
	}
	if s.workers == 0 {
		s.workers = config.WorkersPerCPU * runtime.NumCPU()
	}
	if s.loginWorkers == 0 {
		s.loginWorkers = config.LoginWorkersPerCPU * runtime.NumCPU()
	}
	switch {
	case cfg.MaxFrame == 0:
		s.maxFrame = uint32(def.MaxFrame)
	case uint64(cfg.MaxFrame) > math.MaxUint32:
		return s, fmt.Errorf("transport: max_frame %d does not fit the 4-byte length prefix", cfg.MaxFrame)
	default:
		s.maxFrame = uint32(cfg.MaxFrame)
	}
	if s.maxQueued == 0 {
		s.maxQueued = max(def.MaxQueued, int(s.maxFrame)+frameOverhead)
	}
	if s.maxQueued < int(s.maxFrame)+frameOverhead {
		return s, fmt.Errorf("transport: max_queued %d cannot hold one max_frame (%d) frame", s.maxQueued, s.maxFrame)
	}
	if s.maxPending == 0 {
		s.maxPending = int64(def.MaxPending)
	}
	if s.writeStall == 0 {
		s.writeStall = def.WriteStall
	}
	if s.heartbeatTimeout == 0 {
		s.heartbeatTimeout = def.HeartbeatTimeout
	}
	if s.keepAlive == 0 {
		s.keepAlive = def.KeepAlive
	}
	if s.frameTimeout == 0 {
		s.frameTimeout = def.FrameTimeout
	}
	if s.maxPartial == 0 {
		s.maxPartial = max(int64(def.MaxPartialBytes), int64(s.maxFrame))
	}
	if s.maxPartial < int64(s.maxFrame) {
		return s, fmt.Errorf("transport: max_partial_bytes %d cannot hold one max_frame (%d) frame", s.maxPartial, s.maxFrame)
	}
	if s.maxConns == 0 {
		s.maxConns = connsForFileLimit()
	}
	var err error
	if s.proxyTrusted, err = trustedPrefixes(cfg.ProxyTrusted); err != nil {
		return s, err
	}
	// Sweep four times per shortest deadline, so a deadline is overrun by at
	// most a quarter of itself.
	shortest := s.writeStall
	for _, d := range []time.Duration{s.heartbeatTimeout, s.legacyIdle, s.frameTimeout} {
		if d > 0 && d < shortest {
			shortest = d
		}
	}
	s.sweepEvery = max(shortest/4, 5*time.Millisecond)
	return s, nil
}

// fdReserve is what connsForFileLimit keeps of the process file limit for
// everything that is not a chat connection: the database (a PostgreSQL
// pool, or SQLite's database, WAL and shared-memory files per pooled
// connection), log files, the admin listener and its scrapes, gev's epoll
// and eventfd per loop and its two listener fds, stdio, and the one fd a
// refused connection holds between accept and close.
const fdReserve = 256

// connsForFileLimit is max_conns when it is 0: the process's open-file limit
// (RLIMIT_NOFILE, which Go raises to the hard limit at start-up) minus
// fdReserve, so chat connections can never take the descriptors the
// database and the logs need; accepting past the limit would fail with
// EMFILE, which gev logs and retries on every loop wake-up. A limit too
// small for the reserve gives half of it. Without a readable limit there is
// no cap (-1).
func connsForFileLimit() int64 {
	lim, ok := fileLimit()
	switch {
	case !ok:
		return -1
	case lim > 2*fdReserve:
		return lim - fdReserve
	default:
		return max(lim/2, 1)
	}
}

// defaultLoops is transport.loops when unset: one gev loop per P, less one.
//
// Why not one per P: a gev loop waits in epoll_wait, a plain syscall that
// keeps its P until the runtime's sysmon retakes it, and sysmon, when the
// process is quiet, looks only every 10 ms. With a loop on every P, a
// goroutine readied meanwhile (a handler worker, the message writer after a
// yield, a PostgreSQL or NATS reply from Go's netpoller) waited up to that
// long for a P: at 500 msgs/s the delivery p99 was 4.8-5.2 ms against 1.9
// with one loop on two Ps, at no cost in CPU per message or, at 8,000/s,
// in throughput (docs/PERFORMANCE.md, "Measured choices"). One P is left to
// everything that is not a loop; with a single P there is nothing to leave.
func defaultLoops(procs int) int {
	return max(1, procs-1)
}
