package db

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/uptrace/bun"

	"github.com/parley-im/parley/wire"
)

// Friend is one row of a user's friend list: the other user's account
// (PasswordHash always empty: the list is shown to someone else) plus the
// relation as seen from the list owner's side.
type Friend struct {
	User
	Relation string
	Since    time.Time
	// RequestedBy is the id of the user who sent the request (either the
	// owner or the friend), or "" for a request made before migration 0005,
	// whose direction is unknown.
	RequestedBy string
}

// FriendLimits are the per-user caps the friend calls enforce, inside the
// transaction that would break them. Zero means no cap.
type FriendLimits struct {
	// MaxPending caps the pending requests a user has waiting in each
	// direction: RequestFriend refuses once the addressee has this many
	// incoming or the requester this many outgoing.
	MaxPending int
	// MaxFriends caps accepted friends per user: AcceptFriend refuses once
	// either side has this many.
	MaxFriends int
	// MaxList caps the rows Friends returns (the newest).
	MaxList int
}

// WithFriendLimits is the NewStore option that sets the caps; a Store
// without it has none (tools and tests that build relations directly).
func WithFriendLimits(l FriendLimits) StoreOption {
	return func(s *Store) { s.friendLimits = l }
}

type friendshipRow struct {
	bun.BaseModel `bun:"table:friendships,alias:f"`

	UserID    string    `bun:"user_id,pk"`
	FriendID  string    `bun:"friend_id,pk"`
	Relation  string    `bun:"relation"`
	CreatedAt time.Time `bun:"created_at"`
	// RequestedBy is NULL on rows older than migration 0005.
	RequestedBy *string `bun:"requested_by"`
}

// friendListRow is what the Friends join returns.
type friendListRow struct {
	ID          string    `bun:"id"`
	Phone       string    `bun:"phone"`
	Name        string    `bun:"name"`
	Email       string    `bun:"email"`
	Avatar      string    `bun:"avatar"`
	Status      string    `bun:"status"`
	CreatedAt   time.Time `bun:"created_at"`
	Relation    string    `bun:"relation"`
	Since       time.Time `bun:"since"`
	RequestedBy *string   `bun:"requested_by"`
}

func (r *friendListRow) friend() Friend {
	f := Friend{
		User: User{
			ID: r.ID, Phone: r.Phone, Name: r.Name, Email: r.Email, Avatar: r.Avatar,
			Status: r.Status, Created: r.CreatedAt.UTC(),
		},
		Relation: r.Relation,
		Since:    r.Since.UTC(),
	}
	if r.RequestedBy != nil {
		f.RequestedBy = *r.RequestedBy
	}
	return f
}

// friendsOf selects userID's relation rows joined with the other user's
// account.
func (s *Store) friendsOf(userID string) *bun.SelectQuery {
	return s.db.NewSelect().
		TableExpr("friendships AS f").
		Join("JOIN users AS u ON u.id = f.friend_id").
		ColumnExpr("u.id, u.phone, u.name, u.email, u.avatar, u.status, u.created_at").
		ColumnExpr("f.relation, f.created_at AS since, f.requested_by").
		Where("f.user_id = ?", userID)
}

// Friends returns userID's relations (requests in both directions and
// friendships) joined with the other user's account, in one query: the
// newest relation first (by the time of the request), ties in the friend's
// id byte order, at most FriendLimits.MaxList of them. An unknown user simply
// has no friends.
func (s *Store) Friends(ctx context.Context, userID string) ([]Friend, error) {
	var rows []friendListRow
	err := s.read(ctx, "Friends", func(ctx context.Context) error {
		q := s.friendsOf(userID).OrderExpr("f.created_at DESC").OrderExpr(s.byteOrder("f.friend_id"))
		if s.friendLimits.MaxList > 0 {
			q = q.Limit(s.friendLimits.MaxList)
		}
		return q.Scan(ctx, &rows)
	})
	if err != nil {
		return nil, err
	}
	out := make([]Friend, len(rows))
	for i := range rows {
		out[i] = rows[i].friend()
	}
	return out, nil
}

// Friend returns one row of userID's friend list: friendID as userID sees
// them. ErrNotFound if there is no relation between them.
func (s *Store) Friend(ctx context.Context, userID, friendID string) (*Friend, error) {
	var row friendListRow
	err := s.read(ctx, "Friend", func(ctx context.Context) error {
		return s.friendsOf(userID).Where("f.friend_id = ?", friendID).Scan(ctx, &row)
	})
	if err != nil {
		return nil, err
	}
	f := row.friend()
	return &f, nil
}

// RequestFriend records a friend request from userID to friendID: both
// directed rows, 'pending', requested_by userID, in one transaction (the
// seed's AddFriend, so the requester also sees the request). ErrNotFound if
// either user is missing; ErrConflict if userID == friendID or any relation
// row between them exists; a *LimitError (ErrLimit) if friendID already has
// FriendLimits.MaxPending incoming requests, or userID that many outgoing.
func (s *Store) RequestFriend(ctx context.Context, userID, friendID string) error {
	if userID == friendID {
		return s.fail("RequestFriend", ErrConflict)
	}
	return s.tx(ctx, "RequestFriend", func(ctx context.Context, tx bun.Tx) error {
		if err := s.lockUsers(ctx, tx, userID, friendID); err != nil {
			return err
		}
		if max := s.friendLimits.MaxPending; max > 0 {
			// A request of unknown direction (NULL) may be accepted by either
			// side, so it counts as incoming for both.
			if err := s.underLimit(ctx, tx, friendID, LimitIncoming, max,
				"relation = ? AND (requested_by IS NULL OR requested_by <> ?)", wire.RelationPending, friendID); err != nil {
				return err
			}
			if err := s.underLimit(ctx, tx, userID, LimitOutgoing, max,
				"relation = ? AND requested_by = ?", wire.RelationPending, userID); err != nil {
				return err
			}
		}
		rows := relationPair(userID, friendID, wire.RelationPending, now())
		for i := range rows {
			rows[i].RequestedBy = &userID
		}
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

// lockUsers checks that both users exist and, on PostgreSQL, locks their
// rows (in the byte order of their ids, as relationPair) until the
// transaction ends, so the per-user counts a call checks cannot change under
// it: two requests to one user are counted one after the other. FOR NO KEY
// UPDATE does not block the foreign-key checks of other writes (messages,
// chats) that name the user. SQLite's writers are serial already.
func (s *Store) lockUsers(ctx context.Context, tx bun.Tx, a, b string) error {
	var ids []string
	q := tx.NewSelect().Model((*userRow)(nil)).Column("id").
		Where("id IN (?, ?)", a, b).OrderExpr(s.byteOrder("id"))
	if s.pg {
		q = q.For("NO KEY UPDATE")
	}
	if err := q.Scan(ctx, &ids); err != nil {
		return err
	}
	if len(ids) != 2 {
		return ErrNotFound
	}
	return nil
}

// underLimit returns a *LimitError if userID already has max relation rows
// matching where (with args).
func (s *Store) underLimit(ctx context.Context, tx bun.Tx, userID, what string, max int, where string, args ...any) error {
	n, err := tx.NewSelect().Model((*friendshipRow)(nil)).
		Where("user_id = ?", userID).Where(where, args...).
		Count(ctx)
	if err != nil {
		return err
	}
	if n >= max {
		return &LimitError{UserID: userID, What: what, Max: max}
	}
	return nil
}

// AcceptFriend makes userID and friendID friends: both relation rows become
// 'accepted', both chat rows are created or reopened (type friend, status
// chatting), and greeting is stored as a message from userID to friendID
// exactly as SaveMessage stores one (friendID's unread count +1). All in one
// transaction. It returns the stored greeting, or nil when greeting is ""
// (the chat rows are still opened, with an empty summary).
// ErrNotFound if there is no relation between them; ErrConflict if they are
// already friends; ErrForbidden if userID sent the request (only its
// addressee may accept it; a request from before migration 0005 either side
// may); a *LimitError (ErrLimit) if either already has FriendLimits.MaxFriends
// friends.
func (s *Store) AcceptFriend(ctx context.Context, userID, friendID, greeting string) (*Message, error) {
	var stored *Message
	err := s.tx(ctx, "AcceptFriend", func(ctx context.Context, tx bun.Tx) error {
		stored = nil
		max := s.friendLimits.MaxFriends
		if max > 0 {
			if err := s.lockUsers(ctx, tx, userID, friendID); err != nil {
				return err
			}
		}
		var rows []friendshipRow
		q := tx.NewSelect().Model(&rows).Column("relation", "requested_by").
			Where("(user_id = ? AND friend_id = ?) OR (user_id = ? AND friend_id = ?)",
				userID, friendID, friendID, userID)
		if s.pg {
			// Two concurrent accepts must not both see 'pending' and store
			// two greetings. (SQLite needs no lock: its writers are serial.)
			q = q.For("UPDATE")
		}
		if err := q.Scan(ctx); err != nil {
			return err
		}
		if len(rows) == 0 {
			return ErrNotFound
		}
		accepted := 0
		for _, r := range rows {
			if r.Relation == wire.RelationAccepted {
				accepted++
			}
			if r.Relation == wire.RelationPending && r.RequestedBy != nil && *r.RequestedBy == userID {
				return ErrForbidden
			}
		}
		if accepted == len(rows) {
			return ErrConflict
		}
		if max > 0 {
			for _, id := range []string{userID, friendID} {
				if err := s.underLimit(ctx, tx, id, LimitFriends, max, "relation = ?", wire.RelationAccepted); err != nil {
					return err
				}
			}
		}
		// Upsert rather than update: a half-written pair (one row lost to a
		// manual edit) is repaired instead of staying half pending.
		pair := relationPair(userID, friendID, wire.RelationAccepted, now())
		if _, err := tx.NewInsert().Model(&pair).
			On("CONFLICT (user_id, friend_id) DO UPDATE").
			Set("relation = EXCLUDED.relation").
			Exec(ctx); err != nil {
			return err
		}
		m := Message{SenderID: userID, ReceiverID: friendID, ChatType: wire.ChatTypeFriend, Body: greeting}
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
		err := s.queryRow(ctx, nil, &areFriends, &one, a, b, wire.RelationAccepted)
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
