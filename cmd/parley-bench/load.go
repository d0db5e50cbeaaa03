package main

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-im/parley/wire"
)

// user is one logged-in bench connection.
type user struct {
	idx  int
	id   string
	conn *benchConn

	mu   sync.Mutex
	sent []time.Time // send times of send_message requests awaiting their reply (FIFO)
}

// loginAll connects and logs users in, at most conc at once (untimed setup
// or warm-up). onPush, if set, is installed on every connection. It returns
// the logged-in users in index order; any failure is an error.
// With resume, users log in with their seeded resume token (no password hash).
func loginAll(addr string, idx []int, conc int, keep, resume bool, h *handlersFor) ([]*user, error) {
	out := make([]*user, len(idx))
	err := parallel(len(idx), conc, func(k int) error {
		u, err := login(addr, idx[k], 10*time.Minute, resume, h)
		if err != nil {
			return fmt.Errorf("login %s: %w", uid(idx[k]), err)
		}
		if keep {
			out[k] = u
		} else {
			u.conn.close()
		}
		return nil
	})
	if err != nil {
		for _, u := range out {
			if u != nil {
				u.conn.close()
			}
		}
		return nil, err
	}
	return out, nil
}

// handlersFor builds per-user callbacks for push and reply frames.
type handlersFor struct {
	push  func(u *user, body []byte, at time.Time)
	reply func(u *user, r reply)
}

// login dials, logs user i in (with its password, or with resume its seeded
// resume token) and waits for the reply. With h.reply set, the first reply
// (the login's) is still returned here.
func login(addr string, i int, timeout time.Duration, resume bool, h *handlersFor) (*user, error) {
	u := &user{idx: i, id: uid(i)}
	loggedIn := make(chan reply, 1)
	var first atomic.Bool
	var onPush func([]byte, time.Time)
	var onReply func(reply)
	if h != nil && h.push != nil {
		onPush = func(b []byte, at time.Time) { h.push(u, b, at) }
	}
	if h != nil && h.reply != nil {
		onReply = func(r reply) {
			if first.CompareAndSwap(false, true) {
				loggedIn <- r
				return
			}
			h.reply(u, r)
		}
	}
	c, err := dialBench(addr, 30*time.Second, onPush, onReply)
	if err != nil {
		return nil, err
	}
	u.conn = c
	req, wantType := loginBody(u.id, passwordOf(i)), wire.TypeLogin
	if resume && roster == nil { // -accounts: the server may not know Parley's resume
		req, wantType = resumeBody(resumeToken(i)), wire.TypeResume
	}
	if err := c.send(req); err != nil {
		c.close()
		return nil, err
	}
	var r reply
	if onReply != nil {
		select {
		case r = <-loggedIn:
		case <-c.done:
			return nil, errConnClosed
		case <-time.After(timeout):
			c.close()
			return nil, errors.New("login timeout")
		}
	} else if r, err = c.await(timeout); err != nil {
		c.close()
		return nil, err
	}
	if !r.ok || r.typ != wantType {
		c.close()
		return nil, fmt.Errorf("login reply %q ok=%v", r.typ, r.ok)
	}
	return u, nil
}

// chatLoad drives 1:1 messages between logged-in friends at a target rate,
// open loop: each message is due at a fixed time whether or not earlier
// ones were answered, and latency is measured from that due time, so a
// stalled server shows up as latency instead of being hidden by a waiting
// sender (coordinated omission).
type chatLoad struct {
	users []*user

	delivered, acks *recorder // replaced at each window
	mu              sync.Mutex
	sentN, ackErr   atomic.Int64
	recvN           atomic.Int64
	lastRecv        atomic.Int64 // unix nanoseconds of the latest delivery
	clientMsgIDs    bool
	seq             atomic.Int64
}

func newChatLoad(cmid bool) *chatLoad {
	return &chatLoad{delivered: &recorder{}, acks: &recorder{}, clientMsgIDs: cmid}
}

// handlers returns the callbacks that measure deliveries and acks.
func (l *chatLoad) handlers() *handlersFor {
	return &handlersFor{
		push: func(u *user, body []byte, at time.Time) {
			if t, ok := unstamp(field(body, "message_body")); ok {
				l.recvN.Add(1)
				l.lastRecv.Store(at.UnixNano())
				l.mu.Lock()
				rec := l.delivered
				l.mu.Unlock()
				rec.add(at.Sub(t))
			}
		},
		reply: func(u *user, r reply) {
			if r.typ != wire.TypeSendMessage {
				return
			}
			u.mu.Lock()
			var t time.Time
			if len(u.sent) > 0 {
				t, u.sent = u.sent[0], u.sent[1:]
			}
			u.mu.Unlock()
			l.mu.Lock()
			rec := l.acks
			l.mu.Unlock()
			if !r.ok {
				l.ackErr.Add(1)
				rec.failed("error reply: " + r.code)
				return
			}
			if !t.IsZero() {
				rec.add(r.at.Sub(t))
			}
		},
	}
}

// window starts a fresh measurement window and returns the previous one.
func (l *chatLoad) window() (delivered, acks *recorder) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delivered, acks = l.delivered, l.acks
	l.delivered, l.acks = &recorder{}, &recorder{}
	return delivered, acks
}

// run sends rate messages per second in total for d, spread over the users
// (each to its friend), from a few pacer goroutines. It returns how many
// were sent and how far behind schedule the pacers fell at worst.
func (l *chatLoad) run(rate float64, d time.Duration) (sent int64, lag time.Duration) {
	pacers := min(len(l.users), 8)
	var wg sync.WaitGroup
	var worstLag atomic.Int64
	var total atomic.Int64
	start := time.Now()
	for p := range pacers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := make([]*user, 0, len(l.users)/pacers+1)
			for i := p; i < len(l.users); i += pacers {
				mine = append(mine, l.users[i])
			}
			interval := time.Duration(float64(time.Second) * float64(pacers) / rate)
			for k := 0; ; k++ {
				due := start.Add(time.Duration(k)*interval + time.Duration(p)*interval/time.Duration(pacers))
				if due.Sub(start) >= d {
					return
				}
				if wait := time.Until(due); wait > 0 {
					time.Sleep(wait)
				} else if -wait > time.Duration(worstLag.Load()) {
					worstLag.Store(int64(-wait))
				}
				u := mine[k%len(mine)]
				cmid := ""
				if l.clientMsgIDs {
					cmid = fmt.Sprintf("b%d", l.seq.Add(1))
				}
				u.mu.Lock()
				u.sent = append(u.sent, due)
				u.mu.Unlock()
				if err := u.conn.send(sendBody(u.id, uid(friendOf(u.idx)), stamp(due), cmid)); err != nil {
					l.ackErr.Add(1)
					continue
				}
				total.Add(1)
			}
		}()
	}
	wg.Wait()
	l.sentN.Add(total.Load())
	return total.Load(), time.Duration(worstLag.Load())
}
