package handlers

import (
	"hash/maphash"
	"sync"
	"time"
)

// friendCache remembers, for a short while, pairs of users the store said
// are friends, so send_message does not run an AreFriends query for every
// message (docs/PERFORMANCE.md, "Friendship check"). Only positive answers
// are kept: a refusal always asks the store again.
//
// Correctness with delete_friend: DeleteFriend calls forget after the
// store's delete returned (committed or not), which drops the entry and
// bumps the shard's generation. A lookup that missed reads the generation
// before its store query and adds the pair only if the generation did not
// move, so a query that raced with a delete cannot re-insert a stale
// friendship. A friendship removed behind this process's back (another
// node, manual SQL) is noticed within ttl.
//
// It is bounded (maxEntries in total, evicting an arbitrary entry of a full
// shard) and safe for concurrent use. It is not built on internal/boundmap:
// a hit here is a read under a read lock, with no recency to record, on the
// path of every message; on boundmap it measured about 7% slower per hit.
type friendCache struct {
	seed   maphash.Seed
	ttl    time.Duration
	perCap int
	now    func() time.Time
	shards [friendShards]friendShard
}

const (
	friendShards = 64
	// friendCacheEntries bounds the cache: about 100 bytes an entry, so a
	// few MiB at most.
	friendCacheEntries = 1 << 16
	friendCacheTTL     = time.Minute
)

type friendShard struct {
	mu  sync.RWMutex
	gen uint64
	m   map[friendPair]int64 // expiry, unix nanoseconds
}

// friendPair is an unordered pair: friendship rows come in pairs, both
// directions written together, so one entry answers both.
type friendPair struct{ lo, hi string }

func pairOf(a, b string) friendPair {
	if b < a {
		a, b = b, a
	}
	return friendPair{a, b}
}

func newFriendCache(entries int, ttl time.Duration, now func() time.Time) *friendCache {
	c := &friendCache{seed: maphash.MakeSeed(), ttl: ttl, perCap: max(1, entries/friendShards), now: now}
	for i := range c.shards {
		c.shards[i].m = make(map[friendPair]int64)
	}
	return c
}

func (c *friendCache) shard(p friendPair) *friendShard {
	var h maphash.Hash
	h.SetSeed(c.seed)
	h.WriteString(p.lo)
	h.WriteByte(0)
	h.WriteString(p.hi)
	return &c.shards[h.Sum64()%friendShards]
}

// lookup reports whether a and b are known friends; when not, it returns
// the generation to pass to add after asking the store.
func (c *friendCache) lookup(a, b string) (ok bool, gen uint64) {
	p := pairOf(a, b)
	sh := c.shard(p)
	sh.mu.RLock()
	exp, hit := sh.m[p]
	gen = sh.gen
	sh.mu.RUnlock()
	return hit && c.now().UnixNano() < exp, gen
}

// add records that the store said a and b are friends, unless forget ran
// for this shard since lookup returned gen.
func (c *friendCache) add(a, b string, gen uint64) {
	p := pairOf(a, b)
	sh := c.shard(p)
	exp := c.now().Add(c.ttl).UnixNano()
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.gen != gen {
		return
	}
	if _, ok := sh.m[p]; !ok && len(sh.m) >= c.perCap {
		for k := range sh.m { // map order is unspecified: an arbitrary victim
			delete(sh.m, k)
			break
		}
	}
	sh.m[p] = exp
}

// forget drops the pair (after its friendship was deleted, or may have been).
func (c *friendCache) forget(a, b string) {
	p := pairOf(a, b)
	sh := c.shard(p)
	sh.mu.Lock()
	delete(sh.m, p)
	sh.gen++
	sh.mu.Unlock()
}
