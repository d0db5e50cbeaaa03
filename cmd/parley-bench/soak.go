package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"math"
	mrand "math/rand/v2"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-im/parley/client"
)

// soakOpts configures the soak scenario: n SDK clients (n/2 friend pairs)
// chatting at rate messages per second in total for duration, the server
// sampled every every.
type soakOpts struct {
	n         int
	duration  time.Duration
	rate      float64
	every     time.Duration
	warmup    time.Duration // 0: auto, min(1m, duration/5)
	rssTol    float64       // percent
	slack     float64       // goroutines and open fds, absolute
	heartbeat time.Duration // the SDK's ping interval
	drain     time.Duration // wait this long for the last deliveries
	out       string
	// cluster, a NATS URL, runs three nodes; the third is killed (SIGKILL)
	// at a third of the run and restarted (soakcluster.go).
	cluster string
}

func soakFlags(fs *flag.FlagSet, o *soakOpts) {
	fs.IntVar(&o.n, "n", 2000, "SDK clients (pairs of friends)")
	fs.DurationVar(&o.duration, "d", 10*time.Minute, "duration of the chatting phase")
	fs.Float64Var(&o.rate, "rate", 200, "messages per second in total (each client sends every n/rate seconds)")
	fs.DurationVar(&o.every, "every", 10*time.Second, "server sample interval")
	fs.DurationVar(&o.warmup, "warmup", 0, "samples ignored by the flatness verdict (0: min(1m, d/5))")
	fs.Float64Var(&o.rssTol, "rss-tol", 10, "flat RSS: last third's mean within this many percent of the first third's")
	fs.Float64Var(&o.slack, "slack", 20, "flat goroutines and open fds: last third's mean within this many of the first third's")
	fs.DurationVar(&o.heartbeat, "heartbeat", client.DefaultPingInterval, "the SDK clients' ping interval")
	fs.DurationVar(&o.drain, "drain", 30*time.Second, "after the last send, wait at most this long for deliveries")
	fs.StringVar(&o.cluster, "cluster", "", "NATS URL: three cluster nodes, clients spread over them; the third is killed at d/3 and restarted (needs -driver postgres)")
}

// soakSample is one look at the server, with the client-side counts of the
// interval that ended with it.
type soakSample struct {
	at                  time.Duration // since the chatting phase began
	rssKiB              int64
	g                   gauges
	sent, recv, errs    int64 // in the interval
	sendP99, deliverP99 time.Duration
}

// gauges are the server's own figures from its admin /metrics.
type gauges struct {
	goroutines, fds, conns, heapBytes float64
}

// scrapeGauges reads them (goroutines and fds must be there; the others
// are informative).
func scrapeGauges(srv *server) (gauges, error) {
	if srv.admin == "" {
		return gauges{}, errors.New("soak needs the server's admin address (-admin) for goroutines and open fds")
	}
	var g gauges
	var err error
	if g.goroutines, err = srv.metric("go_goroutines"); err != nil {
		return g, err
	}
	if g.fds, err = srv.metric("process_open_fds"); err != nil {
		return g, err
	}
	g.conns, _ = srv.metric("parley_connections")
	g.heapBytes, _ = srv.metric("go_memstats_heap_inuse_bytes")
	return g, nil
}

// soakPeer is one SDK client, user idx, chatting with user friendOf(idx).
type soakPeer struct {
	idx int
	c   *client.Client

	mu   sync.Mutex
	ok   []bool  // ok[k]: this user's message k was stored (Send returned its message_id)
	got  []uint8 // got[k]: times the friend's message k reached this user (saturating)
	last int     // the friend's highest k received, for the order check
}

// soakRun is the state of one soak.
type soakRun struct {
	o     soakOpts
	nonce string // marks this run's messages; anything else received is "other"
	peers []*soakPeer

	sent, recv, errs, dups, disorder, other, sdkErrs atomic.Int64

	mu              sync.Mutex
	sendLat, delLat *recorder // the current sample interval
	errText         []string  // the first few distinct errors
}

func (r *soakRun) noteErr(err error) {
	r.mu.Lock()
	if len(r.errText) < 5 && !slices.Contains(r.errText, err.Error()) {
		r.errText = append(r.errText, err.Error())
	}
	r.mu.Unlock()
}

// window returns the latency recorders of the interval that ends now.
func (r *soakRun) window() (send, del *recorder) {
	r.mu.Lock()
	defer r.mu.Unlock()
	send, del = r.sendLat, r.delLat
	r.sendLat, r.delLat = &recorder{}, &recorder{}
	return send, del
}

func (r *soakRun) latency(send bool, d time.Duration) {
	r.mu.Lock()
	rec := r.delLat
	if send {
		rec = r.sendLat
	}
	r.mu.Unlock()
	rec.add(d)
}

// soakResult is what a run found; runSoak also prints it.
type soakResult struct {
	samples                                []soakSample
	idle, after                            gauges // before the logins; after every client closed
	sent, recv, errs, lost, dups, disorder int64
	other, unconfirmed, sdkErrs            int64
	trends                                 []trend
	enough                                 bool // enough samples after warm-up for a verdict
	warmup                                 time.Duration
	chart                                  string
}

// runSoak: n SDK clients log in (resume with the seeded tokens), chat with
// their friends for the duration while the server is sampled, then every
// message stored is checked to have arrived exactly once.
func runSoak(srv *server, o soakOpts) (soakResult, error) {
	var res soakResult
	o.n += o.n % 2
	if o.n < 2 || o.rate <= 0 || o.every <= 0 || o.duration <= 0 {
		return res, errors.New("soak needs -n >= 2, -rate > 0, -every > 0, -d > 0")
	}
	if o.warmup <= 0 {
		o.warmup = min(time.Minute, o.duration/5)
	}
	res.warmup = o.warmup
	if err := setupUsers(srv.db, o.n, true); err != nil {
		return res, err
	}
	if err := srv.run(); err != nil {
		return res, err
	}
	fmt.Printf("server: %s pid %d, %s\n", srv.addr, srv.pid, srv.procLimit())
	time.Sleep(time.Second)
	idle, err := scrapeGauges(srv)
	if err != nil {
		return res, err
	}
	res.idle = idle
	var nonce [4]byte
	_, _ = rand.Read(nonce[:])
	r := &soakRun{o: o, nonce: hex.EncodeToString(nonce[:]), sendLat: &recorder{}, delLat: &recorder{}}
	t0 := time.Now()
	addrs := []string{srv.addr}
	var nodes *soakNodes
	if o.cluster != "" {
		if nodes, err = startSoakNodes(srv); err != nil {
			return res, err
		}
		defer nodes.stop()
		addrs = nodes.addrs()
	}
	if err := r.login(addrs); err != nil {
		r.closeAll()
		return res, err
	}
	defer r.closeAll()
	fmt.Printf("soak: %d SDK clients logged in (resume) in %s (untimed); %.0f msgs/s in total, one per client every %s, for %s\n",
		o.n, time.Since(t0).Round(time.Millisecond), o.rate, r.interval().Round(time.Millisecond), o.duration)
	var readers sync.WaitGroup
	for _, p := range r.peers {
		readers.Add(1)
		go func() { defer readers.Done(); r.receive(p) }()
	}

	start := time.Now()
	end := start.Add(o.duration)
	sending, stop := context.WithDeadline(context.Background(), end)
	var senders sync.WaitGroup
	for _, p := range r.peers {
		senders.Add(1)
		go func() { defer senders.Done(); r.send(sending, p, start) }()
	}
	var fault sync.WaitGroup
	if nodes != nil {
		fault.Add(1)
		go func() { defer fault.Done(); nodes.killAndRestart(start.Add(o.duration/3), o.n) }()
	}
	res.samples, err = r.sample(srv, start, end)
	fault.Wait()
	stop()
	senders.Wait()
	if err != nil {
		return res, err
	}
	t1 := time.Now()
	for lost, _ := r.check(); lost > 0 && time.Since(t1) < o.drain; lost, _ = r.check() {
		time.Sleep(250 * time.Millisecond)
	}
	drained := time.Since(t1)
	r.closeAll()
	readers.Wait()
	res.after = r.afterClose(srv, idle)

	res.sent, res.recv, res.errs = r.sent.Load(), r.recv.Load(), r.errs.Load()
	res.dups, res.disorder, res.other, res.sdkErrs = r.dups.Load(), r.disorder.Load(), r.other.Load(), r.sdkErrs.Load()
	res.lost, res.unconfirmed = r.check()
	res.trends, res.enough = judge(res.samples, o.warmup, o.rssTol, o.slack)
	r.report(&res, drained)
	if o.out != "" {
		res.chart = filepath.Join(o.out, "soak.png")
		if err := soakChart(res, o).save(res.chart); err != nil {
			return res, err
		}
		fmt.Println("chart:", res.chart)
	}
	if res.lost > 0 || res.dups > 0 {
		return res, fmt.Errorf("soak: %d messages lost, %d delivered twice", res.lost, res.dups)
	}
	return res, nil
}

// interval is how often each client sends.
func (r *soakRun) interval() time.Duration {
	return time.Duration(float64(time.Second) * float64(r.o.n) / r.o.rate)
}

// login dials and resumes every client, 64 at a time. With several
// addresses (a cluster), client i starts on addrs[i mod len] and knows the
// others (client.WithAddrs).
func (r *soakRun) login(addrs []string) error {
	r.peers = make([]*soakPeer, r.o.n)
	return parallel(r.o.n, 64, func(i int) error {
		p, err := r.dial(addrs, i)
		if err != nil {
			return fmt.Errorf("login %s: %w", uid(i), err)
		}
		r.peers[i] = p
		return nil
	})
}

func (r *soakRun) dial(addrs []string, i int) (*soakPeer, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var rest []string
	for k := 1; k < len(addrs); k++ {
		rest = append(rest, addrs[(i+k)%len(addrs)])
	}
	c, err := client.Dial(ctx, addrs[i%len(addrs)], client.WithHeartbeat(r.o.heartbeat, 0), client.WithAddrs(rest...),
		client.WithErrorHandler(func(err error) { r.sdkErrs.Add(1); r.noteErr(err) }))
	if err != nil {
		return nil, err
	}
	user, err := c.Resume(ctx, resumeToken(i))
	if err == nil && user != uid(i) {
		err = fmt.Errorf("resumed as %s", user)
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	return &soakPeer{idx: i, c: c, last: -1}, nil
}

// closeAll closes every client (in parallel: Close waits for its goroutines).
func (r *soakRun) closeAll() {
	var wg sync.WaitGroup
	for _, p := range r.peers {
		if p != nil {
			wg.Add(1)
			go func() { defer wg.Done(); p.c.Close() }()
		}
	}
	wg.Wait()
}

// send is client p's sender: one message to its friend every interval from
// a random phase, until ctx ends. The time a message is due is stamped into
// its body; latencies count from it, so a stalled Send shows up as latency.
func (r *soakRun) send(ctx context.Context, p *soakPeer, start time.Time) {
	iv := r.interval()
	phase := mrand.N(iv)
	to := uid(friendOf(p.idx))
	end, _ := ctx.Deadline()
	for k := 0; ; k++ {
		due := start.Add(phase + time.Duration(k)*iv)
		if !due.Before(end) {
			return
		}
		select {
		case <-time.After(time.Until(due)):
		case <-ctx.Done():
			return
		}
		body := fmt.Sprintf("soak %s %d %d %s", r.nonce, p.idx, k, stamp(due))
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, err := p.c.Send(ctx, to, body)
		cancel()
		if err != nil {
			r.errs.Add(1)
			r.noteErr(err)
			continue
		}
		r.latency(true, time.Since(due))
		p.mu.Lock()
		for len(p.ok) <= k {
			p.ok = append(p.ok, false)
		}
		p.ok[k] = true
		p.mu.Unlock()
		r.sent.Add(1)
	}
}

// receive reads p's Messages until Close and counts each of the friend's
// messages of this run: duplicates, order (k increasing), latency.
func (r *soakRun) receive(p *soakPeer) {
	for m := range p.c.Messages() {
		f := strings.Fields(m.Body)
		if len(f) != 6 || f[0] != "soak" || f[1] != r.nonce {
			r.other.Add(1)
			continue
		}
		from, err1 := strconv.Atoi(f[2])
		k, err2 := strconv.Atoi(f[3])
		due, ok := unstamp([]byte(m.Body))
		if err1 != nil || err2 != nil || !ok || from != friendOf(p.idx) || m.From != uid(from) || k < 0 {
			r.other.Add(1)
			continue
		}
		r.latency(false, time.Since(due))
		r.recv.Add(1)
		p.mu.Lock()
		for len(p.got) <= k {
			p.got = append(p.got, 0)
		}
		switch {
		case p.got[k] > 0:
			r.dups.Add(1)
		case k < p.last:
			r.disorder.Add(1)
		default:
			p.last = k
		}
		if p.got[k] < math.MaxUint8 {
			p.got[k]++
		}
		p.mu.Unlock()
	}
}

// check compares what each client stored with what its friend received:
// lost = stored, never received; unconfirmed = received though its Send
// failed (stored before a timeout; not an error of the server).
func (r *soakRun) check() (lost, unconfirmed int64) {
	for _, p := range r.peers {
		f := r.peers[friendOf(p.idx)]
		p.mu.Lock()
		ok := append([]bool(nil), p.ok...)
		p.mu.Unlock()
		f.mu.Lock()
		for k := range max(len(ok), len(f.got)) {
			stored := k < len(ok) && ok[k]
			got := k < len(f.got) && f.got[k] > 0
			switch {
			case stored && !got:
				lost++
			case got && !stored:
				unconfirmed++
			}
		}
		f.mu.Unlock()
	}
	return lost, unconfirmed
}

// sample looks at the server at the start and every interval until end.
func (r *soakRun) sample(srv *server, start, end time.Time) ([]soakSample, error) {
	var out []soakSample
	var prevSent, prevRecv, prevErrs int64
	for at := time.Duration(0); ; at += r.o.every {
		if at > r.o.duration {
			at = r.o.duration
		}
		time.Sleep(time.Until(start.Add(at)))
		rss, err := srv.rssKiB()
		if err != nil {
			return out, err
		}
		g, err := scrapeGauges(srv)
		if err != nil {
			return out, err
		}
		s := soakSample{at: at, rssKiB: rss, g: g}
		sent, recv, errs := r.sent.Load(), r.recv.Load(), r.errs.Load()
		s.sent, s.recv, s.errs = sent-prevSent, recv-prevRecv, errs-prevErrs
		prevSent, prevRecv, prevErrs = sent, recv, errs
		send, del := r.window()
		ss, ds := send.summary("", 0), del.summary("", 0)
		s.sendP99, s.deliverP99 = ss.P99, ds.P99
		out = append(out, s)
		fmt.Printf("sample %s: rss %.1f MiB, goroutines %.0f, fds %.0f, conns %.0f, sent %d, received %d, errors %d\n",
			at, float64(rss)/1024, g.goroutines, g.fds, g.conns, s.sent, s.recv, s.errs)
		if at >= r.o.duration || !start.Add(at).Before(end) {
			return out, nil
		}
	}
}

// afterClose waits until the server has seen every client go (or 15 s) and
// returns its gauges then.
func (r *soakRun) afterClose(srv *server, idle gauges) gauges {
	var g gauges
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		var err error
		if g, err = scrapeGauges(srv); err == nil && g.conns <= idle.conns && g.fds <= idle.fds+r.o.slack {
			break
		}
	}
	return g
}

// soakMetrics are the series the verdict and the chart are about; rel
// means judged in percent (RSS), else in absolute slack.
var soakMetrics = []struct {
	name, unit string
	rel        bool
	v          func(soakSample) float64
}{
	{"rss", "mib", true, func(s soakSample) float64 { return float64(s.rssKiB) / 1024 }},
	{"goroutines", "", false, func(s soakSample) float64 { return s.g.goroutines }},
	{"fds", "", false, func(s soakSample) float64 { return s.g.fds }},
}
