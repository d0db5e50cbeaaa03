package db

import (
	"context"
	"time"

	"github.com/uptrace/bun"

	"github.com/parley-im/parley/wire"
)

// Chat is one entry of a user's chat list: the owner's summary of the
// conversation with PeerID, plus the peer's display name and avatar.
type Chat struct {
	OwnerID, PeerID, Type, LastMessage, LastMessageType string
	LastTime                                            time.Time
	Unread                                              int
	Status                                              string
	PeerName, PeerAvatar                                string
}

// ChatUpdate is what a client sends when it opens a chat or has just sent a
// message (update_chat).
type ChatUpdate struct {
	OwnerID, PeerID, Status, LastMessage, LastMessageType string
	LastTime                                              time.Time
	Unread                                                int
}

type chatRow struct {
	bun.BaseModel `bun:"table:chats,alias:c"`

	OwnerID         string    `bun:"owner_id,pk"`
	PeerID          string    `bun:"peer_id,pk"`
	ChatType        string    `bun:"chat_type"`
	LastMessage     string    `bun:"last_message"`
	LastMessageType string    `bun:"last_message_type"`
	LastTime        time.Time `bun:"last_time"`
	UnreadCount     int       `bun:"unread_count"`
	Status          string    `bun:"status"`
}

// chatListRow is what the Chats join returns.
type chatListRow struct {
	chatRow
	PeerName   string `bun:"peer_name"`
	PeerAvatar string `bun:"peer_avatar"`
}

func (r *chatListRow) chat() Chat {
	return Chat{
		OwnerID: r.OwnerID, PeerID: r.PeerID, Type: r.ChatType,
		LastMessage: r.LastMessage, LastMessageType: r.LastMessageType,
		LastTime: r.LastTime.UTC(), Unread: r.UnreadCount, Status: r.Status,
		PeerName: r.PeerName, PeerAvatar: r.PeerAvatar,
	}
}

// Chats returns userID's whole chat list: ChatList without bounds.
func (s *Store) Chats(ctx context.Context, userID string) ([]Chat, error) {
	return s.ChatList(ctx, userID, 0, 0)
}

// ChatList returns userID's chat list, "close" chats included, joined with
// each peer's name and avatar in one query, newest last_time first (peer id
// breaks ties, so the order is stable). limit > 0 keeps only the limit most
// recent chats; previewChars > 0 cuts each last_message to that many
// characters in the query, so a long list of long messages is never read in
// full just to be cut for the reply.
func (s *Store) ChatList(ctx context.Context, userID string, limit, previewChars int) ([]Chat, error) {
	class := 0 // no LIMIT
	if limit > 0 {
		class = limitClass(limit)
	}
	var p *prepared
	var args []any
	if previewChars > 0 {
		p, args = chatListPreview.rows(class), []any{previewChars, textArg(userID)} // placeholder order in the text
	} else {
		p, args = chatList.rows(class), []any{textArg(userID)}
	}
	var rows []chatListRow
	err := s.read(ctx, "Chats", func(ctx context.Context) error {
		return s.queryAll(ctx, nil, p, &rows, args...)
	})
	if err != nil {
		return nil, err
	}
	if limit > 0 && len(rows) > limit {
		rows = rows[:limit] // the statement's LIMIT is the next power of two
	}
	out := make([]Chat, len(rows))
	for i := range rows {
		out[i] = rows[i].chat()
	}
	return out, nil
}

// The chat list is prepared: every chatting request reads it, and with bun
// rendering it on each call SQLite's parsing of the text made it 21 % of the
// server's CPU in a warm Qt login (login, get_unread_messages, chatting).
// chatList and chatListPreview (last_message cut by substr, the number of
// characters bound as the first parameter) are one statement per LIMIT
// class: the LIMIT is a literal, as in undelivered, since SQLite recompiles
// a statement whose LIMIT is bound each time it is bound again; class 0 has
// no LIMIT.
var (
	chatList        = preparedRows{render: func(s *Store, limit int) string { return s.chatListSQL(false, limit) }}
	chatListPreview = preparedRows{render: func(s *Store, limit int) string { return s.chatListSQL(true, limit) }}
)

// chatListSQL renders the chat list query, LIMIT limit when > 0. With
// preview the parameters are (previewChars, owner id), else (owner id).
func (s *Store) chatListSQL(preview bool, limit int) string {
	q := s.db.NewSelect().
		TableExpr("chats AS c").
		Join("JOIN users AS u ON u.id = c.peer_id").
		ColumnExpr("c.owner_id, c.peer_id, c.chat_type")
	owner := s.arg(1)
	if preview {
		// substr counts characters on both databases (not bytes).
		q = q.ColumnExpr("substr(c.last_message, 1, ?) AS last_message", s.arg(1))
		owner = s.arg(2)
	} else {
		q = q.ColumnExpr("c.last_message")
	}
	q = q.ColumnExpr("c.last_message_type, c.last_time, c.unread_count, c.status").
		ColumnExpr("u.name AS peer_name, u.avatar AS peer_avatar").
		Where("c.owner_id = ?", owner).
		OrderExpr("c.last_time DESC").
		OrderExpr(s.byteOrder("c.peer_id"))
	if limit > 0 {
		q = q.Limit(limit)
	}
	return q.String()
}

// UpdateChat applies a client's update_chat to the owner's row, in one
// transaction:
//   - unread_count := u.Unread (negative counts as 0);
//   - status := u.Status only if it is "chatting" or "close" (the client may
//     send "" for a chat it never saw a status for);
//   - last_message, last_message_type, last_time := u's values only if
//     u.LastTime >= the stored last_time: the client resends stale values when
//     it merely opens a chat, and the summary must never move backwards;
//   - every message from the peer to the owner is marked read.
//
// ErrNotFound if the owner has no chat with that peer.
func (s *Store) UpdateChat(ctx context.Context, u ChatUpdate) error {
	unread := max(u.Unread, 0)
	t := utc(u.LastTime)
	return s.tx(ctx, "UpdateChat", func(ctx context.Context, tx bun.Tx) error {
		q := tx.NewUpdate().Model((*chatRow)(nil)).
			Set("unread_count = ?", unread)
		if u.Status == wire.ChatStatusOpen || u.Status == wire.ChatStatusClosed {
			q = q.Set("status = ?", u.Status)
		}
		if !u.LastTime.IsZero() {
			// Every SET expression sees the row as it was before the UPDATE
			// (both databases), so the three CASEs agree with one another.
			q = q.Set("last_message = CASE WHEN last_time <= ? THEN ? ELSE last_message END", t, u.LastMessage).
				Set("last_message_type = CASE WHEN last_time <= ? THEN ? ELSE last_message_type END", t, u.LastMessageType).
				Set("last_time = CASE WHEN last_time <= ? THEN ? ELSE last_time END", t, t)
		}
		res, err := q.Where("owner_id = ? AND peer_id = ?", u.OwnerID, u.PeerID).Exec(ctx)
		if err := affectedOr(res, err, ErrNotFound); err != nil {
			return err
		}
		_, err = tx.NewUpdate().Model((*messageRow)(nil)).
			Set("read = ?", true).
			Where("sender_id = ? AND receiver_id = ? AND read = ?", u.PeerID, u.OwnerID, false).
			Exec(ctx)
		return err
	})
}

// upsertChats writes m as the latest message of both chat rows, opening them
// if needed (status chatting): the sender has read everything (unread 0),
// the receiver has one more unread. Rows are written in relationPair order
// (see there). countUnread false (no message was stored) leaves the
// receiver's count alone. The summary is set unconditionally: m is the newest message
// by id, even if a clock step made its time older than the stored one.
func (s *Store) upsertChats(ctx context.Context, tx bun.Tx, m *Message, countUnread bool) error {
	pair := relationPair(m.SenderID, m.ReceiverID, "", time.Time{})
	self := m.SenderID == m.ReceiverID
	if self {
		pair = pair[:1] // a note to oneself: one row, already read
	}
	for _, p := range pair {
		row := chatRow{
			OwnerID: p.UserID, PeerID: p.FriendID, ChatType: m.ChatType,
			LastMessage: m.Body, LastMessageType: m.Type, LastTime: m.SentAt,
			Status: wire.ChatStatusOpen,
		}
		unread := "unread_count = 0" // the sender has read the whole chat
		if p.UserID == m.ReceiverID && !self {
			unread = "unread_count = ?TableAlias.unread_count"
			if countUnread {
				row.UnreadCount = 1
				unread = "unread_count = ?TableAlias.unread_count + 1"
			}
		}
		if _, err := tx.NewInsert().Model(&row).
			On("CONFLICT (owner_id, peer_id) DO UPDATE").
			Set("chat_type = EXCLUDED.chat_type").
			Set("last_message = EXCLUDED.last_message").
			Set("last_message_type = EXCLUDED.last_message_type").
			Set("last_time = EXCLUDED.last_time").
			Set("status = EXCLUDED.status").
			Set(unread).
			Exec(ctx); err != nil {
			return err
		}
	}
	return nil
}
