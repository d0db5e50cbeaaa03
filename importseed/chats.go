package importseed

import (
	"context"
	"database/sql"

	"github.com/parley-im/parley/db"
	"github.com/parley-im/parley/wire"
)

var chatStatuses = []string{wire.ChatStatusOpen, wire.ChatStatusClosed}

// chatBatch maps a page of m_chatlist: one row per (owner, peer), with the
// owner's unread count and last-message summary, kept as they are (the
// client's badges and previews after the switch are the ones it had). A
// chat that names no imported user, or a group chat (the seed has none in
// use), is skipped.
func (im *importer) chatBatch(rows *sql.Rows) ([]any, int, writeFn, error) {
	var out []db.Chat
	var last []any
	n := 0
	counts := im.sum.Steps[StepChats]
	for rows.Next() {
		var owner, peer, typ, msg, msgType, lastTime, status []byte
		var unread sql.NullInt64
		if err := rows.Scan(&owner, &peer, &typ, &msg, &msgType, &lastTime, &unread, &status); err != nil {
			return nil, 0, writeFn{}, err
		}
		n++
		last = []any{string(owner), string(peer)}
		key := keyOf("user_id", owner, "comm_id", peer)
		o, p, ok := im.twoUsers(StepChats, key, "user_id", owner, "comm_id", peer)
		switch {
		case !ok:
			continue
		case string(typ) == "group":
			im.skip(StepChats, key, "group chat (groups are not carried over)")
			continue
		}
		f := im.fixer(StepChats, key)
		c := db.Chat{
			OwnerID: o, PeerID: p,
			Type:            f.enum("chat_type", typ, wire.ChatTypeFriend, wire.ChatTypeFriend),
			LastMessage:     f.nullable("last_message", msg, "", 0),
			LastMessageType: f.nullable("last_message_type", msgType, wire.MessageTypeText, maxEnumRunes),
			LastTime:        f.when("last_time", lastTime),
			Status:          f.enum("chat_status", status, wire.ChatStatusOpen, chatStatuses...),
		}
		if c.LastMessageType == "" {
			f.fix(`last_message_type is empty: set to "text"`)
			c.LastMessageType = wire.MessageTypeText
		}
		switch {
		case !unread.Valid:
			f.fix("unread_count is NULL: set to 0")
		case unread.Int64 < 0:
			f.fix("unread_count is negative: set to 0")
		default:
			c.Unread = int(min(unread.Int64, 1<<31-1))
		}
		if f.repaired {
			counts.Repaired++
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil || n == 0 {
		return nil, 0, writeFn{}, err
	}
	return last, n, writeFn{len(out), func(ctx context.Context, tx db.ImportTx) (int64, error) {
		return tx.InsertChats(ctx, out)
	}}, nil
}
