package main

import (
	"fmt"
	"math"
	"os"
	"strings"
	"time"
)

// trend compares one series' mean over the first and the last third of the
// samples after warm-up.
type trend struct {
	name              string
	first, last, peak float64 // peak: the highest sample after warm-up
	ok                bool
	bound             string // what "flat" allowed
}

// judge decides whether RSS, goroutines and open fds stayed flat: the samples
// after warm-up are cut in thirds, and the last third's mean must be within
// rssTol percent (RSS) or slack (goroutines, fds) of the first third's, in
// either direction: a fall is reported as drift too. enough is false with
// fewer than three samples after warm-up.
func judge(samples []soakSample, warmup time.Duration, rssTol, slack float64) (trends []trend, enough bool) {
	var post []soakSample
	for _, s := range samples {
		if s.at >= warmup {
			post = append(post, s)
		}
	}
	k := len(post) / 3
	if k == 0 {
		return nil, false
	}
	mean := func(part []soakSample, v func(soakSample) float64) float64 {
		sum := 0.0
		for _, s := range part {
			sum += v(s)
		}
		return sum / float64(len(part))
	}
	for _, m := range soakMetrics {
		t := trend{name: m.name, first: mean(post[:k], m.v), last: mean(post[len(post)-k:], m.v)}
		for _, s := range post {
			t.peak = max(t.peak, m.v(s))
		}
		if m.rel {
			t.ok, t.bound = math.Abs(t.last-t.first) <= rssTol/100*t.first, fmt.Sprintf("±%g%%", rssTol)
		} else {
			t.ok, t.bound = math.Abs(t.last-t.first) <= slack, fmt.Sprintf("±%g", slack)
		}
		trends = append(trends, t)
	}
	return trends, true
}

// report prints the samples, the counts and the SUMMARY line.
func (r *soakRun) report(res *soakResult, drained time.Duration) {
	rows := make([][]string, 0, len(res.samples))
	for _, s := range res.samples {
		t := s.at.Round(time.Second).String()
		if s.at < res.warmup {
			t += " (warm-up)"
		}
		rows = append(rows, []string{t, fmt.Sprintf("%.1f", float64(s.rssKiB)/1024), fmt.Sprintf("%.1f", s.g.heapBytes/(1<<20)),
			fmt.Sprint(s.g.goroutines), fmt.Sprint(s.g.fds), fmt.Sprint(s.g.conns),
			fmt.Sprint(s.sent), fmt.Sprint(s.recv), fmt.Sprint(s.errs), ms(s.sendP99), ms(s.deliverP99)})
	}
	fmt.Printf("\nsoak: %d SDK clients, %.0f msgs/s, %s, sampled every %s (warm-up %s)\n",
		r.o.n, r.o.rate, r.o.duration, r.o.every, res.warmup)
	printRows(os.Stdout, []string{"t", "rss MiB", "heap MiB", "goroutines", "fds", "conns",
		"sent", "recv", "errors", "send p99 ms", "deliver p99 ms"}, rows)
	fmt.Printf("\nmessages: %d stored, %d received, %d lost, %d duplicated, %d out of order, %d send errors, "+
		"%d received whose Send failed, %d other (not this run's); drained in %s\n",
		res.sent, res.recv, res.lost, res.dups, res.disorder, res.errs, res.unconfirmed, res.other,
		drained.Round(time.Millisecond))
	fmt.Printf("SDK background errors (reconnects, syncs): %d\n", res.sdkErrs)
	for _, e := range r.errText {
		fmt.Println("  error:", e)
	}
	fmt.Printf("server idle before login: goroutines %.0f, fds %.0f; after every client closed: goroutines %.0f, fds %.0f, conns %.0f\n",
		res.idle.goroutines, res.idle.fds, res.after.goroutines, res.after.fds, res.after.conns)
	verdict := "FLAT"
	if !res.enough {
		verdict = "UNDECIDED(fewer-than-3-samples-after-warm-up)"
	}
	var parts []string
	for _, t := range res.trends {
		word := "flat"
		if !t.ok {
			word, verdict = "DRIFT", "NOT-FLAT"
		}
		if t.name == "rss" {
			parts = append(parts, fmt.Sprintf("rss=%.1f->%.1fMiB(%+.1f%%,%s,%s,peak=%.1f)", t.first, t.last, 100*(t.last-t.first)/t.first, word, t.bound, t.peak))
		} else {
			parts = append(parts, fmt.Sprintf("%s=%.1f->%.1f(%+.1f,%s,%s,peak=%.0f)", t.name, t.first, t.last, t.last-t.first, word, t.bound, t.peak))
		}
	}
	fmt.Printf("SUMMARY soak n=%d d=%s rate=%.0f/s sent=%d received=%d lost=%d dup=%d disorder=%d errors=%d %s verdict=%s\n",
		r.o.n, r.o.duration, r.o.rate, res.sent, res.recv, res.lost, res.dups, res.disorder, res.errs,
		strings.Join(parts, " "), verdict)
}

// soakChart draws RSS, goroutines and open fds over time, each as a
// percentage of its mean over the first third after warm-up (the legend
// gives that mean), so three series of very different sizes share one axis
// and drift reads directly.
func soakChart(res soakResult, o soakOpts) chart {
	unit, div := "s", float64(time.Second)
	if o.duration >= 3*time.Minute {
		unit, div = "min", float64(time.Minute)
	}
	var out []series
	for i, m := range soakMetrics {
		b := 0.0
		if i < len(res.trends) {
			b = res.trends[i].first
		} else if len(res.samples) > 0 {
			b = m.v(res.samples[len(res.samples)-1])
		}
		b = max(b, 1e-9)
		s := series{name: strings.TrimSpace(fmt.Sprintf("%s (100 = %.0f %s", m.name, b, m.unit)) + ")"}
		for _, p := range res.samples {
			s.x, s.y = append(s.x, float64(p.at)/div), append(s.y, 100*m.v(p)/b)
		}
		out = append(out, s)
	}
	return chart{title: fmt.Sprintf("soak: %d clients, %.0f msgs/s: server rss, goroutines, open fds", o.n, o.rate),
		xLabel: "time " + unit + " (100 = mean of the first third after warm-up)", yLabel: "%", series: out}
}
