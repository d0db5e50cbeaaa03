package handlers

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/argon2"
)

// argon2Params are the cost parameters of an argon2id hash. The current ones
// (t=2, m=19 MiB, p=1) are OWASP's recommended minimum; on a 2-core machine a
// hash takes about 40 ms (LIBRARIES.md §5).
type argon2Params struct {
	Time    uint32
	Memory  uint32 // KiB
	Threads uint8
	KeyLen  uint32
}

var currentParams = argon2Params{Time: 2, Memory: 19 * 1024, Threads: 1, KeyLen: 32}

const (
	saltLen = 16
	// MaxPasswordBytes bounds what register accepts and what login will hash:
	// argon2 reads the whole password, so an unbounded one is a CPU lever.
	MaxPasswordBytes = 1024
	argon2Prefix     = "$argon2id$"
)

// Limits on parameters read back from the database, so a corrupted or
// hostile row cannot make one login allocate gigabytes.
const (
	maxStoredMemory  = 256 * 1024 // KiB
	maxStoredTime    = 16
	maxStoredThreads = 16
	maxStoredKeyLen  = 64
)

var errMalformedHash = errors.New("malformed password hash")

// errHashBusy: no hashing slot freed up within hasher.maxWait.
var errHashBusy = errors.New("no password hashing slot free in time")

// defaultHashWait is hasher.maxWait. It is long on purpose: a cold login
// storm (every user's first login after a restart) must complete, not be
// shed, and 10,000 argon2id hashes on one spare core take about 7 minutes.
// It only stops a login from waiting forever behind a stuck pool.
const defaultHashWait = 10 * time.Minute

// hasher runs argon2id under a semaphore. Hashing is CPU and memory heavy
// (19 MiB per call), so at most cap(sem) run at once; the rest wait, or give
// up when their request's context ends. It runs on dispatcher workers, never
// on a gev loop.
type hasher struct {
	sem    chan struct{}
	params argon2Params
	// maxWait bounds the wait for a free slot: past it the login or
	// register is answered "overloaded" (see defaultHashWait).
	maxWait time.Duration
	// runs counts argon2 evaluations; tests use it to prove a cache hit
	// skipped the hash.
	runs atomic.Int64
}

func newHasher(workers int) *hasher {
	if workers <= 0 {
		// Leave one CPU to everything else: argon2id is CPU-bound, and
		// with every core hashing, a cold login storm delays logged-in
		// users' messages (docs/PERFORMANCE.md, Round 2, storm: background
		// p99 192 ms with 2 of 2 cores hashing, 42 ms with 1), while login
		// throughput hardly changed on 2 cores.
		workers = max(1, runtime.NumCPU()-1)
	}
	return &hasher{sem: make(chan struct{}, workers), params: currentParams, maxWait: defaultHashWait}
}

// derive computes the argon2id key, holding a semaphore slot.
func (h *hasher) derive(ctx context.Context, password, salt []byte, p argon2Params) ([]byte, error) {
	wait := time.NewTimer(h.maxWait)
	select {
	case h.sem <- struct{}{}:
		wait.Stop()
	case <-ctx.Done():
		wait.Stop()
		return nil, ctx.Err()
	case <-wait.C:
		return nil, errHashBusy
	}
	defer func() { <-h.sem }()
	h.runs.Add(1)
	return argon2.IDKey(password, salt, p.Time, p.Memory, p.Threads, p.KeyLen), nil
}

// Hash returns the PHC-style encoding of a new argon2id hash of password:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<key> (unpadded standard base64).
func (h *hasher) Hash(ctx context.Context, password string) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key, err := h.derive(ctx, []byte(password), salt, h.params)
	if err != nil {
		return "", err
	}
	return encodePHC(h.params, salt, key), nil
}

// Verify reports whether password matches the stored encoding, and whether
// the stored value should be replaced by a fresh hash (older parameters, or a
// legacy plaintext row imported from the seed database).
func (h *hasher) Verify(ctx context.Context, password, stored string) (ok, rehash bool, err error) {
	if stored == "" {
		return false, false, nil
	}
	if !strings.HasPrefix(stored, "$") {
		// The seed stored plaintext. Compare digests so the comparison
		// takes the same time whatever the lengths; accept once, then the
		// caller replaces the row with a hash.
		a, b := sha256.Sum256([]byte(password)), sha256.Sum256([]byte(stored))
		return subtle.ConstantTimeCompare(a[:], b[:]) == 1, true, nil
	}
	p, salt, want, err := decodePHC(stored)
	if err != nil {
		return false, false, err
	}
	got, err := h.derive(ctx, []byte(password), salt, p)
	if err != nil {
		return false, false, err
	}
	if subtle.ConstantTimeCompare(got, want) != 1 {
		return false, false, nil
	}
	return true, p != h.params, nil
}

func encodePHC(p argon2Params, salt, key []byte) string {
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("%sv=%d$m=%d,t=%d,p=%d$%s$%s", argon2Prefix, argon2.Version,
		p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

func decodePHC(s string) (argon2Params, []byte, []byte, error) {
	var p argon2Params
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, key
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return p, nil, nil, errMalformedHash
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return p, nil, nil, errMalformedHash
	}
	var threads uint32
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &threads); err != nil {
		return p, nil, nil, errMalformedHash
	}
	b64 := base64.RawStdEncoding
	salt, err := b64.DecodeString(parts[4])
	if err != nil || len(salt) < 8 {
		return p, nil, nil, errMalformedHash
	}
	key, err := b64.DecodeString(parts[5])
	if err != nil || len(key) < 16 || len(key) > maxStoredKeyLen {
		return p, nil, nil, errMalformedHash
	}
	if p.Memory == 0 || p.Memory > maxStoredMemory || p.Time == 0 || p.Time > maxStoredTime ||
		threads == 0 || threads > maxStoredThreads {
		return p, nil, nil, errMalformedHash
	}
	p.Threads = uint8(threads)
	p.KeyLen = uint32(len(key))
	return p, salt, key, nil
}
