package handlers

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-im/parley/db"
)

// TestTokenBatcherGroups: concurrent saves share transactions, every save
// is answered with its own result, and a bad token fails alone.
func TestTokenBatcherGroups(t *testing.T) {
	var mu sync.Mutex
	stored := map[string]bool{}
	var txs, batches atomic.Int64
	gate, entered := make(chan struct{}), make(chan struct{})
	var once sync.Once
	b := &tokenBatcher{
		saveMany: func(_ context.Context, ts []db.ResumeToken) error {
			once.Do(func() { close(entered); <-gate }) // hold the first commit so others queue
			txs.Add(1)
			batches.Add(1)
			for _, tk := range ts {
				if tk.UserID == "bad" {
					return errors.New("no such user")
				}
			}
			mu.Lock()
			for _, tk := range ts {
				stored[tk.Hash] = true
			}
			mu.Unlock()
			return nil
		},
		saveOne: func(_ context.Context, tk db.ResumeToken) error {
			txs.Add(1)
			if tk.UserID == "bad" {
				return errors.New("no such user")
			}
			mu.Lock()
			stored[tk.Hash] = true
			mu.Unlock()
			return nil
		},
	}
	const n = 100
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			user := "u"
			if i == 57 {
				user = "bad"
			}
			errs[i] = b.save(context.Background(), db.ResumeToken{Hash: fmt.Sprint(i), UserID: user})
		})
		if i == 0 {
			<-entered // the first is the committer, holding its commit open
		}
	}
	// Release the first commit only once the other 99 are queued behind it.
	deadline := time.Now().Add(10 * time.Second)
	for {
		b.mu.Lock()
		queued := len(b.pending)
		b.mu.Unlock()
		if queued == n-1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d saves queued behind the first commit", queued, n-1)
		}
		time.Sleep(time.Millisecond)
	}
	close(gate)
	wg.Wait()
	for i, err := range errs {
		if (err != nil) != (i == 57) {
			t.Fatalf("save %d: %v", i, err)
		}
		if i != 57 && !stored[fmt.Sprint(i)] {
			t.Fatalf("token %d acknowledged but not stored", i)
		}
	}
	// The first save commits alone; the 99 that queued behind it share
	// one batch, which fails on the bad token and is redone one by one.
	if got := batches.Load(); got != 2 {
		t.Fatalf("%d batches for %d tokens, want 2", got, n)
	}
	if got := txs.Load(); got != 2+n-1 {
		t.Fatalf("%d transactions, want %d", got, 2+n-1)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.running || len(b.pending) != 0 {
		t.Fatal("batcher left running or with pending tokens")
	}
}

// TestConcurrentLoginsResume: tokens issued by concurrent logins (grouped
// into shared transactions) are all stored before the login replies, so
// each resumes at once.
func TestConcurrentLoginsResume(t *testing.T) {
	e := newEnv(t)
	e.svc.Accounts.resumeTTL = time.Hour
	const users = 12
	for i := range users {
		e.register(fmt.Sprint(100+i), "u", "pw")
	}
	tokens := make([]string, users)
	var wg sync.WaitGroup
	for i := range users {
		wg.Go(func() {
			c := e.dial()
			a := array(t, c.one(map[string]any{"type": "login", "user_id": fmt.Sprint(100 + i), "user_password": "pw", "want_token": true}))
			tok, _ := a[0]["token"].(string)
			tokens[i] = tok
		})
	}
	wg.Wait()
	for i, tok := range tokens {
		if tok == "" {
			t.Fatalf("login %d got no token", i)
		}
		c := e.dial()
		want(t, object(t, c.one(map[string]any{"type": "resume", "token": tok})),
			map[string]string{"status": "success", "user_id": fmt.Sprint(100 + i)})
	}
}
