package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/parley-im/parley/config"
	"github.com/parley-im/parley/db"
	"github.com/parley-im/parley/wire"
)

type groupOpts struct {
	groups, members int
	rate            float64 // group messages per second, in total
	chatRate        float64 // 1:1 messages per second of the comparison run
	duration        time.Duration
	out             string
}

// runGroup: -groups groups of -members members each, every member logged
// in; senders picked round-robin among each group's members send group
// messages at -rate in total for -d (open loop, as chat). It reports, per
// message, the delivery latency to its LAST member (the fan-out's tail),
// and per delivered copy; then, in the same run on the same connections, 1:1
// messages between friends at -chat-rate, and the server CPU per delivered
// copy of both, so the ratio holds whatever else the machine is doing.
func runGroup(srv *server, o groupOpts) error {
	n := o.groups * o.members
	n += n % 2
	if err := setupUsers(srv.db, n, true); err != nil {
		return err
	}
	gids, err := setupGroups(srv.db, o.groups, o.members)
	if err != nil {
		return err
	}
	if err := srv.run(); err != nil {
		return err
	}
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	gl := &groupLoad{members: o.members, gids: gids, msgs: make(map[int64]*groupMsg)}
	chat := newChatLoad(false)
	ch := chat.handlers()
	h := &handlersFor{
		push: func(u *user, body []byte, at time.Time) {
			if string(field(body, "type")) == wire.TypeGroupMessage {
				gl.delivered(body, at)
				return
			}
			ch.push(u, body, at)
		},
		reply: func(u *user, r reply) {
			if r.typ == wire.TypeGroupSend {
				gl.reply(r)
				return
			}
			ch.reply(u, r)
		},
	}
	t0 := time.Now()
	users, err := loginAll(srv.addr, idx, 64, true, true, h)
	if err != nil {
		return err
	}
	defer func() {
		for _, u := range users {
			u.conn.close()
		}
	}()
	gl.users, chat.users = users, users
	fmt.Printf("group: %d users logged in, %d groups of %d, in %s (untimed)\n", len(users), o.groups, o.members,
		time.Since(t0).Round(time.Millisecond))

	gl.run(min(o.rate, 10), time.Second) // warm-up
	gl.settle()
	gl.reset()

	cpu0 := sampleCPU(srv.pid)
	start := time.Now()
	sent, lag := gl.run(o.rate, o.duration)
	gl.settle()
	cpuG := sampleCPU(srv.pid)
	groupCopies := gl.copies.Load()
	last, each := gl.summaries(int(sent))

	chat.window()
	recv0 := chat.recvN.Load()
	chatStart := sampleCPU(srv.pid)
	chatSent, _ := chat.run(o.chatRate, o.duration)
	for prev := int64(-1); ; { // let the tail arrive
		time.Sleep(200 * time.Millisecond)
		got := chat.recvN.Load()
		if got == prev || got-recv0 >= chatSent {
			break
		}
		prev = got
	}
	chatEnd := sampleCPU(srv.pid)
	chatCopies := chat.recvN.Load() - recv0
	chatDel, _ := chat.window()

	perCopy := func(a, b cpuSample, copies int64) float64 {
		if copies == 0 {
			return 0
		}
		return float64(b.server-a.server) / clockTicks * 1e6 / float64(copies) // µs of server CPU
	}
	gUS, cUS := perCopy(cpu0, cpuG, groupCopies), perCopy(chatStart, chatEnd, chatCopies)
	fmt.Printf("\ngroup: %d groups x %d members, %.0f group msgs/s for %s (sent %d, pacer lag %s)\n",
		o.groups, o.members, o.rate, o.duration, sent, lag.Round(time.Millisecond))
	printTable(os.Stdout, gl.acks.summary("group_send reply", int(sent)), last, each,
		chatDel.summary("1:1 delivery", int(chatSent)))
	fmt.Println("group run:", cpuSplit(cpu0, cpuG))
	fmt.Println("1:1 run:  ", cpuSplit(chatStart, chatEnd))
	fmt.Printf("SUMMARY group groups=%d members=%d rate=%.0f/s sent=%d copies=%d last-member p50=%sms p99=%sms max=%sms "+
		"per-copy p99=%sms errors=%d | server CPU per delivered copy: group=%.1fµs 1:1=%.1fµs (1:1 %d copies at %.0f/s) ratio=%.2f (%s)\n",
		o.groups, o.members, o.rate, sent, groupCopies, ms(last.P50), ms(last.P99), ms(last.Max), ms(each.P99),
		gl.errs.Load(), gUS, cUS, chatCopies, o.chatRate, gUS/max(cUS, 1e-9), time.Since(start).Round(time.Second))
	return nil
}

// setupGroups makes each group's first user friends with the others of
// its block of members and creates the groups, directly in the database
// (untimed). Group g holds users g*members .. (g+1)*members-1.
func setupGroups(cfg config.DB, groups, members int) ([]int64, error) {
	start := time.Now()
	ctx := context.Background()
	bdb, err := db.Open(ctx, cfg, zap.NewNop())
	if err != nil {
		return nil, err
	}
	defer bdb.Close()
	st := db.NewStore(bdb, 30*time.Second)
	err = parallel(groups*(members-1), 8, func(k int) error {
		g, m := k/(members-1), k%(members-1)+1
		owner, member := uid(g*members), uid(g*members+m)
		if err := st.RequestFriend(ctx, member, owner); err != nil && !errors.Is(err, db.ErrConflict) {
			return err
		}
		if _, err := st.AcceptFriend(ctx, owner, member, ""); err != nil && !errors.Is(err, db.ErrConflict) {
			return err
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	gids := make([]int64, groups)
	err = parallel(groups, 4, func(g int) error {
		ids := make([]string, 0, members-1)
		for m := 1; m < members; m++ {
			ids = append(ids, uid(g*members+m))
		}
		grp, _, err := st.CreateGroup(ctx, uid(g*members), "bench "+strconv.Itoa(g), ids)
		gids[g] = grp.ID
		return err
	})
	fmt.Printf("setup: %d groups of %d in %s (untimed)\n", groups, members, time.Since(start).Round(time.Millisecond))
	return gids, err
}

// groupLoad sends group messages and measures their deliveries.
type groupLoad struct {
	users   []*user
	members int
	gids    []int64

	mu     sync.Mutex
	msgs   map[int64]*groupMsg // by bench message number
	acks   recorder
	sent   []time.Time // due times of group_send requests awaiting their reply (FIFO over all users)
	each   recorder
	next   atomic.Int64
	copies atomic.Int64
	errs   atomic.Int64
}

// groupMsg is one sent message: when it was due, how many copies arrived
// and when the latest did.
type groupMsg struct {
	due    time.Time
	copies int
	last   time.Time
}

func (l *groupLoad) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.msgs = make(map[int64]*groupMsg)
	l.acks, l.each = recorder{}, recorder{}
	l.copies.Store(0)
	l.errs.Store(0)
}

// delivered records one group_message push: body "bench m=N t=NANOS".
func (l *groupLoad) delivered(body []byte, at time.Time) {
	b := field(body, "body")
	t, ok := unstamp(b)
	i := bytes.Index(b, []byte("m="))
	if !ok || i < 0 {
		return // a system message
	}
	end := bytes.IndexByte(b[i:], ' ')
	num, err := strconv.ParseInt(string(b[i+2:i+end]), 10, 64)
	if err != nil {
		return
	}
	l.copies.Add(1)
	l.each.add(at.Sub(t))
	l.mu.Lock()
	if m := l.msgs[num]; m != nil {
		m.copies++
		if at.After(m.last) {
			m.last = at
		}
	}
	l.mu.Unlock()
}

func (l *groupLoad) reply(r reply) {
	l.mu.Lock()
	var t time.Time
	if len(l.sent) > 0 {
		t, l.sent = l.sent[0], l.sent[1:]
	}
	l.mu.Unlock()
	if !r.ok {
		l.errs.Add(1)
		l.acks.failed("error reply: " + r.code)
		return
	}
	if !t.IsZero() {
		l.acks.add(r.at.Sub(t))
	}
}

// run sends rate group messages per second for d from one pacer: message k
// goes to group k mod groups, from its member (k / groups) mod members.
func (l *groupLoad) run(rate float64, d time.Duration) (int64, time.Duration) {
	start := time.Now()
	interval := time.Duration(float64(time.Second) / rate)
	var worst time.Duration
	var sent int64
	for k := 0; ; k++ {
		due := start.Add(time.Duration(k) * interval)
		if due.Sub(start) >= d {
			break
		}
		if wait := time.Until(due); wait > 0 {
			time.Sleep(wait)
		} else if -wait > worst {
			worst = -wait
		}
		g := k % len(l.gids)
		u := l.users[g*l.members+(k/len(l.gids))%l.members]
		num := l.next.Add(1)
		l.mu.Lock()
		l.msgs[num] = &groupMsg{due: due}
		l.sent = append(l.sent, due)
		l.mu.Unlock()
		body := "bench m=" + strconv.FormatInt(num, 10) + " " + stamp(due)
		req := qtBody(map[string]string{"type": wire.TypeGroupSend, "group_id": strconv.FormatInt(l.gids[g], 10), "body": body})
		if err := u.conn.send(req); err != nil {
			l.errs.Add(1)
			continue
		}
		sent++
	}
	return sent, worst
}

// settle waits until every message has reached every member or deliveries
// stop growing for a second.
func (l *groupLoad) settle() {
	for prev, still := int64(-1), 0; still < 5; {
		time.Sleep(200 * time.Millisecond)
		n := l.copies.Load()
		l.mu.Lock()
		want := int64(len(l.msgs)) * int64(l.members)
		l.mu.Unlock()
		if n >= want {
			return
		}
		if n == prev {
			still++
		} else {
			still = 0
		}
		prev = n
	}
}

// summaries: latency to the last member per message (a message missing a
// copy counts as failed), and per delivered copy.
func (l *groupLoad) summaries(sent int) (last, each summary) {
	var r recorder
	l.mu.Lock()
	for _, m := range l.msgs {
		if m.copies >= l.members {
			r.add(m.last.Sub(m.due))
		} else {
			r.failed("missing copies")
		}
	}
	l.mu.Unlock()
	return r.summary("delivery to the last member", sent), l.each.summary("delivery per copy", 0)
}
