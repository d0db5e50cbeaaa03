package handlers

import (
	"container/list"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"sync"
	"time"
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
	return c.cache != nil && !unverifiable(password, stored) && c.cache.hit(c.cache.key(userID, password, stored))
}

// Verify reports whether password is userID's password, given the stored
// hash, and whether the stored hash should be replaced with a fresh one.
// Passwords longer than MaxPasswordBytes never match and are never hashed.
// It waits for the hash pool; Service.Login uses cached and verifyNow
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

// credentialCache is a bounded LRU of credential digests with a TTL. It is
// safe for concurrent use.
type credentialCache struct {
	processKey [32]byte
	size       int
	ttl        time.Duration
	now        func() time.Time

	mu      sync.Mutex
	order   *list.List // of *cacheEntry, most recently used first
	entries map[[sha256.Size]byte]*list.Element
}

type cacheEntry struct {
	key     [sha256.Size]byte
	expires time.Time
}

func newCredentialCache(size int, ttl time.Duration, now func() time.Time) *credentialCache {
	c := &credentialCache{
		size:    size,
		ttl:     ttl,
		now:     now,
		order:   list.New(),
		entries: make(map[[sha256.Size]byte]*list.Element, size),
	}
	if _, err := rand.Read(c.processKey[:]); err != nil {
		// crypto/rand does not fail on supported platforms (Go 1.24+
		// crashes instead); keep the compiler honest anyway.
		panic("handlers: no randomness for the credential cache key: " + err.Error())
	}
	return c
}

// key digests one credential. The NUL separators keep the fields apart.
func (c *credentialCache) key(userID, password, stored string) [sha256.Size]byte {
	m := hmac.New(sha256.New, c.processKey[:])
	m.Write([]byte(userID))
	m.Write([]byte{0})
	m.Write([]byte(password))
	m.Write([]byte{0})
	m.Write([]byte(stored))
	var out [sha256.Size]byte
	m.Sum(out[:0])
	return out
}

// hit reports whether key was verified less than ttl ago. Expired entries are
// dropped when found.
func (c *credentialCache) hit(key [sha256.Size]byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[key]
	if !ok {
		return false
	}
	if !c.now().Before(el.Value.(*cacheEntry).expires) {
		c.order.Remove(el)
		delete(c.entries, key)
		return false
	}
	c.order.MoveToFront(el)
	return true
}

// add records a verified credential, evicting the least recently used entry
// when the cache is full. The TTL is counted from verification, not from the
// last hit, so a credential is re-hashed at least once per TTL however often
// it is used.
func (c *credentialCache) add(key [sha256.Size]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	expires := c.now().Add(c.ttl)
	if el, ok := c.entries[key]; ok {
		el.Value.(*cacheEntry).expires = expires
		c.order.MoveToFront(el)
		return
	}
	c.entries[key] = c.order.PushFront(&cacheEntry{key: key, expires: expires})
	for c.order.Len() > c.size {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.entries, last.Value.(*cacheEntry).key)
	}
}

// len is the number of entries, expired or not.
func (c *credentialCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
