package session

import (
	"fmt"
	"sync"
	"testing"
)

type countConn struct {
	mu     sync.Mutex
	frames int
	closed bool
}

func (c *countConn) Send([]byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.frames++
	return nil
}
func (c *countConn) Close() error { c.mu.Lock(); c.closed = true; c.mu.Unlock(); return nil }

func TestRegistryBindDeliverRemove(t *testing.T) {
	r := NewRegistry()
	a1, a2, b := &countConn{}, &countConn{}, &countConn{}
	sa1, sa2, sb := New(1, "p", a1), New(2, "p", a2), New(3, "p", b)
	r.Bind(sa1, "alice")
	r.Bind(sa2, "alice") // a second client of the same user
	r.Bind(sb, "bob")
	if got := r.Deliver("alice", []byte("x")); got != 2 || a1.frames != 1 || a2.frames != 1 {
		t.Fatalf("Deliver to alice reached %d sessions (%d, %d)", got, a1.frames, a2.frames)
	}
	if r.Users() != 2 || !r.Online("bob") {
		t.Fatalf("Users %d", r.Users())
	}
	r.Remove(sa1)
	if got := r.Deliver("alice", []byte("x")); got != 1 {
		t.Fatalf("after close, Deliver reached %d", got)
	}
	r.Remove(sa2)
	if r.Online("alice") || r.Users() != 1 || !sa2.Closed() {
		t.Fatal("closed sessions stayed online")
	}
	// Re-binding a session to another user moves it.
	r.Bind(sb, "carol")
	if r.Online("bob") || !r.Online("carol") {
		t.Fatal("rebind did not move the session")
	}
}

func TestBindAfterCloseDoesNotStayOnline(t *testing.T) {
	r := NewRegistry()
	s := New(1, "p", &countConn{})
	r.Remove(s) // the connection closed while its login was being verified
	r.Bind(s, "alice")
	if r.Online("alice") {
		t.Fatal("a closed connection stayed online after a late Bind")
	}
}

func TestRegistryConcurrent(t *testing.T) {
	r := NewRegistry()
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			user := fmt.Sprint("u", i%8)
			for j := range 200 {
				s := New(uint64(i*1000+j), "p", &countConn{})
				r.Bind(s, user)
				r.Deliver(user, []byte("m"))
				r.Remove(s)
			}
		}()
	}
	wg.Wait()
	if r.Users() != 0 {
		t.Fatalf("leaked: Users %d", r.Users())
	}
}

func TestSessionValuesAndClose(t *testing.T) {
	c := &countConn{}
	s := New(7, "1.2.3.4:5", c)
	type key struct{}
	s.SetValue(key{}, 42)
	if s.Value(key{}) != 42 {
		t.Fatal("value lost")
	}
	_ = s.Close()
	_ = s.Close()
	if !c.closed || !s.Closed() {
		t.Fatal("Close did not close")
	}
}

// The presence hook fires on a user's first session and after their last:
// the cluster directory keeps one subscription per locally online user with
// it. CloseUser and UserIDs serve revocation and the resync after an outage.
func TestRegistryPresenceCloseUserAndUserIDs(t *testing.T) {
	var mu sync.Mutex
	calls := map[string]int{}
	r := NewRegistry(WithPresence(func(u string) { mu.Lock(); calls[u]++; mu.Unlock() }))
	c1, c2 := &countConn{}, &countConn{}
	s1, s2 := New(1, "p", c1), New(2, "p", c2)
	r.Bind(s1, "alice")
	r.Bind(s2, "alice") // not a transition
	if calls["alice"] != 1 {
		t.Fatalf("presence calls after two binds: %d, want 1", calls["alice"])
	}
	if ids := r.UserIDs(); len(ids) != 1 || ids[0] != "alice" {
		t.Fatalf("UserIDs %v", ids)
	}
	if n := r.CloseUser("alice"); n != 2 || !c1.closed || !c2.closed {
		t.Fatalf("CloseUser closed %d (%v %v)", n, c1.closed, c2.closed)
	}
	r.Remove(s1)
	if calls["alice"] != 1 {
		t.Fatal("presence called while a session remained")
	}
	r.Remove(s2)
	if calls["alice"] != 2 || r.Online("alice") {
		t.Fatalf("presence calls after the last left: %d", calls["alice"])
	}
}

// DeliverMany reaches every session of every listed user once, skips users
// without a session, and counts what it reached, like Deliver per user.
func TestRegistryDeliverMany(t *testing.T) {
	r := NewRegistry()
	a1, a2, b, c := &countConn{}, &countConn{}, &countConn{}, &countConn{}
	r.Bind(New(1, "p", a1), "alice")
	r.Bind(New(2, "p", a2), "alice")
	r.Bind(New(3, "p", b), "bob")
	r.Bind(New(4, "p", c), "carol")
	before := r.Pushes()
	if got := r.DeliverMany([]string{"alice", "bob", "nobody"}, []byte("g")); got != 3 {
		t.Fatalf("DeliverMany reached %d sessions, want 3", got)
	}
	if a1.frames != 1 || a2.frames != 1 || b.frames != 1 || c.frames != 0 {
		t.Fatalf("frames alice %d/%d bob %d carol %d", a1.frames, a2.frames, b.frames, c.frames)
	}
	if r.Pushes()-before != 3 {
		t.Fatalf("Pushes grew by %d, want 3", r.Pushes()-before)
	}
	if got := r.DeliverMany(nil, []byte("g")); got != 0 {
		t.Fatalf("DeliverMany(nil) = %d", got)
	}
}
