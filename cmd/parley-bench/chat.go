package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"
)

type chatOpts struct {
	users    int
	rate     float64
	duration time.Duration
	findMax  bool
	p99Max   time.Duration // find-max: the latency bound
	step     time.Duration // find-max: duration of each probe
	cmid     bool
	out      string
	profile  string // CPU profile of the server during the (first) run
	// crossNode, a NATS URL, runs the cross-node comparison (runChatCross).
	crossNode string
	rounds    int // -cross-node: how many times the layouts alternate
}

type chatStep struct {
	target, achieved float64
	sent, delivered  int64
	ackErr           int64
	deliver, ack     summary
	lag              time.Duration
	cpu              string // where the CPU went while sending (cpuSplit)
	perMsg           opCPU  // CPU per delivered message, sending window and tail
}

func (s chatStep) pass(p99Max time.Duration) bool {
	return s.ackErr == 0 && s.delivered >= s.sent*999/1000 && s.deliver.P99 <= p99Max && s.achieved >= 0.98*s.target
}

// runChat: K logged-in users exchange 1:1 messages at a target rate for a
// duration; with -find-max, the highest rate whose delivery p99 stays within
// the bound, by doubling and then bisecting.
func runChat(srv *server, o chatOpts) error {
	o.users += o.users % 2
	if err := setupUsers(srv.db, o.users, true); err != nil {
		return err
	}
	if err := srv.run(); err != nil {
		return err
	}
	idx := make([]int, o.users)
	for i := range idx {
		idx[i] = i
	}
	load := newChatLoad(o.cmid)
	t0 := time.Now()
	users, err := loginAll(srv.addr, idx, 64, true, true, load.handlers())
	if err != nil {
		return err
	}
	defer func() {
		for _, u := range users {
			u.conn.close()
		}
	}()
	load.users = users
	fmt.Printf("chat: %d users logged in in %s (untimed)\n", len(users), time.Since(t0).Round(time.Millisecond))
	load.run(min(o.rate, 1000), time.Second) // warm the server's caches and pools
	time.Sleep(500 * time.Millisecond)
	load.window()

	probe := func(rate float64, d time.Duration) chatStep {
		load.window()
		sent0, err0 := load.sentN.Load(), load.ackErr.Load()
		recv0 := load.recvN.Load()
		cpu0 := srv.sampleCPU()
		start := time.Now()
		var prof chan error
		if o.profile != "" {
			prof = make(chan error, 1)
			p := o.profile
			o.profile = ""
			go func() { prof <- srv.profile(d, p) }()
		}
		_, lag := load.run(rate, d)
		elapsed := time.Since(start)
		cpu := cpuSplit(cpu0, srv.sampleCPU()) // the sending window only
		// Let the tail arrive: wait until deliveries stop growing.
		for prev := int64(-1); ; {
			time.Sleep(200 * time.Millisecond)
			n := load.recvN.Load()
			if n == prev || n-recv0 >= load.sentN.Load()-sent0 {
				break
			}
			prev = n
		}
		// CPU per message counts the tail too: the work of a message sent
		// late in the window is done after it.
		cpuEnd := srv.sampleCPU()
		if prof != nil {
			if err := <-prof; err != nil {
				fmt.Println("profile:", err)
			}
		}
		del, ack := load.window()
		st := chatStep{target: rate, sent: load.sentN.Load() - sent0, ackErr: load.ackErr.Load() - err0,
			delivered: load.recvN.Load() - recv0, lag: lag, cpu: cpu}
		st.perMsg = perOp(cpu0, cpuEnd, st.delivered)
		// The delivered rate counts until the last delivery, not until the
		// last send: a server that falls behind delivers the backlog after
		// the pacers stop, and dividing by the send window alone would
		// report the offered rate instead of what the server sustained.
		if last := time.Unix(0, load.lastRecv.Load()).Sub(start); last > elapsed {
			elapsed = last
		}
		st.achieved = float64(st.delivered) / elapsed.Seconds()
		st.deliver = del.summary("delivery", int(st.sent))
		st.ack = ack.summary("send_message reply", int(st.sent))
		return st
	}

	var steps []chatStep
	if !o.findMax {
		st := probe(o.rate, o.duration)
		steps = append(steps, st)
		fmt.Printf("\nchat: %d users, target %.0f msgs/s for %s\n", o.users, o.rate, o.duration)
		printTable(os.Stdout, st.ack, st.deliver)
		fmt.Println(st.cpu)
		fmt.Println(st.perMsg.format("message"))
		fmt.Printf("SUMMARY chat users=%d target=%.0f/s delivered=%.0f/s (%d/%d) errors=%d p50=%sms p99=%sms max=%sms pacer-lag=%s %s\n",
			o.users, o.rate, st.achieved, st.delivered, st.sent, st.ackErr, ms(st.deliver.P50), ms(st.deliver.P99),
			ms(st.deliver.Max), st.lag.Round(time.Millisecond), st.perMsg.summary("message"))
	} else {
		lo, hi := 0.0, 0.0
		rate := o.rate
		for i := 0; i < 12; i++ {
			st := probe(rate, o.step)
			steps = append(steps, st)
			fmt.Printf("probe %.0f/s: delivered %.0f/s p99 %sms errors %d -> %v; %s; %s\n", rate, st.achieved, ms(st.deliver.P99), st.ackErr, st.pass(o.p99Max), st.cpu, st.perMsg.summary("message"))
			if st.pass(o.p99Max) {
				lo = rate
			} else {
				hi = rate
			}
			switch {
			case hi == 0:
				rate *= 2
			case hi-lo <= 0.1*hi || i >= 11:
				i = 99
			default:
				rate = (lo + hi) / 2
			}
			time.Sleep(time.Second)
		}
		rows := [][]string{}
		for _, s := range steps {
			rows = append(rows, []string{fmt.Sprintf("%.0f", s.target), fmt.Sprintf("%.0f", s.achieved),
				fmt.Sprint(s.sent), fmt.Sprint(s.delivered), fmt.Sprint(s.ackErr), ms(s.deliver.P50),
				ms(s.deliver.P90), ms(s.deliver.P99), ms(s.deliver.Max), fmt.Sprint(s.pass(o.p99Max))})
		}
		fmt.Printf("\nchat find-max: %d users, p99 <= %s, %s per probe\n", o.users, o.p99Max, o.step)
		printRows(os.Stdout, []string{"target/s", "delivered/s", "sent", "delivered", "errors", "p50 ms", "p90 ms", "p99 ms", "max ms", "pass"}, rows)
		fmt.Printf("SUMMARY chat find-max users=%d best=%.0f msgs/s with p99<=%s (first failing probe %.0f/s)\n", o.users, lo, o.p99Max, hi)
	}
	if o.out != "" && len(steps) > 0 {
		s := series{name: "p99 delivery ms"}
		s2 := series{name: "p50 delivery ms"}
		sorted := slices.Clone(steps)
		slices.SortFunc(sorted, func(a, b chatStep) int { return int(a.achieved - b.achieved) })
		for _, st := range sorted {
			s.x, s.y = append(s.x, st.achieved), append(s.y, float64(st.deliver.P99)/1e6)
			s2.x, s2.y = append(s2.x, st.achieved), append(s2.y, float64(st.deliver.P50)/1e6)
		}
		path := filepath.Join(o.out, fmt.Sprintf("chat-%s.png", srv.db.Driver))
		if err := (chart{title: "chat: delivery latency vs delivered rate (" + srv.db.Driver + ")",
			xLabel: "delivered msgs/s", yLabel: "ms", series: []series{s, s2}}).save(path); err != nil {
			return err
		}
		fmt.Println("chart:", path)
	}
	return nil
}
