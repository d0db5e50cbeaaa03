package middleware

import (
	"hash/maphash"
	"net/netip"
	"time"

	"golang.org/x/time/rate"

	"github.com/parley-im/parley/internal/boundmap"
)

// bucketMap holds the token buckets of one scope (users, or addresses) for the
// ratelimit middleware. Its keys come from clients, so it is bounded in size
// and in time (see boundmap). Eviction only ever forgets a client, which then
// starts again with a full bucket: a flood of new keys can make limits more
// lenient for a moment, never refuse a well-behaved client. A million
// distinct addresses therefore cost at most maxEntries buckets.
type bucketMap struct {
	m *boundmap.Map[bucketKey, *rate.Limiter]
}

// bucketKey names one bucket: the rule that owns it (rules have separate
// budgets) and the client, by user id or by address.
type bucketKey struct {
	rule int32
	user string
	addr netip.Addr
}

func hashBucketKey(seed maphash.Seed, k bucketKey) uint64 {
	if k.user != "" {
		return maphash.String(seed, k.user)
	}
	a := k.addr.As16()
	return maphash.Bytes(seed, a[:])
}

// newBucketMap returns an empty map holding at most maxEntries buckets
// (maxEntries >= 1).
func newBucketMap(maxEntries int, idleTTL time.Duration) *bucketMap {
	return &bucketMap{m: boundmap.New[bucketKey, *rate.Limiter](maxEntries, idleTTL, hashBucketKey)}
}

// allow takes one token from k's bucket at time now, and reports whether
// there was one. A new key gets a full bucket of burst tokens refilled at r
// per second. It never blocks beyond the shard lock.
func (bm *bucketMap) allow(k bucketKey, r rate.Limit, burst int, now time.Time) bool {
	var ok bool
	bm.m.Do(k, now, func(lim **rate.Limiter, found bool) bool {
		if !found {
			*lim = rate.NewLimiter(r, burst)
		}
		ok = (*lim).AllowN(now, 1)
		return true
	})
	return ok
}

// len counts the buckets held, for tests and gauges.
func (bm *bucketMap) len() int { return bm.m.Len() }
