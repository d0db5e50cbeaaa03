package app

import (
	"database/sql"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx"

	"github.com/parley-im/parley/config"
	"github.com/parley-im/parley/db"
	"github.com/parley-im/parley/session"
	"github.com/parley-im/parley/transport"
)

// adminModule serves /metrics, /healthz, /readyz, /loglevel and /debug/pprof
// on admin.listen (nil *Admin when that is empty). It starts after the
// transport and stops before it.
var adminModule = fx.Module("admin",
	fx.Provide(func(cfg *config.Config, prom *prometheus.Registry, reg *session.Registry, srv *transport.Server, st *db.Store, w *db.MessageWriter, sqlDB *sql.DB, l Logger, lc fx.Lifecycle) *Admin {
		RegisterRuntimeCollectors(prom, reg, func() (int, int) {
			s := srv.Stats()
			return s.Conns, s.Queued
		}, sqlDB)
		prom.MustRegister(
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
		if cfg.Admin.Listen == "" {
			return nil
		}
		adm := NewAdmin(cfg.Admin.Listen, cfg.Admin.Token, prom, st.Ping, l.Level, l.Named("admin"))
		lc.Append(fx.StartStopHook(adm.Start, adm.Stop))
		return adm
	}),
	fx.Invoke(func(*Admin) {}),
)
