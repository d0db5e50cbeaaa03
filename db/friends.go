package db

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/uptrace/bun"
)

// Relation values of a friendship row (seed-protocol.md §2.2 friend_relation).
const (
	RelationPending  = "pending"
	RelationAccepted = "accepted"
)

// Friend is one row of a user's friend list: the other user's account
// (PasswordHash always empty: the list is shown to someone else) plus the
// relation as seen from the list owner's side.
type Friend struct {
	User
	Relation string
	Since    time.Time
}

type friendshipRow struct {
	bun.BaseModel `bun:"table:friendships,alias:f"`

	UserID    string    `bun:"user_id,pk"`
	FriendID  string    `bun:"friend_id,pk"`
	Relation  string    `bun:"relation"`
	CreatedAt time.Time `bun:"created_at"`
}

// friendListRow is what the Friends join returns.
type friendListRow struct {
	ID        string    `bun:"id"`
	Phone     string    `bun:"phone"`
	Name      string    `bun:"name"`
	Email     string    `bun:"email"`
	Avatar    string    `bun:"avatar"`
	Status    string    `bun:"status"`
	CreatedAt time.Time `bun:"created_at"`
	Relation  string    `bun:"relation"`
	Since     time.Time `bun:"since"`
}

// Friends returns userID's relations (requests in both directions and
// friendships) joined with the other user's account, in one query, ordered
// by the friend's id. An unknown user simply has no friends.
func (s *Store) Friends(ctx context.Context, userID string) ([]Friend, error) {
	var rows []friendListRow
	err := s.read(ctx, "Friends", func(ctx context.Context) error {
		return s.db.NewSelect().
			TableExpr("friendships AS f").
			Join("JOIN users AS u ON u.id = f.friend_id").
			ColumnExpr("u.id, u.phone, u.name, u.email, u.avatar, u.status, u.created_at").
			ColumnExpr("f.relation, f.created_at AS since").
			Where("f.user_id = ?", userID).
			OrderExpr(s.byteOrder("f.friend_id")).
			Scan(ctx, &rows)
	})
	if err != nil {
		return nil, err
	}
	out := make([]Friend, len(rows))
	for i, r := range rows {
		out[i] = Friend{
			User: User{
				ID: r.ID, Phone: r.Phone, Name: r.Name, Email: r.Email, Avatar: r.Avatar,
				Status: r.Status, Created: r.CreatedAt.UTC(),
			},
			Relation: r.Relation,
			Since:    r.Since.UTC(),
		}
	}
	return out, nil
}

// RequestFriend records a friend request from userID to friendID: both
// directed rows, 'pending', in one transaction (the seed's AddFriend, so the
// requester also sees the request). ErrNotFound if either user is missing;
// ErrConflict if userID == friendID or any relation row between them exists.
func (s *Store) RequestFriend(ctx context.Context, userID, friendID string) error {
	if userID == friendID {
		return s.fail("RequestFriend", ErrConflict)
	}
	return s.tx(ctx, "RequestFriend", func(ctx context.Context, tx bun.Tx) error {
		exists, err := tx.NewSelect().Model((*userRow)(nil)).Where("id = ?", friendID).Exists(ctx)
		if err != nil {
			return err
		}
		if !exists {
			return ErrNotFound
		}
		rows := relationPair(userID, friendID, RelationPending, now())
		// A missing userID fails the foreign key (classified ErrNotFound).
		res, err := tx.NewInsert().Model(&rows).On("CONFLICT (user_id, friend_id) DO NOTHING").Exec(ctx)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n != 2 {
			return ErrConflict // rolls back the half we may have inserted
		}
		return nil
	})
}

// AcceptFriend makes userID and friendID friends: both relation rows become
// 'accepted', both chat rows are created or reopened (type friend, status
// chatting), and greeting is stored as a message from userID to friendID
// exactly as SaveMessage stores one (friendID's unread count +1). All in one
// transaction. It returns the stored greeting, or nil when greeting is ""
// (the chat rows are still opened, with an empty summary).
// ErrNotFound if there is no relation between them; ErrConflict if they are
// already friends.
func (s *Store) AcceptFriend(ctx context.Context, userID, friendID, greeting string) (*Message, error) {
	var stored *Message
	err := s.tx(ctx, "AcceptFriend", func(ctx context.Context, tx bun.Tx) error {
		stored = nil
		var relations []string
		q := tx.NewSelect().Model((*friendshipRow)(nil)).Column("relation").
			Where("(user_id = ? AND friend_id = ?) OR (user_id = ? AND friend_id = ?)",
				userID, friendID, friendID, userID)
		if s.pg {
			// Two concurrent accepts must not both see 'pending' and store
			// two greetings. (SQLite needs no lock: its writers are serial.)
			q = q.For("UPDATE")
		}
		if err := q.Scan(ctx, &relations); err != nil {
			return err
		}
		if len(relations) == 0 {
			return ErrNotFound
		}
		accepted := 0
		for _, r := range relations {
			if r == RelationAccepted {
				accepted++
			}
		}
		if accepted == len(relations) {
			return ErrConflict
		}
		// Upsert rather than update: a half-written pair (one row lost to a
		// manual edit) is repaired instead of staying half pending.
		rows := relationPair(userID, friendID, RelationAccepted, now())
		if _, err := tx.NewInsert().Model(&rows).
			On("CONFLICT (user_id, friend_id) DO UPDATE").
			Set("relation = EXCLUDED.relation").
			Exec(ctx); err != nil {
			return err
		}
		m := Message{SenderID: userID, ReceiverID: friendID, ChatType: ChatTypeFriend, Body: greeting}
		prepareMessage(&m)
		if greeting == "" {
			return s.upsertChats(ctx, tx, &m, false)
		}
		msg, err := s.saveMessageTx(ctx, tx, m)
		if err != nil {
			return err
		}
		stored = &msg
		return nil
	})
	if err != nil {
		return nil, err
	}
	return stored, nil
}

// DeleteFriend removes the relation both ways, both chat rows, and marks
// every message between the two deleted, in one transaction. It reports
// whether a relation existed, whether or not they had exchanged messages
// (the seed reported the last statement's row count instead, bug B14).
func (s *Store) DeleteFriend(ctx context.Context, userID, friendID string) (bool, error) {
	var existed bool
	err := s.tx(ctx, "DeleteFriend", func(ctx context.Context, tx bun.Tx) error {
		res, err := tx.NewDelete().Model((*friendshipRow)(nil)).
			Where("(user_id = ? AND friend_id = ?) OR (user_id = ? AND friend_id = ?)",
				userID, friendID, friendID, userID).
			Exec(ctx)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		existed = n > 0
		for _, r := range relationPair(userID, friendID, "", time.Time{}) {
			// One row at a time, in the same order SaveMessage locks them.
			if _, err := tx.NewDelete().Model((*chatRow)(nil)).
				Where("owner_id = ? AND peer_id = ?", r.UserID, r.FriendID).
				Exec(ctx); err != nil {
				return err
			}
		}
		_, err = tx.NewUpdate().Model((*messageRow)(nil)).
			Set("deleted = ?", true).
			Where("(sender_id = ? AND receiver_id = ?) OR (sender_id = ? AND receiver_id = ?)",
				userID, friendID, friendID, userID).
			Where("deleted = ?", false).
			Exec(ctx)
		return err
	})
	if err != nil {
		return false, err
	}
	return existed, nil
}

// AreFriends reports whether a has accepted b as a friend (the relation row
// from a to b is 'accepted'; the pair is always written together).
func (s *Store) AreFriends(ctx context.Context, a, b string) (bool, error) {
	var one int
	err := s.read(ctx, "AreFriends", func(ctx context.Context) error {
		err := s.queryRow(ctx, nil, &areFriends, &one, a, b, RelationAccepted)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		return err
	})
	return one == 1, err
}

// areFriends is prepared: a conversation's first message runs it (then the
// handlers' friendship cache answers), so a storm of first messages is a
// storm of these.
var areFriends = prepared{render: func(s *Store) string {
	return s.db.NewSelect().ColumnExpr("1").Model((*friendshipRow)(nil)).
		Where("user_id = ? AND friend_id = ? AND relation = ?", s.arg(1), s.arg(2), s.arg(3)).Limit(1).String()
}}

// relationPair returns the two directed rows of a relation, lower user id
// first. Every transaction that locks both rows of a pair (relations, chats)
// does so in this order, so two of them on PostgreSQL never deadlock.
func relationPair(a, b, relation string, t time.Time) []friendshipRow {
	if b < a {
		a, b = b, a
	}
	return []friendshipRow{
		{UserID: a, FriendID: b, Relation: relation, CreatedAt: t},
		{UserID: b, FriendID: a, Relation: relation, CreatedAt: t},
	}
}

// byteOrder orders text by bytes on both databases: PostgreSQL's default
// collation follows the locale, SQLite's is already binary.
func (s *Store) byteOrder(column string) string {
	if s.pg {
		return column + ` COLLATE "C"`
	}
	return column
}
