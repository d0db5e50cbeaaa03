package app

import (
	"context"
	"database/sql"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx"

	"github.com/parley-im/parley/cluster"
	"github.com/parley-im/parley/config"
	"github.com/parley-im/parley/db"
	"github.com/parley-im/parley/session"
	"github.com/parley-im/parley/transport"
)

// adminModule serves /metrics, /healthz, /readyz, /loglevel and /debug/pprof
// on admin.listen (nil *Admin when that is empty). It starts after the
// transport and stops before it.
var adminModule = fx.Module("admin",
	fx.Provide(func(cfg *config.Config, prom *prometheus.Registry, reg *session.Registry, dir *cluster.Directory, srv *transport.Server, st *db.Store, w *db.MessageWriter, sqlDB *sql.DB, l Logger, lc fx.Lifecycle) *Admin {
		RegisterRuntimeCollectors(prom, reg, func() (int, int) {
			s := srv.Stats()
			return s.Conns, s.Queued
		}, sqlDB)
		prom.MustRegister(
			newCloseReasons(srv.EachCloseReason),
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "parley_messages_stored_total", Help: "Messages committed and acknowledged to their senders.",
			}, func() float64 { return float64(w.Stored()) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "parley_writer_batches_total", Help: "Group-commit transactions of the message writer.",
			}, func() float64 { return float64(w.Batches()) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "parley_writer_pending", Help: "Messages waiting for their batch to commit.",
			}, func() float64 { return float64(w.Pending()) }),
		)
		ready := st.Ping
		if dir != nil {
			registerClusterMetrics(prom, dir)
			ready = func(ctx context.Context) error {
				if err := st.Ping(ctx); err != nil {
					return err
				}
				if why := dir.Degraded(); why != "" {
					return degraded(why)
				}
				return nil
			}
		}
		if cfg.Admin.Listen == "" {
			return nil
		}
		adm := NewAdmin(cfg.Admin.Listen, cfg.Admin.Token, prom, ready, l.Level, l.Named("admin"))
		lc.Append(fx.StartStopHook(adm.Start, adm.Stop))
		return adm
	}),
	fx.Invoke(func(*Admin) {}),
)

// registerClusterMetrics exposes a cluster node's NATS state: whether it is
// connected, how often the link dropped and came back, pushes NATS refused
// and those no node confirmed in time, and the per-user subscriptions.
func registerClusterMetrics(prom *prometheus.Registry, dir *cluster.Directory) {
	counter := func(name, help string, f func(cluster.Stats) uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(f(dir.Stats())) })
	}
	prom.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "parley_cluster_connected", Help: "1 while this node is connected to NATS, 0 while it serves only its local sessions.",
		}, func() float64 {
			if dir.Stats().Connected {
				return 1
			}
			return 0
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "parley_cluster_subscriptions", Help: "Per-user NATS subscriptions: users with a session on this node.",
		}, func() float64 { return float64(dir.Stats().Subscriptions) }),
		counter("parley_cluster_publish_failures_total", "Cross-node pushes and probes NATS refused (disconnected).", func(s cluster.Stats) uint64 { return s.PublishFailures }),
		counter("parley_cluster_deliver_timeouts_total", "Cross-node pushes no node confirmed within cluster.deliver_timeout.", func(s cluster.Stats) uint64 { return s.Timeouts }),
		counter("parley_cluster_disconnects_total", "Times this node lost its NATS connection.", func(s cluster.Stats) uint64 { return s.Disconnects }),
		counter("parley_cluster_reconnects_total", "Times this node regained its NATS connection.", func(s cluster.Stats) uint64 { return s.Reconnects }),
		counter("parley_cluster_remote_pushes_total", "Pushes received from other nodes for sessions here.", func(s cluster.Stats) uint64 { return s.RemotePushes }),
		counter("parley_cluster_subscribes_total", "Per-user subscriptions made (a user's first session on this node).", func(s cluster.Stats) uint64 { return s.Subscribes }),
		counter("parley_cluster_resyncs_total", "Online users re-offered missed messages after an outage.", func(s cluster.Stats) uint64 { return s.Resyncs }),
		counter("parley_cluster_revokes_total", "Revoke events applied on this node.", func(s cluster.Stats) uint64 { return s.Revokes }),
		counter("parley_cluster_dropped_total", "Pushes from other nodes dropped because a delivery lane was full.", func(s cluster.Stats) uint64 { return s.Dropped }),
	)
}
