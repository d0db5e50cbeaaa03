package main

import (
	"flag"
	"image/png"
	"os"
	"testing"
	"time"

	"github.com/parley-im/parley/app/apptest"
)

// A very short soak against a real parleyd (built here, started by the
// bench's own startServer on loopback with a temporary SQLite file): every
// message the server stored arrives exactly once and in order, every sample
// has the server's RSS, goroutines and open fds, and the chart is a PNG.
// Nothing about the server's speed is asserted.
func TestSoakShort(t *testing.T) {
	bin := apptest.BuildParleyd(t)
	var o soakOpts
	fs := flag.NewFlagSet("soak", flag.ContinueOnError)
	soakFlags(fs, &o)
	if err := fs.Parse([]string{"-n", "20", "-d", "3s", "-every", "1s", "-rate", "40", "-heartbeat", "1s", "-drain", "20s"}); err != nil {
		t.Fatal(err)
	}
	o.out = t.TempDir()
	srv, err := startServer(serverFlags{parleyd: bin, driver: "sqlite"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.stop()
	res, err := runSoak(srv, o)
	if err != nil {
		t.Fatal(err)
	}
	// 20 clients at 40/s in total send one message every 0.5 s each: about
	// 120 in 3 s. Over loopback none should fail.
	if res.sent < 60 || res.errs != 0 {
		t.Fatalf("sent %d, %d send errors", res.sent, res.errs)
	}
	if res.lost != 0 || res.dups != 0 || res.disorder != 0 || res.recv != res.sent+res.unconfirmed {
		t.Fatalf("sent %d received %d: lost %d, duplicated %d, out of order %d", res.sent, res.recv, res.lost, res.dups, res.disorder)
	}
	if len(res.samples) != 4 { // t = 0, 1, 2, 3 s
		t.Fatalf("%d samples, want 4", len(res.samples))
	}
	for _, s := range res.samples {
		if s.rssKiB <= 0 || s.g.goroutines <= 0 || s.g.fds < 20 || s.g.conns != 20 {
			t.Fatalf("sample at %s: rss %d KiB, goroutines %.0f, fds %.0f, conns %.0f (want 20 open)", s.at, s.rssKiB, s.g.goroutines, s.g.fds, s.g.conns)
		}
	}
	if !res.enough || len(res.trends) != 3 {
		t.Fatalf("no verdict: enough=%v trends=%+v", res.enough, res.trends)
	}
	if res.after.conns != 0 {
		t.Fatalf("server still counts %.0f connections after every client closed", res.after.conns)
	}
	f, err := os.Open(res.chart)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := png.Decode(f); err != nil {
		t.Fatalf("chart %s: %v", res.chart, err)
	}
}

// The verdict ignores warm-up and compares the first and last thirds: a
// steady series is flat, RSS growing beyond the tolerance, or goroutines
// beyond the slack, is drift, and so is a fall.
func TestSoakJudge(t *testing.T) {
	mk := func(rss func(i int) int64, gor func(i int) float64) []soakSample {
		var out []soakSample
		for i := range 12 {
			out = append(out, soakSample{at: time.Duration(i) * time.Second, rssKiB: rss(i),
				g: gauges{goroutines: gor(i), fds: 2010}})
		}
		return out
	}
	const warmup = 3 * time.Second // samples 0-2; thirds of 9 are 3-5 and 9-11
	verdict := func(s []soakSample) map[string]bool {
		tr, enough := judge(s, warmup, 10, 20)
		if !enough || len(tr) != 3 {
			t.Fatalf("judge: enough=%v %+v", enough, tr)
		}
		m := map[string]bool{}
		for _, x := range tr {
			m[x.name] = x.ok
		}
		return m
	}
	// A warm-up ramp and noise within bounds: flat.
	v := verdict(mk(func(i int) int64 {
		if i < 3 {
			return int64(i+1) * 30 << 10
		}
		return 100<<10 + int64(i%2)*5<<10
	}, func(i int) float64 { return 50 + float64(i%3) }))
	if !v["rss"] || !v["goroutines"] || !v["fds"] {
		t.Fatalf("steady series judged %v", v)
	}
	// RSS growing 2% of its start per sample (the thirds' means 108 and 120
	// MiB: +11%) and 5 goroutines leaked per sample (+30 between the means).
	v = verdict(mk(func(i int) int64 { return int64(100<<10) * int64(100+2*i) / 100 },
		func(i int) float64 { return 50 + 5*float64(i) }))
	if v["rss"] || v["goroutines"] || !v["fds"] {
		t.Fatalf("growing rss and goroutines judged %v", v)
	}
	// A fall beyond the tolerance is reported, not hidden.
	v = verdict(mk(func(i int) int64 { return int64(200<<10) - int64(i)*10<<10 }, func(int) float64 { return 50 }))
	if v["rss"] {
		t.Fatalf("falling rss judged flat")
	}
	if _, enough := judge(mk(func(int) int64 { return 1 }, func(int) float64 { return 1 }), 11*time.Second, 10, 20); enough {
		t.Fatalf("one sample after warm-up gave a verdict")
	}
}
