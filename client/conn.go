package client

import (
	"bytes"
	"encoding/json"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-im/parley/wire"
)

// conn is one TCP connection and the requests waiting on it. Its reader
// goroutine routes every frame: object replies by seq, array replies by type
// in request order, pushes to the client.
type conn struct {
	nc  net.Conn
	cli *Client

	wmu sync.Mutex // one frame at a time on the socket

	mu      sync.Mutex
	bySeq   map[uint64]*call
	byType  map[string][]*call // FIFO per type, for replies without seq
	err     error              // why the connection ended; nil while alive
	done    chan struct{}      // closed when the connection has ended
	goaway  bool               // the server said it is going away
	maxCall int

	lastRecv atomic.Int64 // unix nanos of the last frame read
}

// call is one request waiting for its reply.
type call struct {
	seq       uint64
	typ       string
	reply     chan result // capacity 1: the reader never blocks on it
	abandoned bool        // the caller gave up; the reply is discarded (conn.mu)
}

type result struct {
	body []byte
	err  error
}

func newConn(cli *Client, nc net.Conn) *conn {
	c := &conn{
		nc: nc, cli: cli,
		bySeq:   make(map[uint64]*call),
		byType:  make(map[string][]*call),
		done:    make(chan struct{}),
		maxCall: cli.opts.maxInFlight,
	}
	c.lastRecv.Store(time.Now().UnixNano())
	return c
}

// fail ends the connection with err (the first error wins) and fails every
// waiting call with ErrConnLost. Safe to call more than once, from anywhere.
func (c *conn) fail(err error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err = err
	calls := c.bySeq
	c.bySeq, c.byType = nil, nil
	close(c.done)
	c.mu.Unlock()
	_ = c.nc.Close()
	for _, cl := range calls {
		cl.reply <- result{err: ErrConnLost}
	}
}

// alive reports whether the connection has not ended.
func (c *conn) alive() bool {
	select {
	case <-c.done:
		return false
	default:
		return true
	}
}

// register records cl before its frame is written, so a fast reply finds it.
func (c *conn) register(cl *call) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return ErrConnLost
	}
	if len(c.bySeq) >= c.maxCall {
		return ErrTooManyInFlight
	}
	c.bySeq[cl.seq] = cl
	c.byType[cl.typ] = append(c.byType[cl.typ], cl)
	return nil
}

// abandon marks cl as given up. It stays registered until its reply arrives,
// because the replies without seq are matched by position: removing it would
// hand its reply to the next request of the same type.
func (c *conn) abandon(cl *call) {
	c.mu.Lock()
	cl.abandoned = true
	c.mu.Unlock()
}

// request registers cl and writes its frame, both under the write lock, so
// calls are registered in exactly the order their frames go out: replies
// without seq are matched by that order.
func (c *conn) request(cl *call, frame []byte, deadline time.Time) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.register(cl); err != nil {
		return err
	}
	return c.writeLocked(frame, deadline)
}

// write sends one frame that expects no reply.
func (c *conn) write(frame []byte, deadline time.Time) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.writeLocked(frame, deadline)
}

// writeLocked writes under wmu, bounded by deadline so a peer that stopped
// reading cannot block a caller forever. A failed write ends the connection:
// part of the frame may be on the wire and the stream cannot be trusted.
func (c *conn) writeLocked(frame []byte, deadline time.Time) error {
	if !c.alive() {
		return ErrConnLost
	}
	_ = c.nc.SetWriteDeadline(deadline)
	if _, err := c.nc.Write(frame); err != nil {
		c.fail(err)
		return ErrConnLost
	}
	return nil
}

// readLoop reads frames until the connection ends. It runs on its own
// goroutine, one per connection, and never blocks on anything but the socket:
// replies go to channels with room for them, pushes to the inbox, which drops
// rather than waits.
func (c *conn) readLoop() {
	r := wire.NewReader(c.nc, c.cli.opts.maxFrame)
	for {
		body, err := r.ReadFrame()
		if err != nil {
			c.fail(err)
			return
		}
		c.lastRecv.Store(time.Now().UnixNano())
		c.route(body)
	}
}

// header is the part of every reply and push the router looks at.
type header struct {
	Type    string `json:"type"`
	Seq     uint64 `json:"seq"`
	Status  string `json:"status"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Push    string `json:"push"` // set on unsolicited list rows (wire.FriendItem.Push)
}

// route dispatches one frame body.
func (c *conn) route(body []byte) {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 {
		return
	}
	switch trimmed[0] {
	case '[':
		var items []header
		if err := json.Unmarshal(body, &items); err != nil || len(items) == 0 {
			return
		}
		if items[0].Push != "" {
			// A pushed row (a friend request): never the reply to a call,
			// even when it arrives while one of the same type waits.
			return
		}
		c.complete(c.popType(items[0].Type), body)
	case '{':
		var h header
		if err := json.Unmarshal(body, &h); err != nil {
			return
		}
		if h.Seq != 0 {
			c.complete(c.popSeq(h.Seq), body)
			return
		}
		switch {
		case h.Type == wire.TypeReceiveMessage:
			var m wire.Message
			if json.Unmarshal(body, &m) == nil {
				c.cli.inbox.push(m)
			}
		case h.Type == wire.TypeGroupMessage:
			var m wire.GroupMessage
			if json.Unmarshal(body, &m) == nil {
				c.cli.groupPush(m)
			}
		case h.Type == wire.TypeGoAway || h.Code == wire.CodeGoingAway:
			// The server is shutting down (any frame without seq carrying
			// the going_away code counts, whatever its type).
			c.mu.Lock()
			c.goaway = true
			c.mu.Unlock()
			c.fail(&ServerError{Type: h.Type, Code: wire.CodeGoingAway, Message: h.Message})
		case h.Type == wire.TypePong:
			// A heartbeat answer; lastRecv is all it is for.
		case h.Type == wire.TypeSyncHint:
			// The server may have missed pushing us something (a cluster
			// node was cut from the others, or died between storing a
			// message and pushing it): sync now, on this connection,
			// holding later pushes back until then, as after a reconnect,
			// so a message the sync brings comes before them. Only a
			// logged-in client syncs (and so ever ends the hold).
			if c.cli.UserID() != "" {
				c.cli.startSync()
			}
		default:
			// An object reply from a server that does not echo seq.
			c.complete(c.popType(h.Type), body)
		}
	}
	// Anything else (a bare string, a number) is not a Parley frame; the
	// seed client skips such frames too.
}

// popSeq removes and returns the call with seq, or nil.
func (c *conn) popSeq(seq uint64) *call {
	c.mu.Lock()
	defer c.mu.Unlock()
	cl := c.bySeq[seq]
	if cl == nil {
		return nil
	}
	delete(c.bySeq, seq)
	q := c.byType[cl.typ]
	for i, x := range q {
		if x == cl {
			c.byType[cl.typ] = append(q[:i:i], q[i+1:]...)
			break
		}
	}
	return cl
}

// popType removes and returns the oldest call of type typ, or nil (an
// unsolicited list, such as a chat list the server pushes).
func (c *conn) popType(typ string) *call {
	c.mu.Lock()
	defer c.mu.Unlock()
	q := c.byType[typ]
	if len(q) == 0 {
		return nil
	}
	cl := q[0]
	c.byType[typ] = q[1:]
	delete(c.bySeq, cl.seq)
	return cl
}

// complete hands body to cl's caller, unless it gave up.
func (c *conn) complete(cl *call, body []byte) {
	if cl == nil {
		return
	}
	c.mu.Lock()
	abandoned := cl.abandoned
	c.mu.Unlock()
	if !abandoned {
		cl.reply <- result{body: body}
	}
}

// sendPing writes a heartbeat without seq: the pong then carries none either
// and needs no bookkeeping. Any frame read, pong or not, proves the
// connection alive.
func (c *conn) sendPing(timeout time.Duration) error {
	return c.write(pingFrame, time.Now().Add(timeout))
}

var pingFrame = wire.AppendFrame(nil, []byte(`{"type":"ping"}`))

// silentFor is how long nothing has been read.
func (c *conn) silentFor(now time.Time) time.Duration {
	return now.Sub(time.Unix(0, c.lastRecv.Load()))
}

// endedByGoAway reports whether the server announced its shutdown.
func (c *conn) endedByGoAway() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.goaway
}

var errSilent = errors.New("parley: server silent past the heartbeat timeout")
