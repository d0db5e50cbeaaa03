package middleware

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/parley-im/parley/pipeline"
	"github.com/parley-im/parley/wire"
)

func init() { pipeline.Register("metrics", newMetrics) }

// metricsOptions configure the metrics middleware:
//
//	pipeline:
//	  - use: metrics
//	    with:
//	      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5]
type metricsOptions struct {
	// Buckets are the upper bounds, in seconds, of parley_handler_seconds.
	// The default spans 100µs (a ping) to 2.5s (a stuck database query).
	Buckets []float64 `yaml:"buckets"`
}

var defaultBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}

// knownCodes is the error-code vocabulary of the protocol. A code outside it
// (a handler inventing one) is counted as "other", so the label set stays
// bounded whatever the handlers do.
var knownCodes = wire.Codes

// codeIndex maps a code to its position in knownCodes; "other" is one past
// the end. Built once, read concurrently.
var codeIndex = func() map[string]int {
	m := make(map[string]int, len(knownCodes))
	for i, c := range knownCodes {
		m[c] = i
	}
	return m
}()

// outcomes lists pipeline.Outcome values in the order of typeSeries.out.
var outcomes = [...]pipeline.Outcome{pipeline.OutcomeOK, pipeline.OutcomeError, pipeline.OutcomeDisconnect, pipeline.OutcomeInternal}

func outcomeIndex(o pipeline.Outcome) int {
	switch o {
	case pipeline.OutcomeOK:
		return 0
	case pipeline.OutcomeError:
		return 1
	case pipeline.OutcomeDisconnect:
		return 2
	}
	return 3
}

// typeSeries holds every series of one type label, resolved at start-up so a
// frame only indexes arrays: no label hashing, no map allocation.
type typeSeries struct {
	in       prometheus.Counter
	out      [len(outcomes)]prometheus.Counter
	seconds  prometheus.Observer
	refusals []prometheus.Counter // by codeIndex, then "other"
	// observe records a request when it is answered (later, if parked: a
	// parked login's outcome and time include its wait for the hash). Built
	// once per type, so recording allocates nothing.
	observe func(req *pipeline.Request, reply pipeline.Reply, err error)
}

// newMetrics builds the middleware that counts frames and times the chain
// below it. It registers on Deps.Metrics:
//
//	parley_frames_in_total{type}               requests that reached this middleware
//	parley_frames_out_total{type,outcome}      replies sent: ok (a reply body), error,
//	                                           disconnect, internal; a request answered
//	                                           with no reply is not counted
//	parley_handler_seconds{type}               time from the request entering the
//	                                           pipeline to its result reaching here
//	parley_refusals_total{type,code}           error and disconnect outcomes by code
//
// The type label is one of Deps.Types or "other": a client inventing types
// cannot create series. Every series exists (at zero) from start-up, which
// also makes rate() and absent() behave from the first scrape.
func newMetrics(o metricsOptions, d pipeline.Deps) (pipeline.Middleware, error) {
	if o.Buckets == nil {
		o.Buckets = defaultBuckets
	}
	if !increasingPositive(o.Buckets) {
		return nil, fmt.Errorf("buckets: need strictly increasing positive bounds, got %v", o.Buckets)
	}

	in := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "parley_frames_in_total", Help: "Requests that entered the pipeline, by message type.",
	}, []string{"type"})
	out := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "parley_frames_out_total", Help: "Replies sent, by message type and outcome (ok, error, disconnect, internal).",
	}, []string{"type", "outcome"})
	seconds := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "parley_handler_seconds", Help: "Time from a request entering the pipeline to its result, by message type.",
		Buckets: o.Buckets,
	}, []string{"type"})
	refusals := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "parley_refusals_total", Help: "Requests refused with an error or a disconnect, by message type and code.",
	}, []string{"type", "code"})

	var err error
	if in, err = registerCounterVec(d.Metrics, in); err != nil {
		return nil, err
	}
	if out, err = registerCounterVec(d.Metrics, out); err != nil {
		return nil, err
	}
	if refusals, err = registerCounterVec(d.Metrics, refusals); err != nil {
		return nil, err
	}
	c, err := register(d.Metrics, seconds)
	if err != nil {
		return nil, err
	}
	if seconds, ok := c.(*prometheus.HistogramVec); ok {
		return metricsMiddleware(d.Types, in, out, seconds, refusals), nil
	}
	return nil, fmt.Errorf("parley_handler_seconds is already registered as another kind of metric")
}

func increasingPositive(b []float64) bool {
	if len(b) == 0 || b[0] <= 0 {
		return false
	}
	for i := 1; i < len(b); i++ {
		if b[i] <= b[i-1] {
			return false
		}
	}
	return true
}

func registerCounterVec(reg prometheus.Registerer, v *prometheus.CounterVec) (*prometheus.CounterVec, error) {
	c, err := register(reg, v)
	if err != nil {
		return nil, err
	}
	if cv, ok := c.(*prometheus.CounterVec); ok {
		return cv, nil
	}
	return nil, fmt.Errorf("a metric with the same name is already registered as another kind")
}

func metricsMiddleware(types []string, in, out *prometheus.CounterVec, seconds *prometheus.HistogramVec, refusals *prometheus.CounterVec) pipeline.Middleware {
	newSeries := func(typ string) *typeSeries {
		s := &typeSeries{in: in.WithLabelValues(typ), seconds: seconds.WithLabelValues(typ)}
		for i, o := range outcomes {
			s.out[i] = out.WithLabelValues(typ, string(o))
		}
		for _, code := range knownCodes {
			s.refusals = append(s.refusals, refusals.WithLabelValues(typ, code))
		}
		s.refusals = append(s.refusals, refusals.WithLabelValues(typ, otherType))
		s.observe = func(req *pipeline.Request, reply pipeline.Reply, err error) { s.record(receivedAt(req), reply, err) }
		return s
	}
	byType := make(map[string]*typeSeries, len(types))
	for _, t := range types {
		byType[t] = newSeries(t)
	}
	other := newSeries(otherType)

	return func(next pipeline.Handler) pipeline.Handler {
		return func(ctx context.Context, req *pipeline.Request) (pipeline.Reply, error) {
			s, ok := byType[req.Type]
			if !ok {
				s = other
			}
			s.in.Inc()
			markReceived(req)
			reply, err := next(ctx, req)
			pipeline.Finished(req, reply, err, s.observe)
			return reply, err
		}
	}
}

// record counts one answered request of this type.
func (s *typeSeries) record(start time.Time, reply pipeline.Reply, err error) {
	s.seconds.Observe(time.Since(start).Seconds())
	outcome, code := outcomeOf(err)
	if err != nil || reply != nil {
		s.out[outcomeIndex(outcome)].Inc()
	}
	if outcome == pipeline.OutcomeError || outcome == pipeline.OutcomeDisconnect {
		i, known := codeIndex[code]
		if !known {
			i = len(knownCodes)
		}
		s.refusals[i].Inc()
	}
}
