package handlers

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"time"

	"go.uber.org/zap"

	"github.com/parley-im/parley/db"
	"github.com/parley-im/parley/pipeline"
	"github.com/parley-im/parley/wire"
)

// ResumeStore is the storage of resume tokens (stored by hash): logins
// issue them (group-committed, tokenbatch.go), resume redeems them.
type ResumeStore interface {
	SaveResumeToken(ctx context.Context, t db.ResumeToken) error
	SaveResumeTokens(ctx context.Context, ts []db.ResumeToken) error
	ResumeTokenUser(ctx context.Context, hash string, now time.Time) (string, error)
	RevokeResumeTokens(ctx context.Context, userID string) error
}

// resumeTokenBytes is the entropy of a resume token: 256 bits, base64url
// encoded (43 characters). maxTokenLen refuses anything longer unhashed.
const (
	resumeTokenBytes = 32
	maxTokenLen      = 64
)

// errBadToken is the one answer to every refused resume: unknown, expired
// and revoked tokens are indistinguishable to the client.
var errBadToken = &pipeline.Error{Code: wire.CodeUnauthenticated, Message: "invalid or expired resume token"}

// hashToken is how a token is stored and looked up: its SHA-256, in hex. A
// plain hash suffices (no salt, no slow hash) because the token is 256
// random bits, not a password: there is nothing to guess.
func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// issueResumeToken creates and stores a token for userID, valid for the
// configured TTL. A failure costs the client only the fast path (it logs in
// with its password next time), so it is logged and "" returned: the login
// itself succeeds.
func (s *Accounts) issueResumeToken(ctx context.Context, userID string) string {
	if s.resumeTTL <= 0 {
		return ""
	}
	var b [resumeTokenBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		s.log.Error("no randomness for a resume token", zap.Error(err))
		return ""
	}
	token := base64.RawURLEncoding.EncodeToString(b[:])
	err := s.tokens.Do(ctx, db.ResumeToken{
		Hash: hashToken(token), UserID: userID, ExpiresAt: s.now().Add(s.resumeTTL),
	})
	if err != nil {
		s.log.Warn("resume token not stored", zap.String("user", userID), zap.Error(err))
		return ""
	}
	return token
}

// Resume logs the session in with a token from an earlier login: one
// indexed lookup instead of a password hash, so a reconnect storm after a
// restart costs the server microseconds per client. It is public (served
// before login) like login itself.
func (s *Accounts) Resume(ctx context.Context, req *pipeline.Request, in *wire.Resume) (*wire.ResumeReply, error) {
	if in.Token == "" || len(in.Token) > maxTokenLen {
		return nil, errBadToken
	}
	user, err := s.tokenStore.ResumeTokenUser(ctx, hashToken(in.Token), s.now())
	if errors.Is(err, db.ErrNotFound) {
		return nil, errBadToken
	}
	if err != nil {
		return nil, storeErr(s.log, "resume", err, "", "")
	}
	s.sessions.Bind(req.Session, user)
	return &wire.ResumeReply{Type: wire.TypeResume, Status: wire.StatusSuccess, UserID: user}, nil
}

// RevokeResumeTokens ends every resumable session of userID: their clients
// must log in with the password again. For operators (and a future password
// change); live connections stay logged in.
func (s *Accounts) RevokeResumeTokens(ctx context.Context, userID string) error {
	return s.tokenStore.RevokeResumeTokens(ctx, userID)
}

// ForgetUser drops what this process caches about userID's credentials, so
// their next password login is verified against the database again. A
// cluster node calls it when `parleyd revoke` announces the user.
func (s *Accounts) ForgetUser(userID string) { s.creds.forget(userID) }
