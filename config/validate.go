package config

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Bounds that are not "any non-negative value". Each upper bound is far above
// any sensible setting: it exists to catch a slipped digit or a size written
// in the wrong unit, not to tune anything.
const (
	minFrame         = 64       // smaller cannot hold a login request
	maxFrame         = 64 * mib // a bigger chat frame is an attack or a bug
	maxBuffered      = 1 << 30  // per-connection queues; 1 GiB is already absurd
	maxPartial       = 1 << 34  // process-wide partial frames; 16 GiB
	maxLoops         = 1024
	maxWorkers       = 65536
	maxHashWorkers   = 1024
	maxHashQueue     = 1 << 20 // 19 MiB each only while hashing; a waiting job is small
	maxLoginFailures = 1 << 20
	maxPoolConns     = 10000
	maxWriterBatch   = 10000
	maxWriterDelay   = time.Second
	maxWriterQueue   = 1 << 20
	maxCacheEntries  = 10_000_000
	maxFriendCap     = 1_000_000 // relation rows per user; far above any list a client can show
	maxChatList      = 10000     // every entry is re-sent on each chatting request
	minChatPreview   = 16        // room for a few characters and the "…"
	minLogBuffer     = 4 * kib
	maxLogBuffer     = 64 * mib
	postgresScheme   = "postgres://"
	postgresqlScheme = "postgresql://"
)

// Validate checks every rule and reports every broken one together, each
// located at the file:line (or environment variable) that set the value when
// c came from Load. It does not check middleware names or options:
// pipeline.Build does, against the registered factories.
func (c *Config) Validate() error {
	v := validator{c: c}
	v.server()
	v.transport()
	v.pipeline()
	v.db()
	v.log()
	v.admin()
	v.web()
	v.accounts()
	v.friends()
	v.messages()
	v.cluster()
	v.groups()
	return errorOf(v.problems)
}

type validator struct {
	c        *Config
	problems []Problem
}

// add reports msg about keys[0]. It is located at the first of keys that the
// file or the environment set, so a rule spanning two keys points at the one
// the operator actually wrote; such messages name both keys.
func (v *validator) add(msg string, keys ...string) {
	key, at := keys[0], origin{}
	for _, k := range keys {
		if o, ok := v.c.origins[k]; ok {
			key, at = k, o
			break
		}
	}
	v.problems = append(v.problems, problemAt(at, key, msg))
}

func (v *validator) positive(key string, d time.Duration) {
	if d <= 0 {
		v.add(fmt.Sprintf("must be greater than 0, got %s", d), key)
	}
}

func (v *validator) nonNegative(key string, d time.Duration) {
	if d < 0 {
		v.add(fmt.Sprintf("must not be negative, got %s", d), key)
	}
}

func (v *validator) between(key string, n, lo, hi int) {
	if n < lo || n > hi {
		v.add(fmt.Sprintf("must be between %d and %d, got %d", lo, hi, n), key)
	}
}

func (v *validator) oneOf(key, got string, allowed ...string) {
	for _, a := range allowed {
		if got == a {
			return
		}
	}
	v.add(fmt.Sprintf("must be one of %s, got %q", strings.Join(allowed, ", "), got), key)
}

// listen checks a "host:port" TCP address. Port 0 is allowed (tests ask the
// kernel for a free port); service names are not, to keep the port visible.
func (v *validator) listen(key, addr string) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		v.add(fmt.Sprintf("want host:port such as \":12345\" or \"127.0.0.1:9090\", got %q", addr), key)
		return
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		v.add(fmt.Sprintf("port must be a number from 0 to 65535, got %q", port), key)
	}
	if strings.Contains(host, ":") && net.ParseIP(host) == nil {
		v.add(fmt.Sprintf("host %q is not a valid IPv6 address", host), key)
	}
}

func (v *validator) server() {
	s := v.c.Server
	if s.Listen == "" {
		v.add(`is required (the chat port, e.g. ":12345")`, "server.listen")
	} else {
		v.listen("server.listen", s.Listen)
	}
	v.positive("server.shutdown_timeout", s.ShutdownTimeout)
}

func (v *validator) transport() {
	t := v.c.Transport
	v.between("transport.loops", t.Loops, 0, maxLoops)
	v.between("transport.workers", t.Workers, 0, maxWorkers)
	v.between("transport.login_workers", t.LoginWorkers, 0, maxWorkers)
	v.between("transport.max_frame", t.MaxFrame, minFrame, maxFrame)
	v.between("transport.max_queued", t.MaxQueued, 0, maxBuffered)
	v.between("transport.max_pending", t.MaxPending, 0, maxBuffered)
	// A queue smaller than one frame would close a connection for sending a
	// single legal frame.
	if t.MaxQueued < t.MaxFrame {
		v.add(fmt.Sprintf("transport.max_queued (%d) must be at least transport.max_frame (%d)", t.MaxQueued, t.MaxFrame),
			"transport.max_queued", "transport.max_frame")
	}
	if t.MaxPending < t.MaxFrame {
		v.add(fmt.Sprintf("transport.max_pending (%d) must be at least transport.max_frame (%d)", t.MaxPending, t.MaxFrame),
			"transport.max_pending", "transport.max_frame")
	}
	v.positive("transport.frame_timeout", t.FrameTimeout)
	v.between("transport.max_partial_bytes", t.MaxPartialBytes, 0, maxPartial)
	if t.MaxPartialBytes < t.MaxFrame {
		v.add(fmt.Sprintf("transport.max_partial_bytes (%d) must be at least transport.max_frame (%d)", t.MaxPartialBytes, t.MaxFrame),
			"transport.max_partial_bytes", "transport.max_frame")
	}
	v.positive("transport.write_stall", t.WriteStall)
	v.positive("transport.heartbeat_timeout", t.HeartbeatTimeout)
	v.nonNegative("transport.legacy_idle", t.LegacyIdle)
	v.positive("transport.keepalive", t.KeepAlive)
	if t.MaxConns < 0 {
		v.add(fmt.Sprintf("must be 0 (derived from the open-file limit) or more, got %d", t.MaxConns), "transport.max_conns")
	}
	for i, s := range t.ProxyTrusted {
		if _, err := ParsePrefix(s); err != nil {
			key := fmt.Sprintf("transport.proxy_trusted[%d]", i)
			v.add(err.Error(), key, "transport.proxy_trusted")
		}
	}
}

// pipeline checks the shape of the list. Entries are located by their Pos,
// which Load sets to the entry's file:line.
func (v *validator) pipeline() {
	firstAt := map[string]string{}
	for i, sp := range v.c.Pipeline {
		key := fmt.Sprintf("pipeline[%d]", i)
		report := func(sub, msg string) {
			v.problems = append(v.problems, v.specProblem(key, sub, sp.Pos, msg))
		}
		if sp.Use == "" {
			report(".use", "use is required: name the middleware, e.g. use: ratelimit")
		} else if first, dup := firstAt[sp.Use]; dup {
			report(".use", fmt.Sprintf("middleware %q is already in the chain at %s; it would run twice per request, remove one", sp.Use, first))
		} else {
			firstAt[sp.Use] = sp.Pos
		}
		if len(sp.Only) > 0 && len(sp.Except) > 0 {
			report(".except", "use either only or except, not both")
		}
		for j, t := range sp.Only {
			if t == "" {
				report(".only", fmt.Sprintf("only[%d] is empty; want a message type", j))
			}
		}
		for j, t := range sp.Except {
			if t == "" {
				report(".except", fmt.Sprintf("except[%d] is empty; want a message type", j))
			}
		}
	}
}

// specProblem locates a problem with pipeline entry key at its sub-key's line
// (".except") when known, else at the entry's Pos. File lines are trusted
// only while the entry still sits at the Pos the file gave it, in case code
// edited the list after Load.
func (v *validator) specProblem(key, sub, pos, msg string) Problem {
	p := Problem{Where: pos, Key: key, Msg: msg}
	entry, fromFile := v.c.origins[key]
	if !fromFile || entry.where() != pos {
		return p
	}
	p.line = entry.line
	if o, ok := v.c.origins[key+sub]; ok {
		p.Where, p.line = o.where(), o.line
	}
	return p
}

func (v *validator) db() {
	d := v.c.DB
	v.oneOf("db.driver", d.Driver, "sqlite", "postgres")
	// The DSN may hold a password: messages never echo it.
	isPG := strings.HasPrefix(d.DSN, postgresScheme) || strings.HasPrefix(d.DSN, postgresqlScheme)
	switch {
	case d.DSN == "":
		v.add("is required (a file path for sqlite, a postgres:// URL for postgres)", "db.dsn")
	case d.Driver == "postgres" && !isPG:
		v.add("db.driver is postgres, so db.dsn must be a postgres:// or postgresql:// URL", "db.dsn", "db.driver")
	case d.Driver == "sqlite" && isPG:
		v.add("db.dsn is a postgres URL but db.driver is sqlite; set db.driver: postgres", "db.driver", "db.dsn")
	}
	v.between("db.max_open_conns", d.MaxOpenConns, 1, maxPoolConns)
	if d.MaxIdleConns < 1 {
		v.add(fmt.Sprintf("must be at least 1, got %d", d.MaxIdleConns), "db.max_idle_conns")
	} else if d.MaxIdleConns > d.MaxOpenConns {
		v.add(fmt.Sprintf("db.max_idle_conns (%d) must not exceed db.max_open_conns (%d)", d.MaxIdleConns, d.MaxOpenConns),
			"db.max_idle_conns", "db.max_open_conns")
	}
	v.nonNegative("db.conn_max_idle_time", d.ConnMaxIdleTime)
	v.positive("db.query_timeout", d.QueryTimeout)
	v.between("db.writer_max_batch", d.WriterMaxBatch, 0, maxWriterBatch)
	v.nonNegative("db.writer_max_delay", d.WriterMaxDelay)
	if d.WriterMaxDelay > maxWriterDelay {
		v.add(fmt.Sprintf("must be at most %s (it is added to every message's latency), got %s", maxWriterDelay, d.WriterMaxDelay), "db.writer_max_delay")
	}
	v.between("db.writer_queue", d.WriterQueue, 1, maxWriterQueue)
}

func (v *validator) log() {
	l := v.c.Log
	v.oneOf("log.level", l.Level, "debug", "info", "warn", "error")
	v.oneOf("log.encoding", l.Encoding, "json", "console")
	v.positive("log.flush_interval", l.FlushInterval)
	v.between("log.buffer_size", l.BufferSize, minLogBuffer, maxLogBuffer)
	if l.SampleInitial < 0 {
		v.add(fmt.Sprintf("must not be negative, got %d", l.SampleInitial), "log.sample_initial")
	}
	if l.SampleThereafter < 0 {
		v.add(fmt.Sprintf("must not be negative, got %d", l.SampleThereafter), "log.sample_thereafter")
	}
}

func (v *validator) admin() {
	a := v.c.Admin.Listen
	if a == "" {
		return // disabled
	}
	v.listen("admin.listen", a)
	if v.c.Admin.Token == "" && !loopback(a) {
		v.add(fmt.Sprintf("admin.listen %q is not a loopback address: set admin.token (pprof and /loglevel must not be open to the network)", a),
			"admin.listen")
	}
	if sameSocket(a, v.c.Server.Listen) {
		v.add(fmt.Sprintf("admin.listen %q and server.listen %q would bind the same port", a, v.c.Server.Listen),
			"admin.listen", "server.listen")
	}
}

func (v *validator) web() {
	w := v.c.Web
	if w.Listen != "" {
		v.listen("web.listen", w.Listen)
		for _, o := range []struct{ key, addr string }{{"server.listen", v.c.Server.Listen}, {"admin.listen", v.c.Admin.Listen}} {
			if o.addr != "" && sameSocket(w.Listen, o.addr) {
				v.add(fmt.Sprintf("web.listen %q and %s %q would bind the same port", w.Listen, o.key, o.addr), "web.listen", o.key)
			}
		}
	}
	for _, o := range w.AllowedOrigins {
		if o == "*" {
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			v.add(fmt.Sprintf("want \"*\" or an origin such as \"https://chat.example.com\", got %q", o), "web.allowed_origins")
		}
	}
	if w.WSListen == "" {
		return // WebSocket disabled
	}
	v.listen("web.ws_listen", w.WSListen)
	for _, o := range []struct{ key, addr string }{
		{"server.listen", v.c.Server.Listen}, {"admin.listen", v.c.Admin.Listen}, {"web.listen", w.Listen},
	} {
		if o.addr != "" && sameSocket(w.WSListen, o.addr) {
			v.add(fmt.Sprintf("web.ws_listen %q and %s %q would bind the same port", w.WSListen, o.key, o.addr), "web.ws_listen", o.key)
		}
	}
	v.positive("web.ws_handshake_timeout", w.WSHandshakeTimeout)
	v.between("web.ws_max_header", w.WSMaxHeader, 1*kib, 1*mib)
}

// loopback reports whether a listen address binds only the loopback
// interface: 127.0.0.0/8, ::1 or localhost. An empty host means every
// interface.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// sameSocket reports whether two listen addresses would collide: same fixed
// port and the same host, or either one on all interfaces.
func sameSocket(a, b string) bool {
	ha, pa, errA := net.SplitHostPort(a)
	hb, pb, errB := net.SplitHostPort(b)
	if errA != nil || errB != nil || pa != pb || pa == "0" {
		return false
	}
	wildcard := func(h string) bool { return h == "" || h == "0.0.0.0" || h == "::" }
	return ha == hb || wildcard(ha) || wildcard(hb)
}

func (v *validator) accounts() {
	a := v.c.Accounts
	v.between("accounts.hash_workers", a.HashWorkers, 0, maxHashWorkers)
	v.between("accounts.hash_queue", a.HashQueue, 0, maxHashQueue)
	v.between("accounts.login_failures", a.LoginFailures, 0, maxLoginFailures)
	if a.LoginFailures > 0 {
		v.positive("accounts.login_failure_window", a.LoginFailureWindow)
	} else {
		v.nonNegative("accounts.login_failure_window", a.LoginFailureWindow)
	}
	v.between("accounts.credential_cache_size", a.CredentialCacheSize, 0, maxCacheEntries)
	if a.CredentialCacheSize > 0 {
		v.positive("accounts.credential_cache_ttl", a.CredentialCacheTTL)
	} else {
		v.nonNegative("accounts.credential_cache_ttl", a.CredentialCacheTTL)
	}
	v.positive("accounts.resume_ttl", a.ResumeTTL)
}

func (v *validator) friends() {
	f := v.c.Friends
	v.between("friends.max_pending_requests", f.MaxPendingRequests, 1, maxFriendCap)
	v.between("friends.max_friends", f.MaxFriends, 1, maxFriendCap)
	v.between("friends.list_limit", f.ListLimit, 1, maxFriendCap)
	// A user can hold max_friends friends and max_pending_requests requests
	// each way; a shorter list would hide some of them from the seed
	// client, which only ever sees the list's one frame.
	if need := f.MaxFriends + 2*f.MaxPendingRequests; f.ListLimit < need {
		v.add(fmt.Sprintf("friends.list_limit (%d) must be at least friends.max_friends + 2 * friends.max_pending_requests (%d)", f.ListLimit, need),
			"friends.list_limit", "friends.max_friends", "friends.max_pending_requests")
	}
}

func (v *validator) groups() {
	g := v.c.Groups
	v.between("groups.max_members", g.MaxMembers, 2, maxGroupMembers)
	v.between("groups.max_groups_per_user", g.MaxGroupsPerUser, 1, maxGroupsPerUser)
	v.between("groups.members_page", g.MembersPage, 1, maxMembersPage)
	v.between("groups.fanout_workers", g.FanoutWorkers, 0, maxFanoutWorkers)
	v.between("groups.fanout_queue", g.FanoutQueue, 1, maxFanoutQueue)
}

// Bounds of the groups section: a group is a few thousand people at most (its
// members page and its fan-out are per member), a page a reply's worth.
const (
	maxGroupMembers  = 100000
	maxGroupsPerUser = 100000
	maxMembersPage   = 1000
	maxFanoutWorkers = 1024
	maxFanoutQueue   = 1 << 20
)

func (v *validator) messages() {
	m := v.c.Messages
	v.between("messages.max_body", m.MaxBody, 1, MaxStoredBody)
	v.between("messages.chat_list_max", m.ChatListMax, 1, maxChatList)
	v.between("messages.chat_preview_max", m.ChatPreviewMax, minChatPreview, MaxStoredBody)
}

func (v *validator) cluster() {
	c := v.c.Cluster
	if c.NATSURL == "" {
		return // a single node: the other keys are unused
	}
	if v.c.DB.Driver != "postgres" {
		v.add(fmt.Sprintf("cluster.nats_url is set, so every node must share one database: db.driver must be postgres, got %q", v.c.DB.Driver),
			"cluster.nats_url", "db.driver")
	}
	for _, u := range strings.Split(c.NATSURL, ",") {
		u = strings.TrimSpace(u)
		if !strings.HasPrefix(u, "nats://") && !strings.HasPrefix(u, "tls://") {
			v.add(fmt.Sprintf("want nats://host:port or tls://host:port (comma-separated for several), got %q", u), "cluster.nats_url")
		}
	}
	if c.SubjectPrefix == "" || strings.ContainsAny(c.SubjectPrefix, " \t*>") {
		v.add(fmt.Sprintf("must be a non-empty NATS subject without spaces or wildcards, got %q", c.SubjectPrefix), "cluster.subject_prefix")
	}
	v.positive("cluster.deliver_timeout", c.DeliverTimeout)
}
