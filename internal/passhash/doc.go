// Package passhash owns the one encoding of a Parley password hash: argon2id
// with the current cost parameters, in PHC form
// ($argon2id$v=19$m=19456,t=2,p=1$<salt>$<key>), and its verification. The
// login and register path (handlers, on its bounded hash pool), the seed
// importer (importseed, on its own workers) and the bench's setup all hash
// through here, so a stored hash means the same thing wherever it was made.
//
// It must not schedule anything: every call hashes on the calling
// goroutine, and the callers decide where that runs (never on a gev loop).
// It must not log or keep a password.
package passhash
