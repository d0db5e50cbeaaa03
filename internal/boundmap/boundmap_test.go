package boundmap

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

func count(m *Map[string, int], k string, now time.Time) int {
	var n int
	m.Do(k, now, func(v *int, _ bool) bool {
		*v++
		n = *v
		return true
	})
	return n
}

func has(m *Map[string, int], k string, now time.Time) bool {
	var found bool
	m.Do(k, now, func(_ *int, f bool) bool { found = f; return f })
	return found
}

func TestDoAddsUpdatesAndDeletes(t *testing.T) {
	m := New[string, int](100, time.Hour, String)
	now := time.Now()
	if count(m, "a", now) != 1 || count(m, "a", now) != 2 || count(m, "b", now) != 1 {
		t.Fatal("values not kept per key")
	}
	m.Do("a", now, func(*int, bool) bool { return false }) // keep false deletes
	m.Do("c", now, func(*int, bool) bool { return false }) // and does not add
	if has(m, "a", now) || has(m, "c", now) || m.Len() != 1 {
		t.Fatalf("len %d after deleting a and not adding c", m.Len())
	}
	m.Delete("b")
	if m.Len() != 0 {
		t.Fatal("Delete kept b")
	}
}

// TestEvictsLeastRecentlyUsed: a small map is one shard, and a full shard
// evicts its least recently used entry, even when every use has the same
// clock reading.
func TestEvictsLeastRecentlyUsed(t *testing.T) {
	m := New[string, int](3, time.Hour, String)
	now := time.Now()
	for _, k := range []string{"a", "b", "c", "a", "d"} { // b is the LRU when d arrives
		count(m, k, now)
	}
	if m.Len() != 3 || has(m, "b", now) || !has(m, "a", now) || !has(m, "c", now) || !has(m, "d", now) {
		t.Fatalf("len %d; want a, c, d kept and b evicted", m.Len())
	}
}

// TestBoundedUnderFlood: a million distinct keys, the attack a map keyed by
// client input invites, never hold more than the bound.
func TestBoundedUnderFlood(t *testing.T) {
	const maxEntries = 1000
	m := New[string, int](maxEntries, time.Hour, String)
	now := time.Now()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50_000 {
				count(m, fmt.Sprint(g, "/", i), now)
			}
		}()
	}
	wg.Wait()
	if got := m.Len(); got > maxEntries || got < maxEntries/2 {
		t.Fatalf("holds %d entries, want at most %d (and not far below)", got, maxEntries)
	}
}

func TestSweepsIdle(t *testing.T) {
	const ttl = time.Minute
	m := New[string, int](10_000, ttl, String)
	t0 := time.Now()
	for i := range 500 {
		count(m, fmt.Sprint("u", i), t0)
	}
	// Touch every shard after the TTL: each sweeps itself.
	later := t0.Add(ttl + time.Second)
	for i := range 10_000 {
		count(m, fmt.Sprint("v", i), later)
	}
	for i := range 500 {
		if has(m, fmt.Sprint("u", i), later) {
			t.Fatalf("u%d idle for longer than the TTL was not swept", i)
		}
	}
}
