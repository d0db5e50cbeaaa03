package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/parley-im/parley/config"
	"github.com/parley-im/parley/db"
	"github.com/parley-im/parley/pipeline"
	"github.com/parley-im/parley/wire"
)

// GroupStore is the storage the group requests use.
type GroupStore interface {
	memberLister
	CreateGroup(ctx context.Context, owner, name string, members []string) (db.Group, db.GroupMessage, error)
	RenameGroup(ctx context.Context, id int64, actor, name string) (db.GroupMessage, error)
	AddGroupMembers(ctx context.Context, id int64, actor string, users []string) (db.GroupMessage, error)
	RemoveGroupMember(ctx context.Context, id int64, actor, user string) (db.GroupMessage, error)
	LeaveGroup(ctx context.Context, id int64, user string) (db.GroupMessage, error)
	SetGroupRole(ctx context.Context, id int64, actor, user, role string) (db.GroupMessage, error)
	DissolveGroup(ctx context.Context, id int64, actor string) (db.GroupMessage, []string, error)
	GroupFor(ctx context.Context, id int64, userID string) (db.MyGroup, error)
	MyGroups(ctx context.Context, userID string, limit int) ([]db.MyGroup, error)
	GroupMembers(ctx context.Context, id int64, userID, after string, limit int) ([]db.Membership, error)
	GroupMessagesAfter(ctx context.Context, id int64, userID string, after int64, limit int) ([]db.GroupMessage, error)
	GroupHistory(ctx context.Context, id int64, userID string, before int64, limit int) ([]db.GroupMessage, error)
	MarkGroupRead(ctx context.Context, id int64, userID string, seq int64) (int64, error)
	SaveGroupMessage(ctx context.Context, m *db.GroupMessage) error
}

// GroupSaver stores one group message durably and returns once it is
// committed with its seq. *db.MessageWriter's SaveGroup shares the message
// writer's group commit; without one, Store.SaveGroupMessage is used.
type GroupSaver interface {
	SaveGroup(ctx context.Context, m *db.GroupMessage) error
}

type saveGroupFunc func(ctx context.Context, m *db.GroupMessage) error

func (f saveGroupFunc) SaveGroup(ctx context.Context, m *db.GroupMessage) error { return f(ctx, m) }

// Groups answers the group chat extension (docs/PROTOCOL.md §6.6) and
// chat_list, the chat list with groups for Parley clients.
type Groups struct {
	store  GroupStore
	saver  GroupSaver
	fan    *fanout
	lists  *chatLists
	limits Limits
	cfg    config.Groups
	log    *zap.Logger
	now    func() time.Time
}

// Register adds the group requests to r.
func (s *Groups) Register(r *Router) {
	On(r, wire.TypeGroupCreate, s.Create)
	On(r, wire.TypeGroupRename, s.Rename)
	On(r, wire.TypeGroupAdd, s.Add)
	On(r, wire.TypeGroupRemove, s.Remove)
	On(r, wire.TypeGroupLeave, s.Leave)
	On(r, wire.TypeGroupDissolve, s.Dissolve)
	On(r, wire.TypeGroupSetRole, s.SetRole)
	On(r, wire.TypeGroupList, s.List)
	On(r, wire.TypeGroupInfo, s.Info)
	On(r, wire.TypeGroupMembers, s.Members)
	On(r, wire.TypeGroupSend, s.Send)
	On(r, wire.TypeGroupRead, s.Read)
	On(r, wire.TypeGroupSync, s.Sync)
	On(r, wire.TypeGroupHistory, s.History)
	On(r, wire.TypeChatList, s.ChatList)
}

// close stops the fan-out once the messages queued are pushed.
func (s *Groups) close() { s.fan.close() }

// groupErr turns a store error of a group call into the client's answer:
// the refusals carry the store's reason (which member, which role).
func (s *Groups) groupErr(op string, err error) error {
	for _, k := range []struct {
		kind error
		code string
	}{
		{db.ErrNotMember, wire.CodeNotMember}, {db.ErrForbidden, wire.CodeForbidden},
		{db.ErrLimit, wire.CodeLimitReached}, {db.ErrNotFound, wire.CodeNotFound},
		{db.ErrConflict, wire.CodeConflict},
	} {
		if errors.Is(err, k.kind) && !db.IsUnavailable(err) {
			var le *db.LimitError
			if errors.As(err, &le) {
				return &pipeline.Error{Code: k.code, Message: le.Error()}
			}
			return &pipeline.Error{Code: k.code, Message: reason(err, k.kind)}
		}
	}
	return storeErr(s.log, op, err, "no such group", "")
}

// reason is the text after kind in err ("db: Op: forbidden: why" -> "why").
func reason(err, kind error) string {
	msg, prefix := err.Error(), kind.Error()+": "
	if i := strings.Index(msg, prefix); i >= 0 {
		return msg[i+len(prefix):]
	}
	return kind.Error()
}

// groupID parses a group id sent as a decimal string.
func groupID(v string) (int64, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		return 0, invalid("group_id must be a group id (decimal digits)")
	}
	return n, nil
}

// seqArg parses a seq sent as a decimal string; "" is 0.
func seqArg(field, v string) (int64, error) {
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, invalid("%s must be a seq (decimal digits)", field)
	}
	return n, nil
}

// checkName refuses an empty, over-long or NUL-holding group name.
func checkName(name string) error {
	if strings.TrimSpace(name) == "" {
		return invalid("name is required")
	}
	if utf8.RuneCountInString(name) > maxNameRunes || strings.IndexByte(name, 0) >= 0 {
		return invalid("name must be at most %d characters, without NUL", maxNameRunes)
	}
	return nil
}

// checkMembers refuses a member list that is empty (when required), too
// long for any group, or holds a bad id.
func (s *Groups) checkMembers(members []string, required bool) error {
	if required && len(members) == 0 {
		return invalid("members is required")
	}
	if len(members) > s.cfg.MaxMembers {
		return pipeline.Errorf(wire.CodeLimitReached, "a group has at most %d members", s.cfg.MaxMembers)
	}
	for _, m := range members {
		if err := checkID("members", m); err != nil {
			return err
		}
	}
	return nil
}

// groupChangeReply answers a membership or name change with the seq of the
// system message that records it.
type groupChangeReply struct {
	Type     string `json:"type"`
	Status   string `json:"status"`
	GroupID  string `json:"group_id"`
	GroupSeq string `json:"group_seq"`
}

// changed pushes a change's system message to the members (and to extra,
// who just left and see the event that removed them) and answers it.
func (s *Groups) changed(ctx context.Context, typ string, m db.GroupMessage, extra []string) (*groupChangeReply, error) {
	s.publish(ctx, &m, extra)
	return &groupChangeReply{Type: typ, Status: wire.StatusSuccess, GroupID: wire.FormatID(m.GroupID), GroupSeq: wire.FormatID(m.Seq)}, nil
}

// publish queues a stored message for the fan-out, encoded once.
func (s *Groups) publish(ctx context.Context, m *db.GroupMessage, extra []string) {
	body, err := encodeJSON(wireGroupMessage(m))
	if err != nil {
		s.log.Error("encode group_message", zap.Error(err))
		return
	}
	s.fan.enqueue(ctx, fanJob{group: m.GroupID, seq: m.Seq, memberSeq: m.MemberSeq, body: body, extra: extra})
}

// wireGroupMessage renders a stored group message (push, sync, history).
func wireGroupMessage(m *db.GroupMessage) wire.GroupMessage {
	return wire.GroupMessage{
		Type: wire.TypeGroupMessage, Status: wire.StatusSuccess,
		GroupID: wire.FormatID(m.GroupID), GroupSeq: wire.FormatID(m.Seq), SenderID: m.SenderID,
		Body: m.Body, MessageType: m.Type, Time: wire.FormatTime(m.SentAt), ClientMsgID: m.ClientMsgID,
	}
}

// groupInfoReply answers group_create and group_info.
type groupInfoReply struct {
	Type   string         `json:"type"`
	Status string         `json:"status"`
	Group  wire.GroupItem `json:"group"`
}

// Create creates a group with the caller as owner. Initial members must be
// the caller's accepted friends (a group pushes into its members' sessions,
// so nobody is put in one by a stranger); they and the owner join at seq 1,
// the create event, which is pushed to all of them.
func (s *Groups) Create(ctx context.Context, req *pipeline.Request, in *wire.GroupCreate) (*groupInfoReply, error) {
	me, err := self(req, "")
	if err != nil {
		return nil, err
	}
	if err := checkName(in.Name); err != nil {
		return nil, err
	}
	if err := s.checkMembers(in.Members, false); err != nil {
		return nil, err
	}
	g, msg, err := s.store.CreateGroup(ctx, me, in.Name, in.Members)
	if err != nil {
		return nil, s.groupErr("group_create", err)
	}
	s.publish(ctx, &msg, nil)
	mg := db.MyGroup{Group: g, Membership: db.Membership{GroupID: g.ID, UserID: me, Role: wire.GroupRoleOwner,
		JoinedSeq: msg.Seq, ReadSeq: msg.Seq}}
	return &groupInfoReply{Type: wire.TypeGroupCreate, Status: wire.StatusSuccess, Group: s.groupItem(&mg)}, nil
}

// Rename renames a group (owner or admin).
func (s *Groups) Rename(ctx context.Context, req *pipeline.Request, in *wire.GroupRename) (*groupChangeReply, error) {
	me, id, err := s.caller(req, in.GroupID)
	if err != nil {
		return nil, err
	}
	if err := checkName(in.Name); err != nil {
		return nil, err
	}
	m, err := s.store.RenameGroup(ctx, id, me, in.Name)
	if err != nil {
		return nil, s.groupErr("group_rename", err)
	}
	return s.changed(ctx, wire.TypeGroupRename, m, nil)
}

// Add adds the caller's accepted friends to a group (owner or admin).
func (s *Groups) Add(ctx context.Context, req *pipeline.Request, in *wire.GroupAdd) (*groupChangeReply, error) {
	me, id, err := s.caller(req, in.GroupID)
	if err != nil {
		return nil, err
	}
	if err := s.checkMembers(in.Members, true); err != nil {
		return nil, err
	}
	m, err := s.store.AddGroupMembers(ctx, id, me, in.Members)
	if err != nil {
		return nil, s.groupErr("group_add", err)
	}
	return s.changed(ctx, wire.TypeGroupAdd, m, nil)
}

// Remove removes a member (the owner anyone, an admin plain members).
func (s *Groups) Remove(ctx context.Context, req *pipeline.Request, in *wire.GroupUser) (*groupChangeReply, error) {
	me, id, err := s.caller(req, in.GroupID)
	if err != nil {
		return nil, err
	}
	if err := checkID("member_id", in.MemberID); err != nil {
		return nil, err
	}
	m, err := s.store.RemoveGroupMember(ctx, id, me, in.MemberID)
	if err != nil {
		return nil, s.groupErr("group_remove", err)
	}
	return s.changed(ctx, wire.TypeGroupRemove, m, []string{in.MemberID})
}

// Leave ends the caller's membership (not the owner's).
func (s *Groups) Leave(ctx context.Context, req *pipeline.Request, in *wire.GroupRef) (*groupChangeReply, error) {
	me, id, err := s.caller(req, in.GroupID)
	if err != nil {
		return nil, err
	}
	m, err := s.store.LeaveGroup(ctx, id, me)
	if err != nil {
		return nil, s.groupErr("group_leave", err)
	}
	return s.changed(ctx, wire.TypeGroupLeave, m, []string{me})
}

// Dissolve ends the group (owner only); every member gets the event.
func (s *Groups) Dissolve(ctx context.Context, req *pipeline.Request, in *wire.GroupRef) (*groupChangeReply, error) {
	me, id, err := s.caller(req, in.GroupID)
	if err != nil {
		return nil, err
	}
	m, members, err := s.store.DissolveGroup(ctx, id, me)
	if err != nil {
		return nil, s.groupErr("group_dissolve", err)
	}
	return s.changed(ctx, wire.TypeGroupDissolve, m, members)
}

// groupRoles are the roles group_set_role accepts.
var groupRoles = []string{wire.GroupRoleOwner, wire.GroupRoleAdmin, wire.GroupRoleMember}

// SetRole sets a member's role (owner only); "owner" hands the group on.
func (s *Groups) SetRole(ctx context.Context, req *pipeline.Request, in *wire.GroupUser) (*groupChangeReply, error) {
	me, id, err := s.caller(req, in.GroupID)
	if err != nil {
		return nil, err
	}
	if err := checkID("member_id", in.MemberID); err != nil {
		return nil, err
	}
	if !slices.Contains(groupRoles, in.Role) {
		return nil, invalid("role must be owner, admin or member")
	}
	m, err := s.store.SetGroupRole(ctx, id, me, in.MemberID, in.Role)
	if err != nil {
		return nil, s.groupErr("group_set_role", err)
	}
	return s.changed(ctx, wire.TypeGroupSetRole, m, nil)
}

// caller is the logged-in user and the parsed group id.
func (s *Groups) caller(req *pipeline.Request, gid string) (string, int64, error) {
	me, err := self(req, "")
	if err != nil {
		return "", 0, err
	}
	id, err := groupID(gid)
	return me, id, err
}

// groupItem renders a group for its member.
func (s *Groups) groupItem(g *db.MyGroup) wire.GroupItem {
	it := wire.GroupItem{
		Status: wire.StatusSuccess, GroupID: wire.FormatID(g.Group.ID), Name: g.Name, Owner: g.OwnerID,
		Role: g.Role, Members: strconv.Itoa(g.Members), LastSeq: wire.FormatID(g.LastSeq),
		ReadSeq: wire.FormatID(g.ReadSeq), JoinedSeq: wire.FormatID(g.JoinedSeq),
		Unread: wire.FormatID(g.Unread()), LastSender: g.LastSender,
		LastBody: preview(g.LastBody, s.limits.ChatPreviewMax), LastType: g.LastType,
	}
	if g.LastSender != "" {
		it.LastTime = wire.FormatTime(g.LastTime)
	}
	return it
}

// groupItems renders the caller's groups as an array within budget bytes,
// and says whether any were left out.
func (s *Groups) groupItems(ctx context.Context, me string, budget int) ([]byte, bool, error) {
	groups, err := s.store.MyGroups(ctx, me, s.cfg.MaxGroupsPerUser)
	if err != nil {
		return nil, false, err
	}
	items := make([]wire.GroupItem, len(groups))
	for i := range groups {
		items[i] = s.groupItem(&groups[i])
	}
	body, n, err := boundedArray(items, budget)
	return body, n < len(items), err
}

// groupListReply answers group_list.
type groupListReply struct {
	Type   string          `json:"type"`
	Status string          `json:"status"`
	Groups json.RawMessage `json:"groups"`
	More   bool            `json:"more"`
}

// List answers the caller's groups, most recent message first, each with
// its unread count (last_seq - read_seq), within the reply budget; "more"
// says some were left out.
func (s *Groups) List(ctx context.Context, req *pipeline.Request, _ *struct{}) (*groupListReply, error) {
	me, err := self(req, "")
	if err != nil {
		return nil, err
	}
	body, more, err := s.groupItems(ctx, me, s.limits.ReplyBytes)
	if err != nil {
		return nil, s.groupErr("group_list", err)
	}
	return &groupListReply{Type: wire.TypeGroupList, Status: wire.StatusSuccess, Groups: body, More: more}, nil
}

// Info answers one group as the caller (an active member) sees it.
func (s *Groups) Info(ctx context.Context, req *pipeline.Request, in *wire.GroupRef) (*groupInfoReply, error) {
	me, id, err := s.caller(req, in.GroupID)
	if err != nil {
		return nil, err
	}
	g, err := s.store.GroupFor(ctx, id, me)
	if err != nil {
		return nil, s.groupErr("group_info", err)
	}
	return &groupInfoReply{Type: wire.TypeGroupInfo, Status: wire.StatusSuccess, Group: s.groupItem(&g)}, nil
}

// membersReply answers group_members.
type membersReply struct {
	Type    string             `json:"type"`
	Status  string             `json:"status"`
	Members []wire.GroupMember `json:"members"`
	More    bool               `json:"more"`
}

// Members answers a page of a group's active members by user id: after
// "after", at most limit (default and cap groups.members_page).
func (s *Groups) Members(ctx context.Context, req *pipeline.Request, in *wire.GroupMembersRequest) (*membersReply, error) {
	me, id, err := s.caller(req, in.GroupID)
	if err != nil {
		return nil, err
	}
	limit, err := pageLimit(in.Limit, s.cfg.MembersPage, s.cfg.MembersPage)
	if err != nil {
		return nil, err
	}
	if len(in.After) > maxIDLen {
		return nil, invalid("after is longer than %d bytes", maxIDLen)
	}
	ms, err := s.store.GroupMembers(ctx, id, me, in.After, limit+1)
	if err != nil {
		return nil, s.groupErr("group_members", err)
	}
	out := &membersReply{Type: wire.TypeGroupMembers, Status: wire.StatusSuccess, More: len(ms) > limit,
		Members: make([]wire.GroupMember, 0, min(len(ms), limit))}
	for _, m := range ms[:min(len(ms), limit)] {
		out.Members = append(out.Members, wire.GroupMember{Status: wire.StatusSuccess, UserID: m.UserID,
			Name: m.UserName, Avatar: m.UserAvatar, Role: m.Role, JoinedSeq: wire.FormatID(m.JoinedSeq)})
	}
	return out, nil
}

// Send stores a group message once, with the group's next seq, acknowledges
// it, and hands it to the fan-out, which pushes it to the online members
// (the sender's other sessions included) after the ack, off this worker. A
// resend with the same client_msg_id gets the same seq and pushes nothing;
// the same id with another body is a conflict.
func (s *Groups) Send(ctx context.Context, req *pipeline.Request, in *wire.GroupSend) (*wire.GroupSendReply, error) {
	me, id, err := s.caller(req, in.GroupID)
	if err != nil {
		return nil, err
	}
	if len(in.Body) > s.limits.MaxBody {
		return nil, pipeline.Errorf(wire.CodeTooLarge, "body is over %d bytes", s.limits.MaxBody)
	}
	if in.Body == "" || strings.IndexByte(in.Body, 0) >= 0 {
		return nil, invalid("body must be non-empty, without NUL characters")
	}
	if in.MessageType != "" && !messageTypes[in.MessageType] {
		return nil, invalid("message_type %q is not supported", truncate(in.MessageType))
	}
	if len(in.ClientMsgID) > maxClientMsgID {
		return nil, invalid("client_msg_id is longer than %d bytes", maxClientMsgID)
	}
	m := &db.GroupMessage{GroupID: id, SenderID: me, Body: in.Body, Type: in.MessageType,
		SentAt: serverTime(s.now), ClientMsgID: in.ClientMsgID}
	if err := s.saver.SaveGroup(ctx, m); err != nil {
		return nil, s.groupErr("group_send", err)
	}
	if m.Retry {
		if m.Body != in.Body {
			return nil, pipeline.Errorf(wire.CodeConflict, "client_msg_id was already used for another message")
		}
	} else {
		s.publish(ctx, m, nil)
	}
	return &wire.GroupSendReply{Type: wire.TypeGroupSend, Status: wire.StatusSuccess, GroupID: in.GroupID,
		GroupSeq: wire.FormatID(m.Seq), Time: wire.FormatTime(m.SentAt)}, nil
}

// groupReadReply answers group_read with the cursor after it.
type groupReadReply struct {
	Type    string `json:"type"`
	Status  string `json:"status"`
	GroupID string `json:"group_id"`
	ReadSeq string `json:"read_seq"`
}

// Read moves the caller's read cursor up to group_seq (capped at what it
// can see; never backwards): its unread count becomes last_seq - read_seq.
func (s *Groups) Read(ctx context.Context, req *pipeline.Request, in *wire.GroupRead) (*groupReadReply, error) {
	me, id, err := s.caller(req, in.GroupID)
	if err != nil {
		return nil, err
	}
	seq, err := seqArg("group_seq", in.GroupSeq)
	if err != nil {
		return nil, err
	}
	cur, err := s.store.MarkGroupRead(ctx, id, me, seq)
	if err != nil {
		return nil, s.groupErr("group_read", err)
	}
	return &groupReadReply{Type: wire.TypeGroupRead, Status: wire.StatusSuccess, GroupID: in.GroupID, ReadSeq: wire.FormatID(cur)}, nil
}

// groupPage answers group_sync and group_history.
type groupPage struct {
	Type     string            `json:"type"`
	Status   string            `json:"status"`
	GroupID  string            `json:"group_id"`
	Messages []json.RawMessage `json:"messages"`
	More     bool              `json:"more"`
}

// Sync answers a group's messages after after_seq that the caller may see
// (from its join, up to its leaving), oldest first, at most limit (default
// and cap 500) and within the reply budget; "more" says to page on from the
// last group_seq. Members who left still read what they could see.
func (s *Groups) Sync(ctx context.Context, req *pipeline.Request, in *wire.GroupSync) (*groupPage, error) {
	me, id, err := s.caller(req, in.GroupID)
	if err != nil {
		return nil, err
	}
	after, err := seqArg("after_seq", in.AfterSeq)
	if err != nil {
		return nil, err
	}
	limit, err := pageLimit(in.Limit, maxSyncPage, maxSyncPage)
	if err != nil {
		return nil, err
	}
	msgs, err := s.store.GroupMessagesAfter(ctx, id, me, after, limit+1)
	if err != nil {
		return nil, s.groupErr("group_sync", err)
	}
	more := len(msgs) > limit
	msgs = msgs[:min(len(msgs), limit)]
	return s.page(wire.TypeGroupSync, in.GroupID, msgs, more)
}

// History answers a page of a group's messages before before_seq (the
// newest when 0 or empty), the newest page first, each page in seq order;
// "more" says to page on with before_seq = the page's first group_seq.
func (s *Groups) History(ctx context.Context, req *pipeline.Request, in *wire.GroupHistory) (*groupPage, error) {
	me, id, err := s.caller(req, in.GroupID)
	if err != nil {
		return nil, err
	}
	before, err := seqArg("before_seq", in.BeforeSeq)
	if err != nil {
		return nil, err
	}
	limit, err := pageLimit(in.Limit, maxSyncPage, maxSyncPage)
	if err != nil {
		return nil, err
	}
	msgs, err := s.store.GroupHistory(ctx, id, me, before, limit+1)
	if err != nil {
		return nil, s.groupErr("group_history", err)
	}
	more := len(msgs) > limit
	msgs = msgs[:min(len(msgs), limit)]
	// Newest first from the store: keep the newest that fit the budget,
	// then answer them in seq order.
	p, err := s.page(wire.TypeGroupHistory, in.GroupID, msgs, more)
	if err == nil {
		slices.Reverse(p.Messages)
	}
	return p, err
}

// page renders msgs in order until the reply budget is spent (at least
// one), setting More when any were left out.
func (s *Groups) page(typ, gid string, msgs []db.GroupMessage, more bool) (*groupPage, error) {
	p := &groupPage{Type: typ, Status: wire.StatusSuccess, GroupID: gid, Messages: make([]json.RawMessage, 0, len(msgs))}
	size := syncPageOverhead
	for i := range msgs {
		b, err := encodeJSON(wireGroupMessage(&msgs[i]))
		if err != nil {
			return nil, err
		}
		if i > 0 && size+len(b)+1 > s.limits.ReplyBytes {
			more = true
			break
		}
		size += len(b) + 1
		p.Messages = append(p.Messages, b)
	}
	p.More = more
	return p, nil
}

// chatListReply answers chat_list: the chatting list's entries (exactly as
// chatting renders them) and the groups with their unread counts.
type chatListReply struct {
	Type   string          `json:"type"`
	Status string          `json:"status"`
	Chats  json.RawMessage `json:"chats"`
	Groups json.RawMessage `json:"groups"`
}

// ChatList is the chat list for Parley clients: 1:1 chats and groups, each
// half of the reply budget. The seed's chatting reply is unchanged (the Qt
// client reads it and must never see a group).
func (s *Groups) ChatList(ctx context.Context, req *pipeline.Request, _ *struct{}) (*chatListReply, error) {
	me, err := self(req, "")
	if err != nil {
		return nil, err
	}
	chats, _, err := s.lists.listWithin(ctx, me, s.limits.ReplyBytes/2)
	if err != nil {
		return nil, storeErr(s.log, "chat_list", err, "", "")
	}
	groups, _, err := s.groupItems(ctx, me, s.limits.ReplyBytes/2)
	if err != nil {
		return nil, s.groupErr("chat_list", err)
	}
	return &chatListReply{Type: wire.TypeChatList, Status: wire.StatusSuccess, Chats: chats, Groups: groups}, nil
}
