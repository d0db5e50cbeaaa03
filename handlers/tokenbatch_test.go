package handlers

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

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
