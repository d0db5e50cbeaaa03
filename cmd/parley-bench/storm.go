package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-im/parley/wire"
)

type stormOpts struct {
	n            int
	cold         bool          // skip the warm-up: every login runs the password hash
	bg           int           // already-connected users chatting during the storm
	bgRate       float64       // their messages per second, in total
	loginTimeout time.Duration // per login
	pushTimeout  time.Duration // wait for the last push
	out          string        // directory for PNG charts
	profile      string        // server CPU profile of the storm, if set
	profileFor   time.Duration // its duration
}

// runStorm: N clients (registered and paired in an untimed setup step)
// connect and log in at once; once all are in, each sends one message to its
// friend. Reports login response and send -> push delivery like the seed
// README's tables.
func runStorm(srv *server, o stormOpts) error {
	if err := setupUsers(srv.db, o.n+o.bg+o.bg%2, true); err != nil {
		return err
	}
	if err := srv.run(); err != nil {
		return err
	}
	fmt.Printf("server: %s (admin %s) pid %d, %s\n", srv.addr, srv.admin, srv.pid, srv.procLimit())
	idx := make([]int, o.n)
	for i := range idx {
		idx[i] = i
	}
	if !o.cold {
		t0 := time.Now()
		if _, err := loginAll(srv.addr, idx, 64, false, false, nil); err != nil {
			return fmt.Errorf("warm-up: %w", err)
		}
		fmt.Printf("warm-up: %d logins in %s (untimed; fills the verified-credential cache)\n", o.n, time.Since(t0).Round(time.Millisecond))
	}
	var bg *chatLoad
	var bgDone chan struct{}
	if o.bg > 0 {
		bg = newChatLoad(false)
		bidx := make([]int, o.bg+o.bg%2)
		for i := range bidx {
			bidx[i] = o.n + i
		}
		users, err := loginAll(srv.addr, bidx, 64, true, true, bg.handlers())
		if err != nil {
			return fmt.Errorf("background users: %w", err)
		}
		bg.users = users
		defer func() {
			for _, u := range users {
				u.conn.close()
			}
		}()
		bg.run(o.bgRate, 2*time.Second) // settle
		bg.window()
		bgDone = make(chan struct{})
	}

	type result struct {
		conn       *benchConn
		connected  bool
		loginOK    bool
		loginAt    time.Time
		connectDur time.Duration
	}
	res := make([]result, o.n)
	login, connect, deliver, ack := &recorder{}, &recorder{}, &recorder{}, &recorder{}
	var pushed atomic.Int64
	var pushWG sync.WaitGroup
	gate := make(chan struct{})
	var wg sync.WaitGroup
	// Login completions over time, for the login curve.
	var curveMu sync.Mutex
	var curve []time.Duration
	for i := range o.n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			t0 := time.Now()
			onPush := func(body []byte, at time.Time) {
				if t, ok := unstamp(field(body, "message_body")); ok {
					deliver.add(at.Sub(t))
					pushed.Add(1)
					pushWG.Done()
				}
			}
			c, err := dialBench(srv.addr, 60*time.Second, onPush, nil)
			if err != nil {
				connect.failed("dial: " + err.Error())
				login.failed("not connected")
				return
			}
			res[i].conn, res[i].connected = c, true
			connect.add(time.Since(t0))
			t1 := time.Now()
			r, err := loginRetrying(c, loginBody(uid(i), passwordOf(i)), t1.Add(o.loginTimeout))
			if why := failure(r, err, wire.TypeLogin); why != "" {
				login.failed(fmt.Sprintf("%s (after %s)", why, time.Since(t1).Round(time.Minute)))
				return
			}
			login.add(r.at.Sub(t1))
			res[i].loginOK, res[i].loginAt = true, r.at
			curveMu.Lock()
			curve = append(curve, r.at.Sub(t0))
			curveMu.Unlock()
		}()
	}
	var bgRec *recorder
	if bg != nil {
		go func() {
			for {
				select {
				case <-bgDone:
					return
				default:
				}
				bg.run(o.bgRate, time.Second)
			}
		}()
	}
	var prof chan error
	if o.profile != "" {
		// A CPU profile of the login phase and the messages after it.
		prof = make(chan error, 1)
		go func() { prof <- srv.profile(o.profileFor, o.profile) }()
		// Let the request reach the server before the storm does: the
		// login phase is over in a second or two, and a profile that
		// starts behind 10,000 connects misses it.
		time.Sleep(300 * time.Millisecond)
	}
	cpu0 := srv.sampleCPU()
	start := time.Now()
	close(gate)
	wg.Wait()
	loginPhase := time.Since(start)
	cpu1 := srv.sampleCPU()
	fmt.Printf("login phase: %d clients in %s; %s\n", o.n, loginPhase.Round(time.Millisecond), cpuSplit(cpu0, cpu1))
	loginCPU := perOp(cpu0, cpu1, login.okCount())
	fmt.Println(loginCPU.format("login"))

	// Phase 2: every logged-in client whose friend is logged in sends one
	// message, all at once.
	var senders []int
	for i := range res {
		if res[i].loginOK && res[friendOf(i)].loginOK {
			senders = append(senders, i)
		}
	}
	pushWG.Add(len(senders))
	gate2 := make(chan struct{})
	var sendWG sync.WaitGroup
	for _, i := range senders {
		sendWG.Add(1)
		go func() {
			defer sendWG.Done()
			<-gate2
			c := res[i].conn
			t := time.Now()
			if err := c.send(sendBody(uid(i), uid(friendOf(i)), stamp(t), "")); err != nil {
				ack.failed("write: " + err.Error())
				return
			}
			r, err := c.await(o.pushTimeout)
			if why := failure(r, err, wire.TypeSendMessage); why != "" {
				ack.failed(why)
				return
			}
			ack.add(r.at.Sub(t))
		}()
	}
	close(gate2)
	sendWG.Wait()
	waitTimeout(&pushWG, o.pushTimeout)
	cpu2 := srv.sampleCPU()
	fmt.Printf("message phase: %s\n", cpuSplit(cpu1, cpu2))
	msgCPU, userCPU := perOp(cpu1, cpu2, pushed.Load()), perOp(cpu0, cpu2, int64(o.n))
	fmt.Println(msgCPU.format("message"))
	fmt.Println(userCPU.format("storm user"))
	if prof != nil {
		if err := <-prof; err != nil {
			fmt.Println("profile:", err)
		}
	}
	if bg != nil {
		close(bgDone)
		d, _ := bg.window()
		bgRec = d
	}
	for i := range res {
		if res[i].conn != nil {
			res[i].conn.close()
		}
	}

	mode := "warm"
	if o.cold {
		mode = "cold"
	}
	rows := []summary{
		connect.summary("connect", o.n),
		login.summary("login ("+mode+" cache)", o.n),
		ack.summary("send_message reply", len(senders)),
		deliver.summary("delivery (send->push)", o.n),
	}
	if bgRec != nil {
		rows = append(rows, bgRec.summary(fmt.Sprintf("background delivery (%d users)", o.bg), 0))
	}
	fmt.Printf("\nstorm: %d clients, %s credential cache\n", o.n, mode)
	printTable(os.Stdout, rows...)
	for _, f := range []struct {
		name string
		r    *recorder
	}{{"connect", connect}, {"login", login}, {"send_message", ack}} {
		if why := f.r.reasons(); why != "" {
			fmt.Printf("%s failures: %s\n", f.name, why)
		}
	}
	l, d := rows[1], rows[3]
	line := fmt.Sprintf("SUMMARY storm n=%d cache=%s login ok=%.2f%% mean=%sms p99=%sms | delivery ok=%.2f%% mean=%sms p99=%sms | login phase %s",
		o.n, mode, l.successPct(), ms(l.Mean), ms(l.P99), d.successPct(), ms(d.Mean), ms(d.P99), loginPhase.Round(time.Millisecond))
	if bgRec != nil {
		b := rows[4]
		line += fmt.Sprintf(" | background p99=%sms (%d msgs)", ms(b.P99), b.OK)
	}
	line += " | " + loginCPU.summary("login") + " | " + msgCPU.summary("message") + " | " + userCPU.summary("user")
	fmt.Println(line)

	if o.out != "" {
		name := fmt.Sprintf("storm-%d-%s", o.n, mode)
		ch := chart{title: fmt.Sprintf("storm %d clients, %s cache: latency distribution", o.n, mode),
			xLabel: "latency ms (log)", yLabel: "% of requests", logX: true,
			series: []series{cdf("login", login.sorted()), cdf("delivery", deliver.sorted())}}
		if bgRec != nil {
			ch.series = append(ch.series, cdf("background delivery", bgRec.sorted()))
		}
		if err := ch.save(filepath.Join(o.out, name+"-latency.png")); err != nil {
			return err
		}
		curveMu.Lock()
		sortDur(curve)
		s := series{name: "logins completed"}
		step := max(1, len(curve)/400)
		for k := 0; k < len(curve); k += step {
			s.x = append(s.x, curve[k].Seconds())
			s.y = append(s.y, float64(k+1))
		}
		curveMu.Unlock()
		if err := (chart{title: fmt.Sprintf("storm %d clients, %s cache: login curve", o.n, mode),
			xLabel: "seconds since start", yLabel: "logins", series: []series{s}}).save(filepath.Join(o.out, name+"-logins.png")); err != nil {
			return err
		}
		fmt.Printf("charts: %s-latency.png, %s-logins.png in %s\n", name, name, o.out)
	}
	return nil
}

func waitTimeout(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

// loginRetrying sends a login and, while the server answers overloaded (its
// password-hash queue is full: a cold storm), sends it again after a
// jittered backoff from 200 ms doubling to 5 s, as the Go SDK's reconnect
// loop does, until deadline. The latency recorded is the whole wait.
func loginRetrying(c *benchConn, body []byte, deadline time.Time) (reply, error) {
	delay := 200 * time.Millisecond
	for {
		if err := c.send(body); err != nil {
			return reply{}, err
		}
		r, err := c.await(time.Until(deadline))
		if err != nil || r.ok || r.code != wire.CodeOverloaded {
			return r, err
		}
		wait := delay/2 + rand.N(delay/2+1)
		if time.Now().Add(wait).After(deadline) {
			return r, nil
		}
		time.Sleep(wait)
		delay = min(2*delay, 5*time.Second)
	}
}
