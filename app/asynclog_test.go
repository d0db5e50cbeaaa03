package app

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
	"time"
)

// blockingWriter stands for a stderr pipe nobody reads.
type blockingWriter struct {
	release chan struct{}
	mu      sync.Mutex
	got     bytes.Buffer
}

func (b *blockingWriter) Write(p []byte) (int, error) {
	<-b.release
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.got.Write(p)
}

func TestAsyncWriterNeverBlocksAndDropsWhenFull(t *testing.T) {
	out := &blockingWriter{release: make(chan struct{})}
	w := newAsyncWriter(out, 1024, time.Millisecond)
	start := time.Now()
	for i := range 1000 {
		fmt.Fprintf(w, "line %04d\n", i) // 10 bytes each, 10 KB in all
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("writes blocked for %v on a stalled output", d)
	}
	if w.Dropped() == 0 {
		t.Fatal("a full buffer dropped nothing")
	}
	close(out.release)
	if err := w.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	written := out.got.Len() / 10
	if written == 0 || uint64(written)+w.Dropped() != 1000 {
		t.Fatalf("written %d + dropped %d != 1000", written, w.Dropped())
	}
}

func TestAsyncWriterSyncAndCloseFlush(t *testing.T) {
	var out bytes.Buffer
	var mu sync.Mutex
	w := newAsyncWriter(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return out.Write(p)
	}), 1<<20, time.Hour) // the ticker never fires: only Sync/Close flush
	fmt.Fprint(w, "first\n")
	if err := w.Sync(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if out.String() != "first\n" {
		t.Fatalf("after Sync: %q", out.String())
	}
	mu.Unlock()
	fmt.Fprint(w, "second\n")
	_ = w.Close()
	if out.String() != "first\nsecond\n" {
		t.Fatalf("after Close: %q", out.String())
	}
	fmt.Fprint(w, "late\n") // after Close: dropped, not a panic
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
