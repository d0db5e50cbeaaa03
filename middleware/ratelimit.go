package middleware

import (
	"context"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/parley-im/parley/config"
	"github.com/parley-im/parley/pipeline"
	"github.com/parley-im/parley/session"
	"github.com/parley-im/parley/wire"
)

func init() { pipeline.Register("ratelimit", newRateLimit) }

// rateLimitOptions configure the ratelimit middleware. See docs/MIDDLEWARE.md
// for the full YAML with defaults.
type rateLimitOptions struct {
	// Rules maps a message type, or "default", to its limits. When absent,
	// the built-in rules (defaultRules) apply; when present, they are the
	// whole rule set.
	Rules map[string]ruleOptions `yaml:"rules"`
	// DisconnectAfter closes a connection refused more than this many times
	// within Window: a client that ignores rate_limited replies is flooding.
	// Default 500; -1 never disconnects.
	DisconnectAfter int `yaml:"disconnect_after"`
	// Window is the period over which refusals are counted. Default 10s.
	Window time.Duration `yaml:"window"`
	// MaxEntries bounds the buckets kept per scope (users, addresses, and
	// connection attempts each). Default 100000.
	MaxEntries int `yaml:"max_entries"`
	// IdleTTL drops a bucket unused for this long. It must be at least the
	// time any bucket takes to refill (burst/rate), or forgetting a bucket
	// would forgive its client early. Default 10m.
	IdleTTL time.Duration `yaml:"idle_ttl"`
	// IPv6Prefix is how many leading bits of an IPv6 address name a client:
	// one host usually owns a whole /64. Default 64. IPv4 uses all 32 bits.
	IPv6Prefix int `yaml:"ipv6_prefix"`
	// Exempt lists addresses or CIDR prefixes (load balancers' health
	// checks, the load generator) that no per-address limit applies to.
	Exempt []string `yaml:"exempt"`
	// ConnPerIP limits new connections per address, checked at accept time.
	// Default {rate: 10, burst: 100}; {rate: 0} turns it off.
	ConnPerIP *limitOptions `yaml:"conn_per_ip"`
}

// ruleOptions are the limits of one rule, one per scope. For a type's own
// rule, a scope it leaves out falls back to the default rule's scope (and
// shares its buckets); a scope set to {rate: 0} has no limit for that type.
type ruleOptions struct {
	Session *limitOptions `yaml:"session"` // per connection
	User    *limitOptions `yaml:"user"`    // per logged-in user, across their connections
	IP      *limitOptions `yaml:"ip"`      // per client address, across connections and users
}

// limitOptions is one token bucket: Burst requests at once, refilled at Rate
// per second. Rate 0 means no limit. Burst 0 means max(1, ceil(Rate)).
type limitOptions struct {
	Rate  float64 `yaml:"rate"`
	Burst int     `yaml:"burst"`
}

// defaultRules keep the seed client whole: after login it sends one chatting
// request per unread message, pipelined, so the per-connection burst is
// large; what is expensive (a password hash for login and register) is
// limited per address.
func defaultRules() map[string]ruleOptions {
	return map[string]ruleOptions{
		ruleDefault: {
			Session: &limitOptions{Rate: 100, Burst: 1000},
			User:    &limitOptions{Rate: 200, Burst: 2000},
			IP:      &limitOptions{Rate: 1000, Burst: 5000},
		},
		wire.TypeLogin: {
			Session: &limitOptions{Rate: 0.5, Burst: 5},
			IP:      &limitOptions{Rate: 1, Burst: 10},
		},
		wire.TypeRegister: {
			Session: &limitOptions{Rate: 0.2, Burst: 3},
			IP:      &limitOptions{Rate: 0.1, Burst: 5},
		},
		wire.TypeSendMessage: {
			User: &limitOptions{Rate: 20, Burst: 200},
		},
		// One group message is pushed to every online member (up to
		// groups.max_members sessions): half send_message's rate.
		wire.TypeGroupSend: {
			User: &limitOptions{Rate: 10, Burst: 100},
		},
		// Each friend request lands in someone else's list, and is pushed
		// to them. In the Qt client a request takes typing an id, a search
		// and a click: a few seconds each. A burst of 30, then one every 5
		// s, is never reached by hand, and holds a script to 720 an hour
		// (friends.max_pending_requests caps its requests waiting anyway).
		wire.TypeAddFriend: {
			User: &limitOptions{Rate: 0.2, Burst: 30},
		},
		// search_user answers whether an id (a phone number) has an
		// account. By hand it is one typed id per search; a script sweeping
		// phone numbers gets one per second after a burst of 20.
		wire.TypeSearchUser: {
			User: &limitOptions{Rate: 1, Burst: 20},
		},
		// The seed client answers every frame of a get_unread_messages
		// catch-up (up to 2000, handlers.maxUnreadPerRequest) with one
		// pipelined chatting request. Refusing those, or worse
		// disconnecting for them, would cut off a client that never
		// reconnects; the burst covers two full catch-ups in a row.
		wire.TypeChatting: {
			Session: &limitOptions{Rate: 100, Burst: 5000},
			User:    &limitOptions{Rate: 200, Burst: 10000},
		},
	}
}

const ruleDefault = "default"

// The scopes, in the order a request is checked: cheapest first, so that a
// refused request costs as little as possible.
const (
	scopeSession = iota
	scopeUser
	scopeIP
	numScopes
)

var scopeNames = [numScopes]string{"session", "user", "ip"}

// scopeLimit is one resolved scope of a plan: which rule's buckets to use,
// with which limit. owner < 0 means the scope does not apply.
type scopeLimit struct {
	owner int32
	limit rate.Limit
	burst int
}

// plan is what a request of one type is checked against, resolved once.
type plan [numScopes]scopeLimit

// rateLimiter is one configured ratelimit middleware.
type rateLimiter struct {
	plans    map[string]*plan // types with a rule of their own
	fallback *plan            // every other type, known or not
	// sessionScopes is each rule's own session limit, by rule (owner < 0:
	// none); every session gets these buckets when it first sends.
	sessionScopes []scopeLimit

	users, ips   *bucketMap
	conns        *bucketMap // nil when conn_per_ip is off
	connLimit    scopeLimit
	connsRefused prometheus.Counter

	disconnectAfter int
	window          int64 // nanoseconds
	ipv6Bits        int
	exempt          []netip.Prefix

	// Refusals are built once: a flood is answered without allocating.
	refused    [numScopes]*pipeline.Error
	disconnect *pipeline.Disconnect
}

// sessionLimits is the per-connection state, stored on the session itself
// (session.Value) so it lives and dies with the connection: no map of
// sessions to bound or sweep.
type sessionLimits struct {
	addr    netip.Addr      // the client key; invalid if unknown or exempt
	buckets []*rate.Limiter // by rule, fixed at creation (each guards itself)

	mu        sync.Mutex
	refusals  int   // within the current window
	windowEnd int64 // unix nanoseconds
}

// newRateLimit builds the middleware that refuses requests beyond the
// configured rates with rate_limited (the connection stays open), closes the
// connection of a client that keeps flooding, and registers the per-address
// connection limit on the accept gate. It uses token buckets from
// golang.org/x/time/rate and only ever asks them "allow now?": nothing here
// waits, on a worker or on a gev loop.
func newRateLimit(o rateLimitOptions, d pipeline.Deps) (pipeline.Middleware, error) {
	rl, err := buildRateLimiter(o, d)
	if err != nil {
		return nil, err
	}
	if rl.conns != nil && d.Accept != nil {
		d.Accept.Add(rl.allowConn)
	}
	return func(next pipeline.Handler) pipeline.Handler {
		return func(ctx context.Context, req *pipeline.Request) (pipeline.Reply, error) {
			if err := rl.check(req); err != nil {
				return nil, err
			}
			return next(ctx, req)
		}
	}, nil
}

func buildRateLimiter(o rateLimitOptions, d pipeline.Deps) (*rateLimiter, error) {
	if err := o.applyDefaults(); err != nil {
		return nil, err
	}
	rules := o.Rules
	if rules == nil {
		rules = defaultRules()
	}
	names := make([]string, 0, len(rules))
	for t := range rules {
		if t != ruleDefault {
			names = append(names, t)
		}
	}
	slices.Sort(names)
	if o.Rules != nil { // the built-in rules may name types a build does not serve
		if err := checkTypes(d, "rules", names); err != nil {
			return nil, err
		}
	}

	rl := &rateLimiter{
		plans:           make(map[string]*plan, len(rules)),
		users:           newBucketMap(o.MaxEntries, o.IdleTTL),
		ips:             newBucketMap(o.MaxEntries, o.IdleTTL),
		disconnectAfter: o.DisconnectAfter,
		window:          int64(o.Window),
		ipv6Bits:        o.IPv6Prefix,
		disconnect:      &pipeline.Disconnect{Code: wire.CodeRateLimited, Reason: "too many requests"},
	}
	for s, name := range scopeNames {
		rl.refused[s] = &pipeline.Error{Code: wire.CodeRateLimited, Message: "too many requests (per " + name + "), slow down"}
	}
	for _, e := range o.Exempt {
		p, err := config.ParsePrefix(e)
		if err != nil {
			return nil, fmt.Errorf("exempt: %w", err)
		}
		rl.exempt = append(rl.exempt, p)
	}

	// Rule 0 is "default"; the others are numbered in name order, so a given
	// configuration always resolves the same way.
	fallback, err := resolve(0, rules[ruleDefault], nil, o.IdleTTL)
	if err != nil {
		return nil, fmt.Errorf("rules: default: %w", err)
	}
	rl.fallback = fallback
	rl.sessionScopes = []scopeLimit{fallback[scopeSession]}
	for i, t := range names {
		owner := int32(i + 1)
		p, err := resolve(owner, rules[t], fallback, o.IdleTTL)
		if err != nil {
			return nil, fmt.Errorf("rules: %s: %w", t, err)
		}
		rl.plans[t] = p
		own := p[scopeSession]
		if own.owner != owner { // falls back to the default's bucket, or none
			own = scopeLimit{owner: -1}
		}
		rl.sessionScopes = append(rl.sessionScopes, own)
	}

	conn, err := resolveLimit(0, o.ConnPerIP, o.IdleTTL)
	if err != nil {
		return nil, fmt.Errorf("conn_per_ip: %w", err)
	}
	if conn.owner >= 0 {
		rl.conns = newBucketMap(o.MaxEntries, o.IdleTTL)
		rl.connLimit = conn
		c, err := register(d.Metrics, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parley_conn_refused_per_ip_total",
			Help: "Connections closed at accept because their address exceeded ratelimit conn_per_ip.",
		}))
		if err != nil {
			return nil, err
		}
		var ok bool
		if rl.connsRefused, ok = c.(prometheus.Counter); !ok {
			return nil, fmt.Errorf("parley_conn_refused_per_ip_total is already registered as another kind of metric")
		}
	}
	return rl, nil
}

// applyDefaults fills zero options with their defaults and checks the rest.
func (o *rateLimitOptions) applyDefaults() error {
	if o.DisconnectAfter == 0 {
		o.DisconnectAfter = 500
	}
	if o.Window == 0 {
		o.Window = 10 * time.Second
	}
	if o.MaxEntries == 0 {
		o.MaxEntries = 100_000
	}
	if o.IdleTTL == 0 {
		o.IdleTTL = 10 * time.Minute
	}
	if o.IPv6Prefix == 0 {
		o.IPv6Prefix = 64
	}
	if o.ConnPerIP == nil {
		o.ConnPerIP = &limitOptions{Rate: 10, Burst: 100}
	}
	switch {
	case o.DisconnectAfter < -1:
		return fmt.Errorf("disconnect_after: %d: use a positive count, or -1 for never", o.DisconnectAfter)
	case o.Window < 0, o.MaxEntries < 0, o.IdleTTL < 0:
		return fmt.Errorf("window, max_entries and idle_ttl must not be negative")
	case o.IPv6Prefix < 1 || o.IPv6Prefix > 128:
		return fmt.Errorf("ipv6_prefix: %d: want 1 to 128", o.IPv6Prefix)
	}
	return nil
}

// resolve turns one rule into a plan. Scopes the rule leaves out take the
// fallback's (the default rule's) limit and buckets.
func resolve(owner int32, r ruleOptions, fallback *plan, idleTTL time.Duration) (*plan, error) {
	p := new(plan)
	for s, lo := range [numScopes]*limitOptions{r.Session, r.User, r.IP} {
		if lo == nil {
			p[s] = scopeLimit{owner: -1}
			if fallback != nil {
				p[s] = fallback[s]
			}
			continue
		}
		sl, err := resolveLimit(owner, lo, idleTTL)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", scopeNames[s], err)
		}
		p[s] = sl
	}
	return p, nil
}

func resolveLimit(owner int32, lo *limitOptions, idleTTL time.Duration) (scopeLimit, error) {
	switch {
	case lo.Rate < 0 || math.IsNaN(lo.Rate) || math.IsInf(lo.Rate, 0):
		return scopeLimit{}, fmt.Errorf("rate: %v: want a positive number of requests per second, or 0 for no limit", lo.Rate)
	case lo.Burst < 0:
		return scopeLimit{}, fmt.Errorf("burst: %d: must not be negative", lo.Burst)
	case lo.Rate == 0:
		return scopeLimit{owner: -1}, nil
	}
	burst := lo.Burst
	if burst == 0 {
		burst = max(1, int(math.Ceil(lo.Rate)))
	}
	if refill := time.Duration(float64(burst) / lo.Rate * float64(time.Second)); refill > idleTTL {
		return scopeLimit{}, fmt.Errorf("a bucket of %d at %v/s takes %v to refill, longer than idle_ttl (%v): raise idle_ttl", burst, lo.Rate, refill.Round(time.Second), idleTTL)
	}
	return scopeLimit{owner: owner, limit: rate.Limit(lo.Rate), burst: burst}, nil
}

// check returns nil if req is within every limit of its type's plan, or the
// refusal to answer with. Scopes are checked in order and a refused request
// has already spent its token in the scopes before the refusing one; the
// alternative (reserve, then cancel) costs more on every request than the
// slight over-counting costs a client that is over a limit anyway.
func (rl *rateLimiter) check(req *pipeline.Request) error {
	p, ok := rl.plans[req.Type]
	if !ok {
		p = rl.fallback // unknown types too: they never get buckets of their own
	}
	now := receivedAt(req)
	st := rl.state(req.Session)

	if sl := p[scopeSession]; sl.owner >= 0 && !st.buckets[sl.owner].AllowN(now, 1) {
		return rl.refuse(st, scopeSession, now)
	}
	if sl := p[scopeUser]; sl.owner >= 0 {
		if user := req.Session.UserID(); user != "" && !rl.users.allow(bucketKey{rule: sl.owner, user: user}, sl.limit, sl.burst, now) {
			return rl.refuse(st, scopeUser, now)
		}
	}
	if sl := p[scopeIP]; sl.owner >= 0 && st.addr.IsValid() &&
		!rl.ips.allow(bucketKey{rule: sl.owner, addr: st.addr}, sl.limit, sl.burst, now) {
		return rl.refuse(st, scopeIP, now)
	}
	return nil
}

// state returns the session's limits, creating them on its first request.
// The dispatcher runs one request of a session at a time, so two requests
// never race to create them.
func (rl *rateLimiter) state(s *session.Session) *sessionLimits {
	// The key is this middleware instance: two ratelimit entries in one
	// chain keep separate state, and no other package can collide with it.
	if st, ok := s.Value(rl).(*sessionLimits); ok {
		return st
	}
	st := &sessionLimits{
		addr:    rl.clientKey(parsePeer(s.Peer())),
		buckets: make([]*rate.Limiter, len(rl.sessionScopes)),
	}
	// All the session's buckets at once: a few hundred bytes per connection
	// buy a request path with no lock of its own besides the bucket's.
	for i, sl := range rl.sessionScopes {
		if sl.owner >= 0 {
			st.buckets[i] = rate.NewLimiter(sl.limit, sl.burst)
		}
	}
	s.SetValue(rl, st)
	return st
}

// refuse counts a refusal against the session and picks the answer: a
// rate_limited reply, or a disconnect once the client has ignored more than
// disconnect_after of them within the window.
func (rl *rateLimiter) refuse(st *sessionLimits, scope int, now time.Time) error {
	t := now.UnixNano()
	st.mu.Lock()
	if t >= st.windowEnd {
		st.refusals, st.windowEnd = 0, t+rl.window
	}
	st.refusals++
	flooding := rl.disconnectAfter >= 0 && st.refusals > rl.disconnectAfter
	st.mu.Unlock()
	if flooding {
		return rl.disconnect
	}
	return rl.refused[scope]
}

// allowConn is the accept-time check, registered on pipeline.AcceptGate. It
// runs on a gev loop goroutine: a parse, one shard lock, one map lookup.
// An address it cannot read is let through; the per-session limits still
// apply to what that connection sends.
func (rl *rateLimiter) allowConn(ip string) bool {
	a, err := netip.ParseAddr(ip) // transport passes the bare address
	if err != nil {
		a = parsePeer(ip)
	}
	key := rl.clientKey(a)
	if !key.IsValid() {
		return true
	}
	if rl.conns.allow(bucketKey{addr: key}, rl.connLimit.limit, rl.connLimit.burst, time.Now()) {
		return true
	}
	rl.connsRefused.Inc()
	return false
}

// clientKey is the address a client is limited as: IPv4-mapped addresses
// unmapped, IPv6 cut to ipv6_prefix bits, no zone. Exempt and unknown
// addresses give the invalid Addr, which no per-address limit applies to.
func (rl *rateLimiter) clientKey(a netip.Addr) netip.Addr {
	if !a.IsValid() {
		return a
	}
	a = a.Unmap().WithZone("")
	for _, p := range rl.exempt {
		if p.Contains(a) {
			return netip.Addr{}
		}
	}
	if a.Is6() {
		if p, err := a.Prefix(rl.ipv6Bits); err == nil {
			a = p.Addr()
		}
	}
	return a
}

// parsePeer reads "ip:port" (what session.Peer holds), "[ipv6]:port", or a
// bare address. It returns the invalid Addr for anything else.
func parsePeer(s string) netip.Addr {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr()
	}
	a, _ := netip.ParseAddr(s)
	return a
}
