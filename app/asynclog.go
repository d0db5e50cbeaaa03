package app

import (
	"io"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap/zapcore"
)

// zapcore.AddSync silently wraps a writer without Sync in a no-op Sync: the
// logger's Sync (at shutdown) would then stop flushing the buffer.
var _ zapcore.WriteSyncer = (*asyncWriter)(nil)

// asyncWriter is the log sink: Write copies the encoded line into a bounded
// buffer and returns at once; one goroutine writes buffered lines out in
// batches. No caller, in particular no gev loop goroutine, ever waits for the
// disk or for a blocked stderr pipe. When the buffer is full the line is
// dropped and counted rather than blocking: losing a log line under a flood
// is better than stalling every connection of a loop.
type asyncWriter struct {
	out      io.Writer
	limit    int           // bytes buffered before lines are dropped
	interval time.Duration // longest a line waits before being written

	mu      sync.Mutex
	buf     []byte
	closed  bool
	kick    chan struct{}
	done    chan struct{}
	flushed *sync.Cond // signalled after every write-out, for Sync

	dropped atomic.Uint64
}

func newAsyncWriter(out io.Writer, limit int, interval time.Duration) *asyncWriter {
	w := &asyncWriter{out: out, limit: limit, interval: interval, kick: make(chan struct{}, 1), done: make(chan struct{})}
	w.flushed = sync.NewCond(&w.mu)
	go w.run()
	return w
}

// Write never blocks on I/O.
func (w *asyncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	if w.closed || len(w.buf)+len(p) > w.limit {
		w.mu.Unlock()
		w.dropped.Add(1)
		return len(p), nil
	}
	w.buf = append(w.buf, p...)
	full := len(w.buf) >= w.limit/2
	w.mu.Unlock()
	if full {
		select {
		case w.kick <- struct{}{}:
		default:
		}
	}
	return len(p), nil
}

// Sync waits until everything written so far is out. It is called on stop
// and by zap after Error-level lines; never from a loop.
func (w *asyncWriter) Sync() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	for len(w.buf) > 0 && !w.closed {
		select {
		case w.kick <- struct{}{}:
		default:
		}
		w.flushed.Wait()
	}
	return nil
}

// Close writes out what is buffered and stops the writer goroutine.
func (w *asyncWriter) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	w.mu.Unlock()
	close(w.kick)
	<-w.done
	return nil
}

// Dropped is the number of lines lost to a full buffer.
func (w *asyncWriter) Dropped() uint64 { return w.dropped.Load() }

func (w *asyncWriter) run() {
	defer close(w.done)
	t := time.NewTicker(w.interval)
	defer t.Stop()
	var spare []byte
	for {
		open := true
		select {
		case _, open = <-w.kick:
		case <-t.C:
		}
		w.mu.Lock()
		batch := w.buf
		w.buf = spare[:0]
		w.mu.Unlock()
		if len(batch) > 0 {
			_, _ = w.out.Write(batch)
		}
		spare = batch
		w.mu.Lock()
		w.flushed.Broadcast()
		w.mu.Unlock()
		if !open {
			return
		}
	}
}
