package db

import (
	"context"
	"time"

	"github.com/uptrace/bun"
)

// MaxResumeTokensPerUser bounds the live tokens of one user: each login
// issues one, and a client that logs in in a loop must not grow the table.
// The oldest tokens beyond it are dropped (their clients log in again).
const MaxResumeTokensPerUser = 32

// ResumeToken is an issued resume token, by hash (hex SHA-256 of the token).
type ResumeToken struct {
	Hash      string
	UserID    string
	CreatedAt time.Time
	ExpiresAt time.Time
}

type resumeTokenRow struct {
	bun.BaseModel `bun:"table:resume_tokens,alias:rt"`

	TokenHash string    `bun:"token_hash,pk"`
	UserID    string    `bun:"user_id"`
	CreatedAt time.Time `bun:"created_at"`
	ExpiresAt time.Time `bun:"expires_at"`
}

// SaveResumeToken stores a new token for t.UserID (CreatedAt = now if zero)
// and, in the same transaction, drops that user's expired tokens and all
// but the newest MaxResumeTokensPerUser. ErrNotFound if the user does not
// exist; ErrConflict if the hash is already stored.
func (s *Store) SaveResumeToken(ctx context.Context, t ResumeToken) error {
	if t.CreatedAt.IsZero() {
		t.CreatedAt = now()
	}
	row := resumeTokenRow{TokenHash: t.Hash, UserID: t.UserID, CreatedAt: utc(t.CreatedAt), ExpiresAt: utc(t.ExpiresAt)}
	return s.tx(ctx, "SaveResumeToken", func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.NewInsert().Model(&row).Exec(ctx); err != nil {
			return err
		}
		if _, err := tx.NewDelete().Model((*resumeTokenRow)(nil)).
			Where("user_id = ?", t.UserID).
			Where("expires_at <= ?", row.CreatedAt).
			Exec(ctx); err != nil {
			return err
		}
		keep := tx.NewSelect().Model((*resumeTokenRow)(nil)).Column("token_hash").
			Where("user_id = ?", t.UserID).
			OrderExpr("created_at DESC, token_hash DESC").
			Limit(MaxResumeTokensPerUser)
		_, err := tx.NewDelete().Model((*resumeTokenRow)(nil)).
			Where("user_id = ?", t.UserID).
			Where("token_hash NOT IN (?)", keep).
			Exec(ctx)
		return err
	})
}

// ResumeTokenUser returns the user a token hash was issued to, if it has
// not expired at now and was not revoked. ErrNotFound otherwise.
func (s *Store) ResumeTokenUser(ctx context.Context, hash string, now time.Time) (string, error) {
	var row resumeTokenRow
	err := s.read(ctx, "ResumeTokenUser", func(ctx context.Context) error {
		return s.db.NewSelect().Model(&row).
			Where("token_hash = ?", hash).
			Where("expires_at > ?", utc(now)).
			Limit(1).Scan(ctx)
	})
	if err != nil {
		return "", err
	}
	return row.UserID, nil
}

// RevokeResumeToken deletes one token; unknown hashes are ignored.
func (s *Store) RevokeResumeToken(ctx context.Context, hash string) error {
	return s.write(ctx, "RevokeResumeToken", func(ctx context.Context) error {
		_, err := s.db.NewDelete().Model((*resumeTokenRow)(nil)).Where("token_hash = ?", hash).Exec(ctx)
		return err
	})
}

// RevokeResumeTokens deletes every token of userID (e.g. after a password
// change): each of their clients must log in with the password again.
func (s *Store) RevokeResumeTokens(ctx context.Context, userID string) error {
	return s.write(ctx, "RevokeResumeTokens", func(ctx context.Context) error {
		_, err := s.db.NewDelete().Model((*resumeTokenRow)(nil)).Where("user_id = ?", userID).Exec(ctx)
		return err
	})
}
