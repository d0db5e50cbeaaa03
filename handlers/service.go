package handlers

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/parley-im/parley/config"
	"github.com/parley-im/parley/db"
	"github.com/parley-im/parley/pipeline"
	"github.com/parley-im/parley/session"
	"github.com/parley-im/parley/wire"
)

// Store is all the storage the handlers use: the union of the interfaces
// each area declares beside its handlers (AccountStore, ResumeStore,
// FriendStore, ChatStore, MessageStore, HistoryStore), which list every method that area
// can call, directly or through a shared collaborator. *db.Store satisfies
// it; New hands each area and collaborator only its own narrow view.
type Store interface {
	AccountStore
	ResumeStore
	FriendStore
	ChatStore
	MessageStore
	HistoryStore
	GroupStore
}

// *db.Store is the one production Store; this keeps the area interfaces
// honest when either side changes.
var _ Store = (*db.Store)(nil)

// Binder logs a session in as a user.
type Binder interface {
	Bind(s *session.Session, userID string)
}

// Presence tells whether a user has a live session (on any node, once
// delivery crosses nodes).
type Presence interface {
	Online(userID string) bool
}

// pusher is what code that pushes to other users needs: whether they are
// online, and delivery of encoded bytes to all their sessions.
type pusher interface {
	Presence
	session.Deliverer
}

// SessionDirectory is everything the handlers need from the session layer:
// log a session in, ask who is online, push bytes to a user. *session.Registry
// satisfies it today; a multi-node directory can later. Each area is given
// only the part it uses (Binder, Presence, pusher).
type SessionDirectory interface {
	Binder
	pusher
}

// Greeting is the message accept_friend stores from the acceptor to the
// requester, as the seed's UpdateFriend procedure did.
const Greeting = "我们已经是好友了，可以开始聊天了！"

// MessageSaver stores one message durably and returns once it is committed
// (m then holds the stored row). *db.Store's SaveMessage has this shape;
// *db.MessageWriter's Save batches messages into shared transactions.
type MessageSaver interface {
	Save(ctx context.Context, m *db.Message) error
}

// saveFunc adapts a SaveMessage method to MessageSaver.
type saveFunc func(ctx context.Context, m *db.Message) error

func (f saveFunc) Save(ctx context.Context, m *db.Message) error { return f(ctx, m) }

// Deps is everything the handlers need, given at once: New builds every area
// complete, so no handler can run half set up.
type Deps struct {
	// Store is the storage the handlers query. Required.
	Store Store
	// Messages stores send_message's messages: normally a started
	// *db.MessageWriter; nil stores each one with Store.SaveMessage. When
	// it is also a GroupSaver (the writer is), group messages share its
	// group commit; otherwise each is stored with Store.SaveGroupMessage.
	Messages MessageSaver
	// Sessions logs sessions in, answers presence and pushes. Required.
	Sessions SessionDirectory
	// Accounts sizes password hashing, the verified-credential cache, login
	// failure limits and resume tokens.
	Accounts config.Accounts
	// Limits bound message bodies and list replies (normally LimitsFrom the
	// running configuration); the zero value means the built-in defaults.
	Limits Limits
	// Groups bounds group chats and sizes their fan-out; the zero value
	// means the built-in defaults.
	Groups config.Groups
	// Log receives the handlers' own lines; nil discards them.
	Log *zap.Logger
}

// Areas holds the handlers of every request of the seed protocol, one type
// per area, each holding only what its requests use. What two areas share
// (the chat list, message delivery, the friendship cache) is a small
// collaborator that New builds once and hands to both, so the sharing is
// visible in New and nowhere else. The areas are safe for concurrent use:
// their methods are called on dispatcher workers, one request at a time per
// session, many sessions at once.
type Areas struct {
	Accounts *Accounts // login, register, search_user, resume
	Friends  *Friends  // friends, add_friend, accept_friend, delete_friend
	Chats    *Chats    // chatting, update_chat
	Messages *Messages // send_message, get_unread_messages, sync, ack
	History  *History  // history
	Groups   *Groups   // group_* and chat_list (extensions)
}

// Close stops what the handlers run in the background (the group fan-out),
// after pushing what is queued. Call it once no request can arrive.
func (a *Areas) Close() { a.Groups.close() }

// New builds the handlers from d.
func New(d Deps) *Areas {
	log := d.Log
	if log == nil {
		log = zap.NewNop()
	}
	saver := d.Messages
	if saver == nil {
		saver = saveFunc(d.Store.SaveMessage)
	}
	limits := d.Limits
	if limits == (Limits{}) {
		limits = defaultLimits()
	}
	lists := &chatLists{store: d.Store, sessions: d.Sessions, limits: limits, log: log}
	deliver := &delivery{store: d.Store, sessions: d.Sessions, log: log}
	friendships := newFriendCache(friendCacheEntries, friendCacheTTL, time.Now)
	groupCfg := d.Groups
	if groupCfg == (config.Groups{}) {
		groupCfg = config.Default().Groups
	}
	groupSaver, ok := saver.(GroupSaver)
	if !ok {
		groupSaver = saveGroupFunc(d.Store.SaveGroupMessage)
	}
	return &Areas{
		Accounts: newAccounts(d.Store, d.Store, d.Sessions, d.Accounts, log),
		Friends: &Friends{
			store: d.Store, sessions: d.Sessions, cache: friendships,
			lists: lists, deliver: deliver, replyBytes: limits.ReplyBytes, log: log,
		},
		Chats: &Chats{store: d.Store, lists: lists, maxBody: limits.MaxBody, now: time.Now, log: log},
		Messages: &Messages{
			store: d.Store, saver: saver, presence: d.Sessions,
			friendship: &friendship{cache: friendships, store: d.Store, log: log},
			deliver:    deliver, lists: lists, limits: limits, now: time.Now, log: log,
		},
		History: &History{store: d.Store, replyBytes: limits.ReplyBytes, log: log},
		Groups: &Groups{
			store: d.Store, saver: groupSaver, lists: lists, limits: limits, cfg: groupCfg, log: log, now: time.Now,
			fan: newFanout(groupCfg.FanoutWorkers, groupCfg.FanoutQueue, d.Store, d.Sessions, log),
		},
	}
}

// Register adds every request type of the seed protocol, and ping, to r.
// receive_message is deliberately absent: it is a push, and as a request it
// gets the router's unknown_type error.
func (a *Areas) Register(r *Router) {
	a.Accounts.Register(r)
	a.Friends.Register(r)
	a.Chats.Register(r)
	a.Messages.Register(r)
	a.History.Register(r)
	a.Groups.Register(r)
	OnRaw(r, wire.TypePing, func(ctx context.Context, req *pipeline.Request) (pipeline.Reply, error) {
		return Ping(ctx, req, nil) // a ping has nothing to decode beyond its envelope
	})
}

// Limits on client input. Ids are the seed's VARCHAR(20); bodies and chat
// previews are bounded by messages.max_body (Limits), at most the seed's TEXT
// column (64 KiB), with an error reply instead of the seed's dead connection.
const (
	maxIDLen       = 20
	maxNameRunes   = 255
	maxFilePath    = 255
	maxClientMsgID = 64
	maxShortField  = 32 // chat_type, message_type, chat_status
)

// self returns the session's user and checks that an identity field of the
// body (user_id, send_id) names that user. The seed trusted the body (bug
// B11: anyone could act as anyone); the seed client always sends the id the
// login reply gave it, so the check never refuses it. An empty field means
// "me", for clients that do not repeat their id.
func self(req *pipeline.Request, claimed string) (string, error) {
	me := req.Session.UserID()
	if me == "" {
		return "", pipeline.ErrUnauthenticated
	}
	if claimed != "" && claimed != me {
		return "", pipeline.Errorf(wire.CodeForbidden, "logged in as another user")
	}
	return me, nil
}

// echo is the id to echo back for an identity field: as received, or the
// session's user when the client left it out.
func echo(claimed, me string) string {
	if claimed == "" {
		return me
	}
	return claimed
}

func invalid(format string, args ...any) error {
	return pipeline.Errorf(wire.CodeInvalid, format, args...)
}

// checkID refuses an id that is empty or longer than any stored id.
func checkID(field, v string) error {
	if v == "" {
		return invalid("%s is required", field)
	}
	if len(v) > maxIDLen {
		return invalid("%s is longer than %d bytes", field, maxIDLen)
	}
	return nil
}

// storeErr turns a store error into the client's answer. The three classified
// errors are refusals the client may see; anything else is a bug or a broken
// database and goes up as an internal error, which the edge logs once.
// notFound and conflict are the messages for this call's two expected
// refusals; log receives the cause of "unavailable".
//
// A refusal is logged once, at warn, by the logging middleware (sampled, so
// an outage cannot flood the log). Only the cause of "unavailable", which the
// refusal line does not carry, is written here, at debug.
func storeErr(log *zap.Logger, op string, err error, notFound, conflict string) error {
	switch {
	case db.IsUnavailable(err):
		log.Debug("store unavailable", zap.String("op", op), zap.Error(err))
		return &pipeline.Error{Code: wire.CodeUnavailable, Message: "storage unavailable, retry later"}
	case errors.Is(err, context.Canceled):
		// The request was abandoned (shutdown or closed connection); no one
		// is likely to read this answer.
		return &pipeline.Error{Code: wire.CodeUnavailable, Message: "request cancelled"}
	case errors.Is(err, db.ErrNotFound):
		return &pipeline.Error{Code: wire.CodeNotFound, Message: notFound}
	case errors.Is(err, db.ErrConflict):
		return &pipeline.Error{Code: wire.CodeConflict, Message: conflict}
	}
	return fmt.Errorf("%s: %w", op, err)
}

// encodeJSON marshals a reply or push body, without HTML escaping (see
// wire.Marshal). Every value encoded here is a struct of strings, so it
// cannot fail; the error is returned anyway.
func encodeJSON(v any) ([]byte, error) { return wire.Marshal(v) }

// serverTime is now, to the second, for timestamps the server assigns
// (seed bug B20: the seed stored the client's clock).
func serverTime(now func() time.Time) time.Time { return now().Truncate(time.Second) }
