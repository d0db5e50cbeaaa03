package handlers_test

import (
	"context"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/parley-im/parley/app/apptest"
	"github.com/parley-im/parley/config"
	"github.com/parley-im/parley/handlers"
	"github.com/parley-im/parley/wire"
)

// A cold login flood (wrong passwords and unknown ids, more than the hash
// queue holds) beside a cached login and a resume, over real sockets (issue
// 11, must-fix 5). The hash worker is held busy, so no hash can complete:
//   - the cached login and the resume still complete: they never wait for
//     a hash slot, and the flood's logins waiting for one hold no worker
//     (there are only 2 login workers and 2 flood logins parked);
//   - the flood beyond the queue is answered overloaded at once, with a
//     message for people, no Go error text;
//   - once hashing resumes, the queued logins are answered bad_credentials.
//
// Before the fix each flood login held a login worker while it waited (up
// to 10 minutes) for the hash semaphore: the cached login waited behind
// them and nothing was shed.
func TestColdFloodDoesNotDelayCachedLogin(t *testing.T) {
	var svc *handlers.Areas
	srv := apptest.Start(t,
		apptest.WithConfig(func(c *config.Config) {
			c.Accounts.HashWorkers = 1
			c.Accounts.HashQueue = 2
			c.Transport.LoginWorkers = 2
		}),
		apptest.WithFx(fx.Populate(&svc)))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, id := range []string{"100", "101", "102", "103"} {
		if _, err := svc.Accounts.RegisterAccount(ctx, nil, &wire.RegisterRequest{Phone: id, Name: "u" + id, Password: "pw" + id}); err != nil {
			t.Fatal(err)
		}
	}

	// The real user logs in once: the credential is cached, and a resume
	// token issued.
	warm := srv.Dial(t)
	warm.Send(qt("type", "login", "user_id", "100", "user_password", "pw100", "want_token", true))
	a := arr(t, warm.Read())
	token, _ := a[0]["token"].(string)
	if len(a) != 1 || token == "" {
		t.Fatalf("warm login: %v", a)
	}

	release := handlers.OccupyHashWorkers(svc.Accounts)
	defer release()

	// Five logins that need a hash: two fit the queue, three are shed.
	flood := []struct{ id, pw string }{
		{"101", "wrong"}, {"102", "wrong"}, {"103", "wrong"}, {"no-such-1", "x"}, {"no-such-2", "x"},
	}
	replies := make(chan []byte, len(flood))
	for _, f := range flood {
		c := srv.Dial(t)
		c.Send(qt("type", "login", "user_id", f.id, "user_password", f.pw))
		go func() {
			if b, err := c.ReadErr(time.Minute); err == nil {
				replies <- b
			}
		}()
	}
	next := func(what string) []byte {
		t.Helper()
		select {
		case b := <-replies:
			return b
		case <-time.After(apptest.ReadTimeout):
			t.Fatalf("no answer to %s within %v", what, apptest.ReadTimeout)
			return nil
		}
	}
	for range 3 {
		m := obj(t, next("a flood login beyond the queue"))
		fields(t, m, map[string]string{"type": "login", "status": "error", "code": "overloaded",
			"message": "server busy, retry later"})
	}
	if n := handlers.HashesQueued(svc.Accounts); n != 2 {
		t.Fatalf("%d logins wait for a hash, want the queue's 2", n)
	}

	// The hash worker is still busy: these can only complete if they do
	// not need it, and if no login worker is held by the parked flood.
	cached := srv.Dial(t)
	cached.Send(qt("type", "login", "user_id", "100", "user_password", "pw100"))
	a = arr(t, cached.Read())
	fields(t, a[0], map[string]string{"type": "login", "status": "success", "user_id": "100"})
	resumed := srv.Dial(t)
	resumed.Send(qt("type", "resume", "token", token))
	fields(t, obj(t, resumed.Read()), map[string]string{"type": "resume", "status": "success", "user_id": "100"})
	if n := handlers.HashesQueued(svc.Accounts); n != 2 {
		t.Fatalf("%d logins wait for a hash, want still 2", n)
	}

	release()
	for range 2 {
		fields(t, obj(t, next("a queued login")), map[string]string{"type": "login", "status": "error", "code": "bad_credentials"})
	}
}
