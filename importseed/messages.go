package importseed

import (
	"context"
	"database/sql"

	"github.com/parley-im/parley/db"
	"github.com/parley-im/parley/wire"
)

// The seed's m_friends_message.message_status values.
const (
	statusSend     = "send"     // stored while the receiver was offline: never delivered
	statusReceived = "received" // pushed live (or into a dead connection, seed bug B3)
	statusRead     = "read"     // the receiver opened the chat (update_chat)
	statusDelete   = "delete"   // a friend was deleted
)

var messageStatuses = []string{statusSend, statusReceived, statusRead, statusDelete}

// deliveryOf maps a seed status onto Parley's flags. Parley's login
// catch-up (get_unread_messages) sends every undelivered message once, in id
// order, and marks it delivered; update_chat marks a chat's messages read.
//   - send: undelivered, unread. The seed never delivered these (its
//     catch-up only returned 'received', bug B12): the first Parley login
//     does.
//   - received: undelivered, unread. The seed re-sent these at every login
//     (the client may have them already), and the ones pushed into a dead
//     connection (B3) reached the client only that way; delivering them
//     once more is the seed's own behaviour, losing them is not.
//   - read: delivered and read: never sent again.
//   - delete: delivered, read and deleted (the seed's delete_friend):
//     never sent again.
func deliveryOf(status string) (delivered, read, deleted bool) {
	switch status {
	case statusRead:
		return true, true, false
	case statusDelete:
		return true, true, true
	}
	return false, false, false
}

// messageBatch maps a page of m_friends_message, in message_id order, so
// Parley's ids (and so its catch-up order) follow the seed's.
func (im *importer) messageBatch(rows *sql.Rows) ([]any, int, writeFn, error) {
	var out []db.ImportedMessage
	var last []any
	n := 0
	counts := im.sum.Steps[StepMessages]
	for rows.Next() {
		var id int64
		var sender, receiver, chatType, body, msgType, filePath, status, ts []byte
		if err := rows.Scan(&id, &sender, &receiver, &chatType, &body, &msgType, &filePath, &status, &ts); err != nil {
			return nil, 0, writeFn{}, err
		}
		n++
		last = []any{id}
		key := keyOf("message_id", id)
		s, r, ok := im.twoUsers(StepMessages, key, "sender_id", sender, "receiver_id", receiver)
		switch {
		case !ok:
			continue
		case string(chatType) == "group":
			im.skip(StepMessages, key, "group message (groups are not carried over)")
			continue
		}
		f := im.fixer(StepMessages, key)
		m := db.ImportedMessage{Message: db.Message{
			SenderID: s, ReceiverID: r,
			ChatType:    f.enum("chat_type", chatType, wire.ChatTypeFriend, wire.ChatTypeFriend),
			Body:        f.text("message_body", body, "", 0),
			Type:        f.text("message_type", msgType, wire.MessageTypeText, maxEnumRunes),
			FilePath:    f.nullable("file_path", filePath, wire.NoFile, maxShortRunes),
			SentAt:      f.when("message_timestamp", ts),
			ClientMsgID: db.SeedMessageID(id),
		}}
		if m.Type == "" {
			f.fix(`message_type is empty: set to "text"`)
			m.Type = wire.MessageTypeText
		}
		if m.FilePath == "" {
			m.FilePath = wire.NoFile // the seed's greeting has '' (the client needs a non-empty field)
		}
		st := f.enum("message_status", status, statusSend, messageStatuses...)
		m.Delivered, m.Read, m.Deleted = deliveryOf(st)
		if f.repaired {
			counts.Repaired++
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil || n == 0 {
		return nil, 0, writeFn{}, err
	}
	return last, n, writeFn{len(out), func(ctx context.Context, tx db.ImportTx) (int64, error) {
		return tx.InsertMessages(ctx, out)
	}}, nil
}
