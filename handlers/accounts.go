package handlers

import (
	"context"
	"errors"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/parley-im/parley/db"
	"github.com/parley-im/parley/pipeline"
	"github.com/parley-im/parley/wire"
)

// badCredentials is the one answer to every failed login, whatever failed
// (unknown id, wrong password), with the seed's message.
var badCredentials = &pipeline.Error{Code: wire.CodeBadCredentials, Message: "name or code error"}

// Login checks the password and binds the session to the user. The reply is
// an array of exactly one object (the client initialises its main window once
// per success element) carrying the canonical user_id, which the client uses
// in every later request, and an empty user_password (never the hash).
//
// The password check runs argon2id under the hash semaphore unless the
// credential cache remembers this exact (user, password, stored hash). A
// resume token is issued (and stored) only when the request asks for one:
// the seed client cannot use it, and storing one per seed login was the
// largest cost of a warm login storm (docs/PERFORMANCE.md, Round 3).
func (s *Service) Login(ctx context.Context, req *pipeline.Request, in *wire.LoginRequest) ([]wire.LoginReply, error) {
	if in.UserID == "" || len(in.UserID) > maxIDLen || in.Password == "" || len(in.Password) > MaxPasswordBytes {
		return nil, badCredentials
	}
	u, err := s.store.UserByID(ctx, in.UserID)
	if errors.Is(err, db.ErrNotFound) {
		return nil, badCredentials
	}
	if err != nil {
		return nil, s.storeErr("login", err, "", "")
	}
	ok, rehash, err := s.creds.Verify(ctx, u.ID, in.Password, u.PasswordHash)
	switch {
	case errors.Is(err, errMalformedHash):
		// A row we cannot read is an operator problem, not the user's: log
		// it (without the value) and refuse like a wrong password.
		s.log.Error("stored password hash is malformed", zap.String("user", u.ID))
		return nil, badCredentials
	case err != nil:
		return nil, overloaded(err)
	case !ok:
		return nil, badCredentials
	}
	if rehash {
		s.rehash(ctx, u.ID, in.Password)
	}
	s.sessions.Bind(req.Session, u.ID)
	reply := wire.LoginReply{UserReply: userReply(wire.TypeLogin, u)}
	if in.WantToken {
		reply.Token = s.issueResumeToken(ctx, u.ID)
	}
	return []wire.LoginReply{reply}, nil
}

// rehash replaces a legacy (plaintext) or outdated hash after a successful
// login. Failing to do so is not the user's problem: log and go on.
func (s *Service) rehash(ctx context.Context, userID, password string) {
	h, err := s.creds.Hash(ctx, password)
	if err == nil {
		err = s.store.SetPasswordHash(ctx, userID, h)
	}
	if err != nil {
		s.log.Warn("password rehash failed", zap.String("user", userID), zap.Error(err))
	}
}

// overloaded answers a request whose password hash could not get a slot
// before its context ended.
func overloaded(err error) error {
	return &pipeline.Error{Code: wire.CodeOverloaded, Message: "server busy, retry later: " + err.Error()}
}

// RegisterAccount answers "register": it creates an account whose id is the
// phone number, as the seed's Register procedure did, and answers with a bare
// object. Registering does not log the session in: the client logs in next
// with the id shown to the user.
func (s *Service) RegisterAccount(ctx context.Context, _ *pipeline.Request, in *wire.RegisterRequest) (*wire.RegisterReply, error) {
	if err := validateRegister(in); err != nil {
		return nil, err
	}
	hash, err := s.creds.Hash(ctx, in.Password)
	if err != nil {
		return nil, overloaded(err)
	}
	u := &db.User{ID: in.Phone, Phone: in.Phone, Name: in.Name, PasswordHash: hash}
	if err := s.store.CreateUser(ctx, u); err != nil {
		return nil, s.storeErr("register", err, "", "this phone number is already registered")
	}
	return &wire.RegisterReply{Status: wire.StatusSuccess, Type: wire.TypeRegister, UserID: u.ID}, nil
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
func (s *Service) SearchUser(ctx context.Context, req *pipeline.Request, in *wire.SearchUserRequest) (any, error) {
	if _, err := self(req, in.UserID); err != nil {
		return nil, err
	}
	none := wire.Null(wire.TypeSearchUser, wire.NullMessages)
	if in.SearchID == "" || len(in.SearchID) > maxIDLen {
		return none, nil
	}
	u, err := s.store.UserByID(ctx, in.SearchID)
	if errors.Is(err, db.ErrNotFound) {
		return none, nil
	}
	if err != nil {
		return nil, s.storeErr("search_user", err, "", "")
	}
	return []wire.UserReply{userReply(wire.TypeSearchUser, u)}, nil
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
