package db

import (
	"context"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"
)

// Migration 0005: friendships.requested_by, the id of the user who sent the
// request, on both rows of the pair (issue 11: only the addressee may accept
// a request, so the store must know who asked).
//
// Rows written before this migration keep NULL: their direction cannot be
// recovered. RequestFriend wrote both rows of a pair in one statement, with
// the same relation and the same created_at, lower user id first whatever
// the direction, and no message or chat exists between two users before an
// accept; so nothing in the database tells the requester from the addressee.
// Guessing would be wrong half the time and would lock real addressees out
// of their requests; deleting them would lose requests people are waiting
// on. A NULL requested_by therefore means "legacy, direction unknown": either
// side may accept it (the rule when it was made), and it counts as an
// incoming request on both sides for the pending cap. Such rows only leave:
// every new request records its requester.
//
// requested_by has no foreign key: it always names one of the row's two
// users (the CHECK), whose foreign keys already cascade. No index: the store
// only reads it with rows it found by the primary key (user_id, friend_id).
const (
	m0005Column = "requested_by"
	m0005Def    = m0005Column + ` VARCHAR CHECK (` + m0005Column + ` IS NULL OR ` +
		m0005Column + ` = user_id OR ` + m0005Column + ` = friend_id)`
)

func m0005Up(ctx context.Context, tx bun.Tx) error {
	// Idempotent like every migration (a crash may land between the
	// migration and its bookkeeping row): SQLite has no ADD COLUMN IF NOT
	// EXISTS, so ask the catalogue first.
	if has, err := m0005HasColumn(ctx, tx); err != nil || has {
		return err
	}
	_, err := tx.NewAddColumn().Table("friendships").ColumnExpr(m0005Def).Exec(ctx)
	return err
}

// m0005Down drops the column, and with it the direction of every pending
// request: back at 0004, either side may accept any request again.
func m0005Down(ctx context.Context, tx bun.Tx) error {
	if has, err := m0005HasColumn(ctx, tx); err != nil || !has {
		return err
	}
	_, err := tx.NewDropColumn().Table("friendships").Column(m0005Column).Exec(ctx)
	return err
}

// m0005HasColumn reports whether friendships already has requested_by.
func m0005HasColumn(ctx context.Context, tx bun.Tx) (bool, error) {
	q := `SELECT count(*) FROM pragma_table_info('friendships') WHERE name = ?`
	if tx.Dialect().Name() == dialect.PG {
		q = `SELECT count(*) FROM information_schema.columns ` +
			`WHERE table_schema = current_schema() AND table_name = 'friendships' AND column_name = ?`
	}
	var n int
	err := tx.QueryRowContext(ctx, q, m0005Column).Scan(&n)
	return n > 0, err
}
