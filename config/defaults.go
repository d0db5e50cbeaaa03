package config

import (
	"time"
)

// Sizes used by the defaults and the validation bounds.
const (
	kib = 1 << 10
	mib = 1 << 20
)

// Defaults of the keys whose default depends on the machine or on
// db.driver. Default() sets those keys to 0 ("computed"), as the example file
// does, and the package using the key computes its value from these at start:
// the CPU count is the running machine's, the driver is the configured one.
// They live here, with every other default, so that each is written once.
const (
	// WorkersPerCPU is transport.workers when it is 0. A worker spends most
	// of a frame waiting: for a database read, for its message's group
	// commit, for a password-hash slot. A waiting goroutine costs a few
	// KiB, and a worker held by a waiting frame bounds how many messages can
	// share one commit, so the default is generous: with the
	// prepared-statement writer, 64 per CPU held the batches small and 256
	// per CPU delivered ~40 % more on SQLite (lab notes, `git show d0db37a:docs/PERFORMANCE.md`, round 3,
	// "Workers").
	WorkersPerCPU = 256
	// WorkersPerCPUPostgres is transport.workers when it is 0 and db.driver
	// is postgres. Its message writer takes batches of up to
	// WriterMaxBatchPostgres with two committers, and a batch can only hold
	// messages whose senders' workers are waiting for it: with SQLite's 256
	// per CPU, 512 workers, batches stayed small and the chat scenario
	// delivered ~8,600/s; with 1024 per CPU and batches of 1024,
	// ~10,000-10,900/s (lab notes, `git show d0db37a:docs/PERFORMANCE.md`, round 4). On SQLite more
	// workers measured slower, so its default stays WorkersPerCPU.
	WorkersPerCPUPostgres = 1024
	// LoginWorkersPerCPU is transport.login_workers when it is 0: login-lane
	// workers mostly wait for the hash semaphore or do one read and one
	// write per login.
	LoginWorkersPerCPU = 16

	// WriterMaxBatch is db.writer_max_batch when it is 0 on SQLite: a batch
	// of 256 messages is a few milliseconds of work, and with
	// writer_max_delay 0 an idle server's latency stays that of a single
	// save (docs/PERFORMANCE.md, "Group commit"); bigger batches measured
	// slower on SQLite (round 4 of `git show d0db37a:docs/PERFORMANCE.md`).
	WriterMaxBatch = 256
	// WriterMaxBatchPostgres is db.writer_max_batch when it is 0 on
	// PostgreSQL: its two committers mostly take turns on the receivers'
	// locks, so a batch's fixed cost (round trips, commit, lock waits) is
	// what bounds throughput, and bigger batches spread it (round 4 of `git show d0db37a:docs/PERFORMANCE.md`).
	WriterMaxBatchPostgres = 1024
)

// defaultPos is the Pos of the built-in pipeline entries: there is no file
// line to point at, but an error message still says where the entry came from.
const defaultPos = "defaults"

// Default returns the built-in configuration: what Parley runs with when no
// file and no PARLEY_* variable says otherwise. parley.example.yaml spells out
// exactly these values (a test keeps them equal), so change both together.
//
// Every call returns a fresh value; callers may modify it freely. The
// packages configured by a section take their zero-value defaults from here
// (config.Default().Transport, config.Default().DB), so each default is
// written once.
func Default() Config {
	return Config{
		Server: Server{
			Listen:          ":12345",
			ShutdownTimeout: 10 * time.Second,
		},
		Transport: Transport{
			Loops:            0, // one per P less one (transport.defaultLoops)
			Workers:          0, // WorkersPerCPU (WorkersPerCPUPostgres on postgres)
			LoginWorkers:     0, // LoginWorkersPerCPU
			MaxFrame:         1 * mib,
			MaxQueued:        4 * mib,
			FrameTimeout:     30 * time.Second,
			MaxPartialBytes:  64 * mib,
			MaxPending:       4 * mib,
			WriteStall:       10 * time.Second,
			HeartbeatTimeout: 45 * time.Second,
			LegacyIdle:       6 * time.Hour,
			KeepAlive:        30 * time.Second,
			MaxConns:         0,          // open-file limit minus 256
			ProxyTrusted:     []string{}, // PROXY protocol off
		},
		Pipeline: defaultPipeline(),
		DB: DB{
			Driver:          "sqlite",
			DSN:             "parley.db",
			MaxOpenConns:    8,
			MaxIdleConns:    8,
			ConnMaxIdleTime: 5 * time.Minute,
			QueryTimeout:    5 * time.Second,
			WriterMaxBatch:  0, // WriterMaxBatch on SQLite, WriterMaxBatchPostgres on PostgreSQL
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
		Web: Web{
			Listen:             ":8080",
			AllowedOrigins:     []string{}, // same origin only
			WSListen:           ":8081",
			WSHandshakeTimeout: 10 * time.Second,
			WSMaxHeader:        8 * kib,
		},
		Accounts: Accounts{
			HashWorkers:         0, // one per CPU but one
			HashQueue:           0, // 256 per hash worker
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
		Cluster: Cluster{
			NATSURL:        "", // a single node
			Node:           "", // the host name
			SubjectPrefix:  "parley",
			DeliverTimeout: 2 * time.Second,
		},
		Groups: Groups{
			MaxMembers:       1000,
			MaxGroupsPerUser: 500,
			MembersPage:      200,
			FanoutWorkers:    0, // one per CPU
			FanoutQueue:      4096,
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
