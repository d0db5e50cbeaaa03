package middleware

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/parley-im/parley/pipeline"
	"github.com/parley-im/parley/session"
	"github.com/parley-im/parley/wire"
)

// frame is one request of a rate-limit scenario: who sends it, what type,
// and the code expected back ("" for served).
type frame struct {
	from string // a client name of the scenario
	typ  string
	want string
}

// client describes a connection of a scenario.
type client struct {
	peer string
	user string // logged in as, or ""
}

// Rates are tiny so no bucket refills during a test: a burst of N allows
// exactly N requests. idle_ttl is long enough for the refill-time check.
const slow = "idle_ttl: 1000h, disconnect_after: -1"

func TestRateLimitScopes(t *testing.T) {
	const rl = wire.CodeRateLimited
	for _, tc := range []struct {
		name    string
		with    string
		clients map[string]client
		frames  []frame
	}{{
		name:    "per session",
		with:    "{" + slow + ", rules: {default: {session: {rate: 0.001, burst: 2}}}}",
		clients: map[string]client{"a": {peer: "10.0.0.1:1"}, "b": {peer: "10.0.0.1:2"}},
		frames:  []frame{{"a", "friends", ""}, {"a", "chatting", ""}, {"a", "friends", rl}, {"b", "friends", ""}},
	}, {
		name: "per user, across sessions",
		with: "{" + slow + ", rules: {default: {user: {rate: 0.001, burst: 2}}}}",
		clients: map[string]client{"a1": {peer: "10.0.0.1:1", user: "alice"}, "a2": {peer: "10.0.0.2:1", user: "alice"},
			"b": {peer: "10.0.0.1:2", user: "bob"}, "anon": {peer: "10.0.0.1:3"}},
		frames: []frame{{"a1", "friends", ""}, {"a2", "friends", ""}, {"a1", "friends", rl}, {"a2", "friends", rl},
			{"b", "friends", ""}, {"anon", "ping", ""}, {"anon", "ping", ""}, {"anon", "ping", ""}},
	}, {
		name: "per address, IPv4 and IPv6 /64",
		with: "{" + slow + ", rules: {default: {ip: {rate: 0.001, burst: 2}}}}",
		clients: map[string]client{"a": {peer: "10.0.0.1:1"}, "b": {peer: "10.0.0.1:2"}, "c": {peer: "10.0.0.2:1"},
			"v6a": {peer: "[2001:db8::1]:1"}, "v6b": {peer: "[2001:db8::ffff]:1"}, "v6c": {peer: "[2001:db8:0:1::1]:1"},
			"mapped": {peer: "[::ffff:10.0.0.1]:3"}},
		frames: []frame{{"a", "ping", ""}, {"b", "ping", ""}, {"mapped", "ping", rl}, {"c", "ping", ""},
			{"v6a", "ping", ""}, {"v6b", "ping", ""}, {"v6a", "ping", rl}, {"v6c", "ping", ""}},
	}, {
		name:    "exempt addresses",
		with:    "{" + slow + ", exempt: [10.0.0.0/8], rules: {default: {ip: {rate: 0.001, burst: 1}}}}",
		clients: map[string]client{"a": {peer: "10.0.0.1:1"}, "b": {peer: "192.0.2.1:1"}},
		frames:  []frame{{"a", "ping", ""}, {"a", "ping", ""}, {"b", "ping", ""}, {"b", "ping", rl}},
	}, {
		name:    "a type's own rule has its own buckets",
		with:    "{" + slow + ", rules: {default: {session: {rate: 0.001, burst: 1}}, login: {session: {rate: 0.001, burst: 2}}}}",
		clients: map[string]client{"a": {peer: "10.0.0.1:1"}},
		frames: []frame{{"a", "friends", ""}, {"a", "friends", rl}, {"a", "login", ""}, {"a", "login", ""},
			{"a", "login", rl}},
	}, {
		name:    "scopes a type leaves out share the default's buckets",
		with:    "{" + slow + ", rules: {default: {session: {rate: 0.001, burst: 2}}, send_message: {user: {rate: 0.001, burst: 9}}}}",
		clients: map[string]client{"a": {peer: "10.0.0.1:1", user: "alice"}},
		frames:  []frame{{"a", "send_message", ""}, {"a", "friends", ""}, {"a", "send_message", rl}},
	}, {
		name:    "rate 0 turns a scope off for one type",
		with:    "{" + slow + ", rules: {default: {session: {rate: 0.001, burst: 1}}, ping: {session: {rate: 0}}}}",
		clients: map[string]client{"a": {peer: "10.0.0.1:1"}},
		frames:  []frame{{"a", "ping", ""}, {"a", "ping", ""}, {"a", "ping", ""}, {"a", "friends", ""}, {"a", "friends", rl}},
	}, {
		name:    "unknown types use the default rule",
		with:    "{" + slow + ", rules: {default: {session: {rate: 0.001, burst: 2}}, login: {session: {rate: 0.001, burst: 5}}}}",
		clients: map[string]client{"a": {peer: "10.0.0.1:1"}},
		frames:  []frame{{"a", "no_such_type", ""}, {"a", "another", ""}, {"a", "friends", rl}, {"a", "login", ""}},
	}, {
		name:    "no default rule: other types are not limited",
		with:    "{" + slow + ", rules: {login: {session: {rate: 0.001, burst: 1}}}}",
		clients: map[string]client{"a": {peer: "10.0.0.1:1"}},
		frames:  []frame{{"a", "friends", ""}, {"a", "friends", ""}, {"a", "login", ""}, {"a", "login", rl}},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			d := testDeps(nil)
			h := one(t, "ratelimit", tc.with, d, (&counter{}).handle)
			sessions := map[string]*session.Session{}
			for name, c := range tc.clients {
				s, _ := newSession(d.Sessions, c.peer)
				if c.user != "" {
					d.Sessions.Bind(s, c.user)
				}
				sessions[name] = s
			}
			for i, f := range tc.frames {
				_, err := h(context.Background(), request(sessions[f.from], f.typ, nil))
				if got := codeOf(err); got != f.want {
					t.Fatalf("frame %d (%s from %s): code %q, want %q", i, f.typ, f.from, got, f.want)
				}
				if isDisconnect(err) {
					t.Fatalf("frame %d: disconnect with disconnect_after -1", i)
				}
			}
		})
	}
}

// TestRateLimitDisconnectsFloods checks the escalation: refusals first, then,
// past disconnect_after refusals within the window, a disconnect.
func TestRateLimitDisconnectsFloods(t *testing.T) {
	d := testDeps(nil)
	h := one(t, "ratelimit", "{idle_ttl: 1000h, disconnect_after: 2, window: 1h, rules: {default: {session: {rate: 0.001, burst: 1}}}}", d, (&counter{}).handle)
	s, _ := newSession(d.Sessions, "10.0.0.1:1")
	var got []string
	for range 5 {
		_, err := h(context.Background(), request(s, "ping", nil))
		o, code := pipeline.Classify(err)
		got = append(got, fmt.Sprint(o, ":", code))
	}
	want := "[ok: error:rate_limited error:rate_limited disconnect:rate_limited disconnect:rate_limited]"
	if fmt.Sprint(got) != want {
		t.Fatalf("got %v, want %s", got, want)
	}
}

// TestRateLimitRefusalWindow drives refuse with explicit times: the count
// restarts with each window.
func TestRateLimitRefusalWindow(t *testing.T) {
	rl, err := buildRateLimiter(rateLimitOptions{DisconnectAfter: 2, Window: time.Second}, testDeps(nil))
	if err != nil {
		t.Fatal(err)
	}
	st := &sessionLimits{}
	t0 := time.Now()
	for i, tc := range []struct {
		at         time.Duration
		disconnect bool
	}{{0, false}, {100 * time.Millisecond, false}, {200 * time.Millisecond, true},
		{1100 * time.Millisecond, false}, {1200 * time.Millisecond, false}, {1300 * time.Millisecond, true}} {
		if got := isDisconnect(rl.refuse(st, scopeSession, t0.Add(tc.at))); got != tc.disconnect {
			t.Fatalf("refusal %d at %v: disconnect %v, want %v", i, tc.at, got, tc.disconnect)
		}
	}
}

func TestRateLimitConnPerIP(t *testing.T) {
	d := testDeps(nil)
	one(t, "ratelimit", "{idle_ttl: 1000h, exempt: ['127.0.0.1'], conn_per_ip: {rate: 0.001, burst: 2}}", d, (&counter{}).handle)
	for i, tc := range []struct {
		ip   string
		want bool
	}{
		{"192.0.2.1", true}, {"192.0.2.1", true}, {"192.0.2.1", false},
		{"192.0.2.2", true}, {"192.0.2.2:5000", true}, {"192.0.2.2", false},
		{"2001:db8::1", true}, {"2001:db8::2", true}, {"2001:db8::3", false}, // one /64
		{"127.0.0.1", true}, {"127.0.0.1", true}, {"127.0.0.1", true}, // exempt
		{"not an address", true}, // unreadable: let through, frames are still limited
	} {
		if got := d.Accept.Allow(tc.ip); got != tc.want {
			t.Fatalf("connection %d from %s: allowed %v, want %v", i, tc.ip, got, tc.want)
		}
	}
}

func TestRateLimitConnPerIPOff(t *testing.T) {
	d := testDeps(nil)
	one(t, "ratelimit", "{conn_per_ip: {rate: 0}}", d, (&counter{}).handle)
	for range 1000 {
		if !d.Accept.Allow("192.0.2.1") {
			t.Fatal("conn_per_ip {rate: 0} still limits")
		}
	}
}

// TestRateLimitAcceptIsBounded is the accept-time version of the million
// addresses: the connection buckets stay within max_entries.
func TestRateLimitAcceptIsBounded(t *testing.T) {
	rl, err := buildRateLimiter(rateLimitOptions{MaxEntries: 500}, testDeps(nil))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 200_000 {
		rl.allowConn(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}).String())
	}
	if n := rl.conns.len(); n > 500 {
		t.Fatalf("%d connection buckets, want at most 500", n)
	}
}

// TestRateLimitDefaults builds the built-in configuration against the real
// type list and checks the seed client's worst burst passes: one chatting
// request per unread message, pipelined right after login.
func TestRateLimitDefaults(t *testing.T) {
	d := testDeps(nil)
	h := one(t, "ratelimit", "", d, (&counter{}).handle)
	s, _ := newSession(d.Sessions, "10.0.0.1:1")
	if _, err := h(context.Background(), request(s, "login", nil)); err != nil {
		t.Fatalf("login: %v", err)
	}
	d.Sessions.Bind(s, "1")
	for i := range 900 {
		if _, err := h(context.Background(), request(s, "chatting", nil)); err != nil {
			t.Fatalf("chatting %d refused: %v", i, err)
		}
	}
}

func TestRateLimitOptionErrors(t *testing.T) {
	for with, want := range map[string]string{
		"{rules: {frends: {session: {rate: 1}}}}":          `rules: no message type "frends"`,
		"{rules: {default: {session: {rate: -1}}}}":        "rules: default: session: rate: -1",
		"{rules: {login: {ip: {rate: 1, burst: -2}}}}":     "rules: login: ip: burst: -2",
		"{rules: {login: {ip: {rate: 0.001, burst: 10}}}}": "raise idle_ttl",
		"{rules: {login: {sesion: {rate: 1}}}}":            `line 2: unknown option "sesion"`,
		"{ipv6_prefix: 129}":                               "ipv6_prefix: 129",
		"{disconnect_after: -5}":                           "disconnect_after: -5",
		"{exempt: [10.0.0.300]}":                           "exempt:",
		"{conn_per_ip: {rate: -1}}":                        "conn_per_ip: rate: -1",
		"{window: -1s}":                                    "must not be negative",
	} {
		if got := buildErr(t, "ratelimit", with, testDeps(nil)); !contains(got, want) {
			t.Errorf("%s:\n got %q\nwant %q", with, got, want)
		}
	}
}

// The built-in rules give group_send its own per-user bucket (burst 100),
// smaller than send_message's (200): one group message is pushed to every
// member. Refused within a burst a send_message burst would still allow.
func TestRateLimitDefaultGroupSend(t *testing.T) {
	d := testDeps(nil)
	h := one(t, "ratelimit", "{disconnect_after: -1}", d, (&counter{}).handle)
	s, _ := newSession(d.Sessions, "10.0.0.1:1")
	d.Sessions.Bind(s, "1")
	refused := -1
	for i := range 150 {
		if _, err := h(context.Background(), request(s, wire.TypeGroupSend, nil)); err != nil {
			if codeOf(err) != wire.CodeRateLimited {
				t.Fatalf("group_send %d: %v", i, err)
			}
			refused = i
			break
		}
	}
	// Burst 100, refilling at 10/s: the first refusal comes after about 100.
	if refused < 100 || refused > 110 {
		t.Fatalf("first group_send refusal at %d, want about 100", refused)
	}
	s2, _ := newSession(d.Sessions, "10.0.0.1:2")
	d.Sessions.Bind(s2, "2")
	for i := range 150 {
		if _, err := h(context.Background(), request(s2, wire.TypeSendMessage, nil)); err != nil {
			t.Fatalf("send_message %d refused: %v (its burst is 200)", i, err)
		}
	}
}
