package db

import (
	"context"
	"time"

	"github.com/uptrace/bun"
)

// Migration 0001: the seed's four live tables (seed-protocol.md §4.1), renamed
// and normalised. These structs are the schema as of this migration and must
// never change; later changes are new migrations.
//
// Times are TIMESTAMPTZ on PostgreSQL and TEXT on SQLite, where bun writes
// "2006-01-02 15:04:05.999999+00:00": always UTC, so comparing and ordering
// the text compares instants. Nothing may write them without bun (SQLite's
// CURRENT_TIMESTAMP has no offset and would sort differently), hence no
// database defaults on the time columns that are compared or ordered.

type m0001User struct {
	bun.BaseModel `bun:"table:users"`

	// ID is the account id; registration sets it to the phone, as the seed does.
	ID           string    `bun:"id,pk"`
	Phone        string    `bun:"phone,notnull"`
	Name         string    `bun:"name,notnull"`
	Email        string    `bun:"email,notnull"`
	Avatar       string    `bun:"avatar,notnull,default:'/default.jpg'"`
	Status       string    `bun:"status,notnull,default:'inactive'"`
	PasswordHash string    `bun:"password_hash,notnull,default:''"`
	CreatedAt    time.Time `bun:"created_at,notnull"`
}

// m0001Friendship is one directed relation row; a request or a friendship is
// always two rows, one per direction, as in the seed.
type m0001Friendship struct {
	bun.BaseModel `bun:"table:friendships"`

	UserID    string    `bun:"user_id,pk"`
	FriendID  string    `bun:"friend_id,pk"`
	Relation  string    `bun:"relation,notnull,default:'pending'"`
	CreatedAt time.Time `bun:"created_at,notnull"`
}

// m0001Chat is one user's inbox entry for one peer (the seed's m_chatlist).
type m0001Chat struct {
	bun.BaseModel `bun:"table:chats"`

	OwnerID         string    `bun:"owner_id,pk"`
	PeerID          string    `bun:"peer_id,pk"`
	ChatType        string    `bun:"chat_type,notnull,default:'friend'"`
	LastMessage     string    `bun:"last_message,type:text,notnull,default:''"`
	LastMessageType string    `bun:"last_message_type,notnull,default:'text'"`
	LastTime        time.Time `bun:"last_time,notnull"`
	UnreadCount     int       `bun:"unread_count,notnull,default:0"`
	Status          string    `bun:"status,notnull,default:'chatting'"`
}

// m0001Message is one stored message. ID is assigned by the database and only
// grows (SQLite AUTOINCREMENT never reuses an id; PostgreSQL BIGSERIAL).
type m0001Message struct {
	bun.BaseModel `bun:"table:messages"`

	ID          int64     `bun:"id,pk,autoincrement"`
	SenderID    string    `bun:"sender_id,notnull,unique:messages_sender_client_msg_id_key"`
	ReceiverID  string    `bun:"receiver_id,notnull"`
	ChatType    string    `bun:"chat_type,notnull"`
	Body        string    `bun:"body,type:text,notnull"`
	MessageType string    `bun:"message_type,notnull"`
	FilePath    string    `bun:"file_path,notnull,default:' '"`
	SentAt      time.Time `bun:"sent_at,notnull"`
	Delivered   bool      `bun:"delivered,notnull,default:false"`
	Read        bool      `bun:"read,notnull,default:false"`
	Deleted     bool      `bun:"deleted,notnull,default:false"`
	// ClientMsgID is NULL when the client sent none; NULLs never collide in a
	// UNIQUE constraint on either database, so only real ids are deduplicated.
	ClientMsgID *string `bun:"client_msg_id,unique:messages_sender_client_msg_id_key"`
}

// fk renders a foreign key clause with quoted identifiers for either dialect.
func fk(q *bun.CreateTableQuery, column, table, refColumn string) *bun.CreateTableQuery {
	return q.ForeignKey("(?) REFERENCES ? (?) ON DELETE CASCADE",
		bun.Ident(column), bun.Ident(table), bun.Ident(refColumn))
}

type m0001Index struct {
	name    string
	table   string
	columns []string
}

// m0001Indexes are the indexes the store's queries need (see the query next
// to each method). Primary keys already cover: users by id, friendships by
// (user_id, friend_id), chats by owner.
var m0001Indexes = []m0001Index{
	// FK friendships.friend_id (cascade on user delete).
	{"friendships_friend_id_idx", "friendships", []string{"friend_id"}},
	// Chats: WHERE owner_id = ? ORDER BY last_time DESC.
	{"chats_owner_id_last_time_idx", "chats", []string{"owner_id", "last_time"}},
	// FK chats.peer_id (cascade on user delete).
	{"chats_peer_id_idx", "chats", []string{"peer_id"}},
	// Undelivered: WHERE receiver_id = ? AND delivered = false ORDER BY id.
	{"messages_receiver_id_delivered_id_idx", "messages", []string{"receiver_id", "delivered", "id"}},
	// MessagesAfter: WHERE receiver_id = ? AND id > ? ORDER BY id.
	{"messages_receiver_id_id_idx", "messages", []string{"receiver_id", "id"}},
	// UpdateChat marks peer->owner read; DeleteFriend marks both directions deleted.
	{"messages_sender_id_receiver_id_idx", "messages", []string{"sender_id", "receiver_id"}},
}

func m0001Up(ctx context.Context, tx bun.Tx) error {
	tables := []*bun.CreateTableQuery{
		tx.NewCreateTable().Model((*m0001User)(nil)),
		fk(fk(tx.NewCreateTable().Model((*m0001Friendship)(nil)),
			"user_id", "users", "id"), "friend_id", "users", "id"),
		fk(fk(tx.NewCreateTable().Model((*m0001Chat)(nil)),
			"owner_id", "users", "id"), "peer_id", "users", "id"),
		fk(fk(tx.NewCreateTable().Model((*m0001Message)(nil)),
			"sender_id", "users", "id"), "receiver_id", "users", "id"),
	}
	for _, q := range tables {
		if _, err := q.IfNotExists().Exec(ctx); err != nil {
			return err
		}
	}
	return createIndexes(ctx, tx, m0001Indexes)
}

func m0001Down(ctx context.Context, tx bun.Tx) error {
	// Children first: the foreign keys point at users.
	for _, model := range []any{
		(*m0001Message)(nil), (*m0001Chat)(nil), (*m0001Friendship)(nil), (*m0001User)(nil),
	} {
		if _, err := tx.NewDropTable().Model(model).IfExists().Exec(ctx); err != nil {
			return err
		}
	}
	return nil
}

// createIndexes creates the plain indexes ixs, skipping those that exist (a
// migration may run again after a crash before its bookkeeping row).
func createIndexes(ctx context.Context, tx bun.Tx, ixs []m0001Index) error {
	for _, ix := range ixs {
		if _, err := tx.NewCreateIndex().IfNotExists().
			Index(ix.name).Table(ix.table).Column(ix.columns...).
			Exec(ctx); err != nil {
			return err
		}
	}
	return nil
}
