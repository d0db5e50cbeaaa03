package cluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"hash/maphash"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/zap"

	"github.com/parley-im/parley/config"
	"github.com/parley-im/parley/internal/boundmap"
	"github.com/parley-im/parley/session"
	"github.com/parley-im/parley/wire"
)

// Operations, the first byte of every message on a user's subject.
const (
	opDeliver = 'd' // the rest is a push body for every session of the user
	// opMessage is opDeliver for a stored message whose sender's node
	// counted it as reached: a node that holds the subscription but no
	// session any more answers "0" to the reply subject (a miss) unless
	// another node holds the user, and otherwise stays silent.
	opMessage = 'm'
	opOnline  = 'o' // a presence probe: answered only by a node holding the user
)

// Control events on prefix.ctl, the first byte of the message.
const (
	ctlRevoke = 'r' // the rest is a user id whose tokens were revoked
	ctlResync = 's' // a node regained NATS: every node re-offers what may have been missed
)

// Lanes that carry pushes from NATS to local sessions. A user's subscription
// always feeds the same lane, so one user's pushes stay in order; different
// users are delivered in parallel.
const (
	lanes = 4
	// laneDepth bounds the pushes waiting for a lane; past it NATS drops
	// (a slow consumer, counted) instead of growing without bound.
	laneDepth = 8192
	subShards = 64
	// remoteEntries and remoteTTL size the cache of users known to be
	// online on another node (Directory.remote).
	remoteEntries = 1 << 16
	remoteTTL     = time.Second
	// resyncWorkers bounds the users resynced at once after an outage: each
	// costs a query or two, and the database also serves live traffic.
	resyncWorkers = 4
)

// Hooks are what the directory calls back into the rest of the server. They
// are given at Start, when the handlers exist (the handlers need the
// directory first).
type Hooks struct {
	// Resync re-offers to the live sessions of a local user whatever they
	// may have missed while this node or another was cut from NATS.
	Resync func(ctx context.Context, userID string)
	// Revoke forgets what this node caches for a user whose tokens were
	// revoked (credentials); the directory then closes their sessions.
	Revoke func(userID string)
	// Undeliver gives a message that DeliverMessage counted as reached on
	// another node, but that no session there took, back to its receiver's
	// next catch-up (its delivered flag back to false).
	Undeliver func(ctx context.Context, messageID int64) error
}

// Directory is the session directory of one node of a cluster: local
// sessions through a session.Registry, other nodes' through NATS. It
// satisfies handlers.SessionDirectory (Bind, Online, Deliver).
type Directory struct {
	cfg   config.Cluster
	local *session.Registry
	log   *zap.Logger
	node  string

	mu    sync.Mutex // guards nc and hooks during Start/Stop
	nc    *nats.Conn
	hooks Hooks
	ctx   context.Context // cancelled by Stop; bounds resyncs
	stop  context.CancelFunc
	lanes [lanes]chan *nats.Msg
	wg    sync.WaitGroup
	// misses is this node's inbox for missed pushes: DeliverMessage's
	// reply subject is misses.<message id>.<user>, answered only when nobody
	// took the push (by the holding node, or by NATS itself when no node
	// subscribes to the user).
	misses string

	seed maphash.Seed
	subs [subShards]subShard

	// remote remembers, for remoteTTL, users another node confirmed it
	// holds (a probe or a delivery answered), so a conversation costs one
	// NATS round trip per message (the delivery), not two (probe and
	// delivery). Only "online" is remembered: a stale "online" costs at
	// worst a push that reaches nobody, which the handlers then give back
	// to the next catch-up; a stale "offline" would delay live messages.
	remote *boundmap.Map[string, int64]

	resyncing   atomic.Bool
	resyncAgain atomic.Bool

	stats counters
}

type subShard struct {
	mu   sync.Mutex
	subs map[string]*nats.Subscription
}

// counters are the directory's metrics (Stats).
type counters struct {
	publishFailures atomic.Uint64
	timeouts        atomic.Uint64
	misses          atomic.Uint64
	disconnects     atomic.Uint64
	reconnects      atomic.Uint64
	remotePushes    atomic.Uint64
	subscribes      atomic.Uint64
	unsubscribes    atomic.Uint64
	subscriptions   atomic.Int64
	resyncs         atomic.Uint64
	revokes         atomic.Uint64
	dropped         atomic.Uint64
}

// Stats is a snapshot of the directory's counters.
type Stats struct {
	Connected       bool
	PublishFailures uint64 // publishes and requests NATS refused (disconnected, closed)
	Timeouts        uint64 // deliveries no node confirmed within deliver_timeout
	Misses          uint64 // message pushes handed to NATS that no session took (given back to the catch-up)
	Disconnects     uint64
	Reconnects      uint64
	RemotePushes    uint64 // pushes received from other nodes
	Subscribes      uint64 // user subscriptions made (logins that were a user's first here)
	Unsubscribes    uint64
	Subscriptions   int64  // user subscriptions now: users online on this node
	Resyncs         uint64 // users re-offered missed messages after an outage
	Revokes         uint64 // revoke events applied
	Dropped         uint64 // pushes from NATS dropped because a lane was full
}

// New returns the directory of this node. It does not connect: Start does.
func New(cfg config.Cluster, log *zap.Logger) *Directory {
	if log == nil {
		log = zap.NewNop()
	}
	d := &Directory{cfg: cfg, log: log, seed: maphash.MakeSeed()}
	d.node = cfg.Node
	if d.node == "" {
		d.node, _ = os.Hostname()
	}
	for i := range d.subs {
		d.subs[i].subs = make(map[string]*nats.Subscription)
	}
	for i := range d.lanes {
		d.lanes[i] = make(chan *nats.Msg, laneDepth)
	}
	d.local = session.NewRegistry(session.WithPresence(d.presence))
	d.remote = boundmap.New[string, int64](remoteEntries, remoteTTL, boundmap.String)
	d.ctx, d.stop = context.WithCancel(context.Background())
	return d
}

// Local is the registry of this node's sessions: transport adds and removes
// them there; everything that pushes goes through the Directory.
func (d *Directory) Local() *session.Registry { return d.local }

// Node is this node's name.
func (d *Directory) Node() string { return d.node }

// Start connects to NATS and starts serving other nodes' pushes. A NATS that
// cannot be reached does not stop the node: it serves its local users and
// keeps trying (RetryOnFailedConnect), reporting itself degraded meanwhile.
func (d *Directory) Start(hooks Hooks) error {
	opts := []nats.Option{
		// Publishes fail at once while disconnected instead of being
		// buffered: a buffered push would reach the other node late and
		// unconfirmed, while a failed one leaves the message undelivered
		// in the database for the resync after reconnecting.
		nats.ReconnectBufSize(-1),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(500 * time.Millisecond),
		// A NATS server that hangs without closing the socket is noticed
		// within about three intervals.
		nats.PingInterval(5 * time.Second),
		nats.MaxPingsOutstanding(2),
		nats.ConnectHandler(func(*nats.Conn) {
			d.log.Info("cluster: connected to NATS")
			// A node that started without NATS may have stored messages
			// for other nodes' users, or taken logins, meanwhile.
			if d.local.Users() > 0 || d.stats.publishFailures.Load() > 0 {
				d.regained()
			}
		}),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if d.ctx.Err() != nil {
				return // our own Stop
			}
			d.stats.disconnects.Add(1)
			d.log.Warn("cluster: NATS connection lost; local delivery goes on, cross-node pushes wait for the resync", zap.Error(err))
		}),
		nats.ReconnectHandler(func(*nats.Conn) {
			d.stats.reconnects.Add(1)
			d.log.Info("cluster: reconnected to NATS; resyncing online sessions")
			d.regained()
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			if errors.Is(err, nats.ErrSlowConsumer) {
				d.stats.dropped.Add(1)
			}
			d.log.Warn("cluster: NATS error", zap.Error(err))
		}),
	}
	d.mu.Lock()
	d.hooks = hooks
	d.mu.Unlock()
	for i := range d.lanes {
		d.wg.Add(1)
		go d.serveLane(d.lanes[i])
	}
	nc, err := connect(d.cfg, "parleyd "+d.node, true, opts...)
	if err != nil {
		d.stop()
		d.wg.Wait()
		return err
	}
	if _, err := nc.Subscribe(d.subject("ctl"), d.control); err != nil {
		nc.Close()
		return fmt.Errorf("cluster: subscribing to control events: %w", err)
	}
	if _, err := nc.Subscribe(d.subject("many"), d.many); err != nil {
		nc.Close()
		return fmt.Errorf("cluster: subscribing to fan-outs: %w", err)
	}
	misses := nc.NewInbox()
	if _, err := nc.Subscribe(misses+".*.*", d.missed); err != nil {
		nc.Close()
		return fmt.Errorf("cluster: subscribing to missed pushes: %w", err)
	}
	d.mu.Lock()
	d.misses = misses
	d.nc = nc
	d.mu.Unlock()
	// Users bound before the connection existed (none in a normal start,
	// where transport starts after this) get their subscriptions now.
	for _, u := range d.local.UserIDs() {
		d.presence(u)
	}
	d.log.Info("cluster: node started", zap.String("node", d.node), zap.String("nats", nc.ConnectedUrlRedacted()))
	return nil
}

// Stop closes the NATS connection and stops the lanes. Call it after the
// transport has stopped (no session left to push to).
func (d *Directory) Stop(context.Context) error {
	d.stop()
	d.mu.Lock()
	nc := d.nc
	d.nc = nil
	d.mu.Unlock()
	if nc == nil {
		return nil
	}
	nc.Close()
	d.wg.Wait()
	return nil
}

func (d *Directory) conn() *nats.Conn {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.nc
}

// connect opens a NATS connection with the configured name, credentials
// file and TLS CA (passed through as NATS defines them), then extra. Every
// connection is NoEcho: a node never hears its own publishes, so "no
// responders" means "no other node holds this user".
//
// A first attempt that NATS refuses for a reason only the configuration can
// fix (a certificate the CA does not verify, TLS required on one side only,
// credentials refused) is an error, whatever retry says: a node must not
// start and then serve alone, retrying in vain. With retry, any other
// failure (NATS not up yet, unreachable) returns a connection that keeps
// trying in the background (nats.RetryOnFailedConnect).
func connect(cfg config.Cluster, name string, retry bool, extra ...nats.Option) (*nats.Conn, error) {
	opts := []nats.Option{nats.Name(name), nats.NoEcho()}
	if cfg.Credentials != "" {
		if _, err := os.Stat(cfg.Credentials); err != nil {
			return nil, fmt.Errorf("cluster.credentials: %w", err)
		}
		opts = append(opts, nats.UserCredentials(cfg.Credentials))
	}
	if cfg.TLSCA != "" {
		if _, err := os.Stat(cfg.TLSCA); err != nil {
			return nil, fmt.Errorf("cluster.tls_ca: %w", err)
		}
		opts = append(opts, nats.RootCAs(cfg.TLSCA))
	}
	opts = append(opts, extra...)
	nc, err := nats.Connect(cfg.NATSURL, opts...)
	if err == nil {
		return nc, nil
	}
	if key := misconfigured(err); key != "" {
		return nil, fmt.Errorf("cluster: NATS %s: cannot connect, check %s: %w", cfg.NATSURL, key, err)
	}
	if retry {
		nc, err = nats.Connect(cfg.NATSURL, append(opts, nats.RetryOnFailedConnect(true))...)
	}
	if err != nil {
		return nil, fmt.Errorf("cluster: NATS %s: %w", cfg.NATSURL, err)
	}
	return nc, nil
}

// misconfigured names the settings to check when err is a refusal that
// retrying cannot cure, or is "" for anything else (a network error).
func misconfigured(err error) string {
	var verify *tls.CertificateVerificationError
	var unknownCA x509.UnknownAuthorityError
	var host x509.HostnameError
	var invalid x509.CertificateInvalidError
	switch {
	case errors.As(err, &verify), errors.As(err, &unknownCA), errors.As(err, &host), errors.As(err, &invalid):
		return "cluster.tls_ca (the CA that signed the NATS server's certificate) and the host in cluster.nats_url"
	case errors.Is(err, nats.ErrSecureConnRequired), errors.Is(err, nats.ErrSecureConnWanted):
		return "cluster.nats_url (tls:// when the NATS server requires TLS, nats:// when it does not offer it)"
	case errors.Is(err, nats.ErrAuthorization), errors.Is(err, nats.ErrAuthExpired), errors.Is(err, nats.ErrAuthRevoked),
		errors.Is(err, nats.ErrAccountAuthExpired):
		return "cluster.credentials"
	}
	return ""
}

// Bind logs s in as userID on this node. The user's subscription, if this
// is their first session here, is made by the registry's presence hook.
func (d *Directory) Bind(s *session.Session, userID string) { d.local.Bind(s, userID) }

// Online reports whether userID has a live session on any node: here, or
// on a node that answers the presence probe within deliver_timeout. With
// NATS down only this node's sessions count, so a message to a user on
// another node is stored undelivered and offered again after the outage.
func (d *Directory) Online(userID string) bool {
	if d.local.Online(userID) {
		return true
	}
	nc := d.conn()
	if nc == nil || !nc.IsConnected() {
		return false
	}
	if d.remoteKnown(userID) {
		return true
	}
	_, err := nc.Request(d.userSubject(userID), []byte{opOnline}, d.cfg.DeliverTimeout)
	d.countErr(err)
	d.remember(userID, err == nil)
	return err == nil
}

// remoteKnown reports whether userID was confirmed online on another node
// less than remoteTTL ago.
func (d *Directory) remoteKnown(userID string) bool {
	now := time.Now()
	ok := false
	d.remote.Do(userID, now, func(until *int64, found bool) bool {
		ok = found && now.UnixNano() < *until
		return ok
	})
	return ok
}

// remember records what another node just said about userID.
func (d *Directory) remember(userID string, online bool) {
	if !online {
		d.remote.Delete(userID)
		return
	}
	now := time.Now()
	d.remote.Do(userID, now, func(until *int64, _ bool) bool {
		*until = now.Add(remoteTTL).UnixNano()
		return true
	})
}

// Deliver queues body to every session of userID on this node, then hands
// it to the nodes that hold the user. It reports the sessions reached here,
// or, when none was, whether another node confirmed at least one (the
// handlers only distinguish "none" from "some": a message nobody received
// stays undelivered for the receiver's next catch-up).
//
// When a local session took the push, the copy for other nodes is published
// without waiting; otherwise it is a request that the node holding the user
// answers with the number it reached, and NATS answers at once ("no
// responders") when no node subscribes to the user.
func (d *Directory) Deliver(userID string, body []byte) int {
	n, nc, subj, msg := d.localFirst(userID, opDeliver, body)
	if n > 0 || nc == nil {
		return n
	}
	reply, err := nc.Request(subj, msg, d.cfg.DeliverTimeout)
	if err != nil {
		d.countErr(err)
		d.remember(userID, false)
		return 0
	}
	remote, _ := strconv.Atoi(string(reply.Data))
	d.remember(userID, remote > 0)
	return remote
}

// localFirst queues body to userID's sessions on this node and, when one
// took it, publishes the copy for other nodes (op, then body) without
// waiting. Otherwise (n == 0) it returns that copy and its subject for the
// caller's own way of reaching the node holding the user; nc is nil when
// this node has no NATS connection.
func (d *Directory) localFirst(userID string, op byte, body []byte) (n int, nc *nats.Conn, subj string, msg []byte) {
	n = d.local.Deliver(userID, body)
	if nc = d.conn(); nc == nil {
		return n, nil, "", nil
	}
	msg = make([]byte, 1+len(body))
	msg[0] = op
	copy(msg[1:], body)
	subj = d.userSubject(userID)
	if n > 0 {
		if err := nc.Publish(subj, msg); err != nil {
			d.countErr(err)
		}
	}
	return n, nc, subj, msg
}

// DeliverMessage is Deliver for a stored message, without the round trip:
// when no local session took the push it is published with a reply subject
// that names the message and its receiver (misses.<id>.<user>) and counted
// as reached at once. Only a miss is ever answered: by a node that holds the
// user's subscription but no session any more, and no other node holds the
// user ("0"), or by NATS itself when no node subscribes to the user ("no
// responders"); missed then gives the message back to the receiver's next
// catch-up (Hooks.Undeliver). A delivery, the common case, costs one NATS
// message and no answer, and the sender's worker never waits.
//
// It returns 0 (the caller gives the message back itself) only when NATS
// refused the publish: disconnected, the push is not sent at all.
func (d *Directory) DeliverMessage(userID string, id int64, body []byte) int {
	n, nc, subj, msg := d.localFirst(userID, opMessage, body)
	if n > 0 || nc == nil {
		return n
	}
	// d.misses was set with d.nc, under d.mu, and never changes: having
	// read nc != nil through conn orders this read after that write.
	reply := d.misses + "." + strconv.FormatInt(id, 10) + "." + userToken(userID)
	if err := nc.PublishRequest(subj, reply, msg); err != nil {
		d.countErr(err)
		d.remember(userID, false)
		return 0
	}
	// Presumed online until a miss says otherwise: a conversation keeps
	// Online answered from memory, without a probe per message.
	d.remember(userID, true)
	return 1
}

// missed serves this node's missed-push inbox: a message push counted as
// reached reached no session. Whatever arrives there is a miss (a holding
// node's "0", or NATS's no-responders status), so the message goes back to
// the catch-up; the worst a stray answer could cost is a seed client seeing
// the message again at its next login, never a loss.
func (d *Directory) missed(m *nats.Msg) {
	// The subject is <inbox>.<id>.<user>; a user token holds no dot.
	rest, userTok := lastToken(m.Subject)
	_, idTok := lastToken(rest)
	id, err := strconv.ParseInt(idTok, 10, 64)
	if err != nil {
		return
	}
	d.stats.misses.Add(1)
	if userID, ok := tokenUser(userTok); ok {
		d.remember(userID, false)
	}
	d.mu.Lock()
	f := d.hooks.Undeliver
	d.mu.Unlock()
	if f == nil {
		return
	}
	if err := f(d.ctx, id); err != nil {
		d.log.Warn("cluster: giving a missed push back to the catch-up", zap.Int64("message", id), zap.Error(err))
	}
}

// lastToken splits subject at its last dot.
func lastToken(subject string) (rest, last string) {
	i := strings.LastIndexByte(subject, '.')
	return subject[:max(i, 0)], subject[i+1:]
}

// DeliverMany queues body to the sessions of every user in userIDs on this
// node, then publishes it once, with the list, for the other nodes (prefix.many):
// each delivers it to those of the users it holds. One publish per fan-out,
// not one per member, and no per-member round trip; so the count is this
// node's sessions only: other nodes' deliveries are not confirmed (a group
// message is stored for everyone and read back with sync, never claimed).
func (d *Directory) DeliverMany(userIDs []string, body []byte) int {
	n := d.local.DeliverMany(userIDs, body)
	nc := d.conn()
	if nc == nil || len(userIDs) == 0 {
		return n
	}
	if err := nc.Publish(d.subject("many"), encodeMany(userIDs, body)); err != nil {
		d.countErr(err)
	}
	return n
}

// countErr classifies a failed publish or request for the metrics. "No
// responders" is the normal answer for a user online nowhere else.
func (d *Directory) countErr(err error) {
	switch {
	case err == nil, errors.Is(err, nats.ErrNoResponders):
	case errors.Is(err, nats.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		d.stats.timeouts.Add(1)
	default:
		d.stats.publishFailures.Add(1)
	}
}

// presence keeps exactly one subscription for every locally online user.
// It reads the registry's current state, so calls racing each other still
// leave the right state behind. A new subscription is flushed before the
// login goes on, so a push sent by another node after this login's reply
// cannot miss it.
func (d *Directory) presence(userID string) {
	nc := d.conn()
	if nc == nil {
		return
	}
	sh := &d.subs[maphash.String(d.seed, userID)%subShards]
	sh.mu.Lock()
	online := d.local.Online(userID)
	sub := sh.subs[userID]
	subscribed := false
	switch {
	case online && sub == nil:
		s, err := nc.ChanSubscribe(d.userSubject(userID), d.lanes[maphash.String(d.seed, userID)%lanes])
		if err != nil {
			d.log.Warn("cluster: subscribe", zap.String("user", userID), zap.Error(err))
			break
		}
		sh.subs[userID] = s
		d.stats.subscribes.Add(1)
		d.stats.subscriptions.Add(1)
		subscribed = true
	case !online && sub != nil:
		_ = sub.Unsubscribe()
		delete(sh.subs, userID)
		d.stats.unsubscribes.Add(1)
		d.stats.subscriptions.Add(-1)
	}
	sh.mu.Unlock()
	if subscribed && nc.IsConnected() {
		_ = nc.FlushTimeout(d.cfg.DeliverTimeout)
	}
}

// serveLane delivers pushes from other nodes to local sessions. The lanes
// are never closed: NATS's reader may still hold a message for one after
// Close, and a send on a closed channel would panic.
func (d *Directory) serveLane(ch <-chan *nats.Msg) {
	defer d.wg.Done()
	for {
		select {
		case m := <-ch:
			d.handle(m)
		case <-d.ctx.Done():
			return
		}
	}
}

func (d *Directory) handle(m *nats.Msg) {
	if len(m.Data) == 0 {
		return
	}
	userID, ok := d.userOf(m.Subject)
	if !ok {
		return
	}
	switch m.Data[0] {
	case opDeliver:
		n := d.local.Deliver(userID, m.Data[1:])
		d.stats.remotePushes.Add(1)
		// Only a node that reached someone answers: the sender takes the
		// first answer, so a "0" from a node whose last session just left
		// must not hide another node's delivery.
		if n > 0 && m.Reply != "" {
			_ = m.Respond(strconv.AppendInt(nil, int64(n), 10))
		}
	case opMessage:
		// The sender counted this push as reached; only a miss is
		// answered, and only when no other node holds the user either.
		n := d.local.Deliver(userID, m.Data[1:])
		d.stats.remotePushes.Add(1)
		if n == 0 && m.Reply != "" && !d.heldElsewhere(m.Subject) {
			_ = m.Respond([]byte{'0'})
		}
	case opOnline:
		if d.local.Online(userID) && m.Reply != "" {
			_ = m.Respond([]byte{'1'})
		}
	}
}

// heldElsewhere asks the other nodes whether one of them holds the user of
// subject, for a message push that found no session here: this node still
// had the subscription after the user's last session left (a logout, or a
// connection that just dropped). If the user has meanwhile logged in on
// another node, that node got the same push and delivered it; answering
// "0" would then give the message back to a catch-up that may send it a
// second time (the seed client's login right after a reconnect elsewhere).
// This costs a round trip only in that rare window, on this lane.
func (d *Directory) heldElsewhere(subject string) bool {
	nc := d.conn()
	if nc == nil {
		return false
	}
	_, err := nc.Request(subject, []byte{opOnline}, d.cfg.DeliverTimeout)
	d.countErr(err)
	return err == nil
}

// many serves prefix.many: another node's fan-out, delivered to the listed
// users this node holds.
func (d *Directory) many(m *nats.Msg) {
	ids, body, ok := decodeMany(m.Data)
	if !ok {
		d.log.Warn("cluster: malformed fan-out", zap.Int("bytes", len(m.Data)))
		return
	}
	if d.local.DeliverMany(ids, body) > 0 {
		d.stats.remotePushes.Add(1)
	}
}

// control serves prefix.ctl: revoke and resync events from other nodes and
// from `parleyd revoke`.
func (d *Directory) control(m *nats.Msg) {
	if len(m.Data) == 0 {
		return
	}
	switch m.Data[0] {
	case ctlRevoke:
		d.revoked(string(m.Data[1:]))
	case ctlResync:
		d.resyncAll()
	}
}

// revoked applies a revoke event on this node.
func (d *Directory) revoked(userID string) {
	d.stats.revokes.Add(1)
	d.mu.Lock()
	f := d.hooks.Revoke
	d.mu.Unlock()
	if f != nil {
		f(userID)
	}
	n := d.local.CloseUser(userID)
	d.log.Info("cluster: resume tokens revoked; sessions closed", zap.String("user", userID), zap.Int("sessions", n))
}

// regained runs when the connection to NATS is (re)established: pushes to
// and from this node may have been lost meanwhile, so every node (this one
// directly, the others through a resync event) re-offers its online users
// what they may have missed.
func (d *Directory) regained() {
	if nc := d.conn(); nc != nil {
		_ = nc.Publish(d.subject("ctl"), []byte{ctlResync})
	}
	d.resyncAll()
}

// resyncAll runs Hooks.Resync for every locally online user, a few at a
// time, in the background. Calls while one runs coalesce into one more run.
func (d *Directory) resyncAll() {
	d.resyncAgain.Store(true)
	if !d.resyncing.CompareAndSwap(false, true) {
		return
	}
	d.mu.Lock()
	f := d.hooks.Resync
	d.mu.Unlock()
	if f == nil {
		d.resyncing.Store(false)
		return
	}
	go func() {
		for {
			for d.resyncAgain.Swap(false) {
				d.resyncOnce(f)
			}
			d.resyncing.Store(false)
			// A request that arrived after the last Swap but before the
			// flag dropped would be lost: take it over if nobody else did.
			if !d.resyncAgain.Load() || !d.resyncing.CompareAndSwap(false, true) {
				return
			}
		}
	}()
}

func (d *Directory) resyncOnce(f func(context.Context, string)) {
	users := make(chan string)
	var wg sync.WaitGroup
	for range resyncWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for u := range users {
				f(d.ctx, u)
				// Parley clients may also have missed pushes that are not
				// messages, or messages already marked delivered to
				// another of the user's sessions: they sync on this hint.
				d.local.Deliver(u, wire.SyncHintBody)
				d.stats.resyncs.Add(1)
			}
		}()
	}
	for _, u := range d.local.UserIDs() {
		select {
		case users <- u:
		case <-d.ctx.Done():
		}
	}
	close(users)
	wg.Wait()
}

// Stats returns the directory's counters.
func (d *Directory) Stats() Stats {
	nc := d.conn()
	return Stats{
		Connected:       nc != nil && nc.IsConnected(),
		PublishFailures: d.stats.publishFailures.Load(),
		Timeouts:        d.stats.timeouts.Load(),
		Misses:          d.stats.misses.Load(),
		Disconnects:     d.stats.disconnects.Load(),
		Reconnects:      d.stats.reconnects.Load(),
		RemotePushes:    d.stats.remotePushes.Load(),
		Subscribes:      d.stats.subscribes.Load(),
		Unsubscribes:    d.stats.unsubscribes.Load(),
		Subscriptions:   d.stats.subscriptions.Load(),
		Resyncs:         d.stats.resyncs.Load(),
		Revokes:         d.stats.revokes.Load(),
		Dropped:         d.stats.dropped.Load(),
	}
}

// Degraded is "" when the node reaches NATS, else why it serves only its
// local users. /readyz reports it without failing: NATS down on every node
// at once must not make a load balancer drop every node.
func (d *Directory) Degraded() string {
	nc := d.conn()
	if nc != nil && nc.IsConnected() {
		return ""
	}
	return "cluster: NATS unreachable; serving local sessions only, cross-node pushes wait for the resync"
}
