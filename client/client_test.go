package client

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// fast are options that keep tests short: quick reconnects and acks.
func fast(extra ...Option) []Option {
	return append([]Option{
		WithBackoff(5*time.Millisecond, 50*time.Millisecond),
		WithAckDelay(10 * time.Millisecond),
		WithRequestTimeout(5 * time.Second),
	}, extra...)
}

func dial(t *testing.T, addr string, opts ...Option) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func login(t *testing.T, addr, user string, opts ...Option) *Client {
	t.Helper()
	c := dial(t, addr, fast(opts...)...)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.Login(ctx, user, "666"); err != nil {
		t.Fatalf("login %s: %v", user, err)
	}
	return c
}

// receive reads n messages from c, failing the test after timeout.
func receive(t *testing.T, c *Client, n int, timeout time.Duration) []Message {
	t.Helper()
	var out []Message
	deadline := time.After(timeout)
	for len(out) < n {
		select {
		case m, ok := <-c.Messages():
			if !ok {
				t.Fatalf("messages closed after %d of %d", len(out), n)
			}
			out = append(out, m)
		case <-deadline:
			t.Fatalf("received %d of %d messages in %v: %+v", len(out), n, timeout, out)
		}
	}
	return out
}

// expectNone asserts that no message arrives for d.
func expectNone(t *testing.T, c *Client, d time.Duration) {
	t.Helper()
	select {
	case m := <-c.Messages():
		t.Fatalf("unexpected message %+v", m)
	case <-time.After(d):
	}
}

func eventually(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitParkedIn waits until a goroutine started by this test (its stack
// names t's function) has reached fn: a call has got to the point where it
// blocks, which no sleep can promise.
func waitParkedIn(t *testing.T, fn string) {
	t.Helper()
	buf := make([]byte, 1<<20)
	eventually(t, "a goroutine in "+fn, func() bool {
		for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
			if strings.Contains(g, fn) && strings.Contains(g, "."+t.Name()+".") {
				return true
			}
		}
		return false
	})
}

func ctx5(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestLoginSendReceive(t *testing.T) {
	srv := newFakeServer(t)
	a := login(t, srv.addr(), "1")
	b := login(t, srv.addr(), "2")
	if a.UserID() != "1" || a.Token() == "" {
		t.Fatalf("after login: user %q token %q", a.UserID(), a.Token())
	}
	id, err := a.Send(ctx5(t), "2", "hello")
	if err != nil {
		t.Fatal(err)
	}
	if id != "1" {
		t.Fatalf("message id %q, want 1", id)
	}
	got := receive(t, b, 1, 5*time.Second)
	if got[0].ID != id || got[0].Body != "hello" || got[0].From != "1" || got[0].To != "2" {
		t.Fatalf("received %+v", got[0])
	}
	// The batch ack follows the delivery.
	eventually(t, "ack of message 1", func() bool { return srv.ackOf("2") == 1 })
	// The server records the ack before it replies and the client moves its
	// cursor after the reply: wait for that too (failed under load when read
	// at once).
	eventually(t, "cursor 1", func() bool { return b.Cursor() == 1 })
	expectNone(t, b, 50*time.Millisecond)
}

func TestLoginRefused(t *testing.T) {
	srv := newFakeServer(t)
	c := dial(t, srv.addr(), fast()...)
	_, err := c.Login(ctx5(t), "1", "wrong")
	if !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("err = %v, want ErrBadCredentials", err)
	}
	var se *ServerError
	if !errors.As(err, &se) || se.Type != "login" || se.Message != "name or code error" {
		t.Fatalf("err = %#v", err)
	}
	if errors.Is(err, ErrUnavailable) {
		t.Fatal("a bad_credentials error matches ErrUnavailable")
	}
	if _, err := c.Send(ctx5(t), "2", "x"); !errors.Is(err, ErrNotLoggedIn) {
		t.Fatalf("send before login: %v", err)
	}
}

func TestServerErrorCodes(t *testing.T) {
	srv := newFakeServer(t)
	c := login(t, srv.addr(), "1")
	for code, want := range map[string]error{
		"rate_limited": ErrRateLimited, "unavailable": ErrUnavailable, "forbidden": ErrForbidden,
		"not_found": ErrNotFound, "conflict": ErrConflict, "unauthenticated": ErrUnauthenticated,
		"invalid": ErrInvalid, "too_large": ErrTooLarge, "overloaded": ErrOverloaded, "internal": ErrInternal,
	} {
		srv.set(func(s *fakeServer) { s.refuse["send_message"] = code })
		_, err := c.Send(ctx5(t), "2", "x")
		if !errors.Is(err, want) {
			t.Errorf("code %s: err = %v", code, err)
		}
		var se *ServerError
		if !errors.As(err, &se) || se.Code != code || se.Type != "send_message" {
			t.Errorf("code %s: %#v", code, err)
		}
	}
	// The connection stayed usable after every refusal.
	if _, err := c.Send(ctx5(t), "2", "after"); err != nil {
		t.Fatal(err)
	}
}

func TestRegister(t *testing.T) {
	srv := newFakeServer(t)
	c := dial(t, srv.addr(), fast()...)
	id, err := c.Register(ctx5(t), "13800000000", "alice", "pw")
	if err != nil || id != "13800000000" {
		t.Fatalf("register: %q %v", id, err)
	}
	if _, err := c.Register(ctx5(t), "13800000000", "alice", "pw"); !errors.Is(err, ErrConflict) {
		t.Fatalf("second register: %v", err)
	}
	if _, err := c.Login(ctx5(t), id, "pw"); err != nil {
		t.Fatal(err)
	}
}

func TestFriendCalls(t *testing.T) {
	srv := newFakeServer(t)
	c := login(t, srv.addr(), "1")
	ctx := ctx5(t)
	fr, err := c.Friends(ctx)
	if err != nil || len(fr) != 2 || fr[0].ID != "2" || fr[1].Relation != "pending" {
		t.Fatalf("friends: %+v %v", fr, err)
	}
	chats, err := c.Chats(ctx)
	if err != nil || len(chats) != 0 {
		t.Fatalf("empty chat list: %+v %v", chats, err)
	}
	u, err := c.SearchUser(ctx, "3")
	if err != nil || u.ID != "3" || u.Name != "u3" {
		t.Fatalf("search: %+v %v", u, err)
	}
	if _, err := c.SearchUser(ctx, "404"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("search for nobody: %v", err)
	}
	for _, f := range []func(context.Context, string) error{c.AddFriend, c.AcceptFriend, c.DeleteFriend} {
		if err := f(ctx, "3"); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}

// Replies without seq (the seed's arrays) are matched by type in request
// order, even with many requests of several types in flight at once.
func TestArrayRepliesMatchInOrder(t *testing.T) {
	srv := newFakeServer(t)
	c := login(t, srv.addr(), "1")
	var wg sync.WaitGroup
	errs := make(chan error, 60)
	for i := 0; i < 20; i++ {
		wg.Add(3)
		go func() {
			defer wg.Done()
			if fr, err := c.Friends(ctx5(t)); err != nil || len(fr) != 2 {
				errs <- fmt.Errorf("friends: %v %v", fr, err)
			}
		}()
		go func() {
			defer wg.Done()
			if ch, err := c.Chats(ctx5(t)); err != nil || len(ch) != 0 {
				errs <- fmt.Errorf("chats: %v %v", ch, err)
			}
		}()
		go func(i int) {
			defer wg.Done()
			id := fmt.Sprint(100 + i)
			if u, err := c.SearchUser(ctx5(t), id); err != nil || u.ID != id {
				errs <- fmt.Errorf("search %s: %+v %v", id, u, err)
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// A caller that gives up on an array reply must not shift the next caller
// of the same type onto the late reply.
func TestAbandonedArrayReplyIsDiscarded(t *testing.T) {
	srv := newFakeServer(t)
	c := login(t, srv.addr(), "1")
	srv.set(func(s *fakeServer) { s.delay["search_user"] = 200 * time.Millisecond })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := c.SearchUser(ctx, "7"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline", err)
	}
	u, err := c.SearchUser(ctx5(t), "8")
	if err != nil || u.ID != "8" {
		t.Fatalf("second search got %+v %v, want user 8", u, err)
	}
}

// The connection breaks after the server stored the message and before the
// reply: the client resends with the same client_msg_id on the next
// connection and gets the same id; the message is stored once.
func TestSendRetryIsIdempotent(t *testing.T) {
	srv := newFakeServer(t)
	a := login(t, srv.addr(), "1")
	b := login(t, srv.addr(), "2")
	srv.set(func(s *fakeServer) { s.dropAfterStore = true })
	id, err := a.Send(ctx5(t), "2", "once")
	if err != nil {
		t.Fatal(err)
	}
	if st := srv.stored(); len(st) != 1 || fmt.Sprint(st[0].id) != id {
		t.Fatalf("stored %+v, reply id %s", st, id)
	}
	got := receive(t, b, 1, 5*time.Second)
	if got[0].ID != id {
		t.Fatalf("received %+v", got)
	}
	expectNone(t, b, 100*time.Millisecond)
	if accepted, _ := srv.stat(); accepted < 3 {
		t.Fatalf("%d connections accepted, want a reconnect", accepted)
	}
}

// While the receiver is disconnected, messages are sent; after the
// reconnect it resumes with its token, syncs from its cursor and receives
// each message once, in order.
func TestReconnectResumesAndSyncs(t *testing.T) {
	srv := newFakeServer(t)
	a := login(t, srv.addr(), "1")
	b := login(t, srv.addr(), "2", WithBackoff(200*time.Millisecond, 200*time.Millisecond))
	if _, err := a.Send(ctx5(t), "2", "before"); err != nil {
		t.Fatal(err)
	}
	receive(t, b, 1, 5*time.Second)
	eventually(t, "first ack", func() bool { return srv.ackOf("2") == 1 })
	tok := b.Token()

	// Cut only b's connections.
	srv.set(func(s *fakeServer) {
		for c := range s.conns {
			if c.user == "2" {
				_ = c.nc.Close()
			}
		}
	})
	for i := 0; i < 7; i++ {
		if _, err := a.Send(ctx5(t), "2", fmt.Sprint("m", i)); err != nil {
			t.Fatal(err)
		}
	}
	got := receive(t, b, 7, 5*time.Second)
	for i, m := range got {
		if m.Body != fmt.Sprint("m", i) || m.ID != fmt.Sprint(i+2) {
			t.Fatalf("message %d: %+v", i, m)
		}
	}
	expectNone(t, b, 100*time.Millisecond)
	if b.Token() != tok {
		t.Fatalf("token changed from %q to %q: logged in again instead of resuming", tok, b.Token())
	}
	eventually(t, "ack of all", func() bool { return srv.ackOf("2") == 8 })
}

// A refused token (expired, revoked) falls back to the password.
func TestResumeRefusedFallsBackToLogin(t *testing.T) {
	srv := newFakeServer(t)
	b := login(t, srv.addr(), "2")
	old := b.Token()
	srv.set(func(s *fakeServer) { s.tokens = map[string]string{} })
	srv.dropAll()
	eventually(t, "new token", func() bool { return b.Token() != "" && b.Token() != old })
	if _, err := b.Chats(ctx5(t)); err != nil {
		t.Fatal(err)
	}
}

// A client that logged in with Resume alone (no password) resumes after a
// reconnect too.
func TestResumeCall(t *testing.T) {
	srv := newFakeServer(t)
	a := login(t, srv.addr(), "1")
	c := dial(t, srv.addr(), fast()...)
	user, err := c.Resume(ctx5(t), a.Token())
	if err != nil || user != "1" {
		t.Fatalf("resume: %q %v", user, err)
	}
	if _, err := c.Resume(ctx5(t), "nonsense"); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("bad token: %v", err)
	}
	srv.dropAll()
	if _, err := c.Friends(ctx5(t)); err != nil {
		t.Fatalf("after reconnect: %v", err)
	}
}

// A lost push (the server stored the message but the frame never came) is
// found by the next sync.
func TestLostPushFoundBySync(t *testing.T) {
	srv := newFakeServer(t)
	a := login(t, srv.addr(), "1")
	b := login(t, srv.addr(), "2")
	srv.set(func(s *fakeServer) { s.noPush = true })
	if _, err := a.Send(ctx5(t), "2", "lost"); err != nil {
		t.Fatal(err)
	}
	srv.set(func(s *fakeServer) { s.noPush = false })
	if _, err := a.Send(ctx5(t), "2", "pushed"); err != nil {
		t.Fatal(err)
	}
	got := receive(t, b, 2, 5*time.Second)
	bodies := []string{got[0].Body, got[1].Body}
	if bodies[0] != "pushed" && bodies[0] != "lost" || bodies[0] == bodies[1] {
		t.Fatalf("got %v", bodies)
	}
	expectNone(t, b, 100*time.Millisecond)
}

// A sync_hint holds pushes back until the sync it asks for has merged, so a
// message whose push was lost (a cluster node died between storing and
// pushing it; the server hints on the sender's retry) reaches the reader
// before a later one pushed live while that sync was under way.
func TestSyncHintHoldsPushesUntilItsSync(t *testing.T) {
	srv := newFakeServer(t)
	a := login(t, srv.addr(), "1")
	b := login(t, srv.addr(), "2")
	eventually(t, "the logins' syncs", func() bool { return srv.syncsOf("1") >= 1 && srv.syncsOf("2") >= 1 })
	srv.set(func(s *fakeServer) { s.noPush = true })
	if _, err := a.Send(ctx5(t), "2", "k"); err != nil {
		t.Fatal(err)
	}
	// The hinted sync is answered late: k+1's push arrives before it.
	srv.set(func(s *fakeServer) {
		s.noPush = false
		s.delay = map[string]time.Duration{"sync": 300 * time.Millisecond}
	})
	srv.hint("2")
	if _, err := a.Send(ctx5(t), "2", "k+1"); err != nil {
		t.Fatal(err)
	}
	got := receive(t, b, 2, 5*time.Second)
	if got[0].Body != "k" || got[1].Body != "k+1" {
		t.Fatalf("received %q then %q, want k then k+1", got[0].Body, got[1].Body)
	}
	expectNone(t, b, 100*time.Millisecond)
}

func TestGoAwayReconnectsAtOnce(t *testing.T) {
	// "goaway" is the extension's type; a bare error frame with the
	// going_away code (what a server's transport may send) counts too.
	for _, typ := range []string{"goaway", "going_away"} {
		t.Run(typ, func(t *testing.T) {
			srv := newFakeServer(t)
			// A backoff far longer than the test: only the goaway path
			// can reconnect in time.
			c := login(t, srv.addr(), "1", WithBackoff(time.Minute, time.Minute))
			srv.goAway(typ)
			eventually(t, "reconnect", func() bool { n, _ := srv.stat(); return n >= 2 })
			if _, err := c.Friends(ctx5(t)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestHeartbeat(t *testing.T) {
	srv := newFakeServer(t)
	c := login(t, srv.addr(), "1", WithHeartbeat(20*time.Millisecond, 200*time.Millisecond))
	eventually(t, "pings", func() bool { _, p := srv.stat(); return p >= 3 })
	// The server hangs: no frame at all. The client drops the connection
	// and reconnects once the silence passes the limit.
	srv.muteExisting()
	eventually(t, "reconnect after silence", func() bool { n, _ := srv.stat(); return n >= 2 })
	if _, err := c.Friends(ctx5(t)); err != nil {
		t.Fatal(err)
	}
}

func TestNoHeartbeatWhenDisabled(t *testing.T) {
	srv := newFakeServer(t)
	login(t, srv.addr(), "1", WithHeartbeat(0, 0))
	// A positive control instead of a bare sleep: a client with a 10ms
	// heartbeat, started after the one under test, must have pinged three
	// times; whatever the load, the client under test had at least as long.
	control := newFakeServer(t)
	login(t, control.addr(), "1", WithHeartbeat(10*time.Millisecond, time.Minute))
	eventually(t, "the control client's pings", func() bool { _, p := control.stat(); return p >= 3 })
	if _, p := srv.stat(); p != 0 {
		t.Fatalf("%d pings with heartbeats off", p)
	}
}

// A reader far behind costs at most the queue bound; what did not fit is
// fetched by sync later, so it still gets every message, once, in order.
func TestSlowReaderLosesNothing(t *testing.T) {
	srv := newFakeServer(t)
	a := login(t, srv.addr(), "1")
	b := login(t, srv.addr(), "2", WithQueue(4))
	const n = 30
	for i := 0; i < n; i++ {
		if _, err := a.Send(ctx5(t), "2", fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	// Each push to b is written before the reply to a's send, so a round
	// trip on b proves its reader has handled every push already.
	if _, err := b.Friends(ctx5(t)); err != nil {
		t.Fatal(err)
	}
	b.inbox.mu.Lock()
	held := len(b.inbox.queue)
	b.inbox.mu.Unlock()
	if held > 4 {
		t.Fatalf("inbox holds %d messages, bound is 4", held)
	}
	got := receive(t, b, n, 10*time.Second)
	for i, m := range got {
		if m.Body != fmt.Sprint(i) {
			t.Fatalf("message %d is %q", i, m.Body)
		}
	}
	expectNone(t, b, 100*time.Millisecond)
	eventually(t, "ack of all", func() bool { return srv.ackOf("2") == n })
}

func TestCloseEndsEverything(t *testing.T) {
	srv := newFakeServer(t)
	c := login(t, srv.addr(), "1")
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok := <-c.Messages(); ok {
		t.Fatal("messages channel still open")
	}
	if _, err := c.Send(ctx5(t), "2", "x"); !errors.Is(err, ErrClosed) {
		t.Fatalf("send after close: %v", err)
	}
	if _, err := c.Friends(ctx5(t)); !errors.Is(err, ErrClosed) {
		t.Fatalf("friends after close: %v", err)
	}
	c.Close() // idempotent
}

// Close while a call waits for a reconnect that never comes.
func TestCloseWhileReconnecting(t *testing.T) {
	srv := newFakeServer(t)
	c := login(t, srv.addr(), "1", WithBackoff(time.Hour, time.Hour))
	srv.dropAll()
	done := make(chan error, 1)
	go func() {
		_, err := c.Friends(context.Background())
		done <- err
	}()
	// Close only once the call waits for the reconnect (its goroutine is
	// parked in current), so it is Close that must release it.
	waitParkedIn(t, "client.(*Client).current(")
	c.Close()
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("err = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("call not released by Close")
	}
}

func TestWithoutReconnect(t *testing.T) {
	srv := newFakeServer(t)
	c := login(t, srv.addr(), "1", WithoutReconnect())
	srv.dropAll()
	eventually(t, "closed", c.isClosed)
	if _, err := c.Friends(ctx5(t)); !errors.Is(err, ErrClosed) {
		t.Fatalf("err = %v", err)
	}
}

func TestDialFails(t *testing.T) {
	srv := newFakeServer(t)
	addr := srv.addr()
	srv.close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := Dial(ctx, addr); err == nil {
		t.Fatal("dial to a closed port succeeded")
	}
}

// Reconnection with backoff while the server is down, then back.
func TestReconnectAfterOutage(t *testing.T) {
	srv := newFakeServer(t)
	var mu sync.Mutex
	var reported []error
	c := login(t, srv.addr(), "1", WithErrorHandler(func(err error) {
		mu.Lock()
		reported = append(reported, err)
		mu.Unlock()
	}))
	addr := srv.addr()
	srv.close()
	eventually(t, "failed reconnects reported", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(reported) >= 2
	})
	srv2 := newFakeServerAt(t, addr)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.Friends(ctx); err != nil {
		t.Fatal(err)
	}
	if n, _ := srv2.stat(); n != 1 {
		t.Fatalf("%d connections to the new server", n)
	}
}

// Against a server without the sync extension the client still delivers
// pushes (deduplicated) and stops asking.
func TestServerWithoutSync(t *testing.T) {
	srv := newFakeServer(t)
	srv.set(func(s *fakeServer) { s.noExt = true })
	a := login(t, srv.addr(), "1")
	b := login(t, srv.addr(), "2")
	for i := 0; i < 5; i++ {
		if _, err := a.Send(ctx5(t), "2", fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	got := receive(t, b, 5, 5*time.Second)
	for i, m := range got {
		if m.Body != fmt.Sprint(i) {
			t.Fatalf("message %d: %+v", i, m)
		}
	}
	eventually(t, "sync given up", b.noSync.Load)
}
