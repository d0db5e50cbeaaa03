package handlers

import (
	"context"
	"crypto/sha256"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is a settable time source for TTL tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newTestCredentials(t *testing.T, size int, ttl time.Duration) (*credentials, *fakeClock) {
	t.Helper()
	clock := &fakeClock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	c := newCredentials(2, 0, 0, 0)
	if size > 0 {
		c.cache = newCredentialCache(size, ttl, clock.now)
	}
	return c, clock
}

func mustHash(t *testing.T, c *credentials, pw string) string {
	t.Helper()
	h, err := c.Hash(context.Background(), pw)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func mustVerify(t *testing.T, c *credentials, user, pw, stored string) bool {
	t.Helper()
	ok, _, err := c.Verify(context.Background(), user, pw, stored)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

func TestHashFormat(t *testing.T) {
	c, _ := newTestCredentials(t, 0, 0)
	h := mustHash(t, c, "666")
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("unexpected encoding %q", h)
	}
	if strings.Contains(h, "666") {
		t.Fatal("hash contains the password")
	}
	if h2 := mustHash(t, c, "666"); h2 == h {
		t.Fatal("two hashes of the same password are equal: salt not random")
	}
	if !mustVerify(t, c, "1", "666", h) {
		t.Fatal("right password refused")
	}
	if mustVerify(t, c, "1", "667", h) {
		t.Fatal("wrong password accepted")
	}
}

func TestCacheHitSkipsHash(t *testing.T) {
	c, _ := newTestCredentials(t, 8, time.Minute)
	h := mustHash(t, c, "pw")
	before := c.hash.runs.Load()
	if !mustVerify(t, c, "u", "pw", h) {
		t.Fatal("refused")
	}
	if got := c.hash.runs.Load() - before; got != 1 {
		t.Fatalf("first verify ran argon2 %d times, want 1", got)
	}
	for i := 0; i < 3; i++ {
		if !mustVerify(t, c, "u", "pw", h) {
			t.Fatal("cached credential refused")
		}
	}
	if got := c.hash.runs.Load() - before; got != 1 {
		t.Fatalf("cached verifies ran argon2: %d runs in total, want 1", got)
	}
}

func TestCacheWrongPasswordMisses(t *testing.T) {
	c, _ := newTestCredentials(t, 8, time.Minute)
	h := mustHash(t, c, "pw")
	mustVerify(t, c, "u", "pw", h) // cached now
	before := c.hash.runs.Load()
	if mustVerify(t, c, "u", "PW", h) {
		t.Fatal("wrong password accepted")
	}
	if c.hash.runs.Load() == before {
		t.Fatal("wrong password was answered from the cache")
	}
	// Same password, other user: another credential, not a hit.
	before = c.hash.runs.Load()
	mustVerify(t, c, "v", "pw", h)
	if c.hash.runs.Load() == before {
		t.Fatal("another user's credential was answered from the cache")
	}
	// A failed verification is never remembered.
	before = c.hash.runs.Load()
	mustVerify(t, c, "u", "PW", h)
	if c.hash.runs.Load() == before {
		t.Fatal("a failure was cached")
	}
}

func TestCacheSizeBound(t *testing.T) {
	c, _ := newTestCredentials(t, 3, time.Hour)
	for i := 0; i < 10; i++ {
		var k [sha256.Size]byte
		k[0] = byte(i)
		c.cache.add(k)
		if n := c.cache.len(); n > 3 {
			t.Fatalf("cache holds %d entries, bound is 3", n)
		}
	}
	var oldest, newest [sha256.Size]byte
	oldest[0], newest[0] = 0, 9
	if c.cache.hit(oldest) {
		t.Error("least recently used entry was not evicted")
	}
	if !c.cache.hit(newest) {
		t.Error("newest entry missing")
	}
}

func TestCacheTTL(t *testing.T) {
	c, clock := newTestCredentials(t, 8, time.Minute)
	h := mustHash(t, c, "pw")
	mustVerify(t, c, "u", "pw", h)
	clock.advance(59 * time.Second)
	before := c.hash.runs.Load()
	mustVerify(t, c, "u", "pw", h)
	if c.hash.runs.Load() != before {
		t.Fatal("entry expired early")
	}
	clock.advance(2 * time.Second)
	if !mustVerify(t, c, "u", "pw", h) {
		t.Fatal("refused after expiry")
	}
	if c.hash.runs.Load() == before {
		t.Fatal("expired entry still skipped the hash")
	}
}

func TestCacheChangedHashInvalidates(t *testing.T) {
	c, _ := newTestCredentials(t, 8, time.Hour)
	oldHash := mustHash(t, c, "old")
	mustVerify(t, c, "u", "old", oldHash)
	newHash := mustHash(t, c, "new")
	before := c.hash.runs.Load()
	if mustVerify(t, c, "u", "old", newHash) {
		t.Fatal("old password accepted against the new hash")
	}
	if c.hash.runs.Load() == before {
		t.Fatal("verification against a changed hash came from the cache")
	}
}

func TestCacheDisabled(t *testing.T) {
	c := newCredentials(1, 0, 0, time.Minute)
	if c.cache != nil {
		t.Fatal("size 0 should disable the cache")
	}
	h := mustHash(t, c, "pw")
	before := c.hash.runs.Load()
	mustVerify(t, c, "u", "pw", h)
	mustVerify(t, c, "u", "pw", h)
	if got := c.hash.runs.Load() - before; got != 2 {
		t.Fatalf("argon2 ran %d times, want 2 without a cache", got)
	}
}

func TestCacheNeverHoldsPlaintext(t *testing.T) {
	c, _ := newTestCredentials(t, 8, time.Hour)
	h := mustHash(t, c, "secret-password")
	mustVerify(t, c, "u", "secret-password", h)
	// The cache's keys are digests by type; the one entry is this one.
	if n := c.cache.len(); n != 1 {
		t.Fatalf("%d entries, want 1", n)
	}
	k := c.cache.key("u", "secret-password", h)
	if !c.cache.hit(k) || strings.Contains(string(k[:]), "secret") {
		t.Fatal("the cached key is not the digest, or holds plaintext")
	}
}

func TestLegacyPlaintextNeedsRehash(t *testing.T) {
	c, _ := newTestCredentials(t, 8, time.Hour)
	ok, rehash, err := c.Verify(context.Background(), "1", "666", "666")
	if err != nil || !ok || !rehash {
		t.Fatalf("legacy row: ok=%v rehash=%v err=%v, want ok and rehash", ok, rehash, err)
	}
	ok, _, _ = c.Verify(context.Background(), "1", "66", "666")
	if ok {
		t.Fatal("wrong legacy password accepted")
	}
}

func TestOldParamsNeedRehash(t *testing.T) {
	c, _ := newTestCredentials(t, 0, 0)
	c.hash.params = argon2Params{Time: 1, Memory: 8 * 1024, Threads: 1, KeyLen: 32}
	old := mustHash(t, c, "pw")
	c.hash.params = currentParams
	ok, rehash, err := c.Verify(context.Background(), "u", "pw", old)
	if err != nil || !ok || !rehash {
		t.Fatalf("ok=%v rehash=%v err=%v, want ok and rehash", ok, rehash, err)
	}
}

func TestRefusesWithoutHashing(t *testing.T) {
	c, _ := newTestCredentials(t, 0, 0)
	h := mustHash(t, c, "pw")
	before := c.hash.runs.Load()
	for _, pw := range []string{"", strings.Repeat("x", MaxPasswordBytes+1)} {
		if mustVerify(t, c, "u", pw, h) {
			t.Fatalf("password of %d bytes accepted", len(pw))
		}
	}
	if mustVerify(t, c, "u", "pw", "") {
		t.Fatal("empty stored hash accepted")
	}
	if c.hash.runs.Load() != before {
		t.Fatal("hashed an input that should be refused up front")
	}
}

func TestMalformedHashes(t *testing.T) {
	c, _ := newTestCredentials(t, 0, 0)
	for _, s := range []string{
		"$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$",
		"$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=18$m=19456,t=2,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=99999999,t=2,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5",
		"$bcrypt$",
	} {
		ok, _, err := c.Verify(context.Background(), "u", "pw", s)
		if ok || !errors.Is(err, errMalformedHash) {
			t.Errorf("%q: ok=%v err=%v, want errMalformedHash", s, ok, err)
		}
	}
}

// occupy fills every hash worker of h with a job that waits for the returned
// release, and waits until they all run.
func occupy(t *testing.T, h *hasher) (release func()) {
	t.Helper()
	gate := make(chan struct{})
	var started sync.WaitGroup
	started.Add(h.pool.workers)
	for range h.pool.workers {
		if !h.pool.submit(func() { started.Done(); <-gate }) {
			t.Fatal("pool refused a job with a worker free")
		}
	}
	started.Wait()
	var once sync.Once
	release = func() { once.Do(func() { close(gate) }) }
	t.Cleanup(release)
	return release
}

func TestHashWaitsForSlotAndHonoursContext(t *testing.T) {
	c := newCredentials(1, 0, 0, 0)
	release := occupy(t, c.hash)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Hash(ctx, "pw"); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled while every worker is busy", err)
	}
	release()
	if _, err := c.Hash(context.Background(), "pw"); err != nil {
		t.Fatal(err)
	}
}

// A hash that finds the queue full is refused at once (overloaded) rather
// than queued without bound behind a storm: no waiting, no timer.
func TestHashQueueIsBounded(t *testing.T) {
	h := newHasher(1, 2)
	release := occupy(t, h)
	queued := make(chan error, 2)
	for range 2 {
		go func() { _, err := h.Hash(context.Background(), "pw"); queued <- err }()
	}
	for deadline := time.Now().Add(10 * time.Second); h.pool.pending() < 2; {
		if time.Now().After(deadline) {
			t.Fatal("the two hashes never queued")
		}
		time.Sleep(time.Millisecond)
	}
	if _, err := h.Hash(context.Background(), "pw"); !errors.Is(err, errHashBusy) {
		t.Fatalf("err %v, want errHashBusy with the queue full", err)
	}
	release()
	for range 2 {
		if err := <-queued; err != nil {
			t.Fatalf("a queued hash: %v", err)
		}
	}
	if _, err := h.Hash(context.Background(), "pw"); err != nil {
		t.Fatalf("with a free worker: %v", err)
	}
}

// A revoked user's cached credentials stop counting (the next password
// login is hashed again), other users' stay, and a credential verified
// after the revocation is cached as usual.
func TestForgetDropsOnlyThatUsersCachedCredentials(t *testing.T) {
	c, clock := newTestCredentials(t, 8, time.Hour)
	h := mustHash(t, c, "pw")
	mustVerify(t, c, "u", "pw", h)
	mustVerify(t, c, "v", "pw", h)
	if !c.cached("u", "pw", h) || !c.cached("v", "pw", h) {
		t.Fatal("not cached after verification")
	}
	clock.advance(time.Second)
	c.forget("u")
	if c.cached("u", "pw", h) {
		t.Fatal("a forgotten user's credential is still cached")
	}
	if !c.cached("v", "pw", h) {
		t.Fatal("forgetting u dropped v's credential")
	}
	clock.advance(time.Second)
	mustVerify(t, c, "u", "pw", h)
	if !c.cached("u", "pw", h) {
		t.Fatal("a credential verified after the revocation is not cached")
	}
}
