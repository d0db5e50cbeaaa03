package db

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/config"
	"github.com/parley-im/parley/wire"
)

var t0 = time.Date(2025, 7, 14, 11, 0, 0, 0, time.UTC)

func sendAt(t *testing.T, s *Store, from, to, body string, at time.Time) Message {
	t.Helper()
	m := Message{SenderID: from, ReceiverID: to, Body: body, SentAt: at}
	if err := s.SaveMessage(ctxT(t), &m); err != nil {
		t.Fatalf("SaveMessage: %v", err)
	}
	return m
}

func TestChatsOrderAndJoin(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		mustUsers(t, s, "1", "2", "3", "4")
		if err := s.SetUserStatus(ctxT(t), "3", "active"); err != nil {
			t.Fatal(err)
		}
		sendAt(t, s, "2", "1", "old", t0)
		sendAt(t, s, "1", "3", "newest", t0.Add(2*time.Hour))
		sendAt(t, s, "4", "1", "tie-b", t0.Add(time.Hour))
		sendAt(t, s, "1", "2", "middle", t0.Add(time.Hour)) // same instant as 4: peer id breaks the tie
		chats, err := s.Chats(ctxT(t), "1")
		if err != nil {
			t.Fatal(err)
		}
		var peers []string
		for _, c := range chats {
			peers = append(peers, c.PeerID)
			if c.OwnerID != "1" || c.PeerName != "n"+c.PeerID || c.PeerAvatar != DefaultAvatar {
				t.Fatalf("chat %+v", c)
			}
		}
		if want := []string{"3", "2", "4"}; !slices.Equal(peers, want) {
			t.Fatalf("order = %v, want %v", peers, want)
		}
		if chats[1].LastMessage != "middle" || chats[1].Unread != 0 || chats[2].Unread != 1 {
			t.Fatalf("chats %+v", chats)
		}
		if chats, err := s.Chats(ctxT(t), "nobody"); err != nil || len(chats) != 0 {
			t.Fatalf("Chats(nobody) = %+v, %v", chats, err)
		}
	})
}

// ChatList keeps the limit most recent chats, in the same order as Chats,
// and cuts each last_message to a number of characters (not bytes) in the
// query, on both databases.
func TestChatListLimitAndPreview(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		mustUsers(t, s, "1", "2", "3", "4")
		long := strings.Repeat("长<", 100)
		sendAt(t, s, "2", "1", long, t0)
		sendAt(t, s, "1", "3", "short", t0.Add(2*time.Hour))
		sendAt(t, s, "4", "1", long, t0.Add(time.Hour))
		chats, err := s.ChatList(ctxT(t), "1", 2, 5)
		if err != nil {
			t.Fatal(err)
		}
		if len(chats) != 2 || chats[0].PeerID != "3" || chats[1].PeerID != "4" {
			t.Fatalf("ChatList(limit 2) = %+v", chats)
		}
		if chats[0].LastMessage != "short" || chats[1].LastMessage != "长<长<长" {
			t.Fatalf("previews %q, %q", chats[0].LastMessage, chats[1].LastMessage)
		}
		if all, err := s.ChatList(ctxT(t), "1", 0, 0); err != nil || len(all) != 3 || all[2].LastMessage != long {
			t.Fatalf("ChatList without bounds: %d chats, %v", len(all), err)
		}
	})
}

// ChatList is Chats cut to limit rows, each last_message cut to
// previewChars characters, and exactly what the query rendered by bun
// returns: for limits below, at and above a LIMIT class (powers of two) and
// the number of chats, with and without a preview, and with the same
// prepared statements serving another owner in between.
func TestChatListMatchesChats(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		mustUsers(t, s, "1", "2", "3", "4", "5", "6", "7")
		body := strings.Repeat("长<🐱é", 3) // 12 characters, 1 to 4 bytes each
		for i, peer := range []string{"2", "3", "4", "5", "6", "7"} {
			at := t0.Add(time.Duration(i/2) * time.Minute) // pairs tie on time
			if i%2 == 0 {
				sendAt(t, s, peer, "1", string([]rune(body)[:12-i]), at)
			} else {
				sendAt(t, s, "1", peer, fmt.Sprint(i, body), at)
			}
		}
		all, err := s.Chats(ctxT(t), "1")
		if err != nil || len(all) != 6 {
			t.Fatalf("Chats = %d chats, %v", len(all), err)
		}
		for _, limit := range []int{-1, 0, 1, 2, 3, 4, 5, 6, 7, 100} {
			for _, preview := range []int{0, 1, 3, 12, 13, 1000} {
				want := all
				if limit > 0 && limit < len(all) {
					want = all[:limit]
				}
				want = slices.Clone(want)
				for i := range want {
					if r := []rune(want[i].LastMessage); preview > 0 && len(r) > preview {
						want[i].LastMessage = string(r[:preview])
					}
				}
				got, err := s.ChatList(ctxT(t), "1", limit, preview)
				if err != nil {
					t.Fatalf("ChatList(limit %d, preview %d): %v", limit, preview, err)
				}
				if !slices.Equal(got, want) {
					t.Fatalf("ChatList(limit %d, preview %d) =\n%+v\nwant\n%+v", limit, preview, got, want)
				}
				ref, err := chatListBun(ctxT(t), s, "1", limit, preview)
				if err != nil || len(ref) != len(got) {
					t.Fatalf("chatListBun(limit %d, preview %d) = %d rows, %v", limit, preview, len(ref), err)
				}
				for i := range ref {
					if c := ref[i].chat(); c != got[i] {
						t.Fatalf("ChatList(limit %d, preview %d)[%d] = %+v, bun's query %+v", limit, preview, i, got[i], c)
					}
				}
				other, err := s.ChatList(ctxT(t), "2", limit, preview)
				if err != nil || len(other) != 1 || other[0].OwnerID != "2" || other[0].PeerID != "1" {
					t.Fatalf("ChatList(2, limit %d, preview %d) = %+v, %v", limit, preview, other, err)
				}
			}
		}
	})
}

// On an in-memory database (a pool of one connection) the chat list's
// statements are prepared on that connection between transactions.
func TestChatListInMemory(t *testing.T) {
	skipUnlessListed(t, "sqlite")
	s := NewStore(openTest(t, config.DB{Driver: "sqlite", DSN: ":memory:"}), 2*time.Second)
	mustUsers(t, s, "1", "2", "3", "4")
	sendAt(t, s, "2", "1", "长<长<长<", t0)
	for i, pair := range [][2]string{{"3", "4"}, {"2", "4"}} {
		chats, err := s.ChatList(ctxT(t), "1", 200, 4)
		if err != nil || len(chats) != 1 || chats[0].LastMessage != "长<长<" {
			t.Fatalf("ChatList %d: %+v, %v", i, chats, err)
		}
		mustFriends(t, s, pair[0], pair[1]) // transactions in between, not on 1's chats
	}
	sendAt(t, s, "3", "1", "x", t0.Add(time.Second))
	if chats, err := s.ChatList(ctxT(t), "1", 1, 0); err != nil || len(chats) != 1 || chats[0].PeerID != "3" {
		t.Fatalf("ChatList(limit 1) = %+v, %v", chats, err)
	}
}

func TestUpdateChat(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		mustUsers(t, s, "1", "2")
		mustFriends(t, s, "1", "2")
		sendAt(t, s, "2", "1", "a", t0)
		sendAt(t, s, "2", "1", "b", t0.Add(time.Minute))
		mine := sendAt(t, s, "1", "2", "mine", t0.Add(2*time.Minute))
		sendAt(t, s, "2", "1", "c", t0.Add(3*time.Minute))
		// Sending "mine" zeroed 1's count (the seed's rule), "c" made it 1.
		if c := chatOf(t, s, "1", "2"); c.Unread != 1 || c.LastMessage != "c" {
			t.Fatalf("before update: %+v", c)
		}

		// Opening the chat resends stale values: unread and read flags apply,
		// the summary stays.
		err := s.UpdateChat(ctxT(t), ChatUpdate{OwnerID: "1", PeerID: "2", Status: "chatting",
			LastMessage: "a", LastMessageType: "text", LastTime: t0, Unread: 0})
		if err != nil {
			t.Fatalf("UpdateChat: %v", err)
		}
		c := chatOf(t, s, "1", "2")
		if c.Unread != 0 || c.LastMessage != "c" || !c.LastTime.Equal(t0.Add(3*time.Minute)) || c.Status != wire.ChatStatusOpen {
			t.Fatalf("stale update moved the summary: %+v", c)
		}
		// Peer -> owner messages are read; owner -> peer are not touched.
		msgs, err := s.MessagesAfter(ctxT(t), "1", 0, 0)
		if err != nil || len(msgs) != 3 {
			t.Fatalf("MessagesAfter = %+v, %v", msgs, err)
		}
		for _, m := range msgs {
			if !m.Read {
				t.Fatalf("message not read after UpdateChat: %+v", m)
			}
		}
		if out, _ := s.MessagesAfter(ctxT(t), "2", 0, 0); len(out) != 1 || out[0].ID != mine.ID || out[0].Read {
			t.Fatalf("owner's own message changed: %+v", out)
		}
		// The peer's view is untouched.
		if c := chatOf(t, s, "2", "1"); c.Unread != 0 || c.LastMessage != "c" || !c.LastTime.Equal(t0.Add(3*time.Minute)) {
			t.Fatalf("peer's chat changed: %+v", c)
		}

		// A newer summary applies; an equal time applies too.
		later := t0.Add(10 * time.Minute)
		if err := s.UpdateChat(ctxT(t), ChatUpdate{OwnerID: "1", PeerID: "2", Status: "close",
			LastMessage: "newer", LastMessageType: "emoticon", LastTime: later, Unread: 5}); err != nil {
			t.Fatal(err)
		}
		c = chatOf(t, s, "1", "2")
		if c.LastMessage != "newer" || c.LastMessageType != "emoticon" || !c.LastTime.Equal(later) ||
			c.Unread != 5 || c.Status != wire.ChatStatusClosed {
			t.Fatalf("newer update: %+v", c)
		}
		if err := s.UpdateChat(ctxT(t), ChatUpdate{OwnerID: "1", PeerID: "2", Status: "chatting",
			LastMessage: "same time", LastMessageType: "text", LastTime: later}); err != nil {
			t.Fatal(err)
		}
		if c = chatOf(t, s, "1", "2"); c.LastMessage != "same time" || c.Status != wire.ChatStatusOpen {
			t.Fatalf("equal-time update: %+v", c)
		}
	})
}

func TestUpdateChatStatusFilterAndZeroTime(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		mustUsers(t, s, "1", "2")
		sendAt(t, s, "2", "1", "hello", t0)
		for _, status := range []string{"", "bogus", "CLOSE"} {
			if err := s.UpdateChat(ctxT(t), ChatUpdate{OwnerID: "1", PeerID: "2", Status: status,
				LastMessage: "ignored", Unread: 2}); err != nil {
				t.Fatalf("UpdateChat(status %q): %v", status, err)
			}
			c := chatOf(t, s, "1", "2")
			if c.Status != wire.ChatStatusOpen || c.Unread != 2 || c.LastMessage != "hello" || !c.LastTime.Equal(t0) {
				t.Fatalf("UpdateChat(status %q, zero time) = %+v", status, c)
			}
		}
		if err := s.UpdateChat(ctxT(t), ChatUpdate{OwnerID: "1", PeerID: "2", Unread: -3}); err != nil {
			t.Fatal(err)
		}
		if c := chatOf(t, s, "1", "2"); c.Unread != 0 {
			t.Fatalf("negative unread stored: %+v", c)
		}
	})
}

// Sub-second times still never move the summary backwards (SQLite compares
// its text times; bun trims trailing zeros of the fraction).
func TestUpdateChatSubSecond(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		mustUsers(t, s, "1", "2")
		base := t0.Add(500 * time.Millisecond)
		sendAt(t, s, "2", "1", "at .5", base)
		for _, tc := range []struct {
			at   time.Time
			want string
		}{
			{t0, "at .5"}, // whole second before .5
			{t0.Add(250 * time.Millisecond), "at .5"}, // .25 < .5
			{t0.Add(500 * time.Millisecond), "eq"},    // equal applies
			{t0.Add(time.Second), "next second"},      // 1.0 > .5
			{t0.Add(1100 * time.Millisecond), "1.1"},  // 1.1 > 1.0
			{t0.Add(1010 * time.Millisecond), "1.1"},  // 1.01 < 1.1
		} {
			if err := s.UpdateChat(ctxT(t), ChatUpdate{OwnerID: "1", PeerID: "2",
				LastMessage: tc.want, LastMessageType: "text", LastTime: tc.at}); err != nil {
				t.Fatal(err)
			}
			if c := chatOf(t, s, "1", "2"); c.LastMessage != tc.want {
				t.Fatalf("after update at %v: last = %q, want %q", tc.at, c.LastMessage, tc.want)
			}
		}
	})
}

func TestUpdateChatNotFound(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		mustUsers(t, s, "1", "2")
		err := s.UpdateChat(ctxT(t), ChatUpdate{OwnerID: "1", PeerID: "2", Status: "chatting", LastTime: t0})
		wantErr(t, "UpdateChat without a chat", err, ErrNotFound)
		err = s.UpdateChat(ctxT(t), ChatUpdate{OwnerID: "nobody", PeerID: "2"})
		wantErr(t, "UpdateChat for a missing user", err, ErrNotFound)
	})
}

func TestChatStringsVerbatim(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		mustUsers(t, s, "1")
		peer := User{ID: "o'brien", Phone: "o'brien", Name: `O'Brien "🐱"`, Avatar: `:/images/avatar/9.PNG'--`}
		if err := s.CreateUser(ctxT(t), &peer); err != nil {
			t.Fatal(err)
		}
		sendAt(t, s, "o'brien", "1", hostile[1], t0)
		for i, str := range hostile {
			if err := s.UpdateChat(ctxT(t), ChatUpdate{OwnerID: "1", PeerID: "o'brien", Status: "chatting",
				LastMessage: str, LastMessageType: str, LastTime: t0.Add(time.Duration(i) * time.Second)}); err != nil {
				t.Fatalf("UpdateChat(%q): %v", str, err)
			}
			c := chatOf(t, s, "1", "o'brien")
			if c.LastMessage != str || c.LastMessageType != str || c.PeerName != peer.Name || c.PeerAvatar != peer.Avatar {
				t.Fatalf("not verbatim: %+v, want %q", c, str)
			}
		}
	})
}
