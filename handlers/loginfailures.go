package handlers

import (
	"time"

	"github.com/parley-im/parley/internal/boundmap"
)

// maxFailureEntries bounds the accounts failedLogins tracks at once (about
// 100 bytes each). A spray over more account ids than this evicts the least
// recently tried (approximately, see boundmap), which forgives some of them
// early; it cannot grow memory.
const maxFailureEntries = 100_000

// failedLogins limits password guesses per account, whatever the addresses
// they come from (the ratelimit middleware limits per connection and per
// address only): at most `limit` logins that needed a hash and did not
// succeed within `window`, counted from the first. Past it, a login for
// that account is refused with rate_limited before any hash, unless it
// matches a credential the cache verified (Accounts.Login checks the cache
// first), so a user who logged in within accounts.credential_cache_ttl is
// never locked out by an attacker guessing their password. Unknown ids are
// counted like known ones, so the refusal does not tell which ids exist.
//
// An attempt is counted when its hash is queued, not when it fails: a
// flood of concurrent guesses cannot all slip in before the first result.
// A hash that never ran gives its attempt back; a success forgets the
// account's failures (the user is evidently there: a mistype now and then
// never adds up to a lockout).
type failedLogins struct {
	limit  int // 0 disables
	window time.Duration
	now    func() time.Time
	// entries expire when unused for window: a window ends window after its
	// first attempt, so it has ended by then.
	entries *boundmap.Map[string, failureWindow]
}

type failureWindow struct {
	count int
	ends  time.Time
}

func newFailedLogins(limit int, window time.Duration, now func() time.Time) *failedLogins {
	f := &failedLogins{limit: limit, window: window, now: now}
	if limit > 0 {
		f.entries = boundmap.New[string, failureWindow](maxFailureEntries, window, boundmap.String)
	}
	return f
}

// attempt counts one login of account that needs a hash, or reports false
// (counting nothing) when the account is over its limit.
func (f *failedLogins) attempt(account string) bool {
	if f.limit <= 0 {
		return true
	}
	now := f.now()
	ok := false
	f.entries.Do(account, now, func(e *failureWindow, _ bool) bool {
		if !now.Before(e.ends) { // new, or its window is over
			e.count, e.ends = 0, now.Add(f.window)
		}
		if e.count < f.limit {
			e.count++
			ok = true
		}
		return true
	})
	return ok
}

// reset forgets account's failures: its password was just verified.
func (f *failedLogins) reset(account string) {
	if f.limit <= 0 {
		return
	}
	f.entries.Delete(account)
}

// forgive gives back an attempt that did not fail.
func (f *failedLogins) forgive(account string) {
	if f.limit <= 0 {
		return
	}
	f.entries.Do(account, f.now(), func(e *failureWindow, found bool) bool {
		if found && e.count > 0 {
			e.count--
		}
		return found
	})
}
