package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

type pingOpts struct {
	conns    int
	window   int // pings in flight per connection
	duration time.Duration
	loops    int  // echo server loops (match the server's transport.loops)
	rounds   int  // alternate parley and echo this many times
	ws       bool // compare WebSocket with TCP instead of parley with echo
	out      string
	profile  string
}

type pingResult struct {
	name   string
	frames int64
	rate   float64
	// cpuPerFrame is the server process's CPU (user + system) per ping, in
	// µs, when its pid is known: unlike the rate, it hardly depends on what
	// else the shared machine runs.
	cpuPerFrame float64
	// benchPerFrame is this load generator's CPU per ping, in µs.
	benchPerFrame float64
	lat           summary
	sorted        []time.Duration
}

// pingRun keeps window pings in flight on each of conns connections for d
// (closed loop: a reply triggers the next ping) and measures round trips.
// A serverPid > 0 also measures that process's CPU per ping.
func pingRun(name, addr string, serverPid int, o pingOpts) (pingResult, error) {
	rec := &recorder{}
	var frames atomic.Int64
	var stop atomic.Bool
	conns := make([]*benchConn, 0, o.conns)
	var wg sync.WaitGroup
	defer func() {
		for _, c := range conns {
			c.close()
		}
	}()
	for range o.conns {
		var mu sync.Mutex
		var sent []time.Time
		var c *benchConn
		onReply := func(r reply) {
			mu.Lock()
			t := sent[0]
			sent = sent[1:]
			again := !stop.Load()
			if again {
				sent = append(sent, time.Now())
			}
			mu.Unlock()
			rec.add(r.at.Sub(t))
			frames.Add(1)
			if again {
				_ = c.send(pingBody)
			} else {
				wg.Done()
			}
		}
		var err error
		c, err = dialBench(addr, 10*time.Second, nil, onReply)
		if err != nil {
			return pingResult{}, err
		}
		conns = append(conns, c)
		wg.Add(o.window)
		for range o.window {
			mu.Lock()
			sent = append(sent, time.Now())
			mu.Unlock()
			if err := c.send(pingBody); err != nil {
				return pingResult{}, err
			}
		}
	}
	// Measure the middle of the run only: skip the first tenth.
	time.Sleep(o.duration / 10)
	rec.mu.Lock()
	rec.lat = rec.lat[:0]
	rec.mu.Unlock()
	pid := strconv.Itoa(serverPid)
	f0, t0, c0, b0 := frames.Load(), time.Now(), procTicks(pid), procTicks("self")
	time.Sleep(o.duration)
	f1, el, c1, b1 := frames.Load(), time.Since(t0), procTicks(pid), procTicks("self")
	stop.Store(true)
	waitTimeout(&wg, 10*time.Second)
	r := pingResult{name: name, frames: f1 - f0, rate: float64(f1-f0) / el.Seconds(),
		lat: rec.summary(name, 0), sorted: rec.sorted()}
	if f1 > f0 {
		r.benchPerFrame = float64(b1-b0) / clockTicks * 1e6 / float64(f1-f0)
	}
	if serverPid > 0 && f1 > f0 {
		r.cpuPerFrame = float64(c1-c0) / clockTicks * 1e6 / float64(f1-f0)
	}
	return r, nil
}

// runPing: ping through parleyd's full default chain and through a bare gev
// echo server with the same framing started here, in the same run,
// alternating -rounds times (parley, echo, parley, echo, ...) so that load
// from other processes on a shared machine hits both alike; the ratio
// reported is the median of the per-round ratios.
//
// With -ws the pair is parley over WebSocket against parley over TCP: the
// same server, chain and handlers, only the framing and its listener differ.
func runPing(srv *server, o pingOpts) error {
	if err := srv.run(); err != nil {
		return err
	}
	names := [2]string{"parley (default chain)", "bare gev echo"}
	echoPid := 0
	addrs := [2]string{srv.addr, ""}
	if o.ws {
		if srv.ws == "" {
			return fmt.Errorf("-ws needs the server's WebSocket address (-ws-addr with -addr)")
		}
		names = [2]string{"parley over WebSocket", "parley over TCP"}
		addrs = [2]string{wsURL(srv.ws), srv.addr}
	} else {
		echo, err := startEchoProcess(o.loops)
		if err != nil {
			return err
		}
		defer echo.stop()
		addrs[1], echoPid = echo.addr, echo.pid
	}
	rounds := max(1, o.rounds)
	var fulls, bares []pingResult
	var ratios []float64
	for r := range rounds {
		var prof chan error
		if o.profile != "" && r == 0 {
			prof = make(chan error, 1)
			go func() { time.Sleep(o.duration / 10); prof <- srv.profile(o.duration, o.profile) }()
		}
		full, err := pingRun(names[0], addrs[0], srv.pid, o)
		if err != nil {
			return err
		}
		if prof != nil {
			if err := <-prof; err != nil {
				fmt.Println("profile:", err)
			}
		}
		barePid := echoPid
		if o.ws {
			barePid = srv.pid
		}
		bare, err := pingRun(names[1], addrs[1], barePid, o)
		if err != nil {
			return err
		}
		fulls, bares = append(fulls, full), append(bares, bare)
		ratios = append(ratios, 100*full.rate/bare.rate)
		if rounds > 1 {
			fmt.Printf("round %d: %s %.0f/s, %s %.0f/s, ratio %.1f%%\n", r+1, names[0], full.rate, names[1], bare.rate, 100*full.rate/bare.rate)
		}
	}
	fmt.Printf("\nping: %d connections x %d in flight, %s each, %d round(s)\n", o.conns, o.window, o.duration, rounds)
	rows := [][]string{}
	for i := range fulls {
		for _, r := range []pingResult{fulls[i], bares[i]} {
			cpu := "-"
			if r.cpuPerFrame > 0 {
				cpu = fmt.Sprintf("%.1f", r.cpuPerFrame)
			}
			rows = append(rows, []string{fmt.Sprint(i + 1), r.name, fmt.Sprintf("%.0f", r.rate), cpu, ms(r.lat.Mean), ms(r.lat.P50),
				ms(r.lat.P90), ms(r.lat.P99), ms(r.lat.Max)})
		}
	}
	printRows(os.Stdout, []string{"round", "server", "frames/s", "server cpu µs/frame", "mean ms", "p50 ms", "p90 ms", "p99 ms", "max ms"}, rows)
	rate := func(rs []pingResult) []float64 {
		out := make([]float64, len(rs))
		for i, r := range rs {
			out[i] = r.rate
		}
		return out
	}
	full, bare := fulls[0], bares[0]
	cpu := func(rs []pingResult) []float64 {
		out := make([]float64, len(rs))
		for i, r := range rs {
			out[i] = r.cpuPerFrame
		}
		return out
	}
	var cpuRatios []float64
	for i := range fulls {
		if bares[i].cpuPerFrame > 0 {
			cpuRatios = append(cpuRatios, 100*fulls[i].cpuPerFrame/bares[i].cpuPerFrame)
		}
	}
	cpuRatio := "n/a (no server pid)"
	if len(cpuRatios) > 0 {
		cpuRatio = fmt.Sprintf("%.1f%% (min %.1f%% max %.1f%%)", med(cpuRatios), slices.Min(cpuRatios), slices.Max(cpuRatios))
	}
	if o.ws {
		fmt.Printf("SUMMARY ping-ws websocket=%.0f frames/s tcp=%.0f frames/s ratio=%.1f%% (median of %d rounds; min %.1f%% max %.1f%%) server cpu/frame websocket=%.1fµs tcp=%.1fµs ratio=%s websocket p99=%sms tcp p99=%sms\n",
			med(rate(fulls)), med(rate(bares)), med(ratios), rounds, slices.Min(ratios), slices.Max(ratios),
			med(cpu(fulls)), med(cpu(bares)), cpuRatio, ms(full.lat.P99), ms(bare.lat.P99))
		return nil
	}
	fmt.Printf("SUMMARY ping parley=%.0f frames/s echo=%.0f frames/s ratio=%.1f%% (median of %d rounds; min %.1f%% max %.1f%%; target >= 75%%) parley p99=%sms echo p99=%sms server cpu/frame parley=%.1fµs echo=%.1fµs ratio=%s (target <= 150%%) bench cpu/frame=%.1fµs load=%.1f\n",
		med(rate(fulls)), med(rate(bares)), med(ratios), rounds, slices.Min(ratios), slices.Max(ratios), ms(full.lat.P99), ms(bare.lat.P99),
		med(cpu(fulls)), med(cpu(bares)), cpuRatio, full.benchPerFrame, loadAvg())
	if o.out != "" {
		path := filepath.Join(o.out, "ping-latency.png")
		if err := (chart{title: fmt.Sprintf("ping round trip: parley %.0f/s vs echo %.0f/s", full.rate, bare.rate),
			xLabel: "latency ms (log)", yLabel: "% of pings", logX: true,
			series: []series{cdf("parley", full.sorted), cdf("bare gev echo", bare.sorted)}}).save(path); err != nil {
			return err
		}
		fmt.Println("chart:", path)
	}
	return nil
}
