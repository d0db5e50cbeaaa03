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

// SaveResumeTokens is SaveResumeToken for several tokens in one transaction
// (the handlers group-commit the tokens of concurrent logins, so a login
// storm is not one write transaction per login): every token is inserted,
// then the expired tokens of their users, and all but each user's newest
// MaxResumeTokensPerUser, are dropped. Either all are stored or none: on an
// error (an unknown user, a duplicate hash) the caller retries them one by
// one with SaveResumeToken to learn which failed.
func (s *Store) SaveResumeTokens(ctx context.Context, ts []ResumeToken) error {
	if len(ts) == 0 {
		return nil
	}
	at := now()
	rows := make([]resumeTokenRow, len(ts))
	users := make([]string, 0, len(ts))
	seen := make(map[string]bool, len(ts))
	for i, t := range ts {
		if t.CreatedAt.IsZero() {
			t.CreatedAt = at
		}
		rows[i] = resumeTokenRow{TokenHash: t.Hash, UserID: t.UserID, CreatedAt: utc(t.CreatedAt), ExpiresAt: utc(t.ExpiresAt)}
		if !seen[t.UserID] {
			seen[t.UserID] = true
			users = append(users, t.UserID)
		}
	}
	return s.tx(ctx, "SaveResumeTokens", func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.NewInsert().Model(&rows).Exec(ctx); err != nil {
			return err
		}
		if _, err := tx.NewDelete().Model((*resumeTokenRow)(nil)).
			Where("user_id IN (?)", bun.In(users)).
			Where("expires_at <= ?", utc(at)).
			Exec(ctx); err != nil {
			return err
		}
		// Users past the bound are rare (a client logging in in a loop):
		// find them with an index-only count, and trim only those.
		var over []string
		if err := tx.NewSelect().Model((*resumeTokenRow)(nil)).Column("user_id").
			Where("user_id IN (?)", bun.In(users)).
			Group("user_id").
			Having("COUNT(*) > ?", MaxResumeTokensPerUser).
			Scan(ctx, &over); err != nil {
			return err
		}
		if len(over) == 0 {
			return nil
		}
		// Per user, rank tokens newest first (SaveResumeToken's order) and
		// drop those past the bound.
		_, err := tx.ExecContext(ctx, "DELETE FROM resume_tokens WHERE token_hash IN ("+
			"SELECT token_hash FROM (SELECT token_hash, ROW_NUMBER() OVER "+
			"(PARTITION BY user_id ORDER BY created_at DESC, token_hash DESC) AS rn "+
			"FROM resume_tokens WHERE user_id IN (?)) AS ranked WHERE rn > ?)",
			bun.In(over), MaxResumeTokensPerUser)
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
