package db

import (
	"context"
	"time"

	"github.com/uptrace/bun"
)

// Migration 0007: group chats stored by read diffusion (issue 15). A group
// message is one row whatever the group's size, numbered by a per-group
// sequence (chat_groups.last_seq, advanced under the group row's lock inside the
// writer's transaction); each member keeps a read cursor instead of a copy.
//
//   - chat_groups: one row per group. last_seq is the seq of its newest message
//     (0 before the first); member_seq is the seq of the newest membership
//     change, so a cached member list can tell it is stale; members counts
//     the active members (the members-per-group cap reads it under the row
//     lock). last_* summarise the newest message for the chat list.
//   - group_members: one row per (group, user) ever a member. joined_seq is
//     the seq of the system message that added the user (it sees messages
//     from there on), left_seq that of the one that removed it (0 while a
//     member: it sees none after), read_seq its read cursor (unread =
//     last_seq - read_seq).
//   - group_messages: (group_id, seq) is the key; client_msg_id is unique per
//     sender and group among the rows that carry one (the partial index, as
//     for messages since migration 0004).
//
// Frozen structs, like every migration's.
type m0007Group struct {
	bun.BaseModel `bun:"table:chat_groups"`

	ID         int64     `bun:"id,pk,autoincrement"`
	Name       string    `bun:"name,notnull"`
	OwnerID    string    `bun:"owner_id,notnull"`
	CreatedAt  time.Time `bun:"created_at,notnull"`
	LastSeq    int64     `bun:"last_seq,notnull,default:0"`
	MemberSeq  int64     `bun:"member_seq,notnull,default:0"`
	Members    int       `bun:"members,notnull,default:0"`
	Dissolved  bool      `bun:"dissolved,notnull,default:false"`
	LastTime   time.Time `bun:"last_time,notnull"`
	LastSender string    `bun:"last_sender,notnull,default:''"`
	LastBody   string    `bun:"last_body,type:text,notnull,default:''"`
	LastType   string    `bun:"last_type,notnull,default:'text'"`
}

type m0007GroupMember struct {
	bun.BaseModel `bun:"table:group_members"`

	GroupID   int64     `bun:"group_id,pk"`
	UserID    string    `bun:"user_id,pk"`
	Role      string    `bun:"role,notnull"`
	JoinedSeq int64     `bun:"joined_seq,notnull"`
	LeftSeq   int64     `bun:"left_seq,notnull,default:0"`
	ReadSeq   int64     `bun:"read_seq,notnull"`
	JoinedAt  time.Time `bun:"joined_at,notnull"`
}

type m0007GroupMessage struct {
	bun.BaseModel `bun:"table:group_messages"`

	GroupID     int64     `bun:"group_id,pk"`
	Seq         int64     `bun:"seq,pk"`
	SenderID    string    `bun:"sender_id,notnull"`
	Body        string    `bun:"body,type:text,notnull"`
	MessageType string    `bun:"message_type,notnull"`
	SentAt      time.Time `bun:"sent_at,notnull"`
	ClientMsgID *string   `bun:"client_msg_id"`
}

const m0007ClientMsgIdx = "group_messages_client_msg_id_key"

// groupClientMsgIDConflict is the conflict target of the idempotent group
// message insert: the columns and predicate of m0007ClientMsgIdx.
const groupClientMsgIDConflict = `("group_id", "sender_id", "client_msg_id") WHERE client_msg_id IS NOT NULL`

var m0007Indexes = []m0001Index{
	// MyGroups: WHERE user_id = ? AND left_seq = 0; and the FK to users.
	{"group_members_user_id_idx", "group_members", []string{"user_id", "left_seq"}},
}

func m0007Up(ctx context.Context, tx bun.Tx) error {
	tables := []*bun.CreateTableQuery{
		fk(tx.NewCreateTable().Model((*m0007Group)(nil)), "owner_id", "users", "id"),
		fk(fk(tx.NewCreateTable().Model((*m0007GroupMember)(nil)),
			"group_id", "chat_groups", "id"), "user_id", "users", "id"),
		fk(fk(tx.NewCreateTable().Model((*m0007GroupMessage)(nil)),
			"group_id", "chat_groups", "id"), "sender_id", "users", "id"),
	}
	for _, q := range tables {
		if _, err := q.IfNotExists().Exec(ctx); err != nil {
			return err
		}
	}
	if err := createIndexes(ctx, tx, m0007Indexes); err != nil {
		return err
	}
	_, err := tx.NewCreateIndex().IfNotExists().Unique().
		Index(m0007ClientMsgIdx).Table("group_messages").Column("group_id", "sender_id", "client_msg_id").
		Where("client_msg_id IS NOT NULL").Exec(ctx)
	return err
}

func m0007Down(ctx context.Context, tx bun.Tx) error {
	for _, model := range []any{(*m0007GroupMessage)(nil), (*m0007GroupMember)(nil), (*m0007Group)(nil)} {
		if _, err := tx.NewDropTable().Model(model).IfExists().Exec(ctx); err != nil {
			return err
		}
	}
	return nil
}
