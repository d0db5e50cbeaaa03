package passhash

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Params are the cost parameters of an argon2id hash.
type Params struct {
	Time    uint32
	Memory  uint32 // KiB
	Threads uint8
	KeyLen  uint32
}

// Current are the parameters of every new hash (t=2, m=19 MiB, p=1):
// OWASP's recommended minimum; on a 2-core machine a hash takes about 40 ms
// (LIBRARIES.md §5). A stored hash with other parameters still verifies,
// and Verify asks for a rehash.
var Current = Params{Time: 2, Memory: 19 * 1024, Threads: 1, KeyLen: 32}

const (
	// SaltLen is the length of a new hash's random salt.
	SaltLen = 16
	// MaxPasswordBytes bounds what register accepts, what login will hash
	// and what an import hashes: argon2 reads the whole password, so an
	// unbounded one is a CPU lever.
	MaxPasswordBytes = 1024
)

// Limits on parameters read back from the database, so a corrupted or
// hostile row cannot make one login allocate gigabytes.
const (
	maxStoredMemory  = 256 * 1024 // KiB
	maxStoredTime    = 16
	maxStoredThreads = 16
	maxStoredKeyLen  = 64
)

// ErrMalformed: a stored value that is neither a hash this package can read
// nor a legacy plaintext row.
var ErrMalformed = errors.New("malformed password hash")

// Derive computes the argon2id key of password with salt and p.
func Derive(password, salt []byte, p Params) []byte {
	return argon2.IDKey(password, salt, p.Time, p.Memory, p.Threads, p.KeyLen)
}

// Hash returns the PHC encoding of a new argon2id hash of password with p
// and a fresh random salt.
func Hash(password string, p Params) string {
	salt := make([]byte, SaltLen)
	_, _ = rand.Read(salt) // crypto/rand does not fail (Go 1.24+ crashes instead)
	return Encode(p, salt, Derive([]byte(password), salt, p))
}

// Verify reports whether password matches stored, and whether stored should
// be replaced by a fresh hash (other parameters than current, or a legacy
// plaintext row: the seed stored passwords in clear). derive is called for
// the argon2 evaluation (callers count or wrap it); nil means Derive.
func Verify(password, stored string, current Params, derive func(password, salt []byte, p Params) []byte) (ok, rehash bool, err error) {
	if stored == "" {
		return false, false, nil
	}
	if !strings.HasPrefix(stored, "$") {
		// Plaintext. Compare digests so the comparison takes the same
		// time whatever the lengths; accept once, then the caller
		// replaces the row with a hash.
		a, b := sha256.Sum256([]byte(password)), sha256.Sum256([]byte(stored))
		return subtle.ConstantTimeCompare(a[:], b[:]) == 1, true, nil
	}
	p, salt, want, err := Decode(stored)
	if err != nil {
		return false, false, err
	}
	if derive == nil {
		derive = Derive
	}
	got := derive([]byte(password), salt, p)
	if subtle.ConstantTimeCompare(got, want) != 1 {
		return false, false, nil
	}
	return true, p != current, nil
}

// Encode renders a hash in PHC form (unpadded standard base64).
func Encode(p Params, salt, key []byte) string {
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version,
		p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// Decode parses a PHC-form argon2id hash, refusing parameters past the
// stored-value limits.
func Decode(s string) (Params, []byte, []byte, error) {
	var p Params
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, key
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return p, nil, nil, ErrMalformed
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return p, nil, nil, ErrMalformed
	}
	var threads uint32
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &threads); err != nil {
		return p, nil, nil, ErrMalformed
	}
	b64 := base64.RawStdEncoding
	salt, err := b64.DecodeString(parts[4])
	if err != nil || len(salt) < 8 {
		return p, nil, nil, ErrMalformed
	}
	key, err := b64.DecodeString(parts[5])
	if err != nil || len(key) < 16 || len(key) > maxStoredKeyLen {
		return p, nil, nil, ErrMalformed
	}
	if p.Memory == 0 || p.Memory > maxStoredMemory || p.Time == 0 || p.Time > maxStoredTime ||
		threads == 0 || threads > maxStoredThreads {
		return p, nil, nil, ErrMalformed
	}
	p.Threads = uint8(threads)
	p.KeyLen = uint32(len(key))
	return p, salt, key, nil
}
