package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
)

// recorder collects latencies from many goroutines.
type recorder struct {
	mu   sync.Mutex
	lat  []time.Duration
	fail int
	why  map[string]int // failures by reason
}

func (r *recorder) add(d time.Duration) {
	r.mu.Lock()
	r.lat = append(r.lat, d)
	r.mu.Unlock()
}

// failed counts a failure and why it failed (an error reply's code, or the
// client-side error), so a run that loses some operations says which way.
func (r *recorder) failed(reason string) {
	r.mu.Lock()
	r.fail++
	if r.why == nil {
		r.why = make(map[string]int)
	}
	r.why[reason]++
	r.mu.Unlock()
}

// reasons lists the failure reasons with their counts, most frequent first.
func (r *recorder) reasons() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	keys := make([]string, 0, len(r.why))
	for k := range r.why {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int { return r.why[b] - r.why[a] })
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s=%d", k, r.why[k])
	}
	return b.String()
}

// summary is the seed README's table row: mean and percentiles of the
// successful operations, plus the success rate over all attempts.
type summary struct {
	Name                     string
	N, OK                    int
	Mean, P50, P90, P99, Max time.Duration
}

func (r *recorder) summary(name string, attempts int) summary {
	r.mu.Lock()
	lat := slices.Clone(r.lat)
	r.mu.Unlock()
	s := summary{Name: name, N: attempts, OK: len(lat)}
	if attempts == 0 {
		s.N = len(lat) + r.fail
	}
	if len(lat) == 0 {
		return s
	}
	slices.Sort(lat)
	var sum time.Duration
	for _, d := range lat {
		sum += d
	}
	pct := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	s.Mean, s.P50, s.P90, s.P99, s.Max = sum/time.Duration(len(lat)), pct(0.5), pct(0.9), pct(0.99), lat[len(lat)-1]
	return s
}

func (r *recorder) sorted() []time.Duration {
	r.mu.Lock()
	lat := slices.Clone(r.lat)
	r.mu.Unlock()
	slices.Sort(lat)
	return lat
}

func (s summary) successPct() float64 {
	if s.N == 0 {
		return 0
	}
	return 100 * float64(s.OK) / float64(s.N)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d)/float64(time.Millisecond)) }

// printTable writes summaries as an aligned table (milliseconds).
func printTable(w io.Writer, rows ...summary) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "metric\tcount\tsuccess %\tmean ms\tp50 ms\tp90 ms\tp99 ms\tmax ms\t")
	for _, s := range rows {
		fmt.Fprintf(tw, "%s\t%d\t%.2f\t%s\t%s\t%s\t%s\t%s\t\n", s.Name, s.N, s.successPct(),
			ms(s.Mean), ms(s.P50), ms(s.P90), ms(s.P99), ms(s.Max))
	}
	tw.Flush()
}

// printRows writes a free-form table: a header and rows of cells.
func printRows(w io.Writer, header []string, rows [][]string) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, strings.Join(header, "\t")+"\t")
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t")+"\t")
	}
	tw.Flush()
}
