package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/uptrace/bun"

	"github.com/parley-im/parley/wire"
)

// Group chats by read diffusion (migration 0007): a group message is stored
// once, numbered by its group's seq; each member has a read cursor and a
// visible range [joined_seq, left_seq]. Every seq is drawn under the group
// row's lock (FOR UPDATE on PostgreSQL; SQLite has one writer), inside the
// transaction that stores the message, so a group's seqs have no gap and no
// duplicate and commit in order, whoever sends and however batched.

// ErrNotMember: the user is not (or no longer) a member of the group. It
// is a refusal like ErrForbidden, but a client may act on it (drop the
// group from its list).
var ErrNotMember = errors.New("not a member")

// GroupLimits are the caps the group calls enforce inside the transaction
// that would break them. Zero means no cap.
type GroupLimits struct {
	// MaxMembers caps a group's active members.
	MaxMembers int
	// MaxGroups caps the groups a user is an active member of.
	MaxGroups int
}

// WithGroupLimits is the NewStore option that sets the group caps.
func WithGroupLimits(l GroupLimits) StoreOption {
	return func(s *Store) { s.groupLimits = l }
}

// The caps a LimitError names for groups.
const (
	LimitGroupMembers = "group members" // GroupLimits.MaxMembers, the group's
	LimitGroups       = "groups"        // GroupLimits.MaxGroups, a user's
)

// groupLockClass is the first key of the PostgreSQL advisory lock that
// serialises membership changes per user, so two groups adding the same user
// at once cannot both pass its MaxGroups cap.
const groupLockClass = 0x50617233 // "Par3"

// Group is a group's row.
type Group struct {
	ID        int64
	Name      string
	OwnerID   string
	CreatedAt time.Time
	// LastSeq is the seq of the newest message; MemberSeq that of the
	// newest membership change (a member list read at MemberSeq is current).
	LastSeq, MemberSeq int64
	Members            int
	Dissolved          bool
	LastTime           time.Time
	LastSender         string
	LastBody           string
	LastType           string
}

// Membership is one user's row in a group. LeftSeq is 0 while a member.
type Membership struct {
	GroupID                     int64
	UserID, Role                string
	JoinedSeq, LeftSeq, ReadSeq int64
	// UserName and UserAvatar are the user's, filled by GroupMembers.
	UserName, UserAvatar string
}

// MyGroup is a group as one member sees it: the group and its membership.
type MyGroup struct {
	Group
	Membership
}

// Unread is the member's unread count: last seq (or the seq it left at)
// minus its read cursor.
func (g *MyGroup) Unread() int64 {
	top := g.LastSeq
	if g.LeftSeq > 0 {
		top = g.LeftSeq
	}
	return max(top-g.ReadSeq, 0)
}

// GroupMessage is one message of a group's stream. Type is
// wire.MessageTypeSystem for membership changes, whose Body is a
// wire.GroupEvent.
type GroupMessage struct {
	GroupID     int64
	Seq         int64
	SenderID    string
	Body        string
	Type        string
	SentAt      time.Time
	ClientMsgID string
	// Retry is set by SaveGroupMessage and MessageWriter.SaveGroup, never
	// stored: the sender had already stored a message with this
	// ClientMsgID in this group; the GroupMessage is that one, unchanged,
	// and nothing must be delivered.
	Retry bool
	// MemberSeq is the group's member_seq when the message was stored (not
	// stored with the message): a member list read at that member_seq is
	// the one to deliver it to.
	MemberSeq int64
}

type groupRow struct {
	bun.BaseModel `bun:"table:chat_groups,alias:g"`

	ID         int64     `bun:"id,pk,autoincrement"`
	Name       string    `bun:"name"`
	OwnerID    string    `bun:"owner_id"`
	CreatedAt  time.Time `bun:"created_at"`
	LastSeq    int64     `bun:"last_seq"`
	MemberSeq  int64     `bun:"member_seq"`
	Members    int       `bun:"members"`
	Dissolved  bool      `bun:"dissolved"`
	LastTime   time.Time `bun:"last_time"`
	LastSender string    `bun:"last_sender"`
	LastBody   string    `bun:"last_body"`
	LastType   string    `bun:"last_type"`
}

func (r *groupRow) group() Group {
	return Group{ID: r.ID, Name: r.Name, OwnerID: r.OwnerID, CreatedAt: r.CreatedAt.UTC(),
		LastSeq: r.LastSeq, MemberSeq: r.MemberSeq, Members: r.Members, Dissolved: r.Dissolved,
		LastTime: r.LastTime.UTC(), LastSender: r.LastSender, LastBody: r.LastBody, LastType: r.LastType}
}

type memberRow struct {
	bun.BaseModel `bun:"table:group_members,alias:gm"`

	GroupID   int64     `bun:"group_id,pk"`
	UserID    string    `bun:"user_id,pk"`
	Role      string    `bun:"role"`
	JoinedSeq int64     `bun:"joined_seq"`
	LeftSeq   int64     `bun:"left_seq"`
	ReadSeq   int64     `bun:"read_seq"`
	JoinedAt  time.Time `bun:"joined_at"`
}

func (r *memberRow) membership() Membership {
	return Membership{GroupID: r.GroupID, UserID: r.UserID, Role: r.Role,
		JoinedSeq: r.JoinedSeq, LeftSeq: r.LeftSeq, ReadSeq: r.ReadSeq}
}

type groupMessageRow struct {
	bun.BaseModel `bun:"table:group_messages,alias:gmsg"`

	GroupID     int64     `bun:"group_id,pk"`
	Seq         int64     `bun:"seq,pk"`
	SenderID    string    `bun:"sender_id"`
	Body        string    `bun:"body"`
	MessageType string    `bun:"message_type"`
	SentAt      time.Time `bun:"sent_at"`
	ClientMsgID string    `bun:"client_msg_id,nullzero"`
}

func (r *groupMessageRow) message() GroupMessage {
	return GroupMessage{GroupID: r.GroupID, Seq: r.Seq, SenderID: r.SenderID, Body: r.Body,
		Type: r.MessageType, SentAt: r.SentAt.UTC(), ClientMsgID: r.ClientMsgID}
}

// refuse is a classified refusal with a message for the client.
func refuse(kind error, format string, args ...any) error {
	return fmt.Errorf("%w: %s", kind, fmt.Sprintf(format, args...))
}

// lockGroup reads group id for update: on PostgreSQL the row lock is held
// until the transaction ends, so every seq is drawn by one transaction at a
// time; SQLite's single writer already serialises. A dissolved group is
// ErrNotFound.
func (s *Store) lockGroup(ctx context.Context, tx bun.Tx, id int64) (*groupRow, error) {
	var g groupRow
	q := tx.NewSelect().Model(&g).Where("id = ?", id)
	if s.pg {
		q = q.For("UPDATE")
	}
	if err := q.Scan(ctx); err != nil {
		return nil, err
	}
	if g.Dissolved {
		return nil, refuse(ErrNotFound, "group %d was dissolved", id)
	}
	return &g, nil
}

// member reads userID's row in group id; ErrNotMember if it has none or
// has left.
func member(ctx context.Context, db bun.IDB, id int64, userID string) (*memberRow, error) {
	var m memberRow
	err := db.NewSelect().Model(&m).Where("group_id = ? AND user_id = ?", id, userID).Scan(ctx)
	if err == nil && m.LeftSeq == 0 {
		return &m, nil
	}
	if err == nil || errors.Is(err, sql.ErrNoRows) {
		return nil, refuse(ErrNotMember, "%s is not a member of group %d", userID, id)
	}
	return nil, err
}

// appendSystem stores a system message for ev as g's next message and
// records it as a membership change; g is locked and updated in place.
func (s *Store) appendSystem(ctx context.Context, tx bun.Tx, g *groupRow, ev wire.GroupEvent, at time.Time) (GroupMessage, error) {
	body, err := wire.Marshal(ev)
	if err != nil {
		return GroupMessage{}, err
	}
	g.LastSeq++
	row := groupMessageRow{GroupID: g.ID, Seq: g.LastSeq, SenderID: ev.Actor, Body: string(body),
		MessageType: wire.MessageTypeSystem, SentAt: at}
	if _, err := tx.NewInsert().Model(&row).Exec(ctx); err != nil {
		return GroupMessage{}, err
	}
	g.MemberSeq = g.LastSeq
	g.LastTime, g.LastSender, g.LastBody, g.LastType = at, ev.Actor, row.Body, wire.MessageTypeSystem
	if _, err := tx.NewUpdate().Model(g).WherePK().
		Column("name", "owner_id", "last_seq", "member_seq", "members", "dissolved",
			"last_time", "last_sender", "last_body", "last_type").Exec(ctx); err != nil {
		return GroupMessage{}, err
	}
	m := row.message()
	m.MemberSeq = g.MemberSeq
	return m, nil
}

// checkJoinable refuses users that the actor may not add: unknown users
// (ErrNotFound), users who are not the actor's accepted friends
// (ErrForbidden: a group can only push into the sessions of people who
// agreed to hear from its members' side), and users at the MaxGroups cap.
// On PostgreSQL it first takes each user's membership lock, in id order.
func (s *Store) checkJoinable(ctx context.Context, tx bun.Tx, actor string, users []string) error {
	if s.pg {
		for _, u := range users { // sorted by the caller
			if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(?, hashtext(?))", groupLockClass, u); err != nil {
				return err
			}
		}
	}
	var friends []string
	if err := tx.NewSelect().Model((*friendshipRow)(nil)).Column("friend_id").
		Where("user_id = ? AND relation = ?", actor, wire.RelationAccepted).
		Where("friend_id IN (?)", bun.In(users)).Scan(ctx, &friends); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	for _, u := range users {
		if !slices.Contains(friends, u) {
			var n int
			if err := tx.NewSelect().Model((*userRow)(nil)).ColumnExpr("count(*)").Where("id = ?", u).Scan(ctx, &n); err != nil {
				return err
			}
			if n == 0 {
				return refuse(ErrNotFound, "no user %s", u)
			}
			return refuse(ErrForbidden, "%s is not a friend of %s", u, actor)
		}
	}
	if max := s.groupLimits.MaxGroups; max > 0 {
		var counts []struct {
			UserID string `bun:"user_id"`
			N      int    `bun:"n"`
		}
		if err := tx.NewSelect().Model((*memberRow)(nil)).Column("user_id").ColumnExpr("count(*) AS n").
			Where("user_id IN (?) AND left_seq = 0", bun.In(users)).Group("user_id").Scan(ctx, &counts); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		for _, c := range counts {
			if c.N >= max {
				return &LimitError{UserID: c.UserID, What: LimitGroups, Max: max}
			}
		}
	}
	return nil
}

// distinctIDs returns ids sorted, without duplicates and without skip.
func distinctIDs(ids []string, skip string) []string {
	out := slices.Clone(ids)
	slices.Sort(out)
	out = slices.Compact(out)
	return slices.DeleteFunc(out, func(u string) bool { return u == skip })
}

// join adds users to g at the seq of the system message that will announce
// it (g.LastSeq+1): a new row, or a former member's row reopened. Users who
// are members already are ErrConflict.
func (s *Store) join(ctx context.Context, tx bun.Tx, g *groupRow, users []string, role string, at time.Time) error {
	if max := s.groupLimits.MaxMembers; max > 0 && g.Members+len(users) > max {
		return &LimitError{UserID: FormatGroupID(g.ID), What: LimitGroupMembers, Max: max}
	}
	seq := g.LastSeq + 1
	for _, u := range users {
		row := memberRow{GroupID: g.ID, UserID: u, Role: role, JoinedSeq: seq, ReadSeq: seq, JoinedAt: at}
		res, err := tx.NewInsert().Model(&row).
			On("CONFLICT (group_id, user_id) DO UPDATE").
			Set("role = EXCLUDED.role, joined_seq = EXCLUDED.joined_seq, left_seq = 0, " +
				"read_seq = EXCLUDED.read_seq, joined_at = EXCLUDED.joined_at").
			Where("gm.left_seq <> 0").Exec(ctx)
		if err := affectedOr(res, err, refuse(ErrConflict, "%s is already a member", u)); err != nil {
			return err
		}
	}
	g.Members += len(users)
	return nil
}

// FormatGroupID renders a group id for messages and the wire.
func FormatGroupID(id int64) string { return wire.FormatID(id) }

// CreateGroup creates a group named name owned by owner, with members (the
// owner's accepted friends) as plain members, and its first message (seq 1,
// the create event), which everyone joins at.
func (s *Store) CreateGroup(ctx context.Context, owner, name string, members []string) (Group, GroupMessage, error) {
	users := distinctIDs(members, owner)
	var (
		g   groupRow
		msg GroupMessage
	)
	err := s.tx(ctx, "CreateGroup", func(ctx context.Context, tx bun.Tx) error {
		at := now()
		g = groupRow{Name: name, OwnerID: owner, CreatedAt: at, LastTime: at, LastType: wire.MessageTypeText}
		if _, err := tx.NewInsert().Model(&g).Returning("id").Exec(ctx); err != nil {
			return err
		}
		all := append(slices.Clone(users), owner)
		slices.Sort(all)
		if len(users) > 0 {
			if err := s.checkJoinable(ctx, tx, owner, users); err != nil {
				return err
			}
		}
		if err := s.join(ctx, tx, &g, []string{owner}, wire.GroupRoleOwner, at); err != nil {
			return err
		}
		if err := s.join(ctx, tx, &g, users, wire.GroupRoleMember, at); err != nil {
			return err
		}
		if max := s.groupLimits.MaxGroups; max > 0 {
			// The owner's own cap (the others were checked above).
			var n int
			if err := tx.NewSelect().Model((*memberRow)(nil)).ColumnExpr("count(*)").
				Where("user_id = ? AND left_seq = 0", owner).Scan(ctx, &n); err != nil {
				return err
			}
			if n > max {
				return &LimitError{UserID: owner, What: LimitGroups, Max: max}
			}
		}
		var err error
		msg, err = s.appendSystem(ctx, tx, &g, wire.GroupEvent{Event: wire.GroupEventCreate, Actor: owner, Users: users, Name: name}, at)
		return err
	})
	if err != nil {
		return Group{}, GroupMessage{}, err
	}
	return g.group(), msg, nil
}

// groupChange runs change on group id for actor in one transaction: the
// group locked, the actor's membership read (it must be an active member),
// change's event appended as the next (system) message.
func (s *Store) groupChange(ctx context.Context, op string, id int64, actor string,
	change func(ctx context.Context, tx bun.Tx, g *groupRow, me *memberRow, at time.Time) (wire.GroupEvent, error),
) (GroupMessage, error) {
	var msg GroupMessage
	err := s.tx(ctx, op, func(ctx context.Context, tx bun.Tx) error {
		g, err := s.lockGroup(ctx, tx, id)
		if err != nil {
			return err
		}
		me, err := member(ctx, tx, id, actor)
		if err != nil {
			return err
		}
		at := now()
		ev, err := change(ctx, tx, g, me, at)
		if err != nil {
			return err
		}
		ev.Actor = actor
		msg, err = s.appendSystem(ctx, tx, g, ev, at)
		return err
	})
	return msg, err
}

// canManage reports whether a member with role may rename the group and add
// members: the owner and admins.
func canManage(role string) bool { return role == wire.GroupRoleOwner || role == wire.GroupRoleAdmin }

// RenameGroup renames group id (owner or admin).
func (s *Store) RenameGroup(ctx context.Context, id int64, actor, name string) (GroupMessage, error) {
	return s.groupChange(ctx, "RenameGroup", id, actor, func(_ context.Context, _ bun.Tx, g *groupRow, me *memberRow, _ time.Time) (wire.GroupEvent, error) {
		if !canManage(me.Role) {
			return wire.GroupEvent{}, refuse(ErrForbidden, "only the owner or an admin may rename the group")
		}
		g.Name = name
		return wire.GroupEvent{Event: wire.GroupEventRename, Name: name}, nil
	})
}

// AddGroupMembers adds users (the actor's accepted friends) to group id
// (owner or admin). They see the group's messages from the add event on.
func (s *Store) AddGroupMembers(ctx context.Context, id int64, actor string, users []string) (GroupMessage, error) {
	users = distinctIDs(users, "")
	return s.groupChange(ctx, "AddGroupMembers", id, actor, func(ctx context.Context, tx bun.Tx, g *groupRow, me *memberRow, at time.Time) (wire.GroupEvent, error) {
		if !canManage(me.Role) {
			return wire.GroupEvent{}, refuse(ErrForbidden, "only the owner or an admin may add members")
		}
		if err := s.checkJoinable(ctx, tx, actor, users); err != nil {
			return wire.GroupEvent{}, err
		}
		if err := s.join(ctx, tx, g, users, wire.GroupRoleMember, at); err != nil {
			return wire.GroupEvent{}, err
		}
		return wire.GroupEvent{Event: wire.GroupEventAdd, Users: users}, nil
	})
}

// leave ends user's membership at the seq of the event about to be appended.
func leave(ctx context.Context, tx bun.Tx, g *groupRow, users ...string) error {
	res, err := tx.NewUpdate().Model((*memberRow)(nil)).Set("left_seq = ?", g.LastSeq+1).
		Where("group_id = ? AND user_id IN (?) AND left_seq = 0", g.ID, bun.In(users)).Exec(ctx)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	g.Members -= int(n)
	return err
}

// RemoveGroupMember removes user from group id: the owner removes anyone
// but itself, an admin only plain members. The removed member sees the
// removal event and nothing after it.
func (s *Store) RemoveGroupMember(ctx context.Context, id int64, actor, user string) (GroupMessage, error) {
	return s.groupChange(ctx, "RemoveGroupMember", id, actor, func(ctx context.Context, tx bun.Tx, g *groupRow, me *memberRow, _ time.Time) (wire.GroupEvent, error) {
		if user == actor {
			return wire.GroupEvent{}, refuse(ErrForbidden, "use group_leave to leave a group")
		}
		target, err := member(ctx, tx, id, user)
		if err != nil {
			return wire.GroupEvent{}, err
		}
		if !(me.Role == wire.GroupRoleOwner || me.Role == wire.GroupRoleAdmin && target.Role == wire.GroupRoleMember) {
			return wire.GroupEvent{}, refuse(ErrForbidden, "a %s may not remove a %s", me.Role, target.Role)
		}
		return wire.GroupEvent{Event: wire.GroupEventRemove, Users: []string{user}}, leave(ctx, tx, g, user)
	})
}

// LeaveGroup ends user's membership of group id. The owner cannot leave:
// it hands the group on (SetGroupRole) or dissolves it.
func (s *Store) LeaveGroup(ctx context.Context, id int64, user string) (GroupMessage, error) {
	return s.groupChange(ctx, "LeaveGroup", id, user, func(ctx context.Context, tx bun.Tx, g *groupRow, me *memberRow, _ time.Time) (wire.GroupEvent, error) {
		if me.Role == wire.GroupRoleOwner {
			return wire.GroupEvent{}, refuse(ErrForbidden, "the owner must hand the group on or dissolve it")
		}
		return wire.GroupEvent{Event: wire.GroupEventLeave, Users: []string{user}}, leave(ctx, tx, g, user)
	})
}

// SetGroupRole sets user's role in group id (owner only). Making another
// member the owner hands the group on: the old owner becomes an admin.
func (s *Store) SetGroupRole(ctx context.Context, id int64, actor, user, role string) (GroupMessage, error) {
	return s.groupChange(ctx, "SetGroupRole", id, actor, func(ctx context.Context, tx bun.Tx, g *groupRow, me *memberRow, _ time.Time) (wire.GroupEvent, error) {
		if me.Role != wire.GroupRoleOwner {
			return wire.GroupEvent{}, refuse(ErrForbidden, "only the owner may change roles")
		}
		if user == actor {
			return wire.GroupEvent{}, refuse(ErrForbidden, "the owner's role changes only by handing the group on")
		}
		if _, err := member(ctx, tx, id, user); err != nil {
			return wire.GroupEvent{}, err
		}
		set := func(u, r string) error {
			_, err := tx.NewUpdate().Model((*memberRow)(nil)).Set("role = ?", r).
				Where("group_id = ? AND user_id = ?", id, u).Exec(ctx)
			return err
		}
		if err := set(user, role); err != nil {
			return wire.GroupEvent{}, err
		}
		if role == wire.GroupRoleOwner {
			g.OwnerID = user
			if err := set(actor, wire.GroupRoleAdmin); err != nil {
				return wire.GroupEvent{}, err
			}
		}
		return wire.GroupEvent{Event: wire.GroupEventRole, Users: []string{user}, Role: role}, nil
	})
}

// DissolveGroup ends group id (owner only): every member leaves at the
// dissolve event, which is the group's last message; members keep reading
// the history they had.
func (s *Store) DissolveGroup(ctx context.Context, id int64, actor string) (GroupMessage, []string, error) {
	var members []string
	msg, err := s.groupChange(ctx, "DissolveGroup", id, actor, func(ctx context.Context, tx bun.Tx, g *groupRow, me *memberRow, _ time.Time) (wire.GroupEvent, error) {
		if me.Role != wire.GroupRoleOwner {
			return wire.GroupEvent{}, refuse(ErrForbidden, "only the owner may dissolve the group")
		}
		if err := tx.NewSelect().Model((*memberRow)(nil)).Column("user_id").
			Where("group_id = ? AND left_seq = 0", id).Order("user_id").Scan(ctx, &members); err != nil {
			return wire.GroupEvent{}, err
		}
		if _, err := tx.NewUpdate().Model((*memberRow)(nil)).Set("left_seq = ?", g.LastSeq+1).
			Where("group_id = ? AND left_seq = 0", id).Exec(ctx); err != nil {
			return wire.GroupEvent{}, err
		}
		g.Members, g.Dissolved = 0, true
		return wire.GroupEvent{Event: wire.GroupEventDissolve}, nil
	})
	return msg, members, err
}

// Recipients are a group's active members, sorted by id, with the seq each
// joined at, as of the group's MemberSeq: the fan-out's recipient list.
type Recipients struct {
	MemberSeq int64
	IDs       []string
	Joined    []int64
	// MaxJoined is the highest of Joined.
	MaxJoined int64
}

// GroupRecipients reads group id's Recipients with one statement, so the
// list and its MemberSeq are one snapshot. ErrNotFound if there is no such
// group.
func (s *Store) GroupRecipients(ctx context.Context, id int64) (Recipients, error) {
	var rows []struct {
		MemberSeq int64          `bun:"member_seq"`
		UserID    sql.NullString `bun:"user_id"`
		JoinedSeq sql.NullInt64  `bun:"joined_seq"`
	}
	err := s.read(ctx, "GroupRecipients", func(ctx context.Context) error {
		return s.db.NewSelect().Model((*groupRow)(nil)).
			ColumnExpr("g.member_seq, gm.user_id, gm.joined_seq").
			Join("LEFT JOIN group_members AS gm ON gm.group_id = g.id AND gm.left_seq = 0").
			Where("g.id = ?", id).OrderExpr("gm.user_id").Scan(ctx, &rows)
	})
	if err == nil && len(rows) == 0 {
		err = s.fail("GroupRecipients", sql.ErrNoRows)
	}
	if err != nil {
		return Recipients{}, err
	}
	out := Recipients{MemberSeq: rows[0].MemberSeq}
	for _, r := range rows {
		if !r.UserID.Valid {
			continue // a group without members (dissolved)
		}
		out.IDs = append(out.IDs, r.UserID.String)
		out.Joined = append(out.Joined, r.JoinedSeq.Int64)
		out.MaxJoined = max(out.MaxJoined, r.JoinedSeq.Int64)
	}
	return out, nil
}

// GroupFor returns group id as userID sees it; ErrNotMember unless userID
// is an active member.
func (s *Store) GroupFor(ctx context.Context, id int64, userID string) (MyGroup, error) {
	var out MyGroup
	err := s.read(ctx, "GroupFor", func(ctx context.Context) error {
		m, err := member(ctx, s.db, id, userID)
		if err != nil {
			return err
		}
		var g groupRow
		if err := s.db.NewSelect().Model(&g).Where("id = ?", id).Scan(ctx); err != nil {
			return err
		}
		out = MyGroup{Group: g.group(), Membership: m.membership()}
		return nil
	})
	return out, err
}

// myGroupRow is what the MyGroups join returns.
type myGroupRow struct {
	groupRow  `bun:",extend"`
	Role      string `bun:"role"`
	JoinedSeq int64  `bun:"joined_seq"`
	ReadSeq   int64  `bun:"read_seq"`
}

// MyGroups returns the groups userID is an active member of, most recent
// message first, at most limit (<= 0: MaxBatch).
func (s *Store) MyGroups(ctx context.Context, userID string, limit int) ([]MyGroup, error) {
	if limit <= 0 || limit > MaxBatch {
		limit = MaxBatch
	}
	var rows []myGroupRow
	err := s.read(ctx, "MyGroups", func(ctx context.Context) error {
		return s.db.NewSelect().Model(&rows).
			ColumnExpr("g.*, gm.role, gm.joined_seq, gm.read_seq").
			Join("JOIN group_members AS gm ON gm.group_id = g.id").
			Where("gm.user_id = ? AND gm.left_seq = 0", userID).
			OrderExpr("g.last_time DESC, g.id DESC").Limit(limit).Scan(ctx)
	})
	if err != nil {
		return nil, err
	}
	out := make([]MyGroup, len(rows))
	for i, r := range rows {
		out[i] = MyGroup{Group: r.group(), Membership: Membership{GroupID: r.ID, UserID: userID,
			Role: r.Role, JoinedSeq: r.JoinedSeq, ReadSeq: r.ReadSeq}}
	}
	return out, nil
}

// GroupMembers returns a page of group id's active members with a user id
// above after, in id order, at most limit (<= 0: DefaultBatch; at most
// MaxBatch), with their names and avatars; userID must be a member.
func (s *Store) GroupMembers(ctx context.Context, id int64, userID, after string, limit int) ([]Membership, error) {
	limit = batchLimit(limit)
	var rows []struct {
		memberRow `bun:",extend"`
		Name      string `bun:"name"`
		Avatar    string `bun:"avatar"`
	}
	err := s.read(ctx, "GroupMembers", func(ctx context.Context) error {
		if _, err := member(ctx, s.db, id, userID); err != nil {
			return err
		}
		return s.db.NewSelect().Model((*memberRow)(nil)).
			ColumnExpr("gm.*, u.name, u.avatar").
			Join("JOIN users AS u ON u.id = gm.user_id").
			Where("gm.group_id = ? AND gm.left_seq = 0 AND gm.user_id > ?", id, after).
			OrderExpr("gm.user_id").Limit(limit).Scan(ctx, &rows)
	})
	if err != nil {
		return nil, err
	}
	out := make([]Membership, len(rows))
	for i := range rows {
		out[i] = rows[i].membership()
		out[i].UserName, out[i].UserAvatar = rows[i].Name, rows[i].Avatar
	}
	return out, nil
}

// visible reads userID's visible range of group id: from its joined seq to
// its left seq (0: no end). A user who was never a member is ErrNotMember;
// one who left still reads what it could see.
func (s *Store) visible(ctx context.Context, id int64, userID string) (from, to int64, err error) {
	var m memberRow
	err = s.db.NewSelect().Model(&m).Column("joined_seq", "left_seq").
		Where("group_id = ? AND user_id = ?", id, userID).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, refuse(ErrNotMember, "%s is not a member of group %d", userID, id)
	}
	return m.JoinedSeq, m.LeftSeq, err
}

// GroupMessagesAfter returns up to limit (<= 0: DefaultBatch; at most
// MaxBatch) messages of group id with a seq above after that userID may
// see, in seq order: the group sync.
func (s *Store) GroupMessagesAfter(ctx context.Context, id int64, userID string, after int64, limit int) ([]GroupMessage, error) {
	return s.groupMessages(ctx, "GroupMessagesAfter", id, userID, limit, func(q *bun.SelectQuery) *bun.SelectQuery {
		return q.Where("seq > ?", after).OrderExpr("seq")
	})
}

// GroupHistory returns up to limit messages of group id with a seq below
// before (0: the newest) that userID may see, newest first: history paging.
func (s *Store) GroupHistory(ctx context.Context, id int64, userID string, before int64, limit int) ([]GroupMessage, error) {
	return s.groupMessages(ctx, "GroupHistory", id, userID, limit, func(q *bun.SelectQuery) *bun.SelectQuery {
		if before > 0 {
			q = q.Where("seq < ?", before)
		}
		return q.OrderExpr("seq DESC")
	})
}

func (s *Store) groupMessages(ctx context.Context, op string, id int64, userID string, limit int, where func(*bun.SelectQuery) *bun.SelectQuery) ([]GroupMessage, error) {
	limit = batchLimit(limit)
	var rows []groupMessageRow
	err := s.read(ctx, op, func(ctx context.Context) error {
		from, to, err := s.visible(ctx, id, userID)
		if err != nil {
			return err
		}
		q := s.db.NewSelect().Model(&rows).Where("group_id = ? AND seq >= ?", id, from)
		if to > 0 {
			q = q.Where("seq <= ?", to)
		}
		return where(q).Limit(limit).Scan(ctx)
	})
	if err != nil {
		return nil, err
	}
	out := make([]GroupMessage, len(rows))
	for i := range rows {
		out[i] = rows[i].message()
	}
	return out, nil
}

// MarkGroupRead moves userID's read cursor of group id up to seq, capped at
// what it can see (the group's last seq, or the seq it left at). Moving it
// backwards is ignored. It returns the cursor after the call.
func (s *Store) MarkGroupRead(ctx context.Context, id int64, userID string, seq int64) (int64, error) {
	var cursor int64
	err := s.tx(ctx, "MarkGroupRead", func(ctx context.Context, tx bun.Tx) error {
		var m memberRow
		if err := tx.NewSelect().Model(&m).Where("group_id = ? AND user_id = ?", id, userID).Scan(ctx); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return refuse(ErrNotMember, "%s is not a member of group %d", userID, id)
			}
			return err
		}
		top := m.LeftSeq
		if top == 0 {
			var g groupRow
			if err := tx.NewSelect().Model(&g).Column("last_seq").Where("id = ?", id).Scan(ctx); err != nil {
				return err
			}
			top = g.LastSeq
		}
		cursor = max(m.ReadSeq, min(seq, top))
		if cursor == m.ReadSeq {
			return nil
		}
		_, err := tx.NewUpdate().Model((*memberRow)(nil)).Set("read_seq = ?", cursor).
			Where("group_id = ? AND user_id = ?", id, userID).Exec(ctx)
		return err
	})
	return cursor, err
}

// prepareGroupMessage fills a group message's defaults (see prepareMessage).
func prepareGroupMessage(m *GroupMessage) {
	if m.SentAt.IsZero() {
		m.SentAt = now()
	} else {
		m.SentAt = utc(m.SentAt)
	}
	if m.Type == "" {
		m.Type = wire.MessageTypeText
	}
}

// SaveGroupMessage stores m as the next message of its group, in its own
// transaction (MessageWriter.SaveGroup batches them): m.Seq is set, or, for
// a retry of a stored client_msg_id, m becomes that message with Retry set.
// ErrNotFound if the group does not exist or was dissolved, ErrNotMember if
// the sender is not an active member.
func (s *Store) SaveGroupMessage(ctx context.Context, m *GroupMessage) error {
	r := &writeReq{group: true, gmsg: *m}
	prepareGroupMessage(&r.gmsg)
	err := s.tx(ctx, "SaveGroupMessage", func(ctx context.Context, tx bun.Tx) error {
		return s.saveGroupBatchTx(ctx, tx, []*writeReq{r})
	})
	if err == nil {
		err = r.err
	}
	if err == nil && r.dup == nil {
		*m = r.gout
	}
	return err
}

// saveGroupBatchTx stores a batch of group messages in the caller's
// transaction, in batch order: the batch's groups are locked in id order,
// each message is checked (group alive, sender an active member, not a
// retry), numbered with its group's next seq, and the rows are inserted with
// one statement; each group row gets its new last_seq and summary. A
// message refused for its own reason gets r.err and does not fail the
// others. The cost is per message and per group of the batch, never per
// member: no member row is written.
func (s *Store) saveGroupBatchTx(ctx context.Context, tx bun.Tx, batch []*writeReq) error {
	var gids []int64
	var senders, cmids []string
	for _, r := range batch {
		gids = append(gids, r.gmsg.GroupID)
		senders = append(senders, r.gmsg.SenderID)
		if r.gmsg.ClientMsgID != "" {
			cmids = append(cmids, r.gmsg.ClientMsgID)
		}
	}
	slices.Sort(gids)
	gids = slices.Compact(gids)
	var groups []groupRow
	q := tx.NewSelect().Model(&groups).Where("id IN (?)", bun.In(gids)).OrderExpr("id")
	if s.pg {
		q = q.For("UPDATE")
	}
	if err := q.Scan(ctx); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	byID := make(map[int64]*groupRow, len(groups))
	for i := range groups {
		byID[groups[i].ID] = &groups[i]
	}
	var active []memberRow
	if err := tx.NewSelect().Model(&active).Column("group_id", "user_id").
		Where("group_id IN (?) AND user_id IN (?) AND left_seq = 0", bun.In(gids), bun.In(distinctIDs(senders, ""))).
		Scan(ctx); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	isMember := make(map[groupUser]bool, len(active))
	for _, m := range active {
		isMember[groupUser{m.GroupID, m.UserID}] = true
	}
	type key struct {
		g         int64
		user, cid string
	}
	stored := make(map[key]*groupMessageRow)
	if len(cmids) > 0 {
		var prev []groupMessageRow
		if err := tx.NewSelect().Model(&prev).
			Where("group_id IN (?) AND client_msg_id IN (?)", bun.In(gids), bun.In(cmids)).
			Scan(ctx); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		for i := range prev {
			stored[key{prev[i].GroupID, prev[i].SenderID, prev[i].ClientMsgID}] = &prev[i]
		}
	}
	first := make(map[key]*writeReq)
	rows := make([]groupMessageRow, 0, len(batch))
	touched := make([]*groupRow, 0, len(gids))
	for _, r := range batch {
		m := &r.gmsg
		g := byID[m.GroupID]
		switch {
		case g == nil:
			r.err = refuse(ErrNotFound, "no group %d", m.GroupID)
			continue
		case g.Dissolved:
			r.err = refuse(ErrNotFound, "group %d was dissolved", m.GroupID)
			continue
		case !isMember[groupUser{m.GroupID, m.SenderID}]:
			r.err = refuse(ErrNotMember, "%s is not a member of group %d", m.SenderID, m.GroupID)
			continue
		}
		if m.ClientMsgID != "" {
			k := key{m.GroupID, m.SenderID, m.ClientMsgID}
			if prev := stored[k]; prev != nil {
				r.gout = prev.message()
				r.gout.Retry, r.gout.MemberSeq = true, g.MemberSeq
				continue
			}
			if f := first[k]; f != nil {
				r.dup = f
				continue
			}
			first[k] = r
		}
		if !slices.Contains(touched, g) {
			touched = append(touched, g)
		}
		g.LastSeq++
		row := groupMessageRow{GroupID: g.ID, Seq: g.LastSeq, SenderID: m.SenderID, Body: textArg(m.Body),
			MessageType: m.Type, SentAt: m.SentAt, ClientMsgID: m.ClientMsgID}
		g.LastTime, g.LastSender, g.LastBody, g.LastType = row.SentAt, row.SenderID, row.Body, row.MessageType
		rows = append(rows, row)
		r.gout = row.message()
		r.gout.MemberSeq = g.MemberSeq
	}
	if len(rows) == 0 {
		return nil
	}
	if _, err := tx.NewInsert().Model(&rows).Exec(ctx); err != nil {
		return err
	}
	for _, g := range touched {
		if _, err := tx.NewUpdate().Model(g).WherePK().
			Column("last_seq", "last_time", "last_sender", "last_body", "last_type").Exec(ctx); err != nil {
			return err
		}
	}
	return nil
}

// groupUser keys a membership.
type groupUser struct {
	g    int64
	user string
}

// batchLimit applies DefaultBatch to a limit <= 0 and caps it at MaxBatch.
func batchLimit(limit int) int {
	if limit <= 0 {
		return DefaultBatch
	}
	return min(limit, MaxBatch)
}
