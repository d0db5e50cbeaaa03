package client

import (
	"context"
	"encoding/json"
	"strconv"

	"github.com/parley-im/parley/wire"
)

// Group is a group as the logged-in user sees it (docs/PROTOCOL.md §6.6).
type Group struct {
	ID, Name, Owner string
	Role            string // the user's: owner, admin or member
	Members         int
	// LastSeq is the group's newest group_seq, ReadSeq the user's read
	// cursor, JoinedSeq the seq it joined at; Unread = LastSeq - ReadSeq.
	LastSeq, ReadSeq, JoinedSeq, Unread int64
	LastSender, LastMessage             string
	LastMessageType, LastTime           string
}

func groupFrom(it wire.GroupItem) Group {
	n, _ := strconv.Atoi(it.Members)
	return Group{ID: it.GroupID, Name: it.Name, Owner: it.Owner, Role: it.Role, Members: n,
		LastSeq: parseSeq(it.LastSeq), ReadSeq: parseSeq(it.ReadSeq), JoinedSeq: parseSeq(it.JoinedSeq),
		Unread: parseSeq(it.Unread), LastSender: it.LastSender, LastMessage: it.LastBody,
		LastMessageType: it.LastType, LastTime: it.LastTime}
}

func parseSeq(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

// GroupMessage is one message of a group's stream: a group_message push or
// an entry of GroupSync / GroupHistory. System messages (Type "system")
// record membership changes; Event decodes their body.
type GroupMessage struct {
	GroupID     string
	Seq         int64 // group_seq: 1, 2, 3, ... per group
	From        string
	Body        string
	Type        string
	Time        string
	ClientMsgID string
}

// Event decodes a system message's body; ok is false for other messages.
func (m GroupMessage) Event() (ev wire.GroupEvent, ok bool) {
	if m.Type != wire.MessageTypeSystem {
		return ev, false
	}
	return ev, json.Unmarshal([]byte(m.Body), &ev) == nil
}

func groupMessageFrom(w wire.GroupMessage) GroupMessage {
	return GroupMessage{GroupID: w.GroupID, Seq: parseSeq(w.GroupSeq), From: w.SenderID, Body: w.Body,
		Type: w.MessageType, Time: w.Time, ClientMsgID: w.ClientMsgID}
}

// GroupMessages returns the channel of group_message pushes, as they
// arrive. It is closed by Close. Pushes are best effort: one that finds the
// channel full (WithQueue) is dropped, and two senders' messages may arrive
// out of seq order; a program that must see every message keeps the
// highest seq it has per group and calls GroupSync from it after a gap or
// a reconnect.
func (c *Client) GroupMessages() <-chan GroupMessage { return c.groupPushes }

// groupPush takes a group_message push from the reader; it never blocks.
func (c *Client) groupPush(w wire.GroupMessage) {
	select {
	case c.groupPushes <- groupMessageFrom(w):
	default:
	}
}

// groupReply is what every group request's reply may carry.
type groupReply struct {
	Group    wire.GroupItem      `json:"group"`
	Groups   []wire.GroupItem    `json:"groups"`
	Chats    []wire.ChatItem     `json:"chats"`
	GroupID  string              `json:"group_id"`
	GroupSeq string              `json:"group_seq"`
	ReadSeq  string              `json:"read_seq"`
	Messages []wire.GroupMessage `json:"messages"`
	Members  []wire.GroupMember  `json:"members"`
	More     bool                `json:"more"`
}

// groupCall sends a group request and decodes its reply. retry is true only
// for requests that are safe to repeat after a lost connection.
func (c *Client) groupCall(ctx context.Context, typ string, payload any, retry bool) (*groupReply, error) {
	if _, err := c.me(); err != nil {
		return nil, err
	}
	body, err := c.do(ctx, typ, payload, retry)
	if err != nil {
		return nil, err
	}
	var r groupReply
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, &ServerError{Type: typ, Code: wire.CodeInternal, Message: "unreadable " + typ + " reply"}
	}
	return &r, nil
}

// CreateGroup creates a group named name with the user as owner and
// members (the user's accepted friends) as members.
func (c *Client) CreateGroup(ctx context.Context, name string, members ...string) (Group, error) {
	r, err := c.groupCall(ctx, wire.TypeGroupCreate, wire.GroupCreate{Name: name, Members: nonNil(members)}, false)
	if err != nil {
		return Group{}, err
	}
	return groupFrom(r.Group), nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// change sends a membership or name change and returns the seq of the
// system message that records it. Not retried: a lost reply is ErrConnLost.
func (c *Client) change(ctx context.Context, typ string, payload any) (int64, error) {
	r, err := c.groupCall(ctx, typ, payload, false)
	if err != nil {
		return 0, err
	}
	return parseSeq(r.GroupSeq), nil
}

// AddGroupMembers adds the user's accepted friends to a group (owner or
// admin). They see the group's messages from this change on.
func (c *Client) AddGroupMembers(ctx context.Context, groupID string, members ...string) (int64, error) {
	return c.change(ctx, wire.TypeGroupAdd, wire.GroupAdd{GroupID: groupID, Members: nonNil(members)})
}

// RemoveGroupMember removes a member (owner: anyone; admin: plain members).
func (c *Client) RemoveGroupMember(ctx context.Context, groupID, userID string) (int64, error) {
	return c.change(ctx, wire.TypeGroupRemove, wire.GroupUser{GroupID: groupID, MemberID: userID})
}

// SetGroupRole sets a member's role (owner only); "owner" hands the group on.
func (c *Client) SetGroupRole(ctx context.Context, groupID, userID, role string) (int64, error) {
	return c.change(ctx, wire.TypeGroupSetRole, wire.GroupUser{GroupID: groupID, MemberID: userID, Role: role})
}

// RenameGroup renames a group (owner or admin).
func (c *Client) RenameGroup(ctx context.Context, groupID, name string) (int64, error) {
	return c.change(ctx, wire.TypeGroupRename, wire.GroupRename{GroupID: groupID, Name: name})
}

// LeaveGroup leaves a group (not as its owner).
func (c *Client) LeaveGroup(ctx context.Context, groupID string) (int64, error) {
	return c.change(ctx, wire.TypeGroupLeave, wire.GroupRef{GroupID: groupID})
}

// DissolveGroup ends a group (owner only).
func (c *Client) DissolveGroup(ctx context.Context, groupID string) (int64, error) {
	return c.change(ctx, wire.TypeGroupDissolve, wire.GroupRef{GroupID: groupID})
}

// SendGroup sends a text message to a group and returns its group_seq once
// stored. It carries a fresh client_msg_id, so it is resent after a lost
// connection and stored once.
func (c *Client) SendGroup(ctx context.Context, groupID, body string) (int64, error) {
	return c.SendGroupWithID(ctx, c.NewClientMsgID(), groupID, body)
}

// SendGroupWithID is SendGroup with the caller's client_msg_id (unique per
// sender and group).
func (c *Client) SendGroupWithID(ctx context.Context, clientMsgID, groupID, body string) (int64, error) {
	r, err := c.groupCall(ctx, wire.TypeGroupSend, wire.GroupSend{GroupID: groupID, Body: body,
		MessageType: wire.MessageTypeText, ClientMsgID: clientMsgID}, true)
	if err != nil {
		return 0, err
	}
	return parseSeq(r.GroupSeq), nil
}

// Groups returns the user's groups with their unread counts, most recent
// message first.
func (c *Client) Groups(ctx context.Context) ([]Group, error) {
	r, err := c.groupCall(ctx, wire.TypeGroupList, nil, true)
	if err != nil {
		return nil, err
	}
	out := make([]Group, len(r.Groups))
	for i, it := range r.Groups {
		out[i] = groupFrom(it)
	}
	return out, nil
}

// GroupInfo returns one group the user is a member of.
func (c *Client) GroupInfo(ctx context.Context, groupID string) (Group, error) {
	r, err := c.groupCall(ctx, wire.TypeGroupInfo, wire.GroupRef{GroupID: groupID}, true)
	if err != nil {
		return Group{}, err
	}
	return groupFrom(r.Group), nil
}

// GroupMember is an entry of GroupMembers.
type GroupMember struct {
	ID, Name, Avatar, Role string
	JoinedSeq              int64
}

// GroupMembers returns a page of a group's members with ids above after
// (limit 0: the server's page size); more says another page follows.
func (c *Client) GroupMembers(ctx context.Context, groupID, after string, limit int) ([]GroupMember, bool, error) {
	r, err := c.groupCall(ctx, wire.TypeGroupMembers, wire.GroupMembersRequest{GroupID: groupID, After: after, Limit: limit}, true)
	if err != nil {
		return nil, false, err
	}
	out := make([]GroupMember, len(r.Members))
	for i, m := range r.Members {
		out[i] = GroupMember{ID: m.UserID, Name: m.Name, Avatar: m.Avatar, Role: m.Role, JoinedSeq: parseSeq(m.JoinedSeq)}
	}
	return out, r.More, nil
}

func groupMessages(ws []wire.GroupMessage) []GroupMessage {
	out := make([]GroupMessage, len(ws))
	for i, w := range ws {
		out[i] = groupMessageFrom(w)
	}
	return out
}

// GroupSync returns the group's messages after seq after that the user may
// see, oldest first, at most limit (0: the server's page); more says to
// call again from the last seq returned.
func (c *Client) GroupSync(ctx context.Context, groupID string, after int64, limit int) ([]GroupMessage, bool, error) {
	r, err := c.groupCall(ctx, wire.TypeGroupSync, wire.GroupSync{GroupID: groupID, AfterSeq: formatID(after), Limit: limit}, true)
	if err != nil {
		return nil, false, err
	}
	return groupMessages(r.Messages), r.More, nil
}

// GroupHistory returns the page of messages just before seq before (0:
// the newest), in seq order; more says older ones exist.
func (c *Client) GroupHistory(ctx context.Context, groupID string, before int64, limit int) ([]GroupMessage, bool, error) {
	r, err := c.groupCall(ctx, wire.TypeGroupHistory, wire.GroupHistory{GroupID: groupID, BeforeSeq: formatID(before), Limit: limit}, true)
	if err != nil {
		return nil, false, err
	}
	return groupMessages(r.Messages), r.More, nil
}

// MarkGroupRead moves the user's read cursor of a group up to seq and
// returns the cursor (capped at what the user can see; never backwards).
func (c *Client) MarkGroupRead(ctx context.Context, groupID string, seq int64) (int64, error) {
	r, err := c.groupCall(ctx, wire.TypeGroupRead, wire.GroupRead{GroupID: groupID, GroupSeq: formatID(seq)}, true)
	if err != nil {
		return 0, err
	}
	return parseSeq(r.ReadSeq), nil
}

// ChatList returns the chat list with groups: the 1:1 chats (as Chats) and
// the groups with their unread counts.
func (c *Client) ChatList(ctx context.Context) ([]Chat, []Group, error) {
	r, err := c.groupCall(ctx, wire.TypeChatList, nil, true)
	if err != nil {
		return nil, nil, err
	}
	chats := make([]Chat, 0, len(r.Chats))
	for _, it := range r.Chats {
		chats = append(chats, chatFrom(it))
	}
	groups := make([]Group, len(r.Groups))
	for i, it := range r.Groups {
		groups[i] = groupFrom(it)
	}
	return chats, groups, nil
}
