package middleware

import (
	"hash/maphash"
	"math"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// bucketMap holds the token buckets of one scope (users, or addresses) for the
// ratelimit middleware. Its keys come from clients, so it is bounded twice:
//
//   - by size: at most maxEntries buckets. A new key arriving at a full shard
//     evicts an approximately least recently used bucket (the oldest of a
//     small random sample, as Redis does), in constant time. Eviction only
//     ever forgets a client, which then starts again with a full bucket: a
//     flood of new keys can make limits more lenient for a moment, never
//     refuse a well-behaved client.
//   - by time: a bucket unused for idleTTL is dropped. Nothing sweeps in the
//     background (no goroutine to start or stop): a shard sweeps itself when
//     it is touched and its last sweep is older than idleTTL/2, so the cost
//     is amortised over the calls that caused the growth.
//
// A million distinct addresses therefore cost at most maxEntries buckets. The
// map is sharded so that workers limiting different clients rarely contend;
// each call holds one shard's lock for a map lookup and a token update.
type bucketMap struct {
	seed     maphash.Seed
	shards   []bucketShard
	perShard int
	idleTTL  int64 // nanoseconds
}

// bucketKey names one bucket: the rule that owns it (rules have separate
// budgets) and the client, by user id or by address.
type bucketKey struct {
	rule int32
	user string
	addr netip.Addr
}

type bucketShard struct {
	mu        sync.Mutex
	m         map[bucketKey]*bucket
	nextSweep int64 // unix nanoseconds
}

type bucket struct {
	lim  *rate.Limiter
	seen int64 // unix nanoseconds of the last use, guarded by the shard lock
}

const (
	maxBucketShards = 32
	// evictSample is how many entries a full shard inspects to choose the one
	// to evict. Eight finds an entry older than most of the shard with high
	// probability, at the cost of eight map iterations.
	evictSample = 8
)

// newBucketMap returns an empty map holding at most maxEntries buckets
// (maxEntries >= 1).
func newBucketMap(maxEntries int, idleTTL time.Duration) *bucketMap {
	n := min(maxBucketShards, maxEntries)
	bm := &bucketMap{
		seed:     maphash.MakeSeed(),
		shards:   make([]bucketShard, n),
		perShard: maxEntries / n, // rounding down keeps the total within maxEntries
		idleTTL:  int64(idleTTL),
	}
	for i := range bm.shards {
		bm.shards[i].m = make(map[bucketKey]*bucket)
	}
	return bm
}

// allow takes one token from k's bucket at time now, and reports whether
// there was one. A new key gets a full bucket of burst tokens refilled at r
// per second. It never blocks beyond the shard lock.
func (bm *bucketMap) allow(k bucketKey, r rate.Limit, burst int, now time.Time) bool {
	sh := bm.shard(k)
	t := now.UnixNano()
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if t >= sh.nextSweep {
		sh.sweep(t - bm.idleTTL)
		sh.nextSweep = t + bm.idleTTL/2
	}
	b, ok := sh.m[k]
	if !ok {
		if len(sh.m) >= bm.perShard {
			sh.evict(t - bm.idleTTL)
		}
		b = &bucket{lim: rate.NewLimiter(r, burst)}
		sh.m[k] = b
	}
	b.seen = t
	return b.lim.AllowN(now, 1)
}

// len counts the buckets held, for tests and gauges.
func (bm *bucketMap) len() int {
	n := 0
	for i := range bm.shards {
		sh := &bm.shards[i]
		sh.mu.Lock()
		n += len(sh.m)
		sh.mu.Unlock()
	}
	return n
}

func (bm *bucketMap) shard(k bucketKey) *bucketShard {
	var h uint64
	if k.user != "" {
		h = maphash.String(bm.seed, k.user)
	} else {
		a := k.addr.As16()
		h = maphash.Bytes(bm.seed, a[:])
	}
	return &bm.shards[h%uint64(len(bm.shards))]
}

// sweep drops every bucket last used before cutoff.
func (sh *bucketShard) sweep(cutoff int64) {
	for k, b := range sh.m {
		if b.seen < cutoff {
			delete(sh.m, k)
		}
	}
}

// evict makes room for one bucket. Go starts every map iteration at a random
// position, so the first entries of a range are a cheap random sample: drop
// those idle past cutoff, or failing that the least recently used of them.
func (sh *bucketShard) evict(cutoff int64) {
	var (
		oldestKey bucketKey
		oldest    = int64(math.MaxInt64)
		dropped   bool
		seen      int
	)
	for k, b := range sh.m {
		if b.seen < cutoff {
			delete(sh.m, k)
			dropped = true
		} else if b.seen < oldest {
			oldest, oldestKey = b.seen, k
		}
		if seen++; seen == evictSample {
			break
		}
	}
	if !dropped && oldest != math.MaxInt64 {
		delete(sh.m, oldestKey)
	}
}
