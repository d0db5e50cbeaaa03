package app

import (
	"context"
	"database/sql"
	"runtime"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/uptrace/bun"
	"go.uber.org/fx"
	"go.uber.org/fx/fxevent"
	"go.uber.org/zap"

	"github.com/parley-im/parley/cluster"
	"github.com/parley-im/parley/config"
	"github.com/parley-im/parley/db"
	"github.com/parley-im/parley/handlers"
	_ "github.com/parley-im/parley/middleware" // registers the shipped middleware by name
	"github.com/parley-im/parley/pipeline"
	"github.com/parley-im/parley/session"
	"github.com/parley-im/parley/transport"
)

// New loads the configuration at cfgPath ("" means parley.yaml if present,
// else the built-in defaults) and assembles the server. Extra options are
// appended last, so tests can decorate or populate anything.
func New(cfgPath string, extra ...fx.Option) *fx.App {
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return fx.New(fx.NopLogger, fx.Error(err))
	}
	return FromConfig(cfg, extra...)
}

// FromConfig assembles the server from an already loaded configuration.
func FromConfig(cfg *config.Config, extra ...fx.Option) *fx.App {
	opts := []fx.Option{
		fx.Supply(cfg),
		fx.StopTimeout(cfg.Server.ShutdownTimeout),
		fx.WithLogger(func(l Logger) fxevent.Logger { return fxLogger(l.Logger) }),
		logModule,
		dbModule,
		sessionModule,
		handlersModule,
		pipelineModule,
		transportModule,
		adminModule,
		webModule,
	}
	return fx.New(append(opts, extra...)...)
}

// transport owns the FrameServer interface and does not import pipeline; the
// edge is checked against it here, where the two are put together.
var _ transport.FrameServer = (*pipeline.Edge)(nil)

// The modules, one per package, in the order a frame meets them backwards.
var (
	logModule = fx.Module("log",
		fx.Provide(func(cfg *config.Config, lc fx.Lifecycle) (Logger, error) { return NewLogger(cfg.Log, lc) }),
		fx.Provide(func(l Logger) *zap.Logger { return l.Logger }),
	)

	// The database is opened (and migrated) first, so its stop hook runs last:
	// everything that writes has stopped before it closes.
	dbModule = fx.Module("db",
		fx.Provide(func(cfg *config.Config, log *zap.Logger, lc fx.Lifecycle) (*bun.DB, error) {
			ctx, cancel := context.WithTimeout(context.Background(), cfg.Server.ShutdownTimeout*3)
			defer cancel()
			bdb, err := db.Open(ctx, cfg.DB, log.Named("db"))
			if err != nil {
				return nil, err
			}
			lc.Append(fx.StopHook(bdb.Close))
			// Stop hooks run in reverse: the checkpointer stops before Close.
			stop := db.StartCheckpointer(bdb, db.DefaultCheckpointEvery, log.Named("db"))
			lc.Append(fx.StopHook(stop))
			return bdb, nil
		}),
		fx.Provide(func(b *bun.DB) *sql.DB { return b.DB }),
		fx.Provide(newStore),
	)

	// Sessions: a single node pushes through its registry; a cluster node
	// (cluster.nats_url set) through a cluster.Directory that wraps the
	// registry and reaches the other nodes over NATS. Handlers see only a
	// handlers.SessionDirectory either way.
	sessionModule = fx.Module("session",
		fx.Provide(func(cfg *config.Config, log *zap.Logger) (*session.Registry, *cluster.Directory, handlers.SessionDirectory) {
			if cfg.Cluster.NATSURL == "" {
				reg := session.NewRegistry()
				return reg, nil, reg
			}
			dir := cluster.New(cfg.Cluster, log.Named("cluster"))
			return dir.Local(), dir, dir
		}),
		// The directory connects before the transport accepts anyone and
		// disconnects after the last session is gone (fx stops in reverse).
		// Its hooks reach the handlers, which are built on the directory.
		fx.Invoke(func(dir *cluster.Directory, svc *handlers.Areas, lc fx.Lifecycle) {
			if dir == nil {
				return
			}
			hooks := cluster.Hooks{
				Resync: func(ctx context.Context, userID string) {
					_, _ = svc.Messages.Redeliver(ctx, userID)
				},
				Revoke:    svc.Accounts.ForgetUser,
				Undeliver: svc.Messages.Undeliver,
			}
			lc.Append(fx.Hook{
				OnStart: func(context.Context) error { return dir.Start(hooks) },
				OnStop:  dir.Stop,
			})
		}),
	)

	handlersModule = fx.Module("handlers",
		// Messages are stored through the group-committing writer: one
		// transaction per short window, each sender acknowledged only after
		// its batch commits. Its stop hook runs after the transport's (fx
		// stops in reverse), so in-flight messages are flushed before the
		// database closes.
		fx.Provide(func(st *db.Store, cfg *config.Config, lc fx.Lifecycle) *db.MessageWriter {
			w := db.NewMessageWriter(st, db.WriterOptions{
				MaxBatch: cfg.DB.WriterMaxBatch, MaxDelay: cfg.DB.WriterMaxDelay, Queue: cfg.DB.WriterQueue,
			})
			lc.Append(fx.Hook{OnStart: func(context.Context) error { w.Start(); return nil }, OnStop: w.Close})
			return w
		}),
		// The group fan-out stops after the transport (no request can
		// queue more) and before the writer and the database.
		fx.Provide(func(st *db.Store, w *db.MessageWriter, dir handlers.SessionDirectory, cfg *config.Config, log *zap.Logger, lc fx.Lifecycle) *handlers.Areas {
			a := newHandlers(st, w, dir, cfg, log)
			lc.Append(fx.StopHook(a.Close))
			return a
		}),
		fx.Provide(func(h *handlers.Areas) *handlers.Router {
			r := handlers.NewRouter()
			h.Register(r)
			return r
		}),
	)

	pipelineModule = fx.Module("pipeline",
		fx.Provide(func() *prometheus.Registry { return prometheus.NewRegistry() }),
		fx.Provide(func() *pipeline.AcceptGate { return new(pipeline.AcceptGate) }),
		fx.Provide(func(cfg *config.Config, r *handlers.Router, reg *session.Registry, prom *prometheus.Registry, gate *pipeline.AcceptGate, log *zap.Logger) (*pipeline.Edge, error) {
			deps := pipeline.Deps{Log: log.Named("pipeline"), Sessions: reg, Metrics: prom, Types: r.Types(), Accept: gate}
			h, err := pipeline.Build(cfg.Pipeline, deps, r.Handle)
			if err != nil {
				return nil, err
			}
			return pipeline.NewEdge(h, log.Named("edge")), nil
		}),
	)

	transportModule = fx.Module("transport",
		fx.Provide(func(cfg *config.Config, reg *session.Registry, edge *pipeline.Edge, gate *pipeline.AcceptGate, log *zap.Logger, lc fx.Lifecycle) (*transport.Server, error) {
			transport.RouteGevLog(log.Named("gev"))
			srv, err := transport.New(transportConfig(cfg), cfg.Server.Listen, reg, edge, log.Named("transport"))
			if err != nil {
				return nil, err
			}
			srv.SetAcceptCheck(gate.Allow)
			if cfg.Web.WSListen != "" {
				if err := srv.ListenWebSocket(cfg.Web); err != nil {
					return nil, err
				}
			}
			lc.Append(fx.Hook{
				OnStart: func(context.Context) error {
					srv.Start()
					log.Info("parley listening", zap.String("addr", srv.Addr()), zap.String("ws", srv.WSAddr()))
					return nil
				},
				OnStop: func(ctx context.Context) error {
					log.Info("parley stopping: draining connections")
					err := srv.Stop(ctx)
					log.Info("parley stopped accepting and closed every connection", zap.Error(err))
					return err
				},
			})
			return srv, nil
		}),
		// The server is the root of the graph: invoking it builds everything.
		fx.Invoke(func(*transport.Server) {}),
	)
)

// transportConfig is cfg.Transport with the driver-dependent default for
// workers (config.WorkersPerCPUPostgres) applied; the transport itself knows
// nothing of databases.
func transportConfig(cfg *config.Config) config.Transport {
	t := cfg.Transport
	if t.Workers == 0 && cfg.DB.Driver == "postgres" {
		t.Workers = config.WorkersPerCPUPostgres * runtime.NumCPU()
	}
	return t
}

// newStore is the store over b, configured from cfg: the server and the
// operator commands (commands.go) build it here, so both apply the same
// rules (friend caps included).
func newStore(b *bun.DB, cfg *config.Config) *db.Store {
	return db.NewStore(b, cfg.DB.QueryTimeout, db.WithFriendLimits(db.FriendLimits{
		MaxPending: cfg.Friends.MaxPendingRequests, MaxFriends: cfg.Friends.MaxFriends, MaxList: cfg.Friends.ListLimit,
	}), db.WithGroupLimits(db.GroupLimits{
		MaxMembers: cfg.Groups.MaxMembers, MaxGroups: cfg.Groups.MaxGroupsPerUser,
	}))
}

// newHandlers builds the handlers from cfg, for the server and the operator
// commands alike. messages may be nil (each message is then stored with
// st.SaveMessage, as the commands, which send none, do).
func newHandlers(st *db.Store, messages handlers.MessageSaver, dir handlers.SessionDirectory, cfg *config.Config, log *zap.Logger) *handlers.Areas {
	return handlers.New(handlers.Deps{
		Store: st, Messages: messages, Sessions: dir, Accounts: cfg.Accounts,
		Limits: handlers.LimitsFrom(cfg), Groups: cfg.Groups, Log: log.Named("handlers"),
	})
}
