package transport

import (
	"context"
	"sync"
	"testing"
	"time"
)

// TestParkFreesTheWorkerAndKeepsOrder: a parked frame gives its worker back
// (with a single worker, another connection's frame runs meanwhile), none of
// the parked connection's later frames run until the resume, and the
// resume's continuation runs before them. A resume that comes before the
// worker has even returned from the frame (the "quick" frame) works the
// same way.
func TestParkFreesTheWorkerAndKeepsOrder(t *testing.T) {
	var mu sync.Mutex
	var log []string
	record := func(s string) { mu.Lock(); log = append(log, s); mu.Unlock() }
	resumes := make(chan func(func()), 1)
	var d *dispatcher
	d = newDispatcher(func(c *conn, body []byte) {
		record(string(body))
		switch string(body) {
		case "a:park":
			resumes <- d.park(c)
		case "a:quick":
			d.park(c)(func() { record("a:quick-then") })
		}
	})
	d.laneOf = func(*conn) laneID { return laneUser }
	d.start(1, 0)
	defer func() { d.stop(); _ = d.wait(context.Background()) }()

	a, b := &conn{id: 1}, &conn{id: 2}
	d.submit(a, []byte("a:park"), 1<<20)
	d.submit(a, []byte("a:after"), 1<<20)
	resume := <-resumes
	d.submit(b, []byte("b:1"), 1<<20)
	eventually(t, 10*time.Second, "b's frame to run on the only worker", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(log) == 2 && log[1] == "b:1"
	})
	if d.idle() {
		t.Fatal("idle with a frame parked")
	}
	resume(func() { record("a:then") })
	d.submit(a, []byte("a:quick"), 1<<20)
	d.submit(a, []byte("a:last"), 1<<20)
	want := []string{"a:park", "b:1", "a:then", "a:after", "a:quick", "a:quick-then", "a:last"}
	eventually(t, 10*time.Second, "a's frames to run", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(log) == len(want)
	})
	mu.Lock()
	defer mu.Unlock()
	if len(log) != len(want) {
		t.Fatalf("ran %q, want %q", log, want)
	}
	for i := range want {
		if log[i] != want[i] {
			t.Fatalf("ran %q, want %q", log, want)
		}
	}
}
