package middleware

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

func TestBucketMapLimits(t *testing.T) {
	bm := newBucketMap(100, time.Hour)
	now := time.Now()
	alice := bucketKey{user: "alice"}
	for i := range 3 {
		if !bm.allow(alice, 1, 3, now) {
			t.Fatalf("request %d of a burst of 3 refused", i+1)
		}
	}
	if bm.allow(alice, 1, 3, now) {
		t.Fatal("fourth request of a burst of 3 allowed")
	}
	if !bm.allow(bucketKey{user: "bob"}, 1, 3, now) {
		t.Fatal("another key shares alice's bucket")
	}
	if !bm.allow(bucketKey{rule: 1, user: "alice"}, 1, 3, now) {
		t.Fatal("another rule shares alice's bucket")
	}
	if !bm.allow(alice, 1, 3, now.Add(time.Second)) {
		t.Fatal("bucket did not refill at 1/s")
	}
}

// TestBucketMapIsBounded floods the map with a million distinct addresses,
// the attack a per-IP limit invites, and checks it never holds more than its
// cap.
func TestBucketMapIsBounded(t *testing.T) {
	n := 1_000_000
	if testing.Short() || raceEnabled {
		n = 200_000
	}
	const maxEntries = 1000
	bm := newBucketMap(maxEntries, time.Hour)
	now := time.Now()
	for i := range n {
		a := netip.AddrFrom4([4]byte{byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i)})
		bm.allow(bucketKey{addr: a}, 1, 1, now)
		if i%50_000 == 0 && bm.len() > maxEntries {
			t.Fatalf("after %d keys the map holds %d > %d", i+1, bm.len(), maxEntries)
		}
	}
	if got := bm.len(); got > maxEntries || got < maxEntries/2 {
		t.Fatalf("map holds %d entries, want at most %d (and not far below)", got, maxEntries)
	}
}

// TestBucketMapEvictsOldest checks that a full map forgets a stale client
// before a recently active one.
func TestBucketMapEvictsOldest(t *testing.T) {
	bm := newBucketMap(1, time.Hour) // one shard of one entry
	t0 := time.Now()
	bm.allow(bucketKey{user: "old"}, 1, 1, t0)
	bm.allow(bucketKey{user: "new"}, 1, 1, t0.Add(time.Minute))
	if bm.len() != 1 {
		t.Fatalf("len %d, want 1", bm.len())
	}
	// "new" was kept: its bucket is still empty, so it is refused.
	if bm.allow(bucketKey{user: "new"}, 1e-9, 1, t0.Add(time.Minute)) {
		t.Fatal("the newer entry was evicted instead of the older one")
	}
}

func TestBucketMapSweepsIdle(t *testing.T) {
	const ttl = time.Minute
	bm := newBucketMap(10_000, ttl)
	t0 := time.Now()
	for i := range 500 {
		bm.allow(bucketKey{user: fmt.Sprint("u", i)}, 1, 1, t0)
	}
	if bm.len() != 500 {
		t.Fatalf("len %d, want 500", bm.len())
	}
	// Touch every shard after the TTL: each sweeps itself and keeps only the
	// key that touched it.
	later := t0.Add(ttl + time.Second)
	for i := range 10_000 {
		bm.allow(bucketKey{user: fmt.Sprint("v", i)}, 1, 1, later)
	}
	for i := range 500 {
		var kept bool
		bm.m.Do(bucketKey{user: fmt.Sprint("u", i)}, later, func(_ **rate.Limiter, found bool) bool {
			kept = found
			return found
		})
		if kept {
			t.Fatalf("u%d idle for longer than idle_ttl was not swept", i)
		}
	}
}
