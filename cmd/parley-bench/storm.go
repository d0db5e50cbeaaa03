package main

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-im/parley/wire"
)

type stormOpts struct {
	n            int
	cold         bool          // skip the warm-up: every login runs the password hash
	coldShare    float64       // mixed storm: this share of the users is not warmed up
	bg           int           // already-connected users chatting during the storm
	bgRate       float64       // their messages per second, in total
	loginTimeout time.Duration // per login
	pushTimeout  time.Duration // wait for the last push
	out          string        // directory for PNG charts
	profile      string        // server CPU profile of the storm, if set
	profileFor   time.Duration // its duration
}

// isCold says whether storm user i is left out of the warm-up: an evenly
// spread share of the users, so cached and cold logins arrive interleaved.
func isCold(i int, share float64) bool {
	return math.Floor(float64(i+1)*share) > math.Floor(float64(i)*share)
}

// Login classes of a mixed storm.
const (
	cached = iota // in the verified-credential cache: one read and an HMAC
	cold          // hashed with argon2id, as after a restart
)

var className = [2]string{"cached", "cold"}

// stormLogins is one login phase: its clients, and what was measured.
type stormLogins struct {
	conns      []*benchConn // nil where the client did not log in
	loginOK    []bool
	connect    *recorder
	login      [2]*recorder // the login reply, per class
	ready      [2]*recorder // login through the catch-up's last chatting reply, per class
	ok         [2]int64     // clients through the whole Qt login, per class
	took       time.Duration
	cpu0, cpu1 cpuSample
	curve      []time.Duration // completions since the start, unsorted
}

// runLogins connects and logs in clients idx at once, each as the Qt client
// does (qtLogin), and measures the server's CPU over the phase. onPush is
// installed on every connection; beforeGate runs just before the clients go.
func runLogins(srv *server, idx []int, coldShare float64, o stormOpts, onPush func([]byte, time.Time), beforeGate func()) *stormLogins {
	p := &stormLogins{conns: make([]*benchConn, o.n), loginOK: make([]bool, o.n), connect: &recorder{}}
	for k := range 2 {
		p.login[k], p.ready[k] = &recorder{}, &recorder{}
	}
	var okN [2]atomic.Int64
	var curveMu sync.Mutex
	gate := make(chan struct{})
	var wg sync.WaitGroup
	for _, i := range idx {
		class := cached
		if isCold(i, coldShare) {
			class = cold
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			t0 := time.Now()
			c, err := dialBench(srv.addr, 60*time.Second, onPush, nil)
			if err != nil {
				p.connect.failed("dial: " + err.Error())
				p.login[class].failed("not connected")
				return
			}
			p.conns[i] = c
			p.connect.add(time.Since(t0))
			t1 := time.Now()
			deadline := t1.Add(o.loginTimeout)
			r, err := loginRetrying(c, loginBody(uid(i), passwordOf(i)), deadline)
			if why := failure(r, err, wire.TypeLogin); why != "" {
				p.login[class].failed(fmt.Sprintf("%s (after %s)", why, time.Since(t1).Round(time.Minute)))
				return
			}
			p.login[class].add(r.at.Sub(t1))
			p.loginOK[i] = true
			done, err := qtCatchUp(c, uid(i), deadline)
			if err != nil {
				p.ready[class].failed(err.Error())
				return
			}
			p.ready[class].add(done.Sub(t1))
			okN[class].Add(1)
			curveMu.Lock()
			p.curve = append(p.curve, done.Sub(t0))
			curveMu.Unlock()
		}()
	}
	if beforeGate != nil {
		beforeGate()
	}
	p.cpu0 = srv.sampleCPU()
	start := time.Now()
	close(gate)
	wg.Wait()
	p.took = time.Since(start)
	p.cpu1 = srv.sampleCPU()
	p.ok = [2]int64{okN[cached].Load(), okN[cold].Load()}
	return p
}

// closeAll closes the phase's connections.
func (p *stormLogins) closeAll() {
	for _, c := range p.conns {
		if c != nil {
			c.close()
		}
	}
}

// qtCatchUp is what the seed's Qt client sends after a login success
// (seed-protocol.md §2.3.1, §2.3.7): get_unread_messages, and for every
// get_unread_messages frame it receives (one per unread message in Parley,
// or the null frame) a chatting request, whose reply loads the chat list.
// It returns when the last chatting reply arrived: the server answers a
// connection's requests in order, so once the first chatting reply is in,
// every get_unread_messages frame is.
func qtCatchUp(c *benchConn, user string, deadline time.Time) (time.Time, error) {
	if err := c.send(userBody(wire.TypeGetUnreadMessages, user)); err != nil {
		return time.Time{}, err
	}
	pending, answered := 0, false
	for !answered || pending > 0 {
		r, err := c.await(time.Until(deadline))
		if err != nil {
			return time.Time{}, fmt.Errorf("catch-up: %w", err)
		}
		if r.code != "" { // an error reply (a null one has no code)
			return time.Time{}, fmt.Errorf("%s: error reply: %s", r.typ, r.code)
		}
		switch r.typ {
		case wire.TypeGetUnreadMessages:
			if err := c.send(userBody(wire.TypeChatting, user)); err != nil {
				return time.Time{}, err
			}
			pending++
		case wire.TypeChatting:
			answered = true
			pending--
			if pending == 0 {
				return r.at, nil
			}
		default:
			return time.Time{}, fmt.Errorf("catch-up: unexpected reply %q", r.typ)
		}
	}
	return time.Time{}, errors.New("catch-up: chatting reply before any get_unread_messages frame")
}

// runStorm: N clients (registered and paired in an untimed setup step)
// connect and log in at once, each as the Qt client does (login,
// get_unread_messages, chatting); once all are in, each sends one message
// to its friend. Reports login response and send -> push delivery like the
// seed README's tables. A mixed storm (-cold-share) first logs only its
// cached users in, as a fully warm storm of them (the reference the mixed
// storm's cached logins are held to), then every user.
func runStorm(srv *server, o stormOpts) error {
	if o.cold {
		o.coldShare = 1
	}
	if o.coldShare < 0 || o.coldShare > 1 {
		return fmt.Errorf("-cold-share %v: want a share between 0 and 1", o.coldShare)
	}
	if err := setupUsers(srv.db, o.n+o.bg+o.bg%2, true); err != nil {
		return err
	}
	if err := srv.run(); err != nil {
		return err
	}
	fmt.Printf("server: %s (admin %s) pid %d, %s\n", srv.addr, srv.admin, srv.pid, srv.procLimit())
	var warmIdx, allIdx []int
	for i := range o.n {
		allIdx = append(allIdx, i)
		if !isCold(i, o.coldShare) {
			warmIdx = append(warmIdx, i)
		}
	}
	if len(warmIdx) > 0 {
		t0 := time.Now()
		if _, err := loginAll(srv.addr, warmIdx, 64, false, false, nil); err != nil {
			return fmt.Errorf("warm-up: %w", err)
		}
		fmt.Printf("warm-up: %d logins in %s (untimed; fills the verified-credential cache)\n", len(warmIdx), time.Since(t0).Round(time.Millisecond))
	}
	mixed := len(warmIdx) > 0 && len(warmIdx) < o.n
	var ref *stormLogins
	if mixed {
		ref = runLogins(srv, warmIdx, 0, o, nil, nil)
		ref.closeAll()
		fmt.Printf("reference, cached users only: %d clients in %s; %s\n", len(warmIdx), ref.took.Round(time.Millisecond), cpuSplit(ref.cpu0, ref.cpu1))
		fmt.Println(perOp(ref.cpu0, ref.cpu1, ref.ok[cached]).format("login"))
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

	deliver, ack := &recorder{}, &recorder{}
	var pushed atomic.Int64
	var pushWG sync.WaitGroup
	var sending atomic.Bool // pushes count from the message phase on
	onPush := func(body []byte, at time.Time) {
		if !sending.Load() {
			return // a catch-up's overflow into pushes (messages of an earlier run)
		}
		if t, ok := unstamp(field(body, "message_body")); ok {
			deliver.add(at.Sub(t))
			pushed.Add(1)
			pushWG.Done()
		}
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
	beforeGate := func() {
		if o.profile == "" {
			return
		}
		// A CPU profile of the login phase and the messages after it.
		prof = make(chan error, 1)
		go func() { prof <- srv.profile(o.profileFor, o.profile) }()
		// Let the request reach the server before the storm does: the
		// login phase is over in a second or two, and a profile that
		// starts behind 10,000 connects misses it.
		time.Sleep(300 * time.Millisecond)
	}
	ph := runLogins(srv, allIdx, o.coldShare, o, onPush, beforeGate)
	cpu0, cpu1 := ph.cpu0, ph.cpu1
	fmt.Printf("login phase: %d clients in %s; %s\n", o.n, ph.took.Round(time.Millisecond), cpuSplit(cpu0, cpu1))
	loginCPU := perOp(cpu0, cpu1, ph.ok[cached]+ph.ok[cold])
	fmt.Println(loginCPU.format("login"))
	if mixed {
		// The cold logins' CPU: the phase's, less its cached logins at
		// the reference storm's cost per login.
		refCPU := perOp(ref.cpu0, ref.cpu1, ref.ok[cached])
		coldCPU := loginCPU
		if n := ph.ok[cold]; n > 0 {
			k := float64(ph.ok[cached])
			all := float64(n) + k
			coldCPU.ops = n
			coldCPU.server = (loginCPU.server*all - refCPU.server*k) / float64(n)
			coldCPU.bench = (loginCPU.bench*all - refCPU.bench*k) / float64(n)
			if coldCPU.db >= 0 && refCPU.db >= 0 {
				coldCPU.db = (loginCPU.db*all - refCPU.db*k) / float64(n)
			}
		}
		fmt.Println(coldCPU.format("cold login") + " (estimated: the phase less its cached logins at the reference's cost)")
	}

	// Phase 2: every logged-in client whose friend is logged in sends one
	// message, all at once.
	var senders []int
	for i := range o.n {
		if ph.loginOK[i] && ph.loginOK[friendOf(i)] {
			senders = append(senders, i)
		}
	}
	pushWG.Add(len(senders))
	sending.Store(true)
	gate2 := make(chan struct{})
	var sendWG sync.WaitGroup
	for _, i := range senders {
		sendWG.Add(1)
		go func() {
			defer sendWG.Done()
			<-gate2
			c := ph.conns[i]
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
	ph.closeAll()

	mode := "warm"
	switch {
	case o.coldShare == 1:
		mode = "cold"
	case mixed:
		mode = fmt.Sprintf("mixed, %.0f%% cold", 100*o.coldShare)
	}
	nClass := [2]int{len(warmIdx), o.n - len(warmIdx)}
	rows := []summary{ph.connect.summary("connect", o.n)}
	var loginRows, readyRows []summary
	for _, k := range []int{cached, cold} {
		if nClass[k] == 0 {
			continue
		}
		if ref != nil && k == cached {
			rows = append(rows, ref.login[cached].summary("login, cached (reference: cached only)", nClass[k]),
				ref.ready[cached].summary("+ catch-up (reference)", nClass[k]))
		}
		loginRows = append(loginRows, ph.login[k].summary("login ("+className[k]+")", nClass[k]))
		readyRows = append(readyRows, ph.ready[k].summary("+ catch-up ("+className[k]+")", nClass[k]))
		rows = append(rows, loginRows[len(loginRows)-1], readyRows[len(readyRows)-1])
	}
	dRow := deliver.summary("delivery (send->push)", len(senders))
	rows = append(rows, ack.summary("send_message reply", len(senders)), dRow)
	if bgRec != nil {
		rows = append(rows, bgRec.summary(fmt.Sprintf("background delivery (%d users)", o.bg), 0))
	}
	fmt.Printf("\nstorm: %d clients, %s credential cache; each logs in as the Qt client does (login, get_unread_messages, chatting)\n", o.n, mode)
	printTable(os.Stdout, rows...)
	failures := []struct {
		name string
		r    *recorder
	}{{"connect", ph.connect}, {"send_message", ack}}
	for _, k := range []int{cached, cold} {
		failures = append(failures, struct {
			name string
			r    *recorder
		}{className[k] + " login", ph.login[k]}, struct {
			name string
			r    *recorder
		}{className[k] + " catch-up", ph.ready[k]})
	}
	for _, f := range failures {
		if why := f.r.reasons(); why != "" {
			fmt.Printf("%s failures: %s\n", f.name, why)
		}
	}
	line := fmt.Sprintf("SUMMARY storm n=%d cache=%s", o.n, strings.ReplaceAll(mode, " ", ""))
	for k, l := range loginRows {
		name := "login"
		if mixed {
			name += " " + className[k]
		}
		line += fmt.Sprintf(" %s ok=%.2f%% mean=%sms p99=%sms |", name, l.successPct(), ms(l.Mean), ms(l.P99))
	}
	line += fmt.Sprintf(" delivery ok=%.2f%% mean=%sms p99=%sms | login phase %s",
		dRow.successPct(), ms(dRow.Mean), ms(dRow.P99), ph.took.Round(time.Millisecond))
	if bgRec != nil {
		b := rows[len(rows)-1]
		line += fmt.Sprintf(" | background p99=%sms (%d msgs)", ms(b.P99), b.OK)
	}
	line += " | " + loginCPU.summary("login") + " | " + msgCPU.summary("message") + " | " + userCPU.summary("user")
	fmt.Println(line)

	if o.out != "" {
		name := fmt.Sprintf("storm-%d-%s", o.n, strings.NewReplacer(" ", "", ",", "-", "%", "").Replace(mode))
		ch := chart{title: fmt.Sprintf("storm %d clients, %s cache: latency distribution", o.n, mode),
			xLabel: "latency ms (log)", yLabel: "% of requests", logX: true}
		for _, k := range []int{cached, cold} {
			if nClass[k] > 0 {
				ch.series = append(ch.series, cdf("login ("+className[k]+")", ph.login[k].sorted()))
			}
		}
		ch.series = append(ch.series, cdf("delivery", deliver.sorted()))
		if bgRec != nil {
			ch.series = append(ch.series, cdf("background delivery", bgRec.sorted()))
		}
		if err := ch.save(filepath.Join(o.out, name+"-latency.png")); err != nil {
			return err
		}
		curve := ph.curve
		sortDur(curve)
		s := series{name: "logins completed"}
		step := max(1, len(curve)/400)
		for k := 0; k < len(curve); k += step {
			s.x = append(s.x, curve[k].Seconds())
			s.y = append(s.y, float64(k+1))
		}
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
