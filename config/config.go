package config

import (
	"fmt"
	"net/netip"
	"time"

	"go.yaml.in/yaml/v3"
)

// Config is the whole server configuration. Every key is documented, with its
// default, in parley.example.yaml at the repository root; Default returns the
// same values, and a test keeps the two equal.
//
// A Config is built once at start-up (Load) and then only read, so it may be
// shared by value or pointer between goroutines without locking.
type Config struct {
	Server    Server       `yaml:"server"`
	Transport Transport    `yaml:"transport"`
	Pipeline  []Middleware `yaml:"pipeline"`
	DB        DB           `yaml:"db"`
	Log       Log          `yaml:"log"`
	Admin     Admin        `yaml:"admin"`
	Accounts  Accounts     `yaml:"accounts"`
	Friends   Friends      `yaml:"friends"`
	Messages  Messages     `yaml:"messages"`
	Cluster   Cluster      `yaml:"cluster"`
	Groups    Groups       `yaml:"groups"`
	Web       Web          `yaml:"web"`

	// Source is the file the configuration was read from, or "" for the
	// built-in defaults. It prefixes every file:line in error messages.
	Source string `yaml:"-"`

	// origins records where each key set by the file or the environment came
	// from ("transport.max_frame" -> parley.yaml:12, or env
	// PARLEY_TRANSPORT_MAX_FRAME), so Validate can point at the exact line to
	// fix. It is nil for a Config built in code; it is not configuration.
	origins map[string]origin
}

// Middleware is one entry of the configured pipeline list:
//
//   - use: ratelimit
//     with: {...}            # options, decoded strictly into the factory's type
//     only: [login, register] # apply to these types only
//     except: [ping]          # or to every type but these
//
// config only decodes the entry; pipeline.Build resolves Use against its
// registry and decodes With (with DecodeStrict) into the middleware's own
// options type, so config knows no middleware.
type Middleware struct {
	Use    string    `yaml:"use"`
	With   yaml.Node `yaml:"with"`
	Only   []string  `yaml:"only"`
	Except []string  `yaml:"except"`
	// Pos is "file:line" of the entry (or "defaults"), for error messages.
	Pos string `yaml:"-"`
}

// Server is the listening side.
type Server struct {
	// Listen is the TCP address of the chat protocol (the seed client's port).
	Listen string `yaml:"listen"`
	// ShutdownTimeout bounds a graceful stop: drain, flush, close the database.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
}

// Transport tunes the gev reactors, the dispatcher and the per-connection limits.
type Transport struct {
	// Loops is the number of gev sub reactors doing I/O; 0 means one per P
	// (GOMAXPROCS) less one, at least one (transport.defaultLoops says why).
	Loops int `yaml:"loops"`
	// Workers is the number of dispatcher goroutines running the pipeline
	// for logged-in sessions; 0 means WorkersPerCPU per CPU, or
	// WorkersPerCPUPostgres when db.driver is postgres (handlers wait on the
	// database and on group commits far more than they compute, a waiting
	// worker is a few KiB, and PostgreSQL's bigger batches need more
	// messages in flight; see app.transportConfig).
	Workers int `yaml:"workers"`
	// LoginWorkers is the number of dispatcher goroutines for sessions not
	// logged in yet (login, register, resume), a lane of their own so a
	// login storm waiting for password hashing cannot hold the workers of
	// logged-in users; 0 means LoginWorkersPerCPU per CPU.
	LoginWorkers int `yaml:"login_workers"`
	// MaxFrame is the largest frame body accepted; a longer length prefix
	// closes the connection (the stream cannot be resynchronised).
	MaxFrame int `yaml:"max_frame"`
	// MaxQueued caps the bytes of received frames waiting for a worker, per
	// connection. Above it the connection is closed as a flood.
	MaxQueued int `yaml:"max_queued"`
	// FrameTimeout is how long a frame may take from its first byte to its
	// last; a connection with a frame incomplete for longer is closed
	// (slowloris, memory pinned by partial frames). Between frames there is
	// no deadline.
	FrameTimeout time.Duration `yaml:"frame_timeout"`
	// MaxPartialBytes caps the bytes held in incomplete frames by all
	// connections together; past it the connections that have held such
	// bytes the longest are closed. At least MaxFrame.
	MaxPartialBytes int `yaml:"max_partial_bytes"`
	// MaxPending is the output backlog (written to a connection, not yet
	// taken by the kernel) below which any frame is queued, so one reply of
	// any allowed size reaches a reading peer. Above it, frames are queued
	// up to twice MaxPending; past that the peer is closed as a slow
	// consumer.
	MaxPending int `yaml:"max_pending"`
	// WriteStall closes a connection with output pending, in user space or
	// in the kernel's send queue, of which the peer took nothing for this
	// long (a peer that stopped reading).
	WriteStall time.Duration `yaml:"write_stall"`
	// HeartbeatTimeout closes a connection that has sent a ping and then
	// stays silent this long. Clients that never ping are not affected.
	HeartbeatTimeout time.Duration `yaml:"heartbeat_timeout"`
	// LegacyIdle closes a connection that never pinged after this long with
	// no frame at all, in or out; 0 disables it. Keep it long: the seed
	// client never reconnects.
	LegacyIdle time.Duration `yaml:"legacy_idle"`
	// KeepAlive is the TCP keepalive period that detects half-open peers
	// (the probe interval; the idle time before the first probe is spread
	// over [KeepAlive, 1.5 KeepAlive] per connection).
	KeepAlive time.Duration `yaml:"keepalive"`
	// MaxConns caps concurrent connections; new ones above it are closed.
	// 0 means the process's open-file limit minus 256 descriptors kept for
	// the database, logs and admin port.
	MaxConns int `yaml:"max_conns"`
	// ProxyTrusted lists the load balancers (CIDR prefixes, or single
	// addresses) whose connections must begin with a PROXY protocol header
	// (v1 or v2); the client address it names replaces the balancer's for
	// everything per address. Empty turns the PROXY protocol off; from any
	// other peer a header is never honoured.
	ProxyTrusted []string `yaml:"proxy_trusted"`
}

// ParsePrefix reads a CIDR prefix ("10.0.0.0/8", "2001:db8::/32") or a
// single address (a /32 or /128), masked, without zone; an IPv4-mapped
// address ("::ffff:10.0.0.5") is read as the IPv4 one, because peers are
// compared unmapped. It is the one reading of an address list in Parley:
// transport.proxy_trusted (Validate reports what it refuses, the transport
// builds its trusted set with it) and ratelimit's exempt list.
func ParsePrefix(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("want a CIDR prefix such as \"10.0.0.0/8\" or an address such as \"192.0.2.7\", got %q", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// DB selects and sizes the store.
type DB struct {
	// Driver is "sqlite" (embedded, the default) or "postgres".
	Driver string `yaml:"driver"`
	// DSN is a file path or "file:" URI for sqlite, a postgres:// URL for postgres.
	DSN string `yaml:"dsn"`
	// MaxOpenConns caps the database/sql pool; it bounds how many workers
	// can hold a connection at once.
	MaxOpenConns int `yaml:"max_open_conns"`
	// MaxIdleConns is how many pooled connections are kept open between
	// bursts; at most MaxOpenConns.
	MaxIdleConns int `yaml:"max_idle_conns"`
	// ConnMaxIdleTime closes a pooled connection idle this long; 0 keeps it.
	ConnMaxIdleTime time.Duration `yaml:"conn_max_idle_time"`
	// QueryTimeout bounds each store call, so a stuck database becomes an
	// "unavailable" reply instead of a stuck worker.
	QueryTimeout time.Duration `yaml:"query_timeout"`
	// WriterMaxBatch caps the messages group-committed in one transaction
	// by the message writer (db.MessageWriter); 1 commits each alone, 0
	// takes the driver's default (WriterMaxBatch on SQLite,
	// WriterMaxBatchPostgres on PostgreSQL).
	WriterMaxBatch int `yaml:"writer_max_batch"`
	// WriterMaxDelay is how long a batch may wait for more messages after
	// its first one; 0 never waits (a batch is what queued up while the
	// previous one committed).
	WriterMaxDelay time.Duration `yaml:"writer_max_delay"`
	// WriterQueue bounds the messages waiting for a batch; a full queue
	// makes senders wait (back-pressure).
	WriterQueue int `yaml:"writer_queue"`
}

// Log configures zap.
type Log struct {
	// Level is debug, info, warn or error.
	Level string `yaml:"level"`
	// Encoding is json or console.
	Encoding string `yaml:"encoding"`
	// FlushInterval is how often buffered log lines are written out.
	FlushInterval time.Duration `yaml:"flush_interval"`
	// BufferSize is the size of the asynchronous write buffer, in bytes.
	BufferSize int `yaml:"buffer_size"`
	// SampleInitial: per second and per message, the first SampleInitial
	// lines are logged...
	SampleInitial int `yaml:"sample_initial"`
	// SampleThereafter: ...then only every SampleThereafter-th, so a flood of
	// one message cannot starve the rest of the log.
	SampleThereafter int `yaml:"sample_thereafter"`
}

// Admin is the operator HTTP server: /metrics, /healthz, /readyz, /debug/pprof.
type Admin struct {
	// Listen is its address; "" disables it.
	Listen string `yaml:"listen"`
	// Token, when set, is the bearer token /debug/pprof/ and every mutating
	// endpoint require. A Listen that is not loopback needs one.
	Token string `yaml:"token"`
}

// Web is the browser client: its page and assets served over HTTP.
type Web struct {
	// Listen is the HTTP address that serves the web client's page; ""
	// disables it.
	Listen string `yaml:"listen"`
	// AllowedOrigins are the browser origins ("https://chat.example.com",
	// scheme://host[:port]) allowed to open a WebSocket besides the same
	// origin; "*" allows any. The same origin is always allowed: an Origin
	// whose host:port is the request's Host header, or whose host is the
	// Host header's host and whose port is web.listen's port (web.listen
	// with a concrete host: that host:port exactly). A request without
	// Origin (not a browser) is allowed: Origin is a browser's promise,
	// never an identity.
	AllowedOrigins []string `yaml:"allowed_origins"`
	// WSListen is the TCP address of the WebSocket endpoint (path /ws),
	// served by the transport's gev reactors; "" disables it.
	WSListen string `yaml:"ws_listen"`
	// WSHandshakeTimeout closes a WebSocket connection whose HTTP upgrade
	// request has not completed this long after it connected.
	WSHandshakeTimeout time.Duration `yaml:"ws_handshake_timeout"`
	// WSMaxHeader caps the bytes of the HTTP upgrade request (request line
	// and headers); a longer one is answered 431 and closed.
	WSMaxHeader int `yaml:"ws_max_header"`
}

// Accounts configures password hashing and credential caching.
type Accounts struct {
	// HashWorkers bounds concurrent password hashes; 0 means one per CPU
	// but one (at least one), so hashing never takes every core.
	HashWorkers int `yaml:"hash_workers"`
	// HashQueue bounds the password hashes waiting for a hash worker; a
	// login or register that finds it full is answered "overloaded" at
	// once. 0 means 256 per hash worker (about 7–10 s of waiting at 25–40
	// ms a hash).
	HashQueue int `yaml:"hash_queue"`
	// LoginFailures is how many logins of one account may fail (wrong
	// password, from any address) within LoginFailureWindow before its
	// logins are refused with rate_limited, except those matching a
	// verified credential in the cache; 0 disables the limit.
	LoginFailures int `yaml:"login_failures"`
	// LoginFailureWindow is the period LoginFailures counts over, from the
	// first failure.
	LoginFailureWindow time.Duration `yaml:"login_failure_window"`
	// CredentialCacheSize is how many recently verified credentials are
	// remembered (as keyed HMACs, never plaintext); 0 disables the cache.
	CredentialCacheSize int `yaml:"credential_cache_size"`
	// CredentialCacheTTL is how long a verified credential stays trusted.
	CredentialCacheTTL time.Duration `yaml:"credential_cache_ttl"`
	// ResumeTTL is how long a resume token issued at login stays valid.
	ResumeTTL time.Duration `yaml:"resume_ttl"`
}

// Friends caps what other users can add to one user's friend list, and the
// list itself, so no one can grow another user's replies without bound.
type Friends struct {
	// MaxPendingRequests caps the pending requests a user has waiting in
	// each direction: add_friend is refused (limit_reached) once the
	// addressee has this many incoming, or the requester this many outgoing.
	MaxPendingRequests int `yaml:"max_pending_requests"`
	// MaxFriends caps a user's accepted friends: accept_friend is refused
	// (limit_reached) once either side has this many.
	MaxFriends int `yaml:"max_friends"`
	// ListLimit caps the entries of a friends reply, newest relation first.
	ListLimit int `yaml:"list_limit"`
}

// Messages bounds what a user can send and what a reply can carry, so no
// user can make another user's replies too big to deliver (issue 11).
type Messages struct {
	// MaxBody is the largest send_message body (and update_chat
	// last_message) in bytes; larger ones are refused with too_large. At
	// most MaxStoredBody, the storage column's size.
	MaxBody int `yaml:"max_body"`
	// ChatListMax caps the entries of a chatting reply: the most recent
	// chats (last_time, newest first) are kept.
	ChatListMax int `yaml:"chat_list_max"`
	// ChatPreviewMax caps the bytes of each chat's last_message preview in
	// a chatting reply (cut on a character boundary, "…" appended).
	ChatPreviewMax int `yaml:"chat_preview_max"`
}

// Groups bounds group chats (docs/PROTOCOL.md §6.6). A group message's body
// is bounded by messages.max_body, like a 1:1 message's.
type Groups struct {
	// MaxMembers caps a group's active members: group_create and group_add
	// are refused (limit_reached) past it.
	MaxMembers int `yaml:"max_members"`
	// MaxGroupsPerUser caps the groups a user is an active member of:
	// creating a group, or being added to one, is refused past it.
	MaxGroupsPerUser int `yaml:"max_groups_per_user"`
	// MembersPage caps the entries of one group_members page.
	MembersPage int `yaml:"members_page"`
	// FanoutWorkers is how many goroutines push stored group messages to
	// the members' sessions, after the sender's ack; 0 means one per CPU.
	// A group's messages always go through the same one, in order.
	FanoutWorkers int `yaml:"fanout_workers"`
	// FanoutQueue bounds the group messages waiting for a fan-out worker,
	// in all. A sender waits for room (its request's deadline at most); a
	// message that finds none is not pushed, and members get it by sync.
	FanoutQueue int `yaml:"fanout_queue"`
}

// MaxStoredBody is the hard limit of messages.max_body: the seed schema's
// TEXT column (64 KiB), which no configuration may exceed.
const MaxStoredBody = 64 * kib

// Cluster makes this process one of several equal nodes that share one
// PostgreSQL database and carry pushes to each other over NATS
// (docs/CLUSTER.md). With NATSURL empty the process is a single node.
type Cluster struct {
	// NATSURL is the NATS server (or a comma-separated list of servers);
	// "" runs a single node with in-process delivery only.
	NATSURL string `yaml:"nats_url"`
	// Node names this node in NATS connection names, logs and metrics;
	// "" means the host name.
	Node string `yaml:"node"`
	// Credentials is a NATS credentials file (JWT + nkey seed); "" for none.
	Credentials string `yaml:"credentials"`
	// TLSCA is a PEM file of CA certificates that verify the NATS server
	// (tls:// URLs); "" uses the system roots. A server certificate it does
	// not verify fails start-up.
	TLSCA string `yaml:"tls_ca"`
	// SubjectPrefix begins every subject this cluster uses, so several
	// clusters (or tests) can share one NATS without hearing each other.
	SubjectPrefix string `yaml:"subject_prefix"`
	// DeliverTimeout bounds the wait for other nodes to answer a presence
	// probe or say whether a push that is not a message (a friend-list
	// push) reached a session. Message pushes do not wait: only a miss is
	// answered (docs/CLUSTER.md).
	DeliverTimeout time.Duration `yaml:"deliver_timeout"`
}
