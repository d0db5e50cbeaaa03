package handlers

import (
	"context"

	"go.uber.org/zap"

	"github.com/parley-im/parley/pipeline"
	"github.com/parley-im/parley/wire"
)

// Friends answers the whole friend list (friends and requests both ways) as
// one array in one frame: the client replaces its list with each frame, so a
// list split over frames would show only the last part. An empty list is the
// seed's null object, never an empty array.
func (s *Service) Friends(ctx context.Context, req *pipeline.Request, in *wire.UserRequest) (any, error) {
	me, err := self(req, in.UserID)
	if err != nil {
		return nil, err
	}
	list, err := s.friendList(ctx, me)
	if err != nil {
		return nil, s.storeErr("friends", err, "", "")
	}
	if len(list) == 0 {
		return wire.Null(wire.TypeFriends, wire.NullFriends), nil
	}
	return list, nil
}

func (s *Service) friendList(ctx context.Context, userID string) ([]wire.FriendItem, error) {
	friends, err := s.store.Friends(ctx, userID)
	if err != nil {
		return nil, err
	}
	out := make([]wire.FriendItem, len(friends))
	for i, f := range friends {
		out[i] = wire.FriendItem{
			UserReply:       userReply(wire.TypeFriends, &f.User),
			CreatedRelation: wire.FormatTime(f.Since),
			Relation:        f.Relation,
		}
	}
	return out, nil
}

// AddFriend records a friend request (pending both ways, as the seed did) and
// answers with type add_friend (the seed said get_unread_messages, bug B13,
// which made the client write a junk history record). If the target is
// online, their whole friend list is pushed so the request shows up without
// a manual refresh.
func (s *Service) AddFriend(ctx context.Context, req *pipeline.Request, in *wire.FriendRequest) (*wire.FriendReply, error) {
	me, err := friendParties(req, in, "cannot add yourself as a friend")
	if err != nil {
		return nil, err
	}
	if err := s.store.RequestFriend(ctx, me, in.FriendID); err != nil {
		return nil, s.storeErr("add_friend", err, "no such user", "already friends or already requested")
	}
	s.pushFriends(ctx, in.FriendID)
	return friendReply(wire.TypeAddFriend, in, me), nil
}

// AcceptFriend accepts a pending request: both relations become accepted,
// both chats are created, and the greeting is stored from the acceptor to the
// requester. Unlike the seed (bug B19), the requester, if online, gets the
// greeting as a receive_message push and then their whole chat list, so the
// new chat appears at once.
func (s *Service) AcceptFriend(ctx context.Context, req *pipeline.Request, in *wire.FriendRequest) (*wire.FriendReply, error) {
	me, err := friendParties(req, in, "cannot accept yourself as a friend")
	if err != nil {
		return nil, err
	}
	greeting, err := s.store.AcceptFriend(ctx, me, in.FriendID, Greeting)
	if err != nil {
		return nil, s.storeErr("accept_friend", err, "no pending friend request", "already friends")
	}
	if greeting != nil {
		if s.deliverMessage(ctx, greeting) > 0 {
			s.pushChats(ctx, in.FriendID)
		}
	}
	return friendReply(wire.TypeAcceptFriend, in, me), nil
}

// DeleteFriend removes the friendship both ways, both chats, and hides the
// messages between the two. It answers success whenever a friendship was
// deleted (the seed answered "null" when the two had never exchanged a
// message, bug B14), echoing both ids exactly as received: the client deletes
// the history file they name.
func (s *Service) DeleteFriend(ctx context.Context, req *pipeline.Request, in *wire.FriendRequest) (*wire.FriendReply, error) {
	me, err := friendParties(req, in, "")
	if err != nil {
		return nil, err
	}
	deleted, err := s.store.DeleteFriend(ctx, me, in.FriendID)
	// Whether or not the delete committed, send_message must ask the
	// store again from now on.
	s.friends.forget(me, in.FriendID)
	if err != nil {
		return nil, s.storeErr("delete_friend", err, "not friends", "")
	}
	if !deleted {
		return nil, &pipeline.Error{Code: wire.CodeNotFound, Message: "not friends"}
	}
	return friendReply(wire.TypeDeleteFriend, in, me), nil
}

func friendReply(typ string, in *wire.FriendRequest, me string) *wire.FriendReply {
	return &wire.FriendReply{FriendID: in.FriendID, Status: wire.StatusSuccess, Type: typ, UserID: echo(in.UserID, me)}
}

// pushFriends sends userID's whole friend list to their live sessions, if
// any. A complete list is the only unsolicited friends frame the client
// handles correctly, and an empty one (the null object) is never pushed. A
// failure only costs the user a manual refresh, so it is logged, not returned.
func (s *Service) pushFriends(ctx context.Context, userID string) {
	if !s.sessions.Online(userID) {
		return
	}
	list, err := s.friendList(ctx, userID)
	if err == nil && len(list) > 0 {
		var body []byte
		if body, err = encodeJSON(list); err == nil {
			s.push(userID, body)
		}
	}
	if err != nil {
		s.log.Warn("friends push failed", zap.String("user", userID), zap.Error(err))
	}
}

// pushChats is pushFriends for the chat list.
func (s *Service) pushChats(ctx context.Context, userID string) {
	if !s.sessions.Online(userID) {
		return
	}
	list, err := s.chatList(ctx, userID)
	if err == nil && len(list) > 0 {
		var body []byte
		if body, err = encodeJSON(list); err == nil {
			s.push(userID, body)
		}
	}
	if err != nil {
		s.log.Warn("chatting push failed", zap.String("user", userID), zap.Error(err))
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
