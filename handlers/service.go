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
// each area declares beside its handlers (AccountStore, FriendStore,
// ChatStore, MessageStore, SyncStore, HistoryStore, ResumeStore), which are the only
// methods that area can call. *db.Store satisfies it; New hands each area
// its own narrow view.
type Store interface {
	AccountStore
	FriendStore
	ChatStore
	MessageStore
	SyncStore
	HistoryStore
	ResumeStore
}

// *db.Store is the one production Store; this keeps the area interfaces
// honest when either side changes.
var _ Store = (*db.Store)(nil)

// stores is the Service's storage, one narrow view per area: a handler in
// friends.go reaches the database only through s.store.friends, so its
// interface lists every query a friend request can make.
type stores struct {
	accounts AccountStore
	friends  FriendStore
	chats    ChatStore
	messages MessageStore
	sync     SyncStore
	history  HistoryStore
	resume   ResumeStore
}

// Binder logs a session in as a user.
type Binder interface {
	Bind(s *session.Session, userID string)
}

// Presence tells whether a user has a live session (on any node, once
// delivery crosses nodes).
type Presence interface {
	Online(userID string) bool
}

// SessionDirectory is everything the handlers need from the session layer:
// log a session in, ask who is online, push bytes to a user. *session.Registry
// satisfies it today; a multi-node directory can later.
type SessionDirectory interface {
	Binder
	Presence
	session.Deliverer
}

// Greeting is the message accept_friend stores from the acceptor to the
// requester, as the seed's UpdateFriend procedure did.
const Greeting = "我们已经是好友了，可以开始聊天了！"

// Service implements the seed protocol's requests. It is safe for concurrent
// use: every method is called on dispatcher workers, one request at a time per
// session, many sessions at once.
type Service struct {
	store    stores
	sessions SessionDirectory
	creds    *credentials
	// failures limits failed logins per account (accounts.login_failures).
	failures *failedLogins
	// resumeTTL is how long a login's resume token stays valid.
	resumeTTL time.Duration
	// messages stores send_message's messages: the store itself, or a
	// group-committing writer (Deps.Messages).
	messages MessageSaver
	// friends caches positive AreFriends answers for send_message.
	friends *friendCache
	// tokens group-commits the resume tokens logins issue.
	tokens *tokenBatcher
	// limits bound message bodies and list replies (Deps.Limits).
	limits Limits
	log    *zap.Logger
	now    func() time.Time
}

// MessageSaver stores one message durably and returns once it is committed
// (m then holds the stored row). *db.Store's SaveMessage has this shape;
// *db.MessageWriter's Save batches messages into shared transactions.
type MessageSaver interface {
	Save(ctx context.Context, m *db.Message) error
}

// saveFunc adapts a SaveMessage method to MessageSaver.
type saveFunc func(ctx context.Context, m *db.Message) error

func (f saveFunc) Save(ctx context.Context, m *db.Message) error { return f(ctx, m) }

// Deps is everything a Service needs, given at once: New builds it complete,
// so no handler can run with a half-set Service.
type Deps struct {
	// Store is the storage the handlers query. Required.
	Store Store
	// Messages stores send_message's messages: normally a started
	// *db.MessageWriter; nil stores each one with Store.SaveMessage.
	Messages MessageSaver
	// Sessions logs sessions in, answers presence and pushes. Required.
	Sessions SessionDirectory
	// Accounts sizes password hashing, the verified-credential cache, login
	// failure limits and resume tokens.
	Accounts config.Accounts
	// Limits bound message bodies and list replies (normally LimitsFrom the
	// running configuration); the zero value means the built-in defaults.
	Limits Limits
	// Log receives the handlers' own lines; nil discards them.
	Log *zap.Logger
}

// New builds the handlers from d.
func New(d Deps) *Service {
	log := d.Log
	if log == nil {
		log = zap.NewNop()
	}
	messages := d.Messages
	if messages == nil {
		messages = saveFunc(d.Store.SaveMessage)
	}
	limits := d.Limits
	if limits == (Limits{}) {
		limits = defaultLimits()
	}
	accounts := d.Accounts
	s := &Service{
		store: stores{
			accounts: d.Store, friends: d.Store, chats: d.Store,
			messages: d.Store, sync: d.Store, history: d.Store, resume: d.Store,
		},
		sessions:  d.Sessions,
		creds:     newCredentials(accounts.HashWorkers, accounts.HashQueue, accounts.CredentialCacheSize, accounts.CredentialCacheTTL),
		resumeTTL: accounts.ResumeTTL,
		messages:  messages,
		limits:    limits,
		log:       log,
		now:       time.Now,
	}
	s.failures = newFailedLogins(accounts.LoginFailures, accounts.LoginFailureWindow, func() time.Time { return s.now() })
	s.friends = newFriendCache(friendCacheEntries, friendCacheTTL, func() time.Time { return s.now() })
	s.tokens = &tokenBatcher{saveMany: d.Store.SaveResumeTokens, saveOne: d.Store.SaveResumeToken}
	return s
}

// Register adds every request type of the seed protocol, and ping, to r.
// receive_message is deliberately absent: it is a push, and as a request it
// gets the router's unknown_type error.
func (s *Service) Register(r *Router) {
	On(r, wire.TypeLogin, s.Login)
	On(r, wire.TypeRegister, s.RegisterAccount)
	On(r, wire.TypeSearchUser, s.SearchUser)
	On(r, wire.TypeFriends, s.Friends)
	On(r, wire.TypeAddFriend, s.AddFriend)
	On(r, wire.TypeAcceptFriend, s.AcceptFriend)
	On(r, wire.TypeDeleteFriend, s.DeleteFriend)
	On(r, wire.TypeChatting, s.Chatting)
	On(r, wire.TypeUpdateChat, s.UpdateChat)
	On(r, wire.TypeSendMessage, s.SendMessage)
	On(r, wire.TypeGetUnreadMessages, s.GetUnreadMessages)
	OnRaw(r, wire.TypePing, func(ctx context.Context, req *pipeline.Request) (pipeline.Reply, error) {
		return Ping(ctx, req, nil) // a ping has nothing to decode beyond its envelope
	})
	On(r, wire.TypeResume, s.Resume)
	On(r, wire.TypeSync, s.Sync)
	On(r, wire.TypeAck, s.Ack)
	On(r, wire.TypeHistory, s.History)
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
// notFound and conflict are the messages for this call's two expected refusals.
//
// A refusal is logged once, at warn, by the logging middleware (sampled, so
// an outage cannot flood the log). Only the cause of "unavailable", which the
// refusal line does not carry, is written here, at debug.
func (s *Service) storeErr(op string, err error, notFound, conflict string) error {
	switch {
	case db.IsUnavailable(err):
		s.log.Debug("store unavailable", zap.String("op", op), zap.Error(err))
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

// push delivers an encoded body to every live session of userID and reports
// how many sessions it reached.
func (s *Service) push(userID string, body []byte) int {
	return s.sessions.Deliver(userID, body)
}

// serverTime is now, to the second, for timestamps the server assigns
// (seed bug B20: the seed stored the client's clock).
func (s *Service) serverTime() time.Time { return s.now().Truncate(time.Second) }
