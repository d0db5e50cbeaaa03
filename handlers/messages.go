package handlers

import (
	"context"
	"errors"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/parley-im/parley/db"
	"github.com/parley-im/parley/pipeline"
	"github.com/parley-im/parley/session"
	"github.com/parley-im/parley/wire"
)

// MessageStore is the storage the message handlers (send_message,
// get_unread_messages, sync, ack) use, with what their collaborators read:
// the friendship check, delivery bookkeeping and the chat list.
// SaveMessage stores a message when Deps.Messages is nil.
type MessageStore interface {
	SaveMessage(ctx context.Context, m *db.Message) error
	Undelivered(ctx context.Context, userID string, limit int) ([]db.Message, error)
	UnmarkDelivered(ctx context.Context, ids []int64) error
	MessagesAfter(ctx context.Context, userID string, afterID int64, limit int) ([]db.Message, error)
	MarkDeliveredUpTo(ctx context.Context, userID string, upTo int64) error
	friendshipStore
	deliveryStore
	chatLister
}

// friendshipStore is the storage friendship reads.
type friendshipStore interface {
	AreFriends(ctx context.Context, a, b string) (bool, error)
	UserByID(ctx context.Context, id string) (*db.User, error)
}

// deliveryStore is the delivery bookkeeping delivery writes.
type deliveryStore interface {
	ClaimDelivered(ctx context.Context, ids []int64) ([]int64, error)
	SetDelivered(ctx context.Context, id int64, delivered bool) error
}

// Messages answers the message requests: send_message and
// get_unread_messages (the seed's), sync and ack (extensions).
type Messages struct {
	store MessageStore
	// saver stores send_message's messages (Deps.Messages).
	saver      MessageSaver
	presence   Presence
	friendship *friendship
	deliver    *delivery
	// lists sizes the chat list each catch-up frame will cost.
	lists  *chatLists
	limits Limits // MaxBody, ReplyBytes
	log    *zap.Logger
	now    func() time.Time
}

// Register adds the message requests to r.
func (s *Messages) Register(r *Router) {
	On(r, wire.TypeSendMessage, s.SendMessage)
	On(r, wire.TypeGetUnreadMessages, s.GetUnreadMessages)
	On(r, wire.TypeSync, s.Sync)
	On(r, wire.TypeAck, s.Ack)
}

// messageTypes are the message_type values the seed schema allows. The seed
// client only ever sends "text".
var messageTypes = map[string]bool{
	"text": true, "emoticon": true, "image": true, "audio": true, "video": true, "file": true,
}

// SendMessage stores a message to a friend and pushes it to every live
// session of the receiver.
//
// Order matters: the message is committed first, and only then acknowledged
// (a message is acknowledged only once it is durable) and pushed. The ack is
// always sent, with the stored id; the seed sent it only when the receiver was
// offline, and the client ignores it either way.
//
// A retry (a client_msg_id already stored) is answered by checkRetry; it
// pushes the message to nobody, only a sync_hint to the receiver
// (delivery.retried).
//
// Delivery bookkeeping: the row is saved as delivered when the receiver is
// online, so a concurrent login's catch-up does not send it a second time.
// If the push then reaches no session (the receiver just left), the flag is
// cleared so the next login delivers it; if it reaches a session although the
// receiver looked offline (they just arrived), the flag is set so later logins
// do not deliver it again.
func (s *Messages) SendMessage(ctx context.Context, req *pipeline.Request, in *wire.SendMessageRequest) (*wire.SendMessageReply, error) {
	me, err := self(req, in.SendID)
	if err != nil {
		return nil, err
	}
	if err := validateMessage(in, s.limits.MaxBody); err != nil {
		return nil, err
	}
	if err := s.friendship.check(ctx, me, in.ReceiverID); err != nil {
		return nil, err
	}
	m := &db.Message{
		SenderID:    me,
		ReceiverID:  in.ReceiverID,
		ChatType:    in.ChatType, // "" is stored as wire.ChatTypeFriend (db.SaveMessage)
		Body:        in.MessageBody,
		Type:        in.MessageType,
		FilePath:    in.FilePath,
		SentAt:      serverTime(s.now),
		Delivered:   s.presence.Online(in.ReceiverID),
		ClientMsgID: in.ClientMsgID,
	}
	if err := s.saver.Save(ctx, m); err != nil {
		return nil, storeErr(s.log, "send_message", err, "no such user", "")
	}
	if m.Retry {
		if err := checkRetry(m, in); err != nil {
			return nil, err
		}
		s.deliver.retried(m)
	} else {
		s.deliver.message(ctx, m)
	}
	return &wire.SendMessageReply{MessageID: wire.FormatID(m.ID), Status: wire.StatusSuccess, Type: wire.TypeSendMessage}, nil
}

// checkRetry answers a send_message whose client_msg_id the sender already
// used (m is the message stored then). A true retry (same receiver, same
// body) gets the original id again and delivers nothing: the first send
// delivered it, or left it for the receiver's catch-up. Anything else is
// refused with conflict: returning the old id would tell the client that a
// different message was stored, and delivering the old message again (what
// happened before issue 11) let a sender replay it to a receiver who had
// unfriended them, by naming a current friend as the new receiver.
func checkRetry(m *db.Message, in *wire.SendMessageRequest) error {
	if m.ReceiverID != in.ReceiverID || m.Body != in.MessageBody {
		return pipeline.Errorf(wire.CodeConflict, "client_msg_id was already used for another message")
	}
	return nil
}

// friendship answers whether one user may message another. The friendship
// cache it reads is shared with Friends, whose delete_friend empties an
// entry.
type friendship struct {
	cache *friendCache
	store friendshipStore
	log   *zap.Logger
}

// check refuses a message to anyone but an accepted friend. The seed stored
// messages between strangers (and chat rows did not exist for them, so
// nothing showed); an unknown receiver is not_found, a known one who is not
// a friend is forbidden.
//
// A friendship the store confirmed is cached for a minute (friendCache), so
// a conversation costs one query, not one per message.
func (s *friendship) check(ctx context.Context, me, to string) error {
	known, gen := s.cache.lookup(me, to)
	if known {
		return nil
	}
	ok, err := s.store.AreFriends(ctx, me, to)
	if err != nil {
		return storeErr(s.log, "send_message", err, "no such user", "")
	}
	if ok {
		s.cache.add(me, to, gen)
		return nil
	}
	if _, err := s.store.UserByID(ctx, to); err != nil {
		return storeErr(s.log, "send_message", err, "no such user", "")
	}
	return pipeline.Errorf(wire.CodeForbidden, "not friends with %s", to)
}

// validateMessage checks a send_message request; maxBody is
// messages.max_body.
func validateMessage(in *wire.SendMessageRequest, maxBody int) error {
	if err := checkID("receiver_id", in.ReceiverID); err != nil {
		return err
	}
	if len(in.MessageBody) > maxBody {
		return pipeline.Errorf(wire.CodeTooLarge, "message_body is over %d bytes", maxBody)
	}
	// The store drops NUL characters (db/doc.go), so a body holding one
	// would be pushed live with it and synced later without it.
	if strings.IndexByte(in.MessageBody, 0) >= 0 || strings.IndexByte(in.FilePath, 0) >= 0 {
		return invalid("message_body and file_path must not contain NUL characters")
	}
	if in.ChatType != "" && in.ChatType != wire.ChatTypeFriend {
		return invalid("chat_type %q is not supported", truncate(in.ChatType))
	}
	if in.MessageType != "" && !messageTypes[in.MessageType] {
		return invalid("message_type %q is not supported", truncate(in.MessageType))
	}
	if len(in.FilePath) > maxFilePath {
		return invalid("file_path is longer than %d bytes", maxFilePath)
	}
	if len(in.ClientMsgID) > maxClientMsgID {
		return invalid("client_msg_id is longer than %d bytes", maxClientMsgID)
	}
	return nil
}

// delivery pushes stored messages to their receivers. It is shared: send_message
// delivers the message it stored, accept_friend the greeting.
type delivery struct {
	store    deliveryStore
	sessions pusher
	log      *zap.Logger
}

// message pushes a stored message to every live session of its receiver as
// receive_message, encoded once, then corrects the stored delivered flag to
// what actually happened (see SendMessage). It returns the number of
// sessions reached.
func (s *delivery) message(ctx context.Context, m *db.Message) int {
	if !m.Delivered {
		// Saved while the receiver looked offline. If they have logged in
		// since, their catch-up may be sending this very message: whoever
		// claims it delivers it, so it is never sent twice.
		if !s.sessions.Online(m.ReceiverID) {
			return 0
		}
		claimed, err := s.store.ClaimDelivered(ctx, []int64{m.ID})
		if err != nil {
			s.log.Warn("claim for push", zap.Int64("message", m.ID), zap.Error(err))
			return 0 // still undelivered: the next login delivers it
		}
		if len(claimed) == 0 {
			return 0 // the receiver's catch-up took it
		}
		m.Delivered = true
	}
	body, err := encodeJSON(wireMessage(wire.TypeReceiveMessage, m))
	if err != nil {
		s.log.Error("encode receive_message", zap.Int64("message", m.ID), zap.Error(err))
		return 0
	}
	// A push handed to another node counts as reached; if no session there
	// takes it, that node's answer comes back to Undeliver (cluster.Directory).
	n := s.sessions.DeliverMessage(m.ReceiverID, m.ID, body)
	if n == 0 {
		// The receiver left between the check and the push: give the
		// message back to the next login. Not returned as an error: the
		// message is stored and the sender must get its ack; the cost is
		// a delay, never a loss unless the store is gone too.
		if err := s.store.SetDelivered(ctx, m.ID, false); err != nil {
			s.log.Warn("fix delivered flag", zap.Int64("message", m.ID), zap.Error(err))
		} else {
			m.Delivered = false
		}
	}
	return n
}

// retried tells the receiver's Parley clients to sync after the sender
// retried m: the first send stored it, but its push may never have left. A
// cluster node that dies between the commit and the push (and the reply)
// leaves m stored and unpushed; the sender's retry on another node is a
// retry, and without the hint the receiver would get m only at its next
// sync, after the sender's later messages pushed live. The hint leaves
// before the sender's reply, on the path of the sender's next push (the
// same session queue here, the same NATS subject and lane across nodes), so
// it arrives first; a Parley client holds pushes from a hint until its sync,
// and gets m before them. The Qt client ignores the hint (the cluster's
// resync sends it to every session too).
func (s *delivery) retried(m *db.Message) {
	s.sessions.Deliver(m.ReceiverID, wire.SyncHintBody)
}

// Undeliver gives message id back to its receiver's next catch-up: a
// cluster node calls it when a push it counted as reached on another node
// reached no session there (the receiver had just left). It is the same
// correction delivery.message makes at once for a local push that reached
// nobody.
func (s *Messages) Undeliver(ctx context.Context, id int64) error {
	return s.deliver.store.SetDelivered(ctx, id, false)
}

// Redeliver pushes to the live sessions of userID, oldest first, the
// messages still undelivered to them, each claimed first exactly as a live
// push claims it, so a concurrent catch-up or push never sends one twice. A
// cluster node runs it for its online users after NATS comes back: messages
// stored meanwhile for users of this node were left undelivered. It stops
// after maxUnreadPerRequest messages, or when a round delivers nothing (the
// user left), and returns how many it delivered.
func (s *Messages) Redeliver(ctx context.Context, userID string) (int, error) {
	sent := 0
	for sent < maxUnreadPerRequest {
		msgs, err := s.store.Undelivered(ctx, userID, min(unreadBatch, maxUnreadPerRequest-sent))
		if err != nil {
			return sent, err
		}
		delivered := 0
		for i := range msgs {
			if s.deliver.message(ctx, &msgs[i]) > 0 {
				delivered++
			}
		}
		sent += delivered
		if len(msgs) < unreadBatch || delivered == 0 {
			break
		}
	}
	return sent, nil
}

// Catch-up bounds: messages are read in pages of unreadBatch, and one request
// delivers at most maxUnreadPerRequest messages, so a user back after a long
// absence cannot hold a worker for long. Output is budgeted so the catch-up
// cannot overflow the user's own connection (transport.max_pending, 4 MiB by
// default) and get it closed as a slow consumer:
//
//   - get_unread_messages frames get the reply budget (Limits.ReplyBytes, a
//     quarter of transport.max_pending, at most 1 MiB), and each one is charged
//     its own size plus the size of the user's chat list, because the seed
//     client answers every such frame with a chatting request whose reply is
//     the whole list;
//   - past that budget the catch-up goes on with receive_message pushes
//     (another reply budget), which the client files the same way but
//     answers with nothing.
//
// Each frame holds one message (at most messages.max_body of text), so no
// frame comes near the limit. Whatever is left after both budgets stays
// undelivered and comes with the next login (or sync): delayed, never lost.
const (
	unreadBatch         = 200
	maxUnreadPerRequest = 2000
)

// GetUnreadMessages is the login-time catch-up: every message not yet
// delivered to any session, oldest first, each in its own frame (a bare
// object), then marked delivered. One frame per message matters: the client
// appends the whole array it has seen so far to its history for every
// element, so an N-message array would write message k N-k+1 times.
//
// It always answers, because the client loads its chat list only in reaction
// to this reply: with nothing to deliver, the answer is the seed's null
// object. (The seed returned only live-pushed messages, never those sent
// while the user was offline, bug B12.)
func (s *Messages) GetUnreadMessages(ctx context.Context, req *pipeline.Request, in *wire.UserRequest) (ListReply, error) {
	me, err := self(req, in.UserID)
	if err != nil {
		return ListReply{}, err
	}
	// The budget charges each frame the size of the user's chat list, read
	// only once there is a message to send: most logins have none, and the
	// client's chatting request reads the list right after (one query
	// fewer per login, docs/PERFORMANCE.md "CPU per operation").
	var out *catchUp
	sent := 0
	for sent < maxUnreadPerRequest {
		msgs, err := s.store.Undelivered(ctx, me, min(unreadBatch, maxUnreadPerRequest-sent))
		if err != nil {
			return ListReply{}, storeErr(s.log, "get_unread_messages", err, "", "")
		}
		fetched := len(msgs)
		if fetched == 0 {
			break
		}
		if out == nil {
			listCost, err := s.lists.size(ctx, me)
			if err != nil {
				return ListReply{}, storeErr(s.log, "get_unread_messages", err, "", "")
			}
			out = &catchUp{typ: wire.TypeGetUnreadMessages, seq: req.Seq, perFrame: listCost, budget: s.limits.ReplyBytes}
		}
		// Claim before writing: a live push racing for the same message
		// (sent while this user was logging in) then skips it.
		claimed, err := s.store.ClaimDelivered(ctx, messageIDs(msgs))
		if err != nil {
			return ListReply{}, storeErr(s.log, "get_unread_messages", err, "", "")
		}
		msgs = onlyIDs(msgs, claimed)
		ids, err := out.write(req.Session, msgs)
		// Give back what was claimed but not written (budget, or a dead
		// connection): the next login delivers it.
		if uErr := s.store.UnmarkDelivered(ctx, messageIDs(msgs[len(ids):])); uErr != nil {
			return ListReply{}, storeErr(s.log, "get_unread_messages", uErr, "", "")
		}
		sent += len(ids)
		if err != nil || fetched < unreadBatch && len(ids) == len(msgs) {
			break
		}
		if len(ids) < len(msgs) { // out of budget
			if out.typ == wire.TypeReceiveMessage {
				break
			}
			out = &catchUp{typ: wire.TypeReceiveMessage, budget: s.limits.ReplyBytes}
		}
	}
	if sent == 0 {
		return nullList(wire.TypeGetUnreadMessages, wire.NullMessages), nil
	}
	return ListReply{}, nil // every frame already went out
}

func messageIDs(msgs []db.Message) []int64 {
	ids := make([]int64, len(msgs))
	for i := range msgs {
		ids[i] = msgs[i].ID
	}
	return ids
}

// onlyIDs keeps the messages whose ids are in ids (both ascending).
func onlyIDs(msgs []db.Message, ids []int64) []db.Message {
	out := msgs[:0]
	for _, m := range msgs {
		if len(ids) > 0 && ids[0] == m.ID {
			out = append(out, m)
			ids = ids[1:]
		}
	}
	return out
}

// errConnGone stops a catch-up whose connection can no longer take frames.
var errConnGone = errors.New("connection gone")

// catchUp writes catch-up frames of one type within a byte budget.
type catchUp struct {
	typ      string // get_unread_messages, or receive_message once that budget is spent
	seq      uint64 // echoed on get_unread_messages frames (replies), not on pushes
	perFrame int    // bytes the client's answer to each frame will cost
	budget   int
}

// write queues one frame per message on the session and returns the ids
// queued. It stops when the budget is spent (a first frame always goes out,
// so a catch-up always makes progress).
func (c *catchUp) write(s *session.Session, msgs []db.Message) ([]int64, error) {
	ids := make([]int64, 0, len(msgs))
	for i := range msgs {
		body, err := encodeJSON(wireMessage(c.typ, &msgs[i]))
		if err != nil {
			return ids, err
		}
		cost := len(body) + c.perFrame
		if cost > c.budget && (len(ids) > 0 || c.typ == wire.TypeReceiveMessage) {
			c.budget = 0
			break
		}
		if err := s.Send(wire.WithSeq(body, c.seq)); err != nil {
			return ids, errConnGone
		}
		c.budget -= cost
		ids = append(ids, msgs[i].ID)
	}
	return ids, nil
}

// wireMessage renders a stored message: every field a string, the server's
// timestamp; file_path, chat_type and message_type are never empty because
// every stored row got their defaults in db (prepareMessage).
func wireMessage(typ string, m *db.Message) wire.Message {
	return wire.Message{
		ChatType:         m.ChatType,
		FilePath:         m.FilePath,
		MessageBody:      m.Body,
		MessageID:        wire.FormatID(m.ID),
		MessageTimestamp: wire.FormatTime(m.SentAt),
		MessageType:      m.Type,
		ReceiverID:       m.ReceiverID,
		SendID:           m.SenderID,
		Status:           wire.StatusSuccess,
		Type:             typ,
	}
}

// truncate shortens client input quoted in an error message.
func truncate(s string) string {
	if len(s) > maxShortField {
		return s[:maxShortField] + "…"
	}
	return s
}
