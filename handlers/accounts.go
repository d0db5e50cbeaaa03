package handlers

import (
	"context"
	"errors"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/parley-im/parley/config"
	"github.com/parley-im/parley/db"
	"github.com/parley-im/parley/internal/groupcommit"
	"github.com/parley-im/parley/pipeline"
	"github.com/parley-im/parley/session"
	"github.com/parley-im/parley/wire"
)

// AccountStore is the storage the account handlers (register, login,
// search_user) use.
type AccountStore interface {
	CreateUser(ctx context.Context, u *db.User) error
	UserByID(ctx context.Context, id string) (*db.User, error)
	SetPasswordHash(ctx context.Context, id, hash string) error
}

// Accounts answers the account requests: login, register, search_user and
// resume. It owns password hashing (the hash pool and the verified-credential
// cache), the per-account failed-login limit and the resume tokens logins
// issue.
type Accounts struct {
	store    AccountStore
	sessions Binder
	creds    *credentials
	// failures limits failed logins per account (accounts.login_failures).
	failures *failedLogins
	// tokenStore redeems and revokes resume tokens; tokens group-commits
	// the ones logins issue, valid for resumeTTL.
	tokenStore ResumeStore
	tokens     *groupcommit.Batcher[db.ResumeToken]
	resumeTTL  time.Duration
	log        *zap.Logger
	now        func() time.Time
}

func newAccounts(store AccountStore, tokens ResumeStore, sessions Binder, cfg config.Accounts, log *zap.Logger) *Accounts {
	s := &Accounts{
		store:      store,
		sessions:   sessions,
		creds:      newCredentials(cfg.HashWorkers, cfg.HashQueue, cfg.CredentialCacheSize, cfg.CredentialCacheTTL),
		tokenStore: tokens,
		tokens:     newTokenBatcher(tokens),
		resumeTTL:  cfg.ResumeTTL,
		log:        log,
		now:        time.Now,
	}
	// Through s.now, so that a test moving the clock moves it here too.
	s.failures = newFailedLogins(cfg.LoginFailures, cfg.LoginFailureWindow, func() time.Time { return s.now() })
	return s
}

// Register adds the account requests to r.
func (s *Accounts) Register(r *Router) {
	On(r, wire.TypeLogin, s.Login)
	On(r, wire.TypeRegister, s.RegisterAccount)
	On(r, wire.TypeSearchUser, s.SearchUser)
	On(r, wire.TypeResume, s.Resume)
}

// badCredentials is the one answer to every failed login, whatever failed
// (unknown id, wrong password), with the seed's message.
var badCredentials = &pipeline.Error{Code: wire.CodeBadCredentials, Message: "name or code error"}

// Errors of the password path. Their messages are for people: no Go error
// text reaches a client.
var (
	// errBusy answers a login or register that found the hashing queue
	// full: the server is in a cold login storm or under a guessing flood,
	// and says so at once instead of making the client wait minutes.
	errBusy = &pipeline.Error{Code: wire.CodeOverloaded, Message: "server busy, retry later"}
	// errAccountLocked answers a login for an account past
	// accounts.login_failures (see failedLogins).
	errAccountLocked = &pipeline.Error{Code: wire.CodeRateLimited, Message: "too many failed logins for this account, retry later"}
)

// Login checks the password and binds the session to the user. The reply is
// an array of exactly one object (the client initialises its main window once
// per success element) carrying the canonical user_id, which the client uses
// in every later request, and an empty user_password (never the hash).
//
// The cheap part runs here, on the dispatcher worker: the user lookup and
// the verified-credential cache, which answers a returning user at once. A
// login that needs argon2id queues a job on the hash pool and parks the
// session (pipeline.Request.Park): the worker goes back to other sessions,
// so cached logins and resumes never wait behind hashing, and the job
// resumes the session with loginVerified when the hash is done. A full pool
// queue answers "overloaded" at once. An unknown id is hashed against a
// dummy through the same queue, so its answer takes as long as a wrong
// password's and does not tell whether the account exists.
//
// A resume token is issued (and stored) only when the request asks for one:
// the seed client cannot use it, and storing one per seed login was the
// largest cost of a warm login storm (lab notes, `git show d0db37a:docs/PERFORMANCE.md`, round 3).
func (s *Accounts) Login(ctx context.Context, req *pipeline.Request, in *wire.LoginRequest) ([]wire.LoginReply, error) {
	if in.UserID == "" || len(in.UserID) > maxIDLen || in.Password == "" || len(in.Password) > MaxPasswordBytes {
		return nil, badCredentials
	}
	account, stored := in.UserID, s.creds.hash.dummy
	u, err := s.store.UserByID(ctx, in.UserID)
	switch {
	case errors.Is(err, db.ErrNotFound):
		u = nil
	case err != nil:
		return nil, storeErr(s.log, "login", err, "", "")
	default:
		account, stored = u.ID, u.PasswordHash
	}
	if u != nil && s.creds.cached(u.ID, in.Password, stored) {
		return s.loggedIn(ctx, req.Session, u, in.WantToken)
	}
	if !s.failures.attempt(account) {
		return nil, errAccountLocked
	}
	var v verification
	sess := req.Session
	return withHash(ctx, s, req, func() {
		if sess.Closed() {
			return // nobody is waiting for the answer: save the CPU
		}
		v.ran = true
		v.ok, v.rehash, v.err = s.creds.verifyNow(account, in.Password, stored)
		if v.ok && v.rehash && u != nil {
			// Legacy or outdated row: the new hash is made in the same
			// job, so the worker that finishes the login never hashes.
			v.newHash = s.creds.hash.hashNow(in.Password)
		}
	}, func(ctx context.Context, sess *session.Session) ([]wire.LoginReply, error) {
		return s.loginVerified(ctx, sess, u, account, in, &v)
	})
}

// verification is what a login's hash job found.
type verification struct {
	ran, ok, rehash bool
	err             error
	newHash         string // set when the stored hash is to be replaced
}

// loginVerified finishes a login after its hash job, on a worker in the
// session's turn.
func (s *Accounts) loginVerified(ctx context.Context, sess *session.Session, u *db.User, account string, in *wire.LoginRequest, v *verification) ([]wire.LoginReply, error) {
	switch {
	case !v.ran:
		s.failures.forgive(account)
		return nil, errBusy
	case errors.Is(v.err, errMalformedHash):
		// A row we cannot read is an operator problem, not the user's: log
		// it (without the value) and refuse like a wrong password.
		s.failures.forgive(account)
		s.log.Error("stored password hash is malformed", zap.String("user", account))
		return nil, badCredentials
	case v.err != nil:
		s.failures.forgive(account)
		return nil, errBusy
	case !v.ok || u == nil:
		return nil, badCredentials // the attempt stays counted
	}
	s.failures.reset(account)
	if v.newHash != "" {
		// Failing to store it is not the user's problem: log and go on.
		if err := s.store.SetPasswordHash(ctx, u.ID, v.newHash); err != nil {
			s.log.Warn("password rehash failed", zap.String("user", u.ID), zap.Error(err))
		}
	}
	return s.loggedIn(ctx, sess, u, in.WantToken)
}

// loggedIn binds the session to u and answers the login.
func (s *Accounts) loggedIn(ctx context.Context, sess *session.Session, u *db.User, wantToken bool) ([]wire.LoginReply, error) {
	s.sessions.Bind(sess, u.ID)
	reply := wire.LoginReply{UserReply: userReply(wire.TypeLogin, u)}
	if wantToken {
		reply.Token = s.issueResumeToken(ctx, u.ID)
	}
	return []wire.LoginReply{reply}, nil
}

// withHash runs job (a password hash) on the hash pool, then answers the
// request with then, on a dispatcher worker in the session's turn. When
// the session can be parked, the worker is free while job waits and runs,
// and the answer is sent by the pipeline when then returns; otherwise (a
// harness without the transport, or a command with no request) this waits
// inline and returns then's result. A full queue answers errBusy at once.
func withHash[T any](ctx context.Context, s *Accounts, req *pipeline.Request, job func(), then func(context.Context, *session.Session) (T, error)) (T, error) {
	var none T
	p := req.Park()
	if p == nil {
		if err := s.creds.hash.run(ctx, job); err != nil {
			return none, errBusy
		}
		var sess *session.Session
		if req != nil {
			sess = req.Session
		}
		return then(ctx, sess)
	}
	finish := func(ctx context.Context, sess *session.Session) (pipeline.Reply, error) {
		v, err := then(ctx, sess)
		if err != nil {
			return nil, err
		}
		return encode(v)
	}
	if !s.creds.hash.pool.submit(func() {
		defer p.Resume(finish) // always: a parked session without its resume would be stuck
		job()
	}) {
		// Parked already; the worker runs this before the session's next
		// frame, likely before it even returns.
		p.Resume(func(context.Context, *session.Session) (pipeline.Reply, error) { return nil, errBusy })
	}
	return none, nil
}

// RegisterAccount answers "register": it creates an account whose id is the
// phone number, as the seed's Register procedure did, and answers with a bare
// object. Registering does not log the session in: the client logs in next
// with the id shown to the user.
func (s *Accounts) RegisterAccount(ctx context.Context, req *pipeline.Request, in *wire.RegisterRequest) (*wire.RegisterReply, error) {
	if err := validateRegister(in); err != nil {
		return nil, err
	}
	var hash string
	var sess *session.Session // nil for a command (parleyd adduser)
	if req != nil {
		sess = req.Session
	}
	return withHash(ctx, s, req, func() {
		if sess == nil || !sess.Closed() { // else nobody waits for the answer: save the CPU
			hash = s.creds.hash.hashNow(in.Password)
		}
	},
		func(ctx context.Context, _ *session.Session) (*wire.RegisterReply, error) {
			if hash == "" {
				return nil, errBusy
			}
			u := &db.User{ID: in.Phone, Phone: in.Phone, Name: in.Name, PasswordHash: hash}
			if err := s.store.CreateUser(ctx, u); err != nil {
				return nil, storeErr(s.log, "register", err, "", "this phone number is already registered")
			}
			return &wire.RegisterReply{Status: wire.StatusSuccess, Type: wire.TypeRegister, UserID: u.ID}, nil
		})
}

func validateRegister(in *wire.RegisterRequest) error {
	if in.Phone == "" || len(in.Phone) > maxIDLen {
		return invalid("user_phone must be 1 to %d digits", maxIDLen)
	}
	for i := 0; i < len(in.Phone); i++ {
		if in.Phone[i] < '0' || in.Phone[i] > '9' {
			return invalid("user_phone must be 1 to %d digits", maxIDLen)
		}
	}
	if n := utf8.RuneCountInString(in.Name); n == 0 || n > maxNameRunes {
		return invalid("user_name must be 1 to %d characters", maxNameRunes)
	}
	if in.Password == "" || len(in.Password) > MaxPasswordBytes {
		return invalid("user_password must be 1 to %d bytes", MaxPasswordBytes)
	}
	return nil
}

// SearchUser looks a user up by exact id. The reply is an array of one
// profile without any password (the seed sent the other user's plaintext
// password, bug B10), or the seed's null object when there is no such user.
func (s *Accounts) SearchUser(ctx context.Context, req *pipeline.Request, in *wire.SearchUserRequest) (ListReply, error) {
	if _, err := self(req, in.UserID); err != nil {
		return ListReply{}, err
	}
	none := nullList(wire.TypeSearchUser, wire.NullMessages)
	if in.SearchID == "" || len(in.SearchID) > maxIDLen {
		return none, nil
	}
	u, err := s.store.UserByID(ctx, in.SearchID)
	if errors.Is(err, db.ErrNotFound) {
		return none, nil
	}
	if err != nil {
		return ListReply{}, storeErr(s.log, "search_user", err, "", "")
	}
	return listOf([]wire.UserReply{userReply(wire.TypeSearchUser, u)})
}

// userReply is a user's public profile as the seed renders it.
func userReply(typ string, u *db.User) wire.UserReply {
	return wire.UserReply{
		Status:  wire.StatusSuccess,
		Type:    typ,
		Avatar:  u.Avatar,
		Created: wire.FormatTime(u.Created),
		Email:   u.Email,
		UserID:  u.ID,
		Name:    u.Name,
		Phone:   u.Phone,
		UStatus: u.Status,
	}
}
