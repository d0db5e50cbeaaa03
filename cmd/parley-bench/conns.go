package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

type connsOpts struct {
	n         int
	heartbeat time.Duration
	hold      time.Duration
	out       string
	cold      bool
	// heapProfile, if set, is where the server's heap profile is saved
	// after the hold.
	heapProfile string
	ws          bool // connect over WebSocket
}

// runConns: C logged-in connections with heartbeats; server memory per
// connection above the idle baseline.
func runConns(srv *server, o connsOpts) error {
	if err := setupUsers(srv.db, o.n, false); err != nil {
		return err
	}
	if err := srv.run(); err != nil {
		return err
	}
	addr, proto := srv.addr, "tcp"
	if o.ws {
		if srv.ws == "" {
			return fmt.Errorf("-ws needs the server's WebSocket address (-ws-addr with -addr)")
		}
		addr, proto = wsURL(srv.ws), "websocket"
	}
	fmt.Printf("server: %s pid %d, %s\n", addr, srv.pid, srv.procLimit())
	time.Sleep(time.Second)
	base, err := srv.rssKiB()
	if err != nil {
		return err
	}
	heapBase := srv.heapInUseKiB()
	idx := make([]int, o.n)
	for i := range idx {
		idx[i] = i
	}
	type point struct {
		conns int
		rss   int64
	}
	var pts []point
	pts = append(pts, point{0, base})
	var opened atomic.Int64
	stopSample := make(chan struct{})
	var sampleWG sync.WaitGroup
	sampleWG.Add(1)
	go func() {
		defer sampleWG.Done()
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-stopSample:
				return
			case <-t.C:
				if r, err := srv.rssKiB(); err == nil {
					pts = append(pts, point{int(opened.Load()), r})
				}
			}
		}
	}()
	t0 := time.Now()
	users := make([]*user, o.n)
	var failed atomic.Int64
	_ = parallel(o.n, 128, func(k int) error { // a failed login is counted, not fatal
		u, err := login(addr, k, 10*time.Minute, true, nil)
		if err != nil {
			failed.Add(1)
			return nil
		}
		users[k] = u
		opened.Add(1)
		return nil
	})
	loginTime := time.Since(t0)
	// Heartbeats: every connection pings once per interval, spread evenly.
	stopHB := make(chan struct{})
	var hbWG sync.WaitGroup
	var pongs, pingErr atomic.Int64
	hbWG.Add(1)
	go func() {
		defer hbWG.Done()
		per := o.heartbeat / time.Duration(max(1, o.n))
		k := 0
		for {
			select {
			case <-stopHB:
				return
			default:
			}
			if u := users[k%o.n]; u != nil {
				if err := u.conn.send(pingBody); err != nil {
					pingErr.Add(1)
				} else if r, err := u.conn.await(5 * time.Second); err == nil && r.ok {
					pongs.Add(1)
				} else {
					pingErr.Add(1)
				}
			}
			k++
			time.Sleep(per)
		}
	}()
	// Hold (heartbeats running) so the server settles: its GC runs and the
	// runtime's background scavenger returns freed pages, as they would in
	// production. Nothing forces a collection in the server.
	time.Sleep(o.hold)
	full, err := srv.rssKiB()
	if err != nil {
		return err
	}
	heapFull := srv.heapInUseKiB()
	if o.heapProfile != "" {
		if err := srv.fetch("/debug/pprof/heap", o.heapProfile); err != nil {
			fmt.Println("heap profile:", err)
		}
	}
	close(stopHB)
	hbWG.Wait()
	close(stopSample)
	sampleWG.Wait()
	pts = append(pts, point{int(opened.Load()), full})
	alive := 0
	for _, u := range users {
		if u != nil {
			select {
			case <-u.conn.done:
			default:
				alive++
			}
		}
	}
	for _, u := range users {
		if u != nil {
			u.conn.close()
		}
	}
	per := float64(full-base) / float64(max(1, alive))
	heapPer := float64(heapFull-heapBase) / float64(max(1, alive))
	rows := [][]string{
		{"connections requested", fmt.Sprint(o.n)},
		{"logged in", fmt.Sprint(opened.Load())},
		{"still open after hold", fmt.Sprint(alive)},
		{"login failures", fmt.Sprint(failed.Load())},
		{"heartbeats ok / failed", fmt.Sprintf("%d / %d", pongs.Load(), pingErr.Load())},
		{"login time (untimed setup)", loginTime.Round(time.Millisecond).String()},
		{"server RSS idle KiB", fmt.Sprint(base)},
		{"server RSS with conns KiB", fmt.Sprint(full)},
		{"KiB per connection (RSS)", fmt.Sprintf("%.2f", per)},
		{"server heap in use idle / with conns KiB", fmt.Sprintf("%d / %d", heapBase, heapFull)},
		{"heap KiB per connection", fmt.Sprintf("%.2f", heapPer)},
	}
	fmt.Printf("\nconns: %d %s connections, heartbeat every %s, held %s\n", o.n, proto, o.heartbeat, o.hold)
	printRows(os.Stdout, []string{"measure", "value"}, rows)
	fmt.Printf("SUMMARY conns proto=%s n=%d open=%d rss_idle=%dKiB rss=%dKiB per_conn=%.2fKiB (target <= 10 KiB) heap_per_conn=%.2fKiB heartbeats_failed=%d\n",
		proto, o.n, alive, base, full, per, heapPer, pingErr.Load())
	if o.out != "" {
		s := series{name: "server rss mib"}
		for _, p := range pts {
			s.x, s.y = append(s.x, float64(p.conns)), append(s.y, float64(p.rss)/1024)
		}
		path := filepath.Join(o.out, "conns-rss.png")
		if err := (chart{title: "conns: server rss vs logged-in connections", xLabel: "connections", yLabel: "mib",
			series: []series{s}}).save(path); err != nil {
			return err
		}
		fmt.Println("chart:", path)
	}
	return nil
}
