package client

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-im/parley/wire"
)

// Client is a connection to a Parley server that survives disconnects. All
// methods are safe for concurrent use. Close it to stop its goroutines.
type Client struct {
	// addrs are the server's addresses: Dial's first, then WithAddrs'.
	// turn picks the one to dial (turn mod len); a reconnect moves on.
	addrs []string
	turn  atomic.Uint32
	opts  options

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	noSync   atomic.Bool // the server does not know sync/ack
	seq      atomic.Uint64
	msgIDs   atomic.Uint64
	idPrefix string // random per Client, so client_msg_ids never repeat across runs

	inbox   *inbox
	syncNow chan struct{} // capacity 1: a login asks the keeper for a catch-up sync
	// groupPushes carries group_message pushes (GroupMessages); closed by
	// Close once no reader can send.
	groupPushes chan GroupMessage
	closeGroups sync.Once

	mu       sync.Mutex
	cur      *conn         // the usable connection; nil while reconnecting
	ready    chan struct{} // closed when cur becomes usable (replaced on loss)
	closed   bool
	userID   string
	password string // kept to log in again when resuming is not possible
	token    string // resume token from the last login
	acked    int64  // the last id acknowledged to the server
}

// Dial connects to addr ("host:port") and starts the client's background
// work. ctx bounds the first connection attempt only; reconnects after it are
// bounded by the backoff options and stopped by Close.
//
// With WithAddrs the client knows several nodes of one cluster: the first
// connection tries them in order, and every reconnect (after a lost
// connection or a goaway) goes to the next one, so a client of a node that
// died or is draining lands on another at once. A name that resolves to
// several addresses also works as addr: each dial tries them in turn.
func Dial(ctx context.Context, addr string, opts ...Option) (*Client, error) {
	o := defaultOptions()
	for _, f := range opts {
		f(&o)
	}
	var prefix [8]byte
	if _, err := rand.Read(prefix[:]); err != nil {
		return nil, err
	}
	c := &Client{
		addrs:    append([]string{addr}, o.addrs...),
		opts:     o,
		idPrefix: hex.EncodeToString(prefix[:]),
		inbox:    newInbox(o.queue, o.afterID),
		ready:    make(chan struct{}),
		syncNow:  make(chan struct{}, 1),
		acked:    o.afterID,

		groupPushes: make(chan GroupMessage, o.queue),
	}
	cn, err := c.connect(ctx)
	for i := 1; err != nil && i < len(c.addrs) && ctx.Err() == nil; i++ {
		c.turn.Add(1)
		cn, err = c.connect(ctx)
	}
	if err != nil {
		return nil, err
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.wg.Add(2)
	go func() { defer c.wg.Done(); c.inbox.deliver(c.ctx) }()
	go c.supervise(cn)
	return c, nil
}

// connect opens a TCP connection and starts its reader.
func (c *Client) connect(ctx context.Context) (*conn, error) {
	timeout := c.opts.dialTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(dl))
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	addr := c.addrs[int(c.turn.Load())%len(c.addrs)]
	nc, err := c.opts.dialer("tcp", addr, timeout)
	if err != nil {
		return nil, fmt.Errorf("parley: dial %s: %w", addr, err)
	}
	cn := newConn(c, nc)
	c.wg.Add(1)
	go func() { defer c.wg.Done(); cn.readLoop() }()
	return cn, nil
}

// Close ends the connection and stops every goroutine of the client; the
// Messages channel is closed. Calls in progress return ErrClosed.
func (c *Client) Close() error {
	c.shutdown()
	c.wg.Wait()
	c.closeGroups.Do(func() { close(c.groupPushes) })
	return nil
}

// shutdown marks the client closed and stops its work without waiting, so
// the client's own goroutines may call it (WithoutReconnect).
func (c *Client) shutdown() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	cur := c.cur
	c.mu.Unlock()
	c.cancel()
	if cur != nil {
		cur.fail(ErrClosed)
	}
}

// Messages returns the channel of received messages: pushes and messages
// fetched by sync, each exactly once, oldest first. It is closed by Close.
// Read it continuously; while it is not read, the client holds at most
// WithQueue messages and fetches the rest later.
func (c *Client) Messages() <-chan Message { return c.inbox.out }

// UserID is the logged-in user, or "".
func (c *Client) UserID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.userID
}

// Token is the current resume token, or "".
func (c *Client) Token() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.token
}

// Cursor is the id up to which every message has been delivered and
// acknowledged. Persist it and pass it to WithAfterID to continue from there
// in another run.
func (c *Client) Cursor() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.acked
}

// current waits for a usable connection.
func (c *Client) current(ctx context.Context) (*conn, error) {
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return nil, ErrClosed
		}
		cur, ready := c.cur, c.ready
		c.mu.Unlock()
		if cur != nil && cur.alive() {
			return cur, nil
		}
		select {
		case <-ready:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-c.ctx.Done():
			return nil, ErrClosed
		}
	}
}

// withTimeout applies the default request timeout to a context without one.
func (c *Client) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, c.opts.requestTimeout)
}

// do sends one request and returns the reply body. retry says the request is
// safe to repeat: if the connection breaks before the reply, it is sent
// again on the next connection, until ctx ends.
func (c *Client) do(ctx context.Context, typ string, payload any, retry bool) ([]byte, error) {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	for {
		cn, err := c.current(ctx)
		if err != nil {
			return nil, err
		}
		body, err := c.roundTrip(ctx, cn, typ, payload)
		if errors.Is(err, ErrConnLost) && retry {
			if c.isClosed() {
				return nil, ErrClosed
			}
			continue
		}
		return body, err
	}
}

func (c *Client) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// roundTrip sends one request on cn and waits for its reply or an error
// reply (returned as *ServerError).
func (c *Client) roundTrip(ctx context.Context, cn *conn, typ string, payload any) ([]byte, error) {
	seq := c.seq.Add(1)
	frame, err := encodeRequest(typ, seq, payload)
	if err != nil {
		return nil, err
	}
	cl := &call{seq: seq, typ: typ, reply: make(chan result, 1)}
	deadline, _ := ctx.Deadline()
	if err := cn.request(cl, frame, deadline); err != nil {
		return nil, err
	}
	select {
	case r := <-cl.reply:
		if r.err != nil {
			if c.isClosed() {
				return nil, ErrClosed
			}
			return nil, r.err
		}
		return r.body, replyError(typ, r.body)
	case <-ctx.Done():
		cn.abandon(cl)
		return nil, ctx.Err()
	}
}

// encodeRequest frames {"type": typ, "seq": seq, ...payload's fields}.
func encodeRequest(typ string, seq uint64, payload any) ([]byte, error) {
	head := fmt.Appendf(nil, `{"type":%q,"seq":%d`, typ, seq)
	if payload != nil {
		b, err := json.Marshal(payload)
		if err != nil {
			return nil, err
		}
		if len(b) < 2 || b[0] != '{' {
			return nil, fmt.Errorf("parley: %s payload is not an object", typ)
		}
		if len(b) > 2 {
			head = append(head, ',')
			head = append(head, b[1:len(b)-1]...)
		}
	}
	head = append(head, '}')
	return wire.AppendFrame(nil, head), nil
}

// replyError turns a reply that is not a success into a *ServerError. List
// replies in the seed's "null" style (no rows) are successes: the caller
// sees an empty list.
func replyError(typ string, body []byte) error {
	var h header
	if len(body) > 0 && body[0] == '[' {
		var items []header
		if err := json.Unmarshal(body, &items); err != nil || len(items) == 0 {
			return &ServerError{Type: typ, Code: wire.CodeInternal, Message: "unreadable reply"}
		}
		h = items[0]
	} else if err := json.Unmarshal(body, &h); err != nil {
		return &ServerError{Type: typ, Code: wire.CodeInternal, Message: "unreadable reply"}
	}
	switch h.Status {
	case wire.StatusSuccess:
		return nil
	case wire.StatusNull:
		if h.Code == "" && (typ == wire.TypeFriends || typ == wire.TypeChatting || typ == wire.TypeGetUnreadMessages) {
			return nil
		}
	}
	code := h.Code
	if code == "" {
		code = seedCode(typ, h.Status)
	}
	return &ServerError{Type: typ, Code: code, Message: h.Message}
}

// seedCode names the failure of a seed-style reply, which carries no code.
func seedCode(typ, status string) string {
	switch {
	case typ == wire.TypeLogin:
		return wire.CodeBadCredentials
	case status == wire.StatusNull:
		return wire.CodeNotFound
	}
	return wire.CodeInternal
}

// report passes an error the client handled by itself to WithErrorHandler.
func (c *Client) report(err error) {
	if c.opts.onError != nil && err != nil {
		c.opts.onError(err)
	}
}
