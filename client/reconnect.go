package client

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"
)

// supervise owns the connection for the client's lifetime: it keeps the
// current connection alive (heartbeat, sync, ack) and replaces it when it
// ends. It runs on its own goroutine until Close.
func (c *Client) supervise(cn *conn) {
	defer c.wg.Done()
	c.publish(cn)
	for {
		c.keep(cn)
		c.unpublish(cn)
		if c.ctx.Err() != nil {
			cn.fail(ErrClosed)
			return
		}
		if !c.opts.reconnect {
			c.shutdown()
			return
		}
		cn = c.reconnect(cn.endedByGoAway())
		if cn == nil {
			return
		}
	}
}

// publish makes cn the connection calls use and wakes those waiting.
func (c *Client) publish(cn *conn) {
	c.mu.Lock()
	c.cur = cn
	close(c.ready)
	c.mu.Unlock()
}

// unpublish makes calls wait for the next connection.
func (c *Client) unpublish(cn *conn) {
	c.mu.Lock()
	if c.cur == cn {
		c.cur = nil
		c.ready = make(chan struct{})
	}
	c.mu.Unlock()
}

// reconnect dials until a connection is up and logged in again (when the
// client was logged in), or the client is closed (nil). After a goaway the
// first attempt is immediate: the server asked for it.
func (c *Client) reconnect(goaway bool) *conn {
	for attempt := 0; ; attempt++ {
		delay := c.backoff(attempt)
		if attempt == 0 && goaway {
			delay = 0
		}
		if delay > 0 {
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-c.ctx.Done():
				t.Stop()
				return nil
			}
		}
		if c.ctx.Err() != nil {
			return nil
		}
		// Another node, if there are several: the last one failed us, and
		// a node that said goaway is draining.
		c.turn.Add(1)
		ctx, cancel := context.WithTimeout(c.ctx, c.opts.dialTimeout+c.opts.requestTimeout)
		cn, err := c.connect(ctx)
		if err == nil {
			// The server may have been upgraded while away: ask for sync
			// again even if the last one did not know it.
			c.noSync.Store(false)
			err = c.authenticate(ctx, cn)
			if err != nil {
				cn.fail(err)
			}
		}
		cancel()
		if err == nil {
			c.publish(cn)
			return cn
		}
		if c.ctx.Err() != nil {
			return nil
		}
		c.report(err)
	}
}

// backoff is the jittered delay before reconnect attempt n (from 0): about
// min·2ⁿ, capped at max, uniformly between half of it and all of it.
func (c *Client) backoff(n int) time.Duration {
	d := c.opts.backoffMin
	for i := 0; i < n && d < c.opts.backoffMax; i++ {
		d *= 2
	}
	d = min(d, c.opts.backoffMax)
	half := d / 2
	return half + rand.N(d-half+1)
}

// authenticate restores the login on a fresh connection: resume with the
// token if there is one (no password hash on the server), else log in with
// the remembered password. A refusal of both forgets the credentials; the
// connection is then used unauthenticated and the error reported.
func (c *Client) authenticate(ctx context.Context, cn *conn) error {
	c.mu.Lock()
	user, password, token := c.userID, c.password, c.token
	c.mu.Unlock()
	if user == "" {
		c.inbox.setHold(false)
		return nil
	}
	c.inbox.setHold(true)
	if token != "" {
		_, err := c.resumeOn(ctx, cn, token)
		if err == nil {
			return nil
		}
		if !refused(err) {
			return err
		}
		c.report(err)
		c.mu.Lock()
		if c.token == token {
			c.token = ""
		}
		c.mu.Unlock()
	}
	if password != "" {
		_, err := c.loginOn(ctx, cn, user, password)
		if err == nil || !refused(err) {
			return err
		}
		c.report(err)
	}
	c.mu.Lock()
	c.userID, c.password, c.token = "", "", ""
	c.mu.Unlock()
	c.inbox.setHold(false)
	return nil
}

// refused reports whether err is a definitive "no" to a credential, as
// opposed to a failure worth retrying.
func refused(err error) bool {
	return errors.Is(err, ErrUnauthenticated) || errors.Is(err, ErrBadCredentials) ||
		errors.Is(err, ErrNotFound) || errors.Is(err, ErrInvalid) || errors.Is(err, ErrForbidden)
}

// keep runs the heartbeat and the sync/ack cycle of cn until it ends or the
// client closes.
func (c *Client) keep(cn *conn) {
	var ping <-chan time.Time
	if c.opts.pingInterval > 0 {
		t := time.NewTicker(c.opts.pingInterval)
		defer t.Stop()
		ping = t.C
	}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	armed := false
	arm := func(d time.Duration) {
		if !armed {
			timer.Reset(d)
			armed = true
		}
	}
	needSync := c.UserID() != ""
	for {
		if needSync && cn.alive() {
			needSync = false
			if done, err := c.syncAndAck(cn); err != nil || !done {
				if err != nil && cn.alive() {
					c.report(err)
				}
				// Retry later: the server was unavailable, or the reader
				// of Messages is behind and there is no room yet.
				arm(c.retryDelay())
			}
		}
		select {
		case <-cn.done:
			return
		case <-c.ctx.Done():
			return
		case now := <-ping:
			if c.opts.silence > 0 && cn.silentFor(now) > c.opts.silence {
				cn.fail(errSilent)
				return
			}
			if err := cn.sendPing(c.opts.requestTimeout); err != nil {
				return
			}
		case <-c.inbox.pending:
			if c.inbox.isLost() {
				arm(0)
			} else {
				arm(c.opts.ackDelay)
			}
		case <-c.syncNow:
			needSync = true
		case <-timer.C:
			armed = false
			needSync = c.UserID() != ""
		}
	}
}

func (c *Client) retryDelay() time.Duration {
	return max(c.opts.ackDelay, c.opts.backoffMin)
}

// syncPayload and ackPayload are the sync and ack requests without "type",
// which encodeRequest writes itself.
type syncPayload struct {
	AfterID string `json:"after_id"`
	Limit   int    `json:"limit,omitempty"`
}

type ackPayload struct {
	MessageID string `json:"message_id"`
}

// syncAndAck fetches every message above the cursor into the inbox, then
// acknowledges what the reader has taken. done is false when the inbox had
// no room for all of it (a later round continues). The first complete round
// after a reconnect ends the hold on pushes.
func (c *Client) syncAndAck(cn *conn) (done bool, err error) {
	if c.noSync.Load() {
		// Without sync the floor can only follow the pushes; moving it
		// keeps the dedup set bounded.
		c.inbox.complete(c.inbox.highest())
		c.inbox.setHold(false)
		return true, nil
	}
	upTo := c.inbox.highest()
	after := c.inbox.cursor()
	for {
		if c.inbox.room() <= 0 {
			c.inbox.setHold(false)
			return false, nil
		}
		page, more, err := c.syncPage(cn, after)
		if errors.Is(err, ErrUnknownType) {
			// A server without the extension: pushes are all there is.
			// They are still deduplicated, but nothing missed while
			// disconnected comes back.
			c.noSync.Store(true)
			c.inbox.setHold(false)
			return true, err
		}
		if err != nil {
			return false, err
		}
		if !c.inbox.merge(page) {
			c.inbox.setHold(false)
			return false, nil
		}
		if !more || len(page) == 0 {
			break
		}
		after = c.inbox.cursor()
	}
	c.inbox.complete(upTo)
	c.inbox.setHold(false)
	if err := c.ack(cn); err != nil {
		return true, err
	}
	return true, nil
}

// ack acknowledges everything the reader has taken, if that moved.
func (c *Client) ack(cn *conn) error {
	a := c.inbox.ackable()
	if a < c.inbox.cursor() {
		// Some synced messages are still queued; acknowledge them later.
		signal(c.inbox.pending)
	}
	c.mu.Lock()
	prev := c.acked
	c.mu.Unlock()
	if a <= prev {
		return nil
	}
	ctx, cancel := context.WithTimeout(c.ctx, c.opts.requestTimeout)
	defer cancel()
	if _, err := c.roundTrip(ctx, cn, typeAck, ackPayload{MessageID: formatID(a)}); err != nil {
		return err
	}
	c.mu.Lock()
	c.acked = max(c.acked, a)
	c.mu.Unlock()
	return nil
}
