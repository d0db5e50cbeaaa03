package db

import (
	"context"
	"time"

	"github.com/uptrace/bun"
)

// Migration 0002: resume tokens (the resume extension, docs/PROTOCOL.md).
// A token is never stored, only its SHA-256: a copy of the database does not
// let anyone resume a session. Frozen like every migration's structs.

type m0002ResumeToken struct {
	bun.BaseModel `bun:"table:resume_tokens"`

	// TokenHash is the hex SHA-256 of the token the client holds.
	TokenHash string    `bun:"token_hash,pk"`
	UserID    string    `bun:"user_id,notnull"`
	CreatedAt time.Time `bun:"created_at,notnull"`
	ExpiresAt time.Time `bun:"expires_at,notnull"`
}

func m0002Up(ctx context.Context, tx bun.Tx) error {
	if _, err := fk(tx.NewCreateTable().Model((*m0002ResumeToken)(nil)), "user_id", "users", "id").
		IfNotExists().Exec(ctx); err != nil {
		return err
	}
	// Revoking and capping work per user (and the FK cascades on it).
	_, err := tx.NewCreateIndex().IfNotExists().
		Index("resume_tokens_user_id_created_at_idx").Table("resume_tokens").Column("user_id", "created_at").
		Exec(ctx)
	return err
}

func m0002Down(ctx context.Context, tx bun.Tx) error {
	_, err := tx.NewDropTable().Model((*m0002ResumeToken)(nil)).IfExists().Exec(ctx)
	return err
}
