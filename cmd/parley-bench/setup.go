package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/parley-im/parley/config"
	"github.com/parley-im/parley/db"
	"github.com/parley-im/parley/internal/passhash"
)

// benchPassword is every bench user's password.
const benchPassword = "bench-password"

// uid is the id (and phone) of bench user i: 11 digits, like the seed's
// phone-number ids; with -accounts, the i-th listed account.
func uid(i int) string {
	if roster != nil {
		return roster.accts[i].id
	}
	return strconv.Itoa(13000000000 + i)
}

// friendOf pairs users 2k and 2k+1; with -accounts, each account with its
// listed partner.
func friendOf(i int) int {
	if roster != nil {
		return roster.partner[i]
	}
	return i ^ 1
}

// resumeToken is bench user i's resume token, seeded in the database by the
// untimed setup (with the hash the server stores: SHA-256, hex; see
// handlers/resume.go). Scenarios that measure logged-in traffic rather than
// logins (chat, conns, the storm's background users) log in with it: a
// Parley resume is a real login (one indexed lookup, the session bound to
// its user) but costs no argon2id hash, so setting up 19,000 users takes
// seconds instead of a quarter of an hour, and the server's memory is not
// inflated by 19 MiB hashes. Password logins are what storm measures.
func resumeToken(i int) string { return "bench-resume-token-" + uid(i) }

func resumeTokenHash(i int) string {
	sum := sha256.Sum256([]byte(resumeToken(i)))
	return hex.EncodeToString(sum[:])
}

// passwordHash encodes an argon2id hash of benchPassword with the server's
// current parameters (internal/passhash, as the server hashes), so a login
// verifies it without asking for a rehash. One hash serves every user: the
// setup is untimed, but 20,000 hashes would still take minutes.
func passwordHash() string { return passhash.Hash(benchPassword, passhash.Current) }

// setupUsers creates users 0..n-1 and, with pair, makes 2k and 2k+1
// friends, directly in the server's database (untimed; the server need not
// run). Users that already exist are kept, so a second run is quick.
func setupUsers(cfg config.DB, n int, pair bool) error {
	if roster != nil {
		return roster.need(n) // the server already has its accounts
	}
	if cfg.Driver == "" {
		return errors.New("setup needs the server's database: let the bench start parleyd, or pass -dir/-pg-dsn")
	}
	start := time.Now()
	ctx := context.Background()
	bdb, err := db.Open(ctx, cfg, zap.NewNop())
	if err != nil {
		return err
	}
	defer bdb.Close()
	st := db.NewStore(bdb, 30*time.Second)
	if _, err := st.UserByID(ctx, uid(n-1)); err == nil {
		_, tokErr := st.ResumeTokenUser(ctx, resumeTokenHash(n-1), time.Now())
		if tokErr == nil && !pair {
			return nil
		}
		if ok, _ := st.AreFriends(ctx, uid((n-1)&^1), uid((n-1)|1)); tokErr == nil && (ok || n%2 == 1) {
			return nil
		}
	}
	hash := passwordHash()
	var created, paired atomic.Int64
	err = parallel(n, 8, func(i int) error {
		u := &db.User{ID: uid(i), Phone: uid(i), Name: "bench " + strconv.Itoa(i), PasswordHash: hash}
		if err := st.CreateUser(ctx, u); err != nil && !errors.Is(err, db.ErrConflict) {
			return err
		}
		tok := db.ResumeToken{Hash: resumeTokenHash(i), UserID: u.ID, ExpiresAt: time.Now().Add(30 * 24 * time.Hour)}
		if err := st.SaveResumeToken(ctx, tok); err != nil && !errors.Is(err, db.ErrConflict) {
			return err
		}
		created.Add(1)
		return nil
	})
	if err != nil {
		return err
	}
	if pair {
		err = parallel(n/2, 8, func(k int) error {
			a, b := uid(2*k), uid(2*k+1)
			if err := st.RequestFriend(ctx, a, b); err != nil && !errors.Is(err, db.ErrConflict) {
				return err
			}
			if _, err := st.AcceptFriend(ctx, b, a, ""); err != nil && !errors.Is(err, db.ErrConflict) {
				return err
			}
			paired.Add(1)
			return nil
		})
		if err != nil {
			return err
		}
	}
	fmt.Printf("setup: %d users with resume tokens, %d friend pairs in %s (untimed)\n", created.Load(), paired.Load(),
		time.Since(start).Round(time.Millisecond))
	return nil
}
