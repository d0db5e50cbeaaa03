package config

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestDefaultIsValid(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestValidateRules(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(c *Config)
		want   string // "" means valid
	}{
		{"listen without port", func(c *Config) { c.Server.Listen = "localhost" }, "server.listen: want host:port"},
		{"listen empty", func(c *Config) { c.Server.Listen = "" }, "server.listen: is required"},
		{"listen port out of range", func(c *Config) { c.Server.Listen = ":70000" }, "server.listen: port must be a number"},
		{"listen named port", func(c *Config) { c.Server.Listen = ":http" }, "server.listen: port must be a number"},
		{"listen port 0", func(c *Config) { c.Server.Listen = "127.0.0.1:0" }, ""},
		{"listen ipv6", func(c *Config) { c.Server.Listen = "[::1]:7000" }, ""},
		{"shutdown 0", func(c *Config) { c.Server.ShutdownTimeout = 0 }, "server.shutdown_timeout: must be greater than 0"},
		{"loops negative", func(c *Config) { c.Transport.Loops = -1 }, "transport.loops: must be between 0 and 1024"},
		{"workers huge", func(c *Config) { c.Transport.Workers = 1 << 20 }, "transport.workers: must be between 0 and 65536"},
		{"frame tiny", func(c *Config) { c.Transport.MaxFrame = 63 }, "transport.max_frame: must be between 64 and"},
		{"frame huge", func(c *Config) {
			c.Transport.MaxFrame = 64*mib + 1
			c.Transport.MaxQueued = maxBuffered
			c.Transport.MaxPending = maxBuffered
		}, "transport.max_frame: must be between"},
		{"frame at bounds", func(c *Config) { c.Transport.MaxFrame = 64 }, ""},
		{"queued below frame", func(c *Config) { c.Transport.MaxQueued = mib - 1 }, "transport.max_queued (1048575) must be at least transport.max_frame (1048576)"},
		{"pending below frame", func(c *Config) { c.Transport.MaxPending = 100 }, "transport.max_pending (100) must be at least transport.max_frame"},
		{"negative duration", func(c *Config) { c.Transport.LegacyIdle = -time.Second }, "transport.legacy_idle: must not be negative"},
		{"legacy idle disabled", func(c *Config) { c.Transport.LegacyIdle = 0 }, ""},
		{"write stall 0", func(c *Config) { c.Transport.WriteStall = 0 }, "transport.write_stall: must be greater than 0"},
		{"frame timeout 0", func(c *Config) { c.Transport.FrameTimeout = 0 }, "transport.frame_timeout: must be greater than 0"},
		{"partial below frame", func(c *Config) { c.Transport.MaxPartialBytes = mib - 1 }, "transport.max_partial_bytes (1048575) must be at least transport.max_frame (1048576)"},
		{"max conns negative", func(c *Config) { c.Transport.MaxConns = -5 }, "transport.max_conns: must be 0 (derived from the open-file limit) or more"},
		{"driver", func(c *Config) { c.DB.Driver = "mysql" }, `db.driver: must be one of sqlite, postgres, got "mysql"`},
		{"dsn empty", func(c *Config) { c.DB.DSN = "" }, "db.dsn: is required"},
		{"postgres with file dsn", func(c *Config) { c.DB.Driver = "postgres" }, "db.dsn: db.driver is postgres, so db.dsn must be a postgres://"},
		{"sqlite with postgres dsn", func(c *Config) { c.DB.DSN = "postgres://u:secret@h/db" }, "db.driver: db.dsn is a postgres URL"},
		{"postgres ok", func(c *Config) { c.DB.Driver = "postgres"; c.DB.DSN = "postgresql://h/db" }, ""},
		{"pool 0", func(c *Config) { c.DB.MaxOpenConns = 0; c.DB.MaxIdleConns = 0 }, "db.max_open_conns: must be between 1"},
		{"idle above open", func(c *Config) { c.DB.MaxIdleConns = 9 }, "db.max_idle_conns (9) must not exceed db.max_open_conns (8)"},
		{"query timeout 0", func(c *Config) { c.DB.QueryTimeout = 0 }, "db.query_timeout: must be greater than 0"},
		{"level", func(c *Config) { c.Log.Level = "trace" }, `log.level: must be one of debug, info, warn, error, got "trace"`},
		{"encoding", func(c *Config) { c.Log.Encoding = "text" }, `log.encoding: must be one of json, console`},
		{"sampling negative", func(c *Config) { c.Log.SampleThereafter = -1 }, "log.sample_thereafter: must not be negative"},
		{"buffer tiny", func(c *Config) { c.Log.BufferSize = 10 }, "log.buffer_size: must be between 4096"},
		{"admin disabled", func(c *Config) { c.Admin.Listen = "" }, ""},
		{"admin bad", func(c *Config) { c.Admin.Listen = "9090" }, "admin.listen: want host:port"},
		{"admin same port", func(c *Config) { c.Admin.Listen = "127.0.0.1:12345" }, "would bind the same port"},
		{"admin same port 0 is fine", func(c *Config) { c.Admin.Listen = ":0"; c.Server.Listen = ":0"; c.Admin.Token = "t" }, ""},
		{"admin public needs a token", func(c *Config) { c.Admin.Listen = "0.0.0.0:9090" }, "admin.listen \"0.0.0.0:9090\" is not a loopback address: set admin.token"},
		{"admin all interfaces needs a token", func(c *Config) { c.Admin.Listen = ":9090" }, "set admin.token"},
		{"admin public with a token", func(c *Config) { c.Admin.Listen = "10.0.0.1:9090"; c.Admin.Token = "t" }, ""},
		{"admin localhost", func(c *Config) { c.Admin.Listen = "localhost:9090" }, ""},
		{"admin ipv6 loopback", func(c *Config) { c.Admin.Listen = "[::1]:9090" }, ""},
		{"web disabled", func(c *Config) { c.Web.Listen = "" }, ""},
		{"web bad", func(c *Config) { c.Web.Listen = "8080" }, "web.listen: want host:port"},
		{"web same port as the chat", func(c *Config) { c.Web.Listen = ":12345" }, "web.listen \":12345\" and server.listen"},
		{"web same port as admin", func(c *Config) { c.Web.Listen = "127.0.0.1:9090" }, "and admin.listen"},
		{"ws disabled", func(c *Config) { c.Web.WSListen = "" }, ""},
		{"ws bad", func(c *Config) { c.Web.WSListen = "8081" }, "web.ws_listen: want host:port"},
		{"ws same port as the chat", func(c *Config) { c.Web.WSListen = ":12345" }, "web.ws_listen \":12345\" and server.listen"},
		{"ws same port as the page", func(c *Config) { c.Web.WSListen = "127.0.0.1:8080" }, "and web.listen"},
		{"ws handshake timeout 0", func(c *Config) { c.Web.WSHandshakeTimeout = 0 }, "web.ws_handshake_timeout: must be greater than 0"},
		{"ws max header small", func(c *Config) { c.Web.WSMaxHeader = 100 }, "web.ws_max_header: must be between 1024"},
		{"origins", func(c *Config) { c.Web.AllowedOrigins = []string{"*", "https://chat.example", "http://10.0.0.1:8080/"} }, ""},
		{"origin without scheme", func(c *Config) { c.Web.AllowedOrigins = []string{"chat.example"} }, "web.allowed_origins: want \"*\" or an origin"},
		{"origin with a path", func(c *Config) { c.Web.AllowedOrigins = []string{"https://chat.example/app"} }, "web.allowed_origins"},
		{"hash workers", func(c *Config) { c.Accounts.HashWorkers = -1 }, "accounts.hash_workers: must be between 0"},
		{"cache ttl 0 with cache", func(c *Config) { c.Accounts.CredentialCacheTTL = 0 }, "accounts.credential_cache_ttl: must be greater than 0"},
		{"cache disabled ttl 0", func(c *Config) { c.Accounts.CredentialCacheSize = 0; c.Accounts.CredentialCacheTTL = 0 }, ""},
		{"resume 0", func(c *Config) { c.Accounts.ResumeTTL = 0 }, "accounts.resume_ttl: must be greater than 0"},
		{"max body over storage", func(c *Config) { c.Messages.MaxBody = MaxStoredBody + 1 }, "messages.max_body: must be between 1 and 65536"},
		{"max body 0", func(c *Config) { c.Messages.MaxBody = 0 }, "messages.max_body: must be between 1"},
		{"chat list 0", func(c *Config) { c.Messages.ChatListMax = 0 }, "messages.chat_list_max: must be between 1"},
		{"chat preview tiny", func(c *Config) { c.Messages.ChatPreviewMax = 3 }, "messages.chat_preview_max: must be between 16"},
		{"pipeline use empty", func(c *Config) { c.Pipeline[1].Use = "" }, "defaults: pipeline[1]: use is required"},
		{"pipeline duplicate", func(c *Config) { c.Pipeline = append(c.Pipeline, Middleware{Use: "auth", Pos: "code"}) }, `code: pipeline[5]: middleware "auth" is already in the chain at defaults`},
		{"pipeline only+except", func(c *Config) { c.Pipeline[2].Only = []string{"a"}; c.Pipeline[2].Except = []string{"b"} }, "pipeline[2]: use either only or except, not both"},
		{"pipeline empty type", func(c *Config) { c.Pipeline[2].Only = []string{""} }, "pipeline[2]: only[0] is empty"},
		{"pipeline empty chain", func(c *Config) { c.Pipeline = nil }, ""},
		{"friends pending 0", func(c *Config) { c.Friends.MaxPendingRequests = 0 }, "friends.max_pending_requests: must be between 1"},
		{"friends 0", func(c *Config) { c.Friends.MaxFriends = 0 }, "friends.max_friends: must be between 1"},
		{"friends list short", func(c *Config) { c.Friends.ListLimit = 1199 },
			"friends.list_limit (1199) must be at least friends.max_friends + 2 * friends.max_pending_requests (1200)"},
		{"friends smaller caps", func(c *Config) { c.Friends = Friends{MaxPendingRequests: 2, MaxFriends: 10, ListLimit: 14} }, ""},
		{"cluster needs postgres", func(c *Config) { c.Cluster.NATSURL = "nats://127.0.0.1:4222" },
			`cluster.nats_url: cluster.nats_url is set, so every node must share one database: db.driver must be postgres, got "sqlite"`},
		{"cluster on postgres", func(c *Config) {
			c.Cluster.NATSURL = "nats://a:4222, tls://b:4222"
			c.DB.Driver, c.DB.DSN = "postgres", "postgres://h/db"
		}, ""},
		{"cluster bad url", func(c *Config) {
			c.Cluster.NATSURL = "http://a:4222"
			c.DB.Driver, c.DB.DSN = "postgres", "postgres://h/db"
		}, `cluster.nats_url: want nats://host:port or tls://host:port`},
		{"cluster wildcard prefix", func(c *Config) {
			c.Cluster.NATSURL, c.Cluster.SubjectPrefix = "nats://a:4222", "p.>"
			c.DB.Driver, c.DB.DSN = "postgres", "postgres://h/db"
		}, `cluster.subject_prefix: must be a non-empty NATS subject`},
		{"single node ignores cluster keys", func(c *Config) { c.Cluster.SubjectPrefix = "" }, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			tc.mutate(&c)
			err := c.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want error containing %q, got %v", tc.want, err)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("error leaks the DSN password: %v", err)
			}
		})
	}
}

// TestAllProblemsReportedAtOnceWithLines is the operator's view: one start-up
// attempt lists every mistake in the file, each at its own line, top to bottom.
func TestAllProblemsReportedAtOnceWithLines(t *testing.T) {
	src := `server:
  listen: "nope"
  shutdown_timeout: 0s
transport:
  max_frame: 8388608
  loops: many
  unknown_knob: 1
db:
  driver: mysql
  max_idle_conns: 50
log:
  level: loud
pipeline:
  - use: recover
  - ratelimit
  - use: auth
    only: [login]
    except: [ping]
  - use: recover
`
	path := writeConfig(t, src)
	_, err := load(path, []string{"PARLEY_DB_QUERY_TIMEOUT=soon"})
	at := func(marker, rest string) string {
		return fmt.Sprintf("%s:%d: %s", path, lineOf(t, src, marker), rest)
	}
	want := []string{
		at(`listen: "nope"`, "server.listen: want host:port"),
		at("shutdown_timeout", "server.shutdown_timeout: must be greater than 0"),
		// max_queued and max_pending keep their 4 MiB defaults: both rules
		// point at the max_frame line, the one the operator wrote.
		at("max_frame", "transport.max_frame: transport.max_queued (4194304) must be at least transport.max_frame (8388608)"),
		at("max_frame", "transport.max_frame: transport.max_pending (4194304) must be at least transport.max_frame (8388608)"),
		at("loops", `transport.loops: want a whole number, got "many"`),
		at("unknown_knob", "transport.unknown_knob: unknown key"),
		at("driver: mysql", `db.driver: must be one of sqlite, postgres, got "mysql"`),
		at("max_idle_conns", "db.max_idle_conns: db.max_idle_conns (50) must not exceed db.max_open_conns (8)"),
		at("level: loud", `log.level: must be one of debug, info, warn, error, got "loud"`),
		at("- ratelimit", `pipeline[1]: each entry is a mapping; write "- use: ratelimit"`),
		// The malformed entry keeps its index, so later entries match the file.
		at("except: [ping]", "pipeline[2]: use either only or except, not both"),
		// The duplicate is reported at the second recover entry, the last line.
		fmt.Sprintf("%s:%d: pipeline[3]: middleware \"recover\" is already in the chain at %s:%d",
			path, strings.Count(src, "\n"), path, lineOf(t, src, "- use: recover")),
		`env PARLEY_DB_QUERY_TIMEOUT: db.query_timeout: want a duration such as "90s" or "5m", got "soon"`,
	}
	wantProblems(t, err, want...)

	// File problems come first, in line order, so the message reads like the file.
	ps := problems(t, err)
	for i := 1; i < len(ps); i++ {
		if ps[i].line != 0 && ps[i].line < ps[i-1].line {
			t.Errorf("problem %d (line %d) listed after line %d", i, ps[i].line, ps[i-1].line)
		}
	}
	if last := ps[len(ps)-1]; last.Where != "env PARLEY_DB_QUERY_TIMEOUT" {
		t.Errorf("last problem = %v, want the environment one after the file ones", last)
	}
}

func TestValidateAfterCodeEditsUsesPos(t *testing.T) {
	src := "pipeline:\n  - use: recover\n  - use: auth\n"
	path := writeConfig(t, src)
	cfg, err := load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Code prepends an entry: indices shift, so per-index file lines no
	// longer apply, but each entry's Pos still does.
	cfg.Pipeline = append([]Middleware{{Use: "auth", Pos: "app.go"}}, cfg.Pipeline...)
	err = cfg.Validate()
	want := fmt.Sprintf(`%s:%d: pipeline[2]: middleware "auth" is already in the chain at app.go`, path, lineOf(t, src, "use: auth"))
	wantProblems(t, err, want)
}

// A cluster on SQLite is refused at start-up, at the line that set nats_url:
// each node would have its own database and nothing would be shared.
func TestClusterOnSQLiteNamesTheLine(t *testing.T) {
	src := `db:
  driver: sqlite
  dsn: parley.db
cluster:
  nats_url: nats://127.0.0.1:4222
`
	path := writeConfig(t, src)
	_, err := load(path, nil)
	wantProblems(t, err, fmt.Sprintf("%s:%d: cluster.nats_url: cluster.nats_url is set, so every node must share one database: db.driver must be postgres, got \"sqlite\"",
		path, lineOf(t, src, "nats_url")))
}
