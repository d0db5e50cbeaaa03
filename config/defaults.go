package config

import (
	"time"
)

// Sizes used by the defaults and the validation bounds.
const (
	kib = 1 << 10
	mib = 1 << 20
)

// defaultPos is the Pos of the built-in pipeline entries: there is no file
// line to point at, but an error message still says where the entry came from.
const defaultPos = "defaults"

// Default returns the built-in configuration: what Parley runs with when no
// file and no PARLEY_* variable says otherwise. parley.example.yaml spells out
// exactly these values (a test keeps them equal), so change both together.
//
// Every call returns a fresh value; callers may modify it freely.
func Default() Config {
	return Config{
		Server: Server{
			Listen:          ":12345",
			ShutdownTimeout: 10 * time.Second,
		},
		Transport: Transport{
			Loops:            0, // one per CPU
			Workers:          0, // 256 per CPU
			LoginWorkers:     0, // 16 per CPU
			MaxFrame:         1 * mib,
			MaxQueued:        4 * mib,
			FrameTimeout:     30 * time.Second,
			MaxPartialBytes:  64 * mib,
			MaxPending:       4 * mib,
			WriteStall:       10 * time.Second,
			HeartbeatTimeout: 45 * time.Second,
			LegacyIdle:       6 * time.Hour,
			KeepAlive:        30 * time.Second,
			MaxConns:         0, // open-file limit minus 256
		},
		Pipeline: defaultPipeline(),
		DB: DB{
			Driver:          "sqlite",
			DSN:             "parley.db",
			MaxOpenConns:    8,
			MaxIdleConns:    8,
			ConnMaxIdleTime: 5 * time.Minute,
			QueryTimeout:    5 * time.Second,
			WriterMaxBatch:  0, // 256 on SQLite, 1024 on PostgreSQL
			WriterMaxDelay:  0,
			WriterQueue:     8192,
		},
		Log: Log{
			Level:            "info",
			Encoding:         "json",
			FlushInterval:    time.Second,
			BufferSize:       256 * kib,
			SampleInitial:    100,
			SampleThereafter: 100,
		},
		Admin: Admin{
			Listen: "127.0.0.1:9090",
		},
		Accounts: Accounts{
			HashWorkers:         0, // one per CPU but one
			HashQueue:           0, // 64 per hash worker
			LoginFailures:       10,
			LoginFailureWindow:  15 * time.Minute,
			CredentialCacheSize: 10000,
			CredentialCacheTTL:  10 * time.Minute,
			ResumeTTL:           720 * time.Hour,
		},
		Friends: Friends{
			MaxPendingRequests: 100,
			MaxFriends:         1000,
			ListLimit:          1200, // max_friends + both directions' pending
		},
		Messages: Messages{
			MaxBody:        16 * kib,
			ChatListMax:    200,
			ChatPreviewMax: 256,
		},
	}
}

// defaultPipeline is the chain used when the file has no pipeline key, first
// entry outermost: recover catches panics from everything inside it, logging
// and metrics see every request including refused ones, auth runs before
// ratelimit so limits can be per user. With is left empty: each middleware's
// factory applies its own option defaults.
func defaultPipeline() []Middleware {
	names := []string{"recover", "logging", "metrics", "auth", "ratelimit"}
	specs := make([]Middleware, len(names))
	for i, n := range names {
		specs[i] = Middleware{Use: n, Pos: defaultPos}
	}
	return specs
}
