package app

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"errors"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/parley-im/parley/session"
)

// readyTimeout bounds one readiness check: a probe that cannot get an answer
// within it reports not ready rather than hanging the prober.
const readyTimeout = time.Second

// Admin is the operator's HTTP server, on its own port, never the chat port:
//
//	/metrics        Prometheus exposition of the registry given to NewAdmin
//	/healthz        200 "ok" while the process serves HTTP (liveness)
//	/readyz         200 "ok" if the ready check passes within 1s, 200 "degraded: why" if it
//	                passes with less than usual (a cluster node cut from NATS), else 503 with its error
//	/loglevel       GET the zap level as JSON; PUT {"level":"debug"} to change it
//	/debug/pprof/   the net/http/pprof profiles
//
// It uses its own ServeMux: nothing registered on http.DefaultServeMux by any
// imported package is exposed. Bind it to a private address; pprof and
// /loglevel are for operators only. With a token, /debug/pprof/ and every
// request that is not a GET or HEAD (PUT /loglevel) need
// "Authorization: Bearer <token>": pprof leaks memory contents and costs CPU,
// and the log level can be turned up to flood the disk. /metrics, /healthz,
// /readyz and reading the level stay open, so probes and scrapers need no secret.
type Admin struct {
	listen string
	srv    *http.Server
	log    *zap.Logger

	mu   sync.Mutex
	ln   net.Listener
	done chan struct{} // closed when Serve returns
}

// NewAdmin prepares the admin server on listen ("host:port"; port 0 picks a
// free one, see Addr). token, when not empty, guards pprof and the mutating
// endpoints (see Admin). ready is the readiness check (nil means always ready);
// it must honour its context, which expires after one second. level is the
// root logger's level, which /loglevel reads and changes.
func NewAdmin(listen, token string, reg *prometheus.Registry, ready func(ctx context.Context) error, level zap.AtomicLevel, log *zap.Logger) *Admin {
	if log == nil {
		log = zap.NewNop()
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		// A collector failing (the database stats, say) still serves the
		// others rather than failing the whole scrape.
		ErrorHandling: promhttp.ContinueOnError,
		ErrorLog:      zap.NewStdLog(log),
		Registry:      reg, // promhttp's own request counters
	}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeText(w, http.StatusOK, "ok")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		err := checkReady(r.Context(), ready)
		var d degraded
		if errors.As(err, &d) {
			// Serving, with less than usual (a cluster node without
			// NATS): still ready, or a NATS outage would take every node
			// out of the load balancer at once.
			writeText(w, http.StatusOK, "degraded: "+string(d))
			return
		}
		if err != nil {
			writeText(w, http.StatusServiceUnavailable, err.Error())
			return
		}
		writeText(w, http.StatusOK, "ok")
	})
	guard := bearer(token, func(r *http.Request) bool { return r.Method != http.MethodGet && r.Method != http.MethodHead })
	always := bearer(token, func(*http.Request) bool { return true })
	mux.Handle("/loglevel", guard(level))
	mux.Handle("/debug/pprof/", always(http.HandlerFunc(pprof.Index))) // also serves heap, goroutine, allocs, block, mutex...
	mux.Handle("/debug/pprof/cmdline", always(http.HandlerFunc(pprof.Cmdline)))
	mux.Handle("/debug/pprof/profile", always(http.HandlerFunc(pprof.Profile)))
	mux.Handle("/debug/pprof/symbol", always(http.HandlerFunc(pprof.Symbol)))
	mux.Handle("/debug/pprof/trace", always(http.HandlerFunc(pprof.Trace)))

	return &Admin{
		listen: listen,
		log:    log,
		srv: &http.Server{
			Handler:           mux,
			ReadHeaderTimeout: 5 * time.Second,
			IdleTimeout:       time.Minute,
			// No WriteTimeout: /debug/pprof/profile and /trace stream for as
			// many seconds as asked (30 by default) and refuse to run when
			// WriteTimeout is shorter.
			ErrorLog: zap.NewStdLog(log),
		},
	}
}

// bearer returns a wrapper that, when token is set, answers 401 to the
// requests that needs selects unless they carry "Authorization: Bearer
// <token>". The comparison is constant-time on digests, so neither the
// token's content nor its length leaks through timing. Without a token it
// returns handlers unchanged (config refuses a non-loopback listen then).
func bearer(token string, needs func(*http.Request) bool) func(http.Handler) http.Handler {
	want := sha256.Sum256([]byte(token))
	return func(h http.Handler) http.Handler {
		if token == "" {
			return h
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if needs(r) {
				got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
				gotSum := sha256.Sum256([]byte(got))
				if !ok || subtle.ConstantTimeCompare(gotSum[:], want[:]) != 1 {
					w.Header().Set("WWW-Authenticate", `Bearer realm="parley-admin"`)
					writeText(w, http.StatusUnauthorized, "unauthorized")
					return
				}
			}
			h.ServeHTTP(w, r)
		})
	}
}

// degraded is a readiness answer that is not a failure: the node serves,
// with less than usual. /readyz answers 200 "degraded: <why>".
type degraded string

func (d degraded) Error() string { return string(d) }

// checkReady runs ready with a one-second deadline. A check that returns
// after the deadline counts as failed even if it succeeded: slow is not
// ready.
func checkReady(parent context.Context, ready func(context.Context) error) error {
	if ready == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(parent, readyTimeout)
	defer cancel()
	if err := ready(ctx); err != nil {
		return err
	}
	return ctx.Err()
}

func writeText(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body + "\n"))
}

// Start binds the port and serves in the background. It returns once the
// port is bound, so a port in use fails start-up instead of being logged
// later, and Addr is valid as soon as it returns.
func (a *Admin) Start() error {
	ln, err := net.Listen("tcp", a.listen)
	if err != nil {
		return err
	}
	a.mu.Lock()
	a.ln, a.done = ln, make(chan struct{})
	a.mu.Unlock()
	go func() {
		defer close(a.done)
		if err := a.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("admin server stopped", zap.Error(err))
		}
	}()
	a.log.Info("admin listening", zap.String("addr", ln.Addr().String()))
	return nil
}

// Stop stops accepting, lets in-flight requests finish until ctx expires,
// then closes what is left. It waits for the serving goroutine to end.
// Stopping a server that was never started does nothing.
func (a *Admin) Stop(ctx context.Context) error {
	a.mu.Lock()
	done := a.done
	a.mu.Unlock()
	if done == nil {
		return nil
	}
	err := a.srv.Shutdown(ctx)
	if err != nil {
		// In-flight requests (a long profile) outlived ctx: cut them.
		_ = a.srv.Close()
	}
	<-done
	return err
}

// Addr is the bound "host:port" once Start has returned, or "" before.
func (a *Admin) Addr() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ln == nil {
		return ""
	}
	return a.ln.Addr().String()
}

// RegisterRuntimeCollectors adds the process-wide gauges to reg:
//
//	parley_connections           open connections (conns, from transport)
//	parley_dispatch_queue_depth  frames waiting for a worker (queued, from transport)
//	parley_sessions_online       users with at least one live session
//	go_sql_*{db_name="parley"}   database/sql pool statistics (collectors.NewDBStatsCollector)
//	go_*, process_*              Go runtime and process statistics
//
// The gauges are read at scrape time, so nothing here costs anything per
// frame. conns and db may be nil (a tool without transport or database);
// their metrics are then left out. It panics if a metric is registered
// twice, a programming error caught at start-up.
func RegisterRuntimeCollectors(reg *prometheus.Registry, sessions *session.Registry, conns func() (conns, queued int), db *sql.DB) {
	if conns != nil {
		reg.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "parley_connections", Help: "Open client connections.",
			}, func() float64 { n, _ := conns(); return float64(n) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "parley_dispatch_queue_depth", Help: "Received frames waiting for a dispatcher worker.",
			}, func() float64 { _, q := conns(); return float64(q) }),
		)
	}
	if sessions != nil {
		reg.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "parley_sessions_online", Help: "Users with at least one live session.",
			}, func() float64 { return float64(sessions.Users()) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "parley_pushes_total", Help: "Pushes (receive_message, list refreshes) queued to sessions, one per session reached.",
			}, func() float64 { return float64(sessions.Pushes()) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "parley_frames_sent_total", Help: "Frames queued to clients: replies, catch-up frames and pushes.",
			}, func() float64 { return float64(session.FramesSent()) }),
		)
	}
	if db != nil {
		reg.MustRegister(collectors.NewDBStatsCollector(db, "parley"))
	}
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
}

// closeReasons exports parley_connections_closed_total{reason}: every
// connection the server closed, by why (the reasons and their names are
// transport's; "peer" is the client leaving). Read at scrape time.
type closeReasons struct {
	desc *prometheus.Desc
	each func(func(reason string, n uint64))
}

func newCloseReasons(each func(func(reason string, n uint64))) closeReasons {
	return closeReasons{
		desc: prometheus.NewDesc("parley_connections_closed_total",
			"Connections closed, by reason (peer: the client left; the others: the server closed it).",
			[]string{"reason"}, nil),
		each: each,
	}
}

func (c closeReasons) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c closeReasons) Collect(ch chan<- prometheus.Metric) {
	c.each(func(reason string, n uint64) {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(n), reason)
	})
}
