package client

import (
	"net"
	"time"
)

// Option configures a Client at Dial.
type Option func(*options)

type options struct {
	dialTimeout    time.Duration
	requestTimeout time.Duration
	pingInterval   time.Duration
	silence        time.Duration
	backoffMin     time.Duration
	backoffMax     time.Duration
	reconnect      bool
	ackDelay       time.Duration
	queue          int
	maxInFlight    int
	maxFrame       uint32
	afterID        int64
	onError        func(error)
	dialer         func(network, addr string, timeout time.Duration) (net.Conn, error)
	addrs          []string // more nodes of the same service (WithAddrs)
}

// Defaults. The heartbeat interval is a third of the server's default
// heartbeat_timeout (45 s), so one lost ping never closes a healthy session.
const (
	DefaultDialTimeout    = 5 * time.Second
	DefaultRequestTimeout = 10 * time.Second
	DefaultPingInterval   = 15 * time.Second
	DefaultBackoffMin     = 200 * time.Millisecond
	DefaultBackoffMax     = 30 * time.Second
	DefaultAckDelay       = time.Second
	DefaultQueue          = 1024
	DefaultMaxInFlight    = 4096
	// syncPage is the page size the client asks sync for; the server caps it.
	syncPage = 500
)

func defaultOptions() options {
	return options{
		dialTimeout:    DefaultDialTimeout,
		requestTimeout: DefaultRequestTimeout,
		pingInterval:   DefaultPingInterval,
		silence:        3 * DefaultPingInterval,
		backoffMin:     DefaultBackoffMin,
		backoffMax:     DefaultBackoffMax,
		reconnect:      true,
		ackDelay:       DefaultAckDelay,
		queue:          DefaultQueue,
		maxInFlight:    DefaultMaxInFlight,
		maxFrame:       64 << 20,
		dialer:         net.DialTimeout,
	}
}

// WithAddrs gives the addresses of more nodes of the same Parley cluster,
// tried after Dial's addr (see Dial): reconnects rotate through all of them.
func WithAddrs(addrs ...string) Option {
	return func(o *options) { o.addrs = append(o.addrs, addrs...) }
}

// WithDialTimeout bounds each TCP connect (the first one and every reconnect).
func WithDialTimeout(d time.Duration) Option { return func(o *options) { o.dialTimeout = d } }

// WithRequestTimeout bounds a call whose context has no deadline (default 10s).
func WithRequestTimeout(d time.Duration) Option { return func(o *options) { o.requestTimeout = d } }

// WithHeartbeat sets how often the client pings (default 15s) and how long a
// connection may stay silent before the client drops it and reconnects
// (default three intervals). interval <= 0 turns heartbeats off: the server
// then treats the connection like the seed client's (no heartbeat timeout).
func WithHeartbeat(interval, silence time.Duration) Option {
	return func(o *options) {
		o.pingInterval = interval
		if silence <= 0 {
			silence = 3 * interval
		}
		o.silence = silence
	}
}

// WithBackoff sets the reconnect delays: the first retry waits about min, each
// further one twice as long, up to max; every delay is jittered (a random
// value between half and all of it) so a server restart is not met by a
// synchronised storm.
func WithBackoff(min, max time.Duration) Option {
	return func(o *options) {
		if min <= 0 {
			min = time.Millisecond
		}
		if max < min {
			max = min
		}
		o.backoffMin, o.backoffMax = min, max
	}
}

// WithoutReconnect makes the client give up when its connection ends: later
// calls return ErrClosed and the Messages channel is closed.
func WithoutReconnect() Option { return func(o *options) { o.reconnect = false } }

// WithAckDelay sets how long after a push the client syncs and acknowledges
// (default 1s). Acknowledging in batches costs the server one query per
// delay, not one per message.
func WithAckDelay(d time.Duration) Option { return func(o *options) { o.ackDelay = d } }

// WithQueue bounds the messages held for a reader of Messages() that is behind
// (default 1024). Pushes beyond it are dropped and fetched again by sync once
// the reader catches up, so a slow reader loses nothing and costs bounded
// memory.
func WithQueue(n int) Option { return func(o *options) { o.queue = max(n, 1) } }

// WithMaxInFlight bounds the requests waiting for replies (default 4096).
func WithMaxInFlight(n int) Option { return func(o *options) { o.maxInFlight = max(n, 1) } }

// WithAfterID starts delivery after message id (a value from Client.Cursor of
// an earlier run), so a program that persists its cursor is not sent its
// history again. Without it the first sync after login starts from the
// beginning.
func WithAfterID(id int64) Option { return func(o *options) { o.afterID = id } }

// WithErrorHandler receives errors the client handles by itself (a failed
// reconnect, a refused resume, a sync that did not complete). It is called
// from the client's goroutines and must not block.
func WithErrorHandler(f func(error)) Option { return func(o *options) { o.onError = f } }

// withDialer replaces net.DialTimeout (tests).
func withDialer(f func(network, addr string, timeout time.Duration) (net.Conn, error)) Option {
	return func(o *options) { o.dialer = f }
}
