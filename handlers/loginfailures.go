package handlers

import (
	"sync"
	"time"
)

// maxFailureEntries bounds the accounts failedLogins tracks at once (about
// 100 bytes each). A spray over more account ids than this evicts entries
// at random, which forgives some of them early; it cannot grow memory.
const maxFailureEntries = 100_000

// failedLogins limits password guesses per account, whatever the addresses
// they come from (the ratelimit middleware limits per connection and per
// address only): at most `limit` logins that needed a hash and did not
// succeed within `window`, counted from the first. Past it, a login for
// that account is refused with rate_limited before any hash, unless it
// matches a credential the cache verified (Service.Login checks the cache
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

	mu      sync.Mutex
	entries map[string]*failureWindow
}

type failureWindow struct {
	count int
	ends  time.Time
}

func newFailedLogins(limit int, window time.Duration, now func() time.Time) *failedLogins {
	return &failedLogins{limit: limit, window: window, now: now, entries: make(map[string]*failureWindow)}
}

// attempt counts one login of account that needs a hash, or reports false
// (counting nothing) when the account is over its limit.
func (f *failedLogins) attempt(account string) bool {
	if f.limit <= 0 {
		return true
	}
	now := f.now()
	f.mu.Lock()
	defer f.mu.Unlock()
	e := f.entries[account]
	if e == nil || !now.Before(e.ends) {
		if e == nil {
			f.makeRoom(now)
			e = &failureWindow{}
			f.entries[account] = e
		}
		e.count, e.ends = 0, now.Add(f.window)
	}
	if e.count >= f.limit {
		return false
	}
	e.count++
	return true
}

// reset forgets account's failures: its password was just verified.
func (f *failedLogins) reset(account string) {
	if f.limit <= 0 {
		return
	}
	f.mu.Lock()
	delete(f.entries, account)
	f.mu.Unlock()
}

// forgive gives back an attempt that did not fail.
func (f *failedLogins) forgive(account string) {
	if f.limit <= 0 {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if e := f.entries[account]; e != nil && e.count > 0 {
		e.count--
	}
}

// makeRoom drops expired entries when the map is full, then random ones
// (map order) down to 90%, so a spray pays for a full scan once per tenth
// of the map, not on every new id. Called with mu held.
func (f *failedLogins) makeRoom(now time.Time) {
	if len(f.entries) < maxFailureEntries {
		return
	}
	for k, e := range f.entries {
		if !now.Before(e.ends) {
			delete(f.entries, k)
		}
	}
	for k := range f.entries {
		if len(f.entries) < maxFailureEntries*9/10 {
			break
		}
		delete(f.entries, k)
	}
}
