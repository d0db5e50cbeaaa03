package handlers

import (
	"context"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/parley-im/parley/db"
	"github.com/parley-im/parley/pipeline"
	"github.com/parley-im/parley/wire"
)

// ChatStore is the storage the chat list handlers (chatting, update_chat)
// use.
type ChatStore interface {
	chatLister
	UpdateChat(ctx context.Context, u db.ChatUpdate) error
}

// chatLister is the storage chatLists reads.
type chatLister interface {
	ChatList(ctx context.Context, userID string, limit, previewChars int) ([]db.Chat, error)
}

// Chats answers the chat list requests: chatting and update_chat.
type Chats struct {
	store   ChatStore
	lists   *chatLists
	maxBody int // messages.max_body, for update_chat's last_message
	log     *zap.Logger
	now     func() time.Time
}

// Register adds the chat list requests to r.
func (s *Chats) Register(r *Router) {
	On(r, wire.TypeChatting, s.Chatting)
	On(r, wire.TypeUpdateChat, s.UpdateChat)
}

// chatLists builds a user's bounded chat list (see Chats.Chatting). It is
// shared: chatting answers with it, accept_friend pushes it to the
// requester, and get_unread_messages charges its size to every catch-up
// frame (the seed client answers each one with a chatting request).
type chatLists struct {
	store    chatLister
	sessions pusher
	limits   Limits // ChatListMax, ChatPreviewMax, ReplyBytes
	log      *zap.Logger
}

// Chatting answers the chat list as one array in one frame, each
// unread_count a decimal string (the client reads a number as 0 and drops
// the badge). An empty list is the seed's null object.
//
// The list is bounded (issue 11): the messages.chat_list_max most recent
// chats (last_time, newest first), each last_message cut to
// messages.chat_preview_max bytes, and no more entries than fit the reply
// budget (Limits.ReplyBytes) once encoded. The seed client sorts the list
// itself and cannot page; a chat left out comes back when it has news.
func (s *Chats) Chatting(ctx context.Context, req *pipeline.Request, in *wire.UserRequest) (ListReply, error) {
	me, err := self(req, in.UserID)
	if err != nil {
		return ListReply{}, err
	}
	body, n, err := s.lists.list(ctx, me)
	if err != nil {
		return ListReply{}, storeErr(s.log, "chatting", err, "", "")
	}
	if n == 0 {
		return nullList(wire.TypeChatting, wire.NullChatting), nil
	}
	return arrayReply(body), nil
}

// list is the bounded chat list of userID (see Chatting), encoded as the
// reply's array, and how many chats it holds.
func (s *chatLists) list(ctx context.Context, userID string) ([]byte, int, error) {
	return s.listWithin(ctx, userID, s.limits.ReplyBytes)
}

// listWithin is list within budget bytes (chat_list gives it half the
// reply budget, the groups the other half).
func (s *chatLists) listWithin(ctx context.Context, userID string, budget int) ([]byte, int, error) {
	lim := s.limits
	chats, err := s.store.ChatList(ctx, userID, lim.ChatListMax, lim.ChatPreviewMax)
	if err != nil {
		return nil, 0, err
	}
	items := make([]wire.ChatItem, len(chats))
	for i := range chats {
		items[i] = chatItem(&chats[i], lim.ChatPreviewMax)
	}
	return boundedArray(items, budget)
}

// size is the size of userID's chatting reply.
func (s *chatLists) size(ctx context.Context, userID string) (int, error) {
	b, _, err := s.list(ctx, userID)
	return len(b), err
}

// push sends userID's whole chat list to their live sessions, if any.
// A failure only costs the user a manual refresh, so it is logged.
func (s *chatLists) push(ctx context.Context, userID string) {
	if !s.sessions.Online(userID) {
		return
	}
	body, n, err := s.list(ctx, userID)
	if err == nil && n > 0 {
		s.sessions.Deliver(userID, body)
	}
	if err != nil {
		s.log.Warn("chatting push failed", zap.String("user", userID), zap.Error(err))
	}
}

// chatItem renders one chat for the chatting list, its preview cut to
// previewMax bytes.
func chatItem(c *db.Chat, previewMax int) wire.ChatItem {
	return wire.ChatItem{
		ChatStatus:      c.Status,
		ChatType:        c.Type,
		CommID:          c.PeerID,
		LastMessage:     preview(c.LastMessage, previewMax),
		LastMessageType: c.LastMessageType,
		LastTime:        wire.FormatTime(c.LastTime),
		Status:          wire.StatusSuccess,
		Type:            wire.TypeChatting,
		UnreadCount:     strconv.Itoa(c.Unread),
		Avatar:          c.PeerAvatar,
		Name:            c.PeerName,
	}
}

// updateChatOK is the constant update_chat success reply (the client ignores
// it; the edge adds the seq).
var updateChatOK = &wire.StatusReply{Status: wire.StatusSuccess, Type: wire.TypeUpdateChat}

// UpdateChat marks the chat with comm_id read and stores the client's view of
// its summary. The client sends it when a chat is opened (with the values it
// holds, possibly stale) and after every send_message. Its last_time is the
// client's clock, so it is capped at the server's now (bug B20), and the
// store keeps the newer of the stored and the sent summary, so reopening an
// old chat never moves it backwards. unread_count arrives as a number from
// the seed client and as a string from others.
func (s *Chats) UpdateChat(ctx context.Context, req *pipeline.Request, in *wire.UpdateChatRequest) (*wire.StatusReply, error) {
	me, err := self(req, in.UserID)
	if err != nil {
		return nil, err
	}
	if err := checkID("comm_id", in.CommID); err != nil {
		return nil, err
	}
	if in.UnreadCount < 0 || in.UnreadCount > 1<<31-1 {
		return nil, invalid("unread_count out of range")
	}
	if len(in.LastMessage) > s.maxBody {
		return nil, pipeline.Errorf(wire.CodeTooLarge, "last_message is over %d bytes", s.maxBody)
	}
	if len(in.ChatStatus) > maxShortField || len(in.LastMessageType) > maxShortField {
		return nil, invalid("chat_status or last_message_type too long")
	}
	u := db.ChatUpdate{
		OwnerID:         me,
		PeerID:          in.CommID,
		Status:          in.ChatStatus,
		LastMessage:     in.LastMessage,
		LastMessageType: in.LastMessageType,
		LastTime:        s.clientTime(in.LastTime),
		Unread:          int(in.UnreadCount),
	}
	if err := s.store.UpdateChat(ctx, u); err != nil {
		return nil, storeErr(s.log, "update_chat", err, "no such chat", "")
	}
	return updateChatOK, nil
}

// clientTime parses a timestamp sent by a client and caps it at now. An
// empty or unreadable one is the zero time: no summary to store.
func (s *Chats) clientTime(v string) time.Time {
	t, err := wire.ParseTime(v)
	if err != nil {
		return time.Time{}
	}
	if now := serverTime(s.now); t.After(now) {
		return now
	}
	return t
}
