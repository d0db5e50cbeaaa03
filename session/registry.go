package session

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
)

// Deliverer sends an already encoded body to every live session of a user and
// reports how many sessions it was queued to. Handlers depend on this, not on
// Registry, so delivery can later cross nodes.
//
// DeliverMany is Deliver for many users at once with one shared body (a group
// message's fan-out): the body is encoded once by the caller and never
// copied per user, and an implementation may batch its work per node or per
// shard. It reports the sessions reached, summed over the users. A user listed
// twice is delivered to twice: callers pass distinct ids.
//
// DeliverMessage is Deliver for a stored message (id is its message id): a
// Deliverer that confirms deliveries on other nodes later (cluster.Directory)
// may count a push it handed to another node as reached, and mark the
// message undelivered afterwards if no session there took it.
type Deliverer interface {
	Deliver(userID string, body []byte) int
	DeliverMany(userIDs []string, body []byte) int
	DeliverMessage(userID string, id int64, body []byte) int
}

// Registry maps users to their live sessions. It is sharded so that logins
// and pushes on different users do not contend; a connection that never logs
// in does not touch it until it closes (Remove).
type Registry struct {
	shards [registryShards]registryShard
	seed   maphash.Seed

	// pushes counts bodies queued by Deliver, one per session reached.
	pushes atomic.Uint64

	// presence, when set, is told (outside any lock) that a user may have
	// gone from no local session to some, or back (see WithPresence).
	presence func(userID string)
}

// RegistryOption configures a Registry at construction.
type RegistryOption func(*Registry)

// WithPresence calls f after a user's first local session is bound and after
// their last one leaves. It is called outside the registry's locks and may
// race with the next change, so f must read the current state (Online)
// rather than trust the order of calls: a multi-node directory uses it to
// keep one subscription per locally online user.
func WithPresence(f func(userID string)) RegistryOption {
	return func(r *Registry) { r.presence = f }
}

const registryShards = 64

type registryShard struct {
	mu    sync.RWMutex
	users map[string][]*Session
}

// NewRegistry returns an empty registry.
func NewRegistry(opts ...RegistryOption) *Registry {
	r := &Registry{seed: maphash.MakeSeed()}
	for i := range r.shards {
		r.shards[i].users = make(map[string][]*Session)
	}
	for _, o := range opts {
		o(r)
	}
	return r
}

func (r *Registry) shard(userID string) *registryShard {
	// Seeded per process, so a client cannot choose ids that all land on
	// one shard.
	return &r.shards[maphash.String(r.seed, userID)%registryShards]
}

// Bind logs s in as userID. A session already bound to another user is moved.
// A user may have several sessions (two clients): every one receives pushes.
func (r *Registry) Bind(s *Session, userID string) {
	if old := s.UserID(); old != "" {
		if old == userID {
			return
		}
		r.unbind(s, old)
	}
	s.setUser(userID)
	sh := r.shard(userID)
	sh.mu.Lock()
	first := len(sh.users[userID]) == 0
	sh.users[userID] = append(sh.users[userID], s)
	sh.mu.Unlock()
	if first && r.presence != nil {
		r.presence(userID)
	}
	// A connection that closed while the login was in flight must not stay
	// online: re-check after publishing, and undo if it is gone.
	if s.Closed() {
		r.unbind(s, userID)
	}
}

// Remove forgets s entirely (called by transport when the connection closes).
func (r *Registry) Remove(s *Session) {
	s.MarkClosed()
	if u := s.UserID(); u != "" {
		r.unbind(s, u)
	}
}

func (r *Registry) unbind(s *Session, userID string) {
	sh := r.shard(userID)
	sh.mu.Lock()
	list := sh.users[userID]
	had := len(list) > 0
	for i, x := range list {
		if x == s {
			list = append(list[:i:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(sh.users, userID)
	} else {
		sh.users[userID] = list
	}
	sh.mu.Unlock()
	if had && len(list) == 0 && r.presence != nil {
		r.presence(userID)
	}
}

// CloseUser closes every live session of userID (a revoked user) and
// reports how many. Their transport removes them as they close.
func (r *Registry) CloseUser(userID string) int {
	sh := r.shard(userID)
	sh.mu.RLock()
	list := append([]*Session(nil), sh.users[userID]...)
	sh.mu.RUnlock()
	for _, s := range list {
		_ = s.Close()
	}
	return len(list)
}

// UserIDs returns the users with at least one live session, in no order.
func (r *Registry) UserIDs() []string {
	var out []string
	for i := range r.shards {
		sh := &r.shards[i]
		sh.mu.RLock()
		for u := range sh.users {
			out = append(out, u)
		}
		sh.mu.RUnlock()
	}
	return out
}

// Online reports whether userID has at least one live session.
func (r *Registry) Online(userID string) bool {
	sh := r.shard(userID)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	return len(sh.users[userID]) > 0
}

// *Registry is the local Deliverer; a multi-node one can replace it.
var _ Deliverer = (*Registry)(nil)

// Deliver queues body to every live session of userID. The same bytes go to
// every session: callers encode once.
func (r *Registry) Deliver(userID string, body []byte) int {
	sh := r.shard(userID)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	n := 0
	for _, s := range sh.users[userID] {
		if s.Send(body) == nil {
			n++
		}
	}
	r.pushes.Add(uint64(n))
	return n
}

// DeliverMessage is Deliver: on one node every session is local, so the
// count is final when it returns.
func (r *Registry) DeliverMessage(userID string, _ int64, body []byte) int {
	return r.Deliver(userID, body)
}

// DeliverMany queues body to every live session of each user in userIDs.
// Each user's shard is read-locked only while its sessions are collected
// and sent to; a session's Send only queues the bytes (gev's Send does not
// wait for the socket), so a fan-out to a thousand users holds no lock for
// long and never waits on a slow reader.
func (r *Registry) DeliverMany(userIDs []string, body []byte) int {
	n := 0
	for _, u := range userIDs {
		sh := r.shard(u)
		sh.mu.RLock()
		for _, s := range sh.users[u] {
			if s.Send(body) == nil {
				n++
			}
		}
		sh.mu.RUnlock()
	}
	r.pushes.Add(uint64(n))
	return n
}

// Pushes is the number of bodies Deliver has queued, counting one per
// session reached (a message to a user with two clients counts twice).
func (r *Registry) Pushes() uint64 { return r.pushes.Load() }

// Users is the number of users with at least one live session.
func (r *Registry) Users() int {
	n := 0
	for i := range r.shards {
		sh := &r.shards[i]
		sh.mu.RLock()
		n += len(sh.users)
		sh.mu.RUnlock()
	}
	return n
}
