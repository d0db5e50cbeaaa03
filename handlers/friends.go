package handlers

import (
	"context"
	"errors"
	"fmt"

	"go.uber.org/zap"

	"github.com/parley-im/parley/db"
	"github.com/parley-im/parley/pipeline"
	"github.com/parley-im/parley/wire"
)

// FriendStore is the storage the friend handlers use, with what their
// collaborators read: the chat list pushed after accept_friend and the
// delivery bookkeeping of its greeting.
type FriendStore interface {
	Friends(ctx context.Context, userID string) ([]db.Friend, error)
	Friend(ctx context.Context, userID, friendID string) (*db.Friend, error)
	RequestFriend(ctx context.Context, userID, friendID string) error
	AcceptFriend(ctx context.Context, userID, friendID, greeting string) (*db.Message, error)
	DeleteFriend(ctx context.Context, userID, friendID string) (bool, error)
	chatLister
	deliveryStore
}

// Friends answers the friend requests: friends, add_friend, accept_friend
// and delete_friend.
type Friends struct {
	store    FriendStore
	sessions pusher
	// cache is the friendship cache send_message reads (see friendship):
	// delete_friend empties its entry.
	cache *friendCache
	// lists pushes the requester's chat list after accept_friend; deliver
	// pushes its greeting.
	lists      *chatLists
	deliver    *delivery
	replyBytes int // Limits.ReplyBytes, for the friends reply
	log        *zap.Logger
}

// Register adds the friend requests to r.
func (s *Friends) Register(r *Router) {
	On(r, wire.TypeFriends, s.Friends)
	On(r, wire.TypeAddFriend, s.AddFriend)
	On(r, wire.TypeAcceptFriend, s.AcceptFriend)
	On(r, wire.TypeDeleteFriend, s.DeleteFriend)
}

// Friends answers the friend list (friends and requests both ways) as one
// array in one frame: the client replaces its list with each frame, so a
// list split over frames would show only the last part. The list is bounded
// twice: the store returns at most friends.list_limit relations, newest
// first, and the reply keeps only as many of those as fit in the byte budget
// (Limits.ReplyBytes), so it is always delivered, whatever names other
// users chose. An empty list is the seed's null object, never an empty array.
func (s *Friends) Friends(ctx context.Context, req *pipeline.Request, in *wire.UserRequest) (ListReply, error) {
	me, err := self(req, in.UserID)
	if err != nil {
		return ListReply{}, err
	}
	list, err := s.friendList(ctx, me)
	if err != nil {
		return ListReply{}, storeErr(s.log, "friends", err, "", "")
	}
	body, n, err := boundedArray(list, s.replyBytes)
	if err != nil {
		return ListReply{}, err
	}
	if n < len(list) {
		s.log.Info("friends reply cut to its byte budget", zap.String("user", me),
			zap.Int("relations", len(list)), zap.Int("sent", n), zap.Int("budget", s.replyBytes))
	}
	if n == 0 {
		return nullList(wire.TypeFriends, wire.NullFriends), nil
	}
	return arrayReply(body), nil
}

func (s *Friends) friendList(ctx context.Context, userID string) ([]wire.FriendItem, error) {
	friends, err := s.store.Friends(ctx, userID)
	if err != nil {
		return nil, err
	}
	out := make([]wire.FriendItem, len(friends))
	for i := range friends {
		out[i] = friendItem(&friends[i])
	}
	return out, nil
}

func friendItem(f *db.Friend) wire.FriendItem {
	return wire.FriendItem{
		UserReply:       userReply(wire.TypeFriends, &f.User),
		CreatedRelation: wire.FormatTime(f.Since),
		Relation:        f.Relation,
	}
}

// AddFriend records a friend request (pending both ways, as the seed did,
// requested by the sender) and answers with type add_friend (the seed said
// get_unread_messages, bug B13, which made the client write a junk history
// record). If the target is online, they are pushed the one new row of their
// friend list, so the request shows up without a manual refresh. Refused
// with limit_reached when the target has friends.max_pending_requests
// requests waiting, or the sender that many of its own.
func (s *Friends) AddFriend(ctx context.Context, req *pipeline.Request, in *wire.FriendRequest) (*wire.FriendReply, error) {
	me, err := friendParties(req, in, "cannot add yourself as a friend")
	if err != nil {
		return nil, err
	}
	if err := s.store.RequestFriend(ctx, me, in.FriendID); err != nil {
		return nil, s.friendErr("add_friend", err, me, in.FriendID, "no such user", "already friends or already requested")
	}
	s.pushFriend(ctx, in.FriendID, me)
	return friendReply(wire.TypeAddFriend, in, me), nil
}

// AcceptFriend accepts a pending request: both relations become accepted,
// both chats are created, and the greeting is stored from the acceptor to the
// requester. Only the addressee may accept: the requester gets forbidden (the
// seed client shows an accept button on both sides of a request, and the
// seed let either press it, so a requester could befriend anyone). Unlike the
// seed (bug B19), the requester, if online, gets the greeting as a
// receive_message push and then their whole chat list, so the new chat
// appears at once.
func (s *Friends) AcceptFriend(ctx context.Context, req *pipeline.Request, in *wire.FriendRequest) (*wire.FriendReply, error) {
	me, err := friendParties(req, in, "cannot accept yourself as a friend")
	if err != nil {
		return nil, err
	}
	greeting, err := s.store.AcceptFriend(ctx, me, in.FriendID, Greeting)
	if err != nil {
		return nil, s.friendErr("accept_friend", err, me, in.FriendID, "no pending friend request", "already friends")
	}
	if greeting != nil {
		if s.deliver.message(ctx, greeting) > 0 {
			s.lists.push(ctx, in.FriendID)
		}
	}
	return friendReply(wire.TypeAcceptFriend, in, me), nil
}

// DeleteFriend removes the friendship both ways, both chats, and hides the
// messages between the two. It answers success whenever a friendship was
// deleted (the seed answered "null" when the two had never exchanged a
// message, bug B14), echoing both ids exactly as received: the client deletes
// the history file they name.
func (s *Friends) DeleteFriend(ctx context.Context, req *pipeline.Request, in *wire.FriendRequest) (*wire.FriendReply, error) {
	me, err := friendParties(req, in, "")
	if err != nil {
		return nil, err
	}
	deleted, err := s.store.DeleteFriend(ctx, me, in.FriendID)
	// Whether or not the delete committed, send_message must ask the
	// store again from now on.
	s.cache.forget(me, in.FriendID)
	if err != nil {
		return nil, storeErr(s.log, "delete_friend", err, "not friends", "")
	}
	if !deleted {
		return nil, &pipeline.Error{Code: wire.CodeNotFound, Message: "not friends"}
	}
	return friendReply(wire.TypeDeleteFriend, in, me), nil
}

func friendReply(typ string, in *wire.FriendRequest, me string) *wire.FriendReply {
	return &wire.FriendReply{FriendID: in.FriendID, Status: wire.StatusSuccess, Type: typ, UserID: echo(in.UserID, me)}
}

// pushFriend sends owner's live sessions, if any, the one row of their
// friend list that changed: other, as owner sees them, as a one-element
// friends array. Never the whole list: a user who receives many requests
// would be sent the growing list once per request (quadratic bytes), and the
// seed client files each element of a friends frame under its user_id, so
// one row is all it needs. A failure only costs the user a manual refresh,
// so it is logged, not returned.
func (s *Friends) pushFriend(ctx context.Context, owner, other string) {
	if !s.sessions.Online(owner) {
		return
	}
	f, err := s.store.Friend(ctx, owner, other)
	if err == nil {
		row := friendItem(f)
		row.Push = wire.TypeAddFriend
		var body []byte
		if body, err = encodeJSON([]wire.FriendItem{row}); err == nil {
			s.sessions.Deliver(owner, body)
		}
	}
	if err != nil {
		s.log.Warn("friends push failed", zap.String("user", owner), zap.Error(err))
	}
}

// friendParties checks the two ids of a friend request: user_id must be the
// session's user (the actor returned), friend_id a valid id and, when
// selfRefusal is set, someone else (refused with that message).
func friendParties(req *pipeline.Request, in *wire.FriendRequest, selfRefusal string) (string, error) {
	me, err := self(req, in.UserID)
	if err != nil {
		return "", err
	}
	if err := checkID("friend_id", in.FriendID); err != nil {
		return "", err
	}
	if selfRefusal != "" && in.FriendID == me {
		return "", invalid("%s", selfRefusal)
	}
	return me, nil
}

// friendErr answers the refusals only friend requests have (a full cap, a
// requester accepting its own request), then the store's usual ones. me is
// the session's user, other the friend_id.
func (s *Friends) friendErr(op string, err error, me, other, notFound, conflict string) error {
	var lim *db.LimitError
	switch {
	case errors.As(err, &lim):
		return &pipeline.Error{Code: wire.CodeLimitReached, Message: limitMessage(lim, me)}
	case errors.Is(err, db.ErrForbidden):
		return pipeline.Errorf(wire.CodeForbidden, "you sent this friend request; only %s can accept it", other)
	}
	return storeErr(s.log, op, err, notFound, conflict)
}

func limitMessage(l *db.LimitError, me string) string {
	switch {
	case l.What == db.LimitOutgoing:
		return fmt.Sprintf("you have %d friend requests waiting for an answer", l.Max)
	case l.What == db.LimitIncoming:
		return fmt.Sprintf("%s has too many pending friend requests", l.UserID)
	case l.UserID == me:
		return fmt.Sprintf("you already have %d friends", l.Max)
	}
	return fmt.Sprintf("%s already has %d friends", l.UserID, l.Max)
}
