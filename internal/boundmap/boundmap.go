// Package boundmap is the one bounded, expiring, concurrent map behind the
// server's state keyed by client input: rate-limit buckets, failed-login
// windows, verified credentials. Such keys are chosen by clients, so the map
// is bounded twice:
//
//   - by size: at most maxEntries entries. A new key arriving at a full shard
//     evicts an approximately least recently used entry (the oldest of a
//     small random sample, as Redis does), in constant time. Callers keep
//     only state whose loss is harmless: an evicted client starts afresh.
//   - by time: an entry unused for idleTTL is dropped. Nothing sweeps in the
//     background (no goroutine to start or stop): a shard sweeps itself when
//     it is touched and its last sweep is older than idleTTL/2, so the cost
//     is amortised over the calls that caused the growth.
//
// It is sharded so that workers touching different keys rarely contend; a
// call holds one shard's lock for a map lookup and the caller's update.
package boundmap

import (
	"hash/maphash"
	"math"
	"sync"
	"time"
)

// Map is a bounded, expiring map from K to V, safe for concurrent use.
type Map[K comparable, V any] struct {
	hash     func(maphash.Seed, K) uint64
	seed     maphash.Seed
	shards   []shard[K, V]
	perShard int
	idleTTL  int64 // nanoseconds
}

type shard[K comparable, V any] struct {
	mu        sync.Mutex
	m         map[K]*entry[V]
	nextSweep int64  // unix nanoseconds
	tick      uint64 // counts uses, to order entries used within one clock tick
}

type entry[V any] struct {
	v    V
	seen int64  // unix nanoseconds of the last use, for idleTTL
	used uint64 // the shard's tick at the last use, for eviction
}

const (
	maxShards = 32
	// minPerShard keeps small maps in few shards, so that eviction compares
	// most of the map (a 3-entry map is one shard: exact LRU).
	minPerShard = 64
	// evictSample is how many entries a full shard inspects to choose the one
	// to evict. Eight finds an entry older than most of the shard with high
	// probability, at the cost of eight map iterations.
	evictSample = 8
)

// New returns an empty map holding at most maxEntries entries (at least
// one), each dropped after idleTTL unused. hash spreads keys over shards; the
// seed it gets is random per map, so clients cannot aim at one shard.
func New[K comparable, V any](maxEntries int, idleTTL time.Duration, hash func(maphash.Seed, K) uint64) *Map[K, V] {
	maxEntries = max(1, maxEntries)
	n := min(maxShards, max(1, maxEntries/minPerShard))
	m := &Map[K, V]{
		hash:     hash,
		seed:     maphash.MakeSeed(),
		shards:   make([]shard[K, V], n),
		perShard: maxEntries / n, // rounding down keeps the total within maxEntries
		idleTTL:  int64(idleTTL),
	}
	for i := range m.shards {
		m.shards[i].m = make(map[K]*entry[V])
	}
	return m
}

// Do calls f with k's value under the shard's lock, at time now, and counts
// it as a use of k. found is false when k is absent: v then points at a zero
// V, which is added if f returns keep (evicting another entry if the shard is
// full). keep false deletes k. f must be short and must not call the map.
func (m *Map[K, V]) Do(k K, now time.Time, f func(v *V, found bool) (keep bool)) {
	sh := &m.shards[m.hash(m.seed, k)%uint64(len(m.shards))]
	t := now.UnixNano()
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if t >= sh.nextSweep {
		sh.sweep(t - m.idleTTL)
		sh.nextSweep = t + m.idleTTL/2
	}
	sh.tick++
	e, found := sh.m[k]
	if !found {
		e = new(entry[V])
	}
	if !f(&e.v, found) {
		if found {
			delete(sh.m, k)
		}
		return
	}
	e.seen, e.used = t, sh.tick
	if !found {
		if len(sh.m) >= m.perShard {
			sh.evict(t - m.idleTTL)
		}
		sh.m[k] = e
	}
}

// Delete drops k.
func (m *Map[K, V]) Delete(k K) {
	sh := &m.shards[m.hash(m.seed, k)%uint64(len(m.shards))]
	sh.mu.Lock()
	delete(sh.m, k)
	sh.mu.Unlock()
}

// Len counts the entries held, expired or not, for tests and gauges.
func (m *Map[K, V]) Len() int {
	n := 0
	for i := range m.shards {
		sh := &m.shards[i]
		sh.mu.Lock()
		n += len(sh.m)
		sh.mu.Unlock()
	}
	return n
}

// sweep drops every entry last used before cutoff.
func (sh *shard[K, V]) sweep(cutoff int64) {
	for k, e := range sh.m {
		if e.seen < cutoff {
			delete(sh.m, k)
		}
	}
}

// evict makes room for one entry. Go starts every map iteration at a random
// position, so the first entries of a range are a cheap random sample: drop
// those idle past cutoff, or failing that the least recently used of them.
func (sh *shard[K, V]) evict(cutoff int64) {
	var (
		oldestKey K
		oldest    = uint64(math.MaxUint64)
		dropped   bool
		seen      int
	)
	for k, e := range sh.m {
		if e.seen < cutoff {
			delete(sh.m, k)
			dropped = true
		} else if e.used < oldest {
			oldest, oldestKey = e.used, k
		}
		if seen++; seen == evictSample {
			break
		}
	}
	if !dropped && oldest != math.MaxUint64 {
		delete(sh.m, oldestKey)
	}
}

// String hashes string keys.
func String(seed maphash.Seed, k string) uint64 { return maphash.String(seed, k) }
