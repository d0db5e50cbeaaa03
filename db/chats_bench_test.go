package db

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/uptrace/bun"
)

// chatListBun is the chat list query rendered by bun with its values
// inlined, as ChatList ran before it was prepared: the reference the tests
// compare ChatList with, and the benchmarks' "bun" case.
func chatListBun(ctx context.Context, s *Store, userID string, limit, previewChars int) ([]chatListRow, error) {
	var rows []chatListRow
	q := s.db.NewSelect().
		TableExpr("chats AS c").
		Join("JOIN users AS u ON u.id = c.peer_id").
		ColumnExpr("c.owner_id, c.peer_id, c.chat_type")
	if previewChars > 0 {
		q = q.ColumnExpr("substr(c.last_message, 1, ?) AS last_message", previewChars)
	} else {
		q = q.ColumnExpr("c.last_message")
	}
	q = q.ColumnExpr("c.last_message_type, c.last_time, c.unread_count, c.status").
		ColumnExpr("u.name AS peer_name, u.avatar AS peer_avatar").
		Where("c.owner_id = ?", userID).
		OrderExpr("c.last_time DESC").
		OrderExpr(s.byteOrder("c.peer_id"))
	if limit > 0 {
		q = q.Limit(limit)
	}
	err := q.Scan(ctx, &rows)
	return rows, err
}

// BenchmarkChatList: the chat list of a chatting request with the handlers'
// default bounds (200 chats, previews of 256 characters), for an owner with
// 1 chat (the Qt login benchmark's) and with 300 chats of 300-character
// messages. "store" is Store.ChatList, "bun" is chatListBun. Sequential, so
// a comparison of two commits on a shared machine is less noisy.
func BenchmarkChatList(b *testing.B) {
	s := benchSQLite(b) // users "0" to "15"
	ctx := context.Background()
	const many = 300
	body := strings.Repeat("长<🐱é", 75) // 300 characters
	err := s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		for i := range many {
			u := userRow{ID: fmt.Sprint("p", i), Phone: fmt.Sprint("p", i), Name: "peer", PasswordHash: "x", CreatedAt: now()}
			if _, err := tx.NewInsert().Model(&u).Exec(ctx); err != nil {
				return err
			}
			c := chatRow{OwnerID: "1", PeerID: u.ID, ChatType: "friend", LastMessage: body, LastMessageType: "text",
				LastTime: t0.Add(time.Duration(i%50) * time.Second), Status: "chatting", UnreadCount: i % 3}
			if _, err := tx.NewInsert().Model(&c).Exec(ctx); err != nil {
				return err
			}
		}
		c := chatRow{OwnerID: "2", PeerID: "3", ChatType: "friend", LastMessage: "hello", LastMessageType: "text",
			LastTime: t0, Status: "chatting"}
		_, err := tx.NewInsert().Model(&c).Exec(ctx)
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	for _, impl := range []struct {
		name string
		list func(owner string) (int, error)
	}{
		{"store", func(owner string) (int, error) {
			chats, err := s.ChatList(ctx, owner, 200, 256)
			return len(chats), err
		}},
		{"bun", func(owner string) (int, error) {
			rows, err := chatListBun(ctx, s, owner, 200, 256)
			return len(rows), err
		}},
	} {
		for _, owner := range []struct {
			name, id string
			want     int
		}{{"chats=1", "2", 1}, {"chats=300", "1", 200}} {
			b.Run(impl.name+"/"+owner.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if n, err := impl.list(owner.id); err != nil || n != owner.want {
						b.Fatalf("%d chats, %v; want %d", n, err, owner.want)
					}
				}
			})
		}
	}
}
