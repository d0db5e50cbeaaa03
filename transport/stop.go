package transport

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/Allenxuxu/gev/eventloop"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/parley-im/parley/wire"
)

// teardownTimeout bounds the steps of Stop that must happen even when the
// caller's context has already ended (closing the listener, stopping the
// loops). They take microseconds on healthy loops.
const teardownTimeout = 5 * time.Second

// Stop shuts down gracefully and releases the port; it may be called at any
// time, more than once, and from any goroutine (later calls wait for the
// first and return its result). gev's own Stop closes no connection, calls
// no OnClose, leaves the port bound and is lost when called just after Start
// (LIBRARIES §1.6), so the sequence is:
//
//  1. refuse new connections (OnConnect checks stopping);
//  2. on the main reactor: unregister and close both listening fds, which
//     frees the port (this task also proves that loop is polling);
//  3. on every sub reactor: a no-op task, so connections accepted before
//     step 2 have had their OnConnect, and every loop is polling;
//  4. drain: drop frames that arrive from now on, wait until the frames
//     already received have run and every connection's output has reached
//     its peer (for at most 3/4 of the time ctx leaves);
//  5. send each session a goaway frame, give it goAwayGrace to leave, and
//     close the connection;
//  6. wait until OnClose ran for all of them, or ctx ends;
//  7. stop the workers after their current frame (wait, or ctx ends), then
//     cancel the context given to FrameServer.Serve;
//  8. abandon connections that did not close in time;
//  9. gev Stop, repeated every 10ms until its Start returns;
//  10. close the fds of abandoned connections, stop the sweep.
func (s *Server) Stop(ctx context.Context) error {
	s.stopOnce.Do(func() { s.stopErr = s.shutdown(ctx) })
	return s.stopErr
}

func (s *Server) shutdown(ctx context.Context) error {
	s.stopping.Store(true)
	s.Start() // a server never started still has loops to stop and a port to free
	teardown, cancel := context.WithTimeout(context.WithoutCancel(ctx), teardownTimeout)
	defer cancel()
	var errs []error
	for _, e := range s.engines() {
		if err := runOnLoops(teardown, []*eventloop.EventLoop{e.ln.loop}, func() { s.closeListener(e) }); err != nil {
			errs = append(errs, fmt.Errorf("transport: closing listener %s: %w", e.addr, err))
		}
		if err := runOnLoops(teardown, e.loops, func() {}); err != nil {
			errs = append(errs, fmt.Errorf("transport: waiting for loops: %w", err))
		}
	}

	// Finish what was received before the stop, and let the replies reach
	// the peers, within most of the time we were given (the rest is for
	// the steps below, the message writer and the database).
	drain, cancelDrain := context.WithDeadline(ctx, drainDeadline(ctx))
	s.draining.Store(true)
	s.waitUntil(drain, s.disp.idle)
	s.waitUntil(drain, s.outputDrained)
	bye := wire.EncodeError(wire.TypeGoAway, wire.CodeGoingAway, "server shutting down", 0)
	conns := s.snapshot()
	for _, c := range conns {
		_ = c.Send(bye)
	}
	// gev's Close discards unsent output: give the goaway frames a moment.
	short, cancelShort := context.WithTimeout(drain, goAwayGrace)
	s.waitUntil(short, s.outputDrained)
	cancelShort()
	cancelDrain()
	for _, c := range conns {
		c.closeFor(reasonShutdown)
	}
	if err := s.waitDrained(ctx); err != nil {
		errs = append(errs, fmt.Errorf("transport: %d connections still open: %w", s.open.Load(), err))
	}
	s.disp.stop()
	if err := s.disp.wait(ctx); err != nil {
		errs = append(errs, fmt.Errorf("transport: frames still running: %w", err))
	}
	s.cancel()

	abandoned := s.snapshot()
	for _, c := range abandoned {
		c.markGone()
		s.finalize(c)
	}
	if len(abandoned) > 0 {
		s.log.Warn("abandoning connections that did not close in time", zap.Int("count", len(abandoned)))
	}
	var gevErrs []error
	for _, e := range s.engines() {
		if err := stopGev(teardown, e); err != nil {
			gevErrs = append(gevErrs, err)
		}
	}
	if len(gevErrs) > 0 {
		errs = append(errs, gevErrs...)
	} else {
		// The loops are gone, so no OnClose can still close these fds.
		for _, c := range abandoned {
			if !c.onClosed.Load() {
				_ = unix.Close(c.fd)
			}
		}
	}
	close(s.sweepStop)
	<-s.sweepDone
	return errors.Join(errs...)
}

// goAwayGrace bounds the wait for goaway frames to leave before the close.
const goAwayGrace = 200 * time.Millisecond

// drainDeadline leaves a quarter of ctx's remaining time (and at most 5 s
// without a deadline) for the rest of the shutdown.
func drainDeadline(ctx context.Context) time.Time {
	now := time.Now()
	if d, ok := ctx.Deadline(); ok {
		return now.Add(d.Sub(now) * 3 / 4)
	}
	return now.Add(5 * time.Second)
}

// waitUntil polls cond every few milliseconds until it holds or ctx ends.
// Polling is fine here: it runs once, at shutdown, off every loop.
func (s *Server) waitUntil(ctx context.Context, cond func() bool) {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// outputDrained reports whether every connection's queued output has been
// handed to the kernel.
func (s *Server) outputDrained() bool {
	for _, c := range s.snapshot() {
		if c.gc.WriteBufferLength()+c.queuedOut.Load() > 0 {
			return false
		}
	}
	return true
}

// closeListener runs on the main reactor. Unregistering first means gev's
// Stop will not close it again (and log the error).
func (s *Server) closeListener(e *engine) {
	e.ln.loop.DeleteFdInLoop(e.ln.fd)
	if err := e.ln.file.Close(); err != nil {
		s.log.Debug("closing listener dup", zap.Error(err))
	}
	if err := e.ln.net.Close(); err != nil {
		s.log.Debug("closing listener", zap.Error(err))
	}
}

// runOnLoops runs f once on each loop and waits for all. A queued task runs
// only from inside the loop's Poll, so it also proves the loop is polling.
func runOnLoops(ctx context.Context, loops []*eventloop.EventLoop, f func()) error {
	done := make(chan struct{}, len(loops))
	for _, l := range loops {
		l.QueueInLoop(func() { f(); done <- struct{}{} })
	}
	for range loops {
		select {
		case <-done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (s *Server) waitDrained(ctx context.Context) error {
	for s.open.Load() > 0 {
		select {
		case <-s.drained:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// stopGev calls gev's Stop until its Start returns. Stop is ignored until
// Start has set its running flag, which happens after the loops started.
func stopGev(ctx context.Context, e *engine) error {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		e.gev.Stop()
		select {
		case <-e.startDone:
			return nil
		case <-ctx.Done():
			return fmt.Errorf("transport: gev did not stop: %w", ctx.Err())
		case <-tick.C:
		}
	}
}
