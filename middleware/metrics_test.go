package middleware

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/parley-im/parley/pipeline"
	"github.com/parley-im/parley/wire"
)

func TestMetrics(t *testing.T) {
	d := testDeps(nil)
	reg := d.Metrics.(*prometheus.Registry)
	results := map[string]func() (pipeline.Reply, error){
		"ok":        func() (pipeline.Reply, error) { return okReply, nil },
		"no reply":  func() (pipeline.Reply, error) { return nil, nil },
		"forbidden": func() (pipeline.Reply, error) { return nil, &pipeline.Error{Code: wire.CodeForbidden} },
		"invented":  func() (pipeline.Reply, error) { return nil, &pipeline.Error{Code: "made_up"} },
		"wrapped": func() (pipeline.Reply, error) {
			return nil, fmt.Errorf("ctx: %w", &pipeline.Error{Code: wire.CodeNotFound})
		},
		"flood":       func() (pipeline.Reply, error) { return nil, &pipeline.Disconnect{Code: wire.CodeRateLimited} },
		"bug":         func() (pipeline.Reply, error) { return nil, errors.New("nil pointer") },
		"not_a_type!": func() (pipeline.Reply, error) { return okReply, nil },
	}
	h := one(t, "metrics", "", d, func(_ context.Context, r *pipeline.Request) (pipeline.Reply, error) {
		return results[string(r.Body)]()
	})
	s, _ := newSession(d.Sessions, "10.0.0.1:1")
	send := func(typ, result string) {
		h(context.Background(), &pipeline.Request{Session: s, Type: typ, Body: []byte(result)})
	}
	send("ping", "ok")
	send("ping", "ok")
	send("friends", "no reply")
	send("friends", "forbidden")
	send("friends", "invented")
	send("friends", "wrapped")
	send("chatting", "flood")
	send("login", "bug")
	for i := range 50 {
		send(fmt.Sprint("junk", i), "not_a_type!") // fifty invented types
	}

	for _, tc := range []struct {
		metric string
		labels map[string]string
		want   float64
	}{
		{"parley_frames_in_total", map[string]string{"type": "ping"}, 2},
		{"parley_frames_in_total", map[string]string{"type": "friends"}, 4},
		{"parley_frames_in_total", map[string]string{"type": "other"}, 50},
		{"parley_frames_in_total", map[string]string{"type": "search_user"}, 0}, // exists from start-up
		{"parley_frames_out_total", map[string]string{"type": "ping", "outcome": "ok"}, 2},
		{"parley_frames_out_total", map[string]string{"type": "friends", "outcome": "ok"}, 0}, // no reply, no frame
		{"parley_frames_out_total", map[string]string{"type": "friends", "outcome": "error"}, 3},
		{"parley_frames_out_total", map[string]string{"type": "chatting", "outcome": "disconnect"}, 1},
		{"parley_frames_out_total", map[string]string{"type": "login", "outcome": "internal"}, 1},
		{"parley_refusals_total", map[string]string{"type": "friends", "code": "forbidden"}, 1},
		{"parley_refusals_total", map[string]string{"type": "friends", "code": "not_found"}, 1},
		{"parley_refusals_total", map[string]string{"type": "friends", "code": "other"}, 1},
		{"parley_refusals_total", map[string]string{"type": "chatting", "code": "rate_limited"}, 1},
		{"parley_refusals_total", map[string]string{"type": "login", "code": "internal"}, 0}, // internal is not a refusal
		{"parley_handler_seconds", map[string]string{"type": "friends"}, 4},                  // sample count
	} {
		if got := metricValue(t, reg, tc.metric, tc.labels); got != tc.want {
			t.Errorf("%s%v = %v, want %v", tc.metric, tc.labels, got, tc.want)
		}
	}

	// Client-invented types never become series: one per served type, plus "other".
	if n := seriesCount(t, reg, "parley_frames_in_total"); n != len(testTypes)+1 {
		t.Errorf("parley_frames_in_total has %d series, want %d", n, len(testTypes)+1)
	}
}

// TestMetricsBuildTwice builds the chain twice on one registry (tests and
// reloads do): the second build reuses the registered collectors.
func TestMetricsBuildTwice(t *testing.T) {
	d := testDeps(nil)
	one(t, "metrics", "", d, (&counter{}).handle)
	h := one(t, "metrics", "", d, (&counter{}).handle)
	s, _ := newSession(d.Sessions, "10.0.0.1:1")
	h(context.Background(), request(s, "ping", nil))
	if got := metricValue(t, d.Metrics.(*prometheus.Registry), "parley_frames_in_total", map[string]string{"type": "ping"}); got != 1 {
		t.Fatalf("second build does not count into the registry: %v", got)
	}
}

func TestMetricsOptionErrors(t *testing.T) {
	for with, want := range map[string]string{
		"{buckets: []}":           "strictly increasing positive",
		"{buckets: [0.1, 0.05]}":  "strictly increasing positive",
		"{buckets: [0, 1]}":       "strictly increasing positive",
		"{namespace: parley_x}":   `unknown option "namespace"`,
		"{buckets: [0.001, 0.1]}": "",
	} {
		if got := buildErr(t, "metrics", with, testDeps(nil)); !contains(got, want) || (want == "") != (got == "") {
			t.Errorf("%s: got %q, want %q", with, got, want)
		}
	}
}

// metricValue returns the value of the series of name with exactly labels
// (a histogram gives its sample count), failing if there is no such series.
func metricValue(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	for _, m := range family(t, reg, name).GetMetric() {
		if !sameLabels(m.GetLabel(), labels) {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	t.Fatalf("no series %s%v", name, labels)
	return 0
}

func seriesCount(t *testing.T, reg *prometheus.Registry, name string) int {
	t.Helper()
	return len(family(t, reg, name).GetMetric())
}

func family(t *testing.T, reg *prometheus.Registry, name string) *dto.MetricFamily {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() == name {
			return f
		}
	}
	t.Fatalf("metric %s not registered", name)
	return nil
}

func sameLabels(got []*dto.LabelPair, want map[string]string) bool {
	if len(got) != len(want) {
		return false
	}
	for _, l := range got {
		if want[l.GetName()] != l.GetValue() {
			return false
		}
	}
	return true
}
