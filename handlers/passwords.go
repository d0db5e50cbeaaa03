package handlers

import (
	"context"
	"crypto/rand"
	"errors"
	"runtime"
	"sync/atomic"

	"github.com/parley-im/parley/internal/passhash"
)

// The hash itself (parameters, PHC encoding, verification) is passhash's,
// shared with the seed importer; this file owns where it runs: a bounded
// pool.
type argon2Params = passhash.Params

var currentParams = passhash.Current

const (
	saltLen = passhash.SaltLen
	// MaxPasswordBytes bounds what register accepts and what login will hash.
	MaxPasswordBytes = passhash.MaxPasswordBytes
)

var errMalformedHash = passhash.ErrMalformed

// errHashBusy: the hashing queue is full; the request is answered
// "overloaded" at once (see hashPool).
var errHashBusy = errors.New("password hashing queue full")

// defaultHashQueuePerWorker sizes the hashing queue when
// accounts.hash_queue is 0: 256 waiting hashes per hash worker, so at 25–40
// ms a hash a queued login waits at most about 7–10 s, whatever the number
// of cores. Past that, waiting longer only makes users stare at a frozen
// login window; they are told "server busy" at once instead. Shorter is not
// better: clients that were shed back off before retrying, and while they
// wait the hash worker can run dry (cold storm of 300 logins, parley-bench
// storm -n 300 -cold on 2 cores: 10.4 s with 64 per worker, 8.7 s with 256,
// 8.0 s with the old unbounded wait).
const defaultHashQueuePerWorker = 256

// hasher runs argon2id on a bounded pool. Hashing is CPU and memory heavy
// (19 MiB per call), so at most hash_workers run at once, at most
// hash_queue wait, and the rest are refused with errHashBusy. It never runs
// on a gev loop, nor (for logins) on a dispatcher worker: see Accounts.Login.
type hasher struct {
	pool   *hashPool
	params argon2Params
	// dummy is a stored-hash value for unknown accounts: verifying against
	// it costs one argon2 evaluation with the current parameters, like a
	// wrong password, and never matches.
	dummy string
	// runs counts argon2 evaluations; tests use it to prove a cache hit
	// skipped the hash.
	runs atomic.Int64
}

func newHasher(workers, queue int) *hasher {
	if workers <= 0 {
		// Leave one CPU to everything else: argon2id is CPU-bound, and
		// with every core hashing, a cold login storm delays logged-in
		// users' messages (lab notes, `git show d0db37a:docs/PERFORMANCE.md`, round 2, storm: background
		// p99 192 ms with 2 of 2 cores hashing, 42 ms with 1), while login
		// throughput hardly changed on 2 cores.
		workers = max(1, runtime.NumCPU()-1)
	}
	if queue <= 0 {
		queue = workers * defaultHashQueuePerWorker
	}
	salt, key := make([]byte, saltLen), make([]byte, currentParams.KeyLen)
	_, _ = rand.Read(salt) // crypto/rand does not fail (Go 1.24+ crashes instead)
	_, _ = rand.Read(key)
	return &hasher{pool: newHashPool(workers, queue), params: currentParams, dummy: passhash.Encode(currentParams, salt, key)}
}

// derive computes the argon2id key. It runs on a pool goroutine.
func (h *hasher) derive(password, salt []byte, p argon2Params) []byte {
	h.runs.Add(1)
	return passhash.Derive(password, salt, p)
}

// run runs fn on the pool and waits for it, or for ctx to end (then fn is
// skipped if it has not started). A full queue refuses at once.
func (h *hasher) run(ctx context.Context, fn func()) error {
	done := make(chan bool, 1)
	if !h.pool.submit(func() {
		ran := ctx.Err() == nil
		if ran {
			fn()
		}
		done <- ran
	}) {
		return errHashBusy
	}
	select {
	case ran := <-done:
		if !ran {
			return ctx.Err()
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Hash returns the PHC-style encoding of a new argon2id hash of password:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<key> (unpadded standard base64).
// It waits for the pool (see run).
func (h *hasher) Hash(ctx context.Context, password string) (string, error) {
	var out string
	err := h.run(ctx, func() { out = h.hashNow(password) })
	return out, err
}

// hashNow hashes on the calling goroutine: only from a pool job.
func (h *hasher) hashNow(password string) string {
	h.runs.Add(1)
	return passhash.Hash(password, h.params)
}

// Verify reports whether password matches the stored encoding, and whether
// the stored value should be replaced by a fresh hash (older parameters, or a
// legacy plaintext row imported from the seed database). It waits for the
// pool (see run).
func (h *hasher) Verify(ctx context.Context, password, stored string) (ok, rehash bool, err error) {
	var verr error
	if err := h.run(ctx, func() { ok, rehash, verr = h.verifyNow(password, stored) }); err != nil {
		return false, false, err
	}
	return ok, rehash, verr
}

// verifyNow is Verify on the calling goroutine: only from a pool job.
func (h *hasher) verifyNow(password, stored string) (ok, rehash bool, err error) {
	return passhash.Verify(password, stored, h.params, h.derive)
}
