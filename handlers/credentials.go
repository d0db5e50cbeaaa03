package handlers

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"hash"
	"hash/maphash"
	"sync"
	"time"

	"github.com/parley-im/parley/internal/boundmap"
)

// credentials checks passwords: a cache of recently verified credentials in
// front of the argon2id hasher. Like Caddy's basicauth hash cache, a client
// that logs in again with the same password (every restart of the seed client
// does) costs one HMAC instead of 40 ms of CPU and 19 MiB of memory.
//
// The cache never holds a password. Its keys are
// HMAC-SHA256(processKey, userID || 0 || password || 0 || storedHash), with a
// random key that lives only in this process, so a memory dump does not let
// anyone test password guesses offline faster than against the stored hash.
// The stored hash is part of the key: changing a password (or rehashing)
// invalidates every entry for the old one without any bookkeeping.
type credentials struct {
	hash  *hasher
	cache *credentialCache // nil when disabled
}

func newCredentials(hashWorkers, hashQueue, cacheSize int, ttl time.Duration) *credentials {
	c := &credentials{hash: newHasher(hashWorkers, hashQueue)}
	if cacheSize > 0 && ttl > 0 {
		c.cache = newCredentialCache(cacheSize, ttl, time.Now)
	}
	return c
}

// unverifiable reports whether a password is refused without hashing: empty, or
// longer than MaxPasswordBytes (a CPU lever), or no stored hash.
func unverifiable(password, stored string) bool {
	return password == "" || len(password) > MaxPasswordBytes || stored == ""
}

// cached reports whether this exact credential was verified less than the
// TTL ago: the login succeeds without a hash.
func (c *credentials) cached(userID, password, stored string) bool {
	return c.cache != nil && !unverifiable(password, stored) && c.cache.hitFor(userID, c.cache.key(userID, password, stored))
}

// forget makes every credential of userID verified until now miss the
// cache: their next password login is hashed again. Revocation uses it, on
// every node of a cluster.
func (c *credentials) forget(userID string) {
	if c.cache != nil {
		c.cache.forget(userID)
	}
}

// Verify reports whether password is userID's password, given the stored
// hash, and whether the stored hash should be replaced with a fresh one.
// Passwords longer than MaxPasswordBytes never match and are never hashed.
// It waits for the hash pool; Accounts.Login uses cached and verifyNow
// instead, so that no worker waits.
func (c *credentials) Verify(ctx context.Context, userID, password, stored string) (ok, rehash bool, err error) {
	if unverifiable(password, stored) {
		return false, false, nil
	}
	if c.cached(userID, password, stored) {
		return true, false, nil
	}
	var verr error
	if err := c.hash.run(ctx, func() { ok, rehash, verr = c.verifyNow(userID, password, stored) }); err != nil {
		return false, false, err
	}
	return ok, rehash, verr
}

// verifyNow hashes password against stored on the calling goroutine (a pool
// job) and caches a match.
func (c *credentials) verifyNow(userID, password, stored string) (ok, rehash bool, err error) {
	if unverifiable(password, stored) {
		return false, false, nil
	}
	ok, rehash, err = c.hash.verifyNow(password, stored)
	if err != nil || !ok {
		return false, false, err
	}
	// A row that needs rehashing is about to change, so caching it would
	// only hold a dead entry.
	if c.cache != nil && !rehash {
		c.cache.add(c.cache.key(userID, password, stored))
	}
	return true, rehash, nil
}

// Hash returns a new encoded hash of password.
func (c *credentials) Hash(ctx context.Context, password string) (string, error) {
	return c.hash.Hash(ctx, password)
}

// credentialCache is a bounded, approximately LRU set of credential digests
// with a TTL (see boundmap). It is safe for concurrent use.
type credentialCache struct {
	processKey [32]byte
	ttl        time.Duration
	now        func() time.Time
	// entries maps a digest to when its verification expires.
	entries *boundmap.Map[[sha256.Size]byte, time.Time]
	// forgotten maps a user to when their cached credentials were last
	// forgotten (forget): an entry verified before then misses. Digests
	// cannot be listed by user, so the user's entries are judged when used.
	// After ttl every older entry has expired, so a mark needs no longer.
	forgotten *boundmap.Map[string, time.Time]
	// macs holds HMAC states keyed with processKey, reset after use, with
	// a message buffer: every warm login digests its credential, and a new
	// state plus the fields' copies were 10 of a Qt login's 243 allocations
	// (BenchmarkHandlerQtLogin).
	macs sync.Pool
}

func newCredentialCache(size int, ttl time.Duration, now func() time.Time) *credentialCache {
	c := &credentialCache{
		ttl: ttl,
		now: now,
		// An entry is unused for ttl only once it has expired: the TTL is
		// counted from its verification, which was its last add.
		entries:   boundmap.New[[sha256.Size]byte, time.Time](size, ttl, hashDigest),
		forgotten: boundmap.New[string, time.Time](size, ttl, boundmap.String),
	}
	if _, err := rand.Read(c.processKey[:]); err != nil {
		// crypto/rand does not fail on supported platforms (Go 1.24+
		// crashes instead); keep the compiler honest anyway.
		panic("handlers: no randomness for the credential cache key: " + err.Error())
	}
	c.macs.New = func() any { return &credentialMAC{h: hmac.New(sha256.New, c.processKey[:])} }
	return c
}

// hashDigest spreads digests over shards. They are HMAC outputs, already
// uniform, but the seed keeps the placement unknown to clients anyway.
func hashDigest(seed maphash.Seed, k [sha256.Size]byte) uint64 { return maphash.Bytes(seed, k[:]) }

// key digests one credential. The NUL separators keep the fields apart.
func (c *credentialCache) key(userID, password, stored string) [sha256.Size]byte {
	m := c.macs.Get().(*credentialMAC)
	m.msg = append(append(append(append(append(m.msg[:0], userID...), 0), password...), 0), stored...)
	m.h.Write(m.msg)
	var out [sha256.Size]byte
	m.h.Sum(out[:0])
	m.h.Reset()
	clear(m.msg) // no password left behind in the pool
	c.macs.Put(m)
	return out
}

// credentialMAC is a pooled HMAC state and its message buffer.
type credentialMAC struct {
	h   hash.Hash
	msg []byte
}

// hit reports whether key was verified less than ttl ago. Expired entries are
// dropped when found.
func (c *credentialCache) hit(key [sha256.Size]byte) bool {
	now := c.now()
	ok := false
	c.entries.Do(key, now, func(expires *time.Time, found bool) bool {
		ok = found && now.Before(*expires)
		return ok
	})
	return ok
}

// hitFor is hit for a key of userID, missing entries verified before the
// user was last forgotten.
func (c *credentialCache) hitFor(userID string, key [sha256.Size]byte) bool {
	now := c.now()
	var since time.Time
	c.forgotten.Do(userID, now, func(t *time.Time, found bool) bool {
		since = *t
		return found
	})
	ok := false
	c.entries.Do(key, now, func(expires *time.Time, found bool) bool {
		ok = found && now.Before(*expires) && expires.Add(-c.ttl).After(since)
		return ok
	})
	return ok
}

// forget marks userID's entries verified until now as gone.
func (c *credentialCache) forget(userID string) {
	now := c.now()
	c.forgotten.Do(userID, now, func(t *time.Time, _ bool) bool {
		*t = now
		return true
	})
}

// add records a verified credential, evicting a least recently used entry
// when the cache is full. The TTL is counted from verification, not from the
// last hit, so a credential is re-hashed at least once per TTL however often
// it is used.
func (c *credentialCache) add(key [sha256.Size]byte) {
	now := c.now()
	c.entries.Do(key, now, func(expires *time.Time, _ bool) bool {
		*expires = now.Add(c.ttl)
		return true
	})
}

// len is the number of entries, expired or not.
func (c *credentialCache) len() int { return c.entries.Len() }
