package main

import (
	"fmt"
	"os"
	"time"
)

// runChatCross is chat -cross-node: two parleyd nodes of one cluster (one
// PostgreSQL schema, one NATS), and three sets of users logged in at once:
// "same" has both friends of every pair on node A, "split" has every pair on
// one node, half the pairs on A and half on B (the load spread over two
// processes, no message crossing), "cross" has one friend on A and the other
// on B, so every message crosses NATS. All run at the same rate,
// alternating, in one run, so the machine's load is shared alike; the table
// gives each probe and the ratios cross/same and cross/split of delivered
// rate, p99 and server CPU (both nodes) per delivered message: cross/split is
// what NATS costs, split/same what spreading one load over two processes
// costs (smaller group commits, fewer pushes per wake-up).
func runChatCross(srv *server, o chatOpts) error {
	o.users += o.users % 2
	if err := setupUsers(srv.db, 3*o.users, true); err != nil {
		return err
	}
	if err := srv.run(); err != nil {
		return err
	}
	b, err := srv.peer("parleyd-b", "PARLEY_CLUSTER_NODE=b")
	if err != nil {
		return err
	}
	defer b.stop()
	if err := b.run(); err != nil {
		return err
	}
	same, split, cross := newChatLoad(o.cmid), newChatLoad(o.cmid), newChatLoad(o.cmid)
	var sameIdx, splitA, splitB, crossA, crossB []int
	for i := range o.users {
		sameIdx = append(sameIdx, i)
		if j := o.users + i; j%2 == 0 {
			crossA = append(crossA, j)
		} else {
			crossB = append(crossB, j)
		}
		if j := 2*o.users + i; (j/2)%2 == 0 { // pair j/2 on one node
			splitA = append(splitA, j)
		} else {
			splitB = append(splitB, j)
		}
	}
	t0 := time.Now()
	var all []*user
	for _, part := range []struct {
		addr string
		idx  []int
		load *chatLoad
	}{{srv.addr, sameIdx, same}, {srv.addr, splitA, split}, {b.addr, splitB, split}, {srv.addr, crossA, cross}, {b.addr, crossB, cross}} {
		us, err := loginAll(part.addr, part.idx, 64, true, true, part.load.handlers())
		if err != nil {
			return err
		}
		part.load.users = append(part.load.users, us...)
		all = append(all, us...)
	}
	defer func() {
		for _, u := range all {
			u.conn.close()
		}
	}()
	fmt.Printf("chat -cross-node: 3 x %d users logged in in %s (untimed)\n", o.users, time.Since(t0).Round(time.Millisecond))
	layouts := []*chatLoad{same, split, cross}
	for _, l := range layouts {
		l.run(min(o.rate, 1000), time.Second) // warm-up
	}
	time.Sleep(500 * time.Millisecond)

	pids := []int{srv.pid, b.pid}
	probe := func(l *chatLoad) (st chatStep, cpuPerMsg time.Duration) {
		l.window()
		sent0, recv0 := l.sentN.Load(), l.recvN.Load()
		var cpu0 int64
		for _, p := range pids {
			cpu0 += sampleCPU(p).server
		}
		start := time.Now()
		_, lag := l.run(o.rate, o.duration)
		elapsed := time.Since(start)
		for prev := int64(-1); ; { // the tail
			time.Sleep(200 * time.Millisecond)
			n := l.recvN.Load()
			if n == prev || n-recv0 >= l.sentN.Load()-sent0 {
				break
			}
			prev = n
		}
		var cpu1 int64
		for _, p := range pids {
			cpu1 += sampleCPU(p).server
		}
		del, _ := l.window()
		st = chatStep{target: o.rate, sent: l.sentN.Load() - sent0, delivered: l.recvN.Load() - recv0, lag: lag}
		if last := time.Unix(0, l.lastRecv.Load()).Sub(start); last > elapsed {
			elapsed = last
		}
		st.achieved = float64(st.delivered) / elapsed.Seconds()
		st.deliver = del.summary("delivery", int(st.sent))
		if st.delivered > 0 {
			cpuPerMsg = time.Duration((cpu1 - cpu0) * int64(time.Second) / clockTicks / st.delivered)
		}
		return st, cpuPerMsg
	}
	ratio := func(a, b float64) float64 {
		if b == 0 {
			return 0
		}
		return a / b
	}
	type result struct {
		st  chatStep
		cpu time.Duration
	}
	var rows [][]string
	// Per round: cross/same p99, and CPU per message cross/same, cross/split,
	// split/same. Each round's layouts ran back to back under the same load,
	// so a round's ratio is the comparison; the median over rounds resists
	// the machine's other work better than a ratio of sums.
	var ratios [4][]float64
	rounds := max(1, o.rounds)
	for r := range rounds {
		var res [3]result
		for k, l := range layouts {
			st, cpu := probe(l)
			res[k] = result{st, cpu}
			name := [3]string{"same node", "split", "cross node"}[k]
			rows = append(rows, []string{fmt.Sprint(r + 1), name, fmt.Sprintf("%.0f", o.rate), fmt.Sprintf("%.0f", st.achieved),
				fmt.Sprintf("%d/%d", st.delivered, st.sent), ms(st.deliver.P50), ms(st.deliver.P99), ms(st.deliver.Max),
				fmt.Sprintf("%.0f", float64(cpu)/float64(time.Microsecond))})
			time.Sleep(time.Second)
		}
		same, split, cross := res[0], res[1], res[2]
		for i, v := range []float64{
			ratio(float64(cross.st.deliver.P99), float64(same.st.deliver.P99)),
			ratio(float64(cross.cpu), float64(same.cpu)),
			ratio(float64(cross.cpu), float64(split.cpu)),
			ratio(float64(split.cpu), float64(same.cpu)),
		} {
			ratios[i] = append(ratios[i], v)
		}
	}
	fmt.Printf("\nchat -cross-node: %d users per layout, %.0f msgs/s for %s per probe, %d rounds\n", o.users, o.rate, o.duration, rounds)
	printRows(os.Stdout, []string{"round", "layout", "target/s", "delivered/s", "delivered", "p50 ms", "p99 ms", "max ms", "server CPU µs/msg"}, rows)
	fmt.Printf("SUMMARY chat cross-node users=%d rate=%.0f/s rounds=%d (median [min-max] of the rounds' ratios) p99 cross/same=%s cpu-per-msg cross/same=%s cross/split=%s split/same=%s\n",
		o.users, o.rate, rounds, spread(ratios[0]), spread(ratios[1]), spread(ratios[2]), spread(ratios[3]))
	return nil
}
