package transport

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestDispatcherOrderAndParallelism: every connection's frames run in the
// order submitted, and never two of one connection at the same time, while
// many connections share the workers.
func TestDispatcherOrderAndParallelism(t *testing.T) {
	const conns, perConn = 40, 300
	var mu sync.Mutex
	got := make(map[uint64][]int)
	running := make([]atomic.Int32, conns)
	var overlap atomic.Bool
	d := newDispatcher(func(c *conn, body []byte) {
		if running[c.id].Add(1) != 1 {
			overlap.Store(true)
		}
		var n int
		_, _ = fmt.Sscan(string(body), &n)
		mu.Lock()
		got[c.id] = append(got[c.id], n)
		mu.Unlock()
		running[c.id].Add(-1)
	})
	d.laneOf = func(*conn) laneID { return laneUser }
	d.start(8, 0)
	cs := make([]*conn, conns)
	for i := range cs {
		cs[i] = &conn{id: uint64(i)}
	}
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Go(func() {
			for n := range perConn {
				for d.submit(c, []byte(fmt.Sprint(n)), 1<<20) == putOverflow {
					time.Sleep(time.Millisecond)
				}
			}
		})
	}
	wg.Wait()
	eventually(t, 10*time.Second, "all frames to run", func() bool { return d.queued.Load() == 0 && allRan(&mu, got, conns, perConn) })
	d.stop()
	if err := d.wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	if overlap.Load() {
		t.Fatal("two frames of one connection ran at the same time")
	}
	for id, ns := range got {
		for i, n := range ns {
			if n != i {
				t.Fatalf("conn %d: frame %d is %d", id, i, n)
			}
		}
	}
}

func allRan(mu *sync.Mutex, got map[uint64][]int, conns, perConn int) bool {
	mu.Lock()
	defer mu.Unlock()
	if len(got) != conns {
		return false
	}
	for _, ns := range got {
		if len(ns) != perConn {
			return false
		}
	}
	return true
}

// TestDispatcherFairness: with one worker, a connection with a long backlog
// yields after a batch, so a connection queued behind it waits for at most
// one batch, not the whole backlog.
func TestDispatcherFairness(t *testing.T) {
	var order []uint64
	d := newDispatcher(func(c *conn, _ []byte) { order = append(order, c.id) }) // one worker: no race
	d.laneOf = func(*conn) laneID { return laneUser }
	busy, quiet := &conn{id: 1}, &conn{id: 2}
	for range 1000 {
		d.submit(busy, []byte("x"), 1<<20)
	}
	d.submit(quiet, []byte("y"), 1<<20)
	d.start(1, 0)
	eventually(t, 5*time.Second, "backlog to drain", func() bool { return d.queued.Load() == 0 })
	d.stop()
	if err := d.wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i, id := range order {
		if id == quiet.id {
			if i > batchSize {
				t.Fatalf("quiet connection ran after %d frames of the busy one", i)
			}
			return
		}
	}
	t.Fatal("quiet connection never ran")
}

func TestMailboxLimitAndClose(t *testing.T) {
	var m mailbox
	limit := 2*(10+frameOverhead) + 5
	if r := m.put(make([]byte, 10), limit); r != putScheduled {
		t.Fatalf("first put = %v", r)
	}
	if r := m.put(make([]byte, 10), limit); r != putQueued {
		t.Fatalf("second put = %v", r)
	}
	if r := m.put(nil, limit); r != putOverflow {
		t.Fatalf("third put = %v, want overflow (zero-length frames cost too)", r)
	}
	if body, ok := m.take(); !ok || len(body) != 10 {
		t.Fatal("take failed")
	}
	if r := m.put(nil, limit); r != putQueued {
		t.Fatalf("put after take = %v", r)
	}
	if n := m.close(); n != 2 {
		t.Fatalf("close dropped %d, want 2", n)
	}
	if r := m.put(nil, limit); r != putDropped {
		t.Fatalf("put after close = %v", r)
	}
	if _, ok := m.take(); ok || m.busy() {
		t.Fatal("closed mailbox still gives frames or holds its turn")
	}
}

// TestMailboxCompacts: under a steady backlog the array is reused instead
// of growing with every frame ever queued.
func TestMailboxCompacts(t *testing.T) {
	var m mailbox
	for i := range 100 {
		m.put([]byte{byte(i)}, 1<<20)
	}
	for i := range 100000 {
		m.put([]byte{byte(i)}, 1<<20)
		if _, ok := m.take(); !ok {
			t.Fatal("take failed")
		}
	}
	if len(m.frames) > 400 {
		t.Fatalf("%d slots for a backlog of 100", len(m.frames))
	}
}
