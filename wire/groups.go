package wire

// Group chats, a Parley extension (docs/PROTOCOL.md §6.6). The seed client
// never sends these types and no group frame ever reaches it: pushes go only
// to the members of a group, and only a Parley client can become one.
//
// Ids and seqs are decimal strings, as everywhere; limits are JSON numbers,
// as in sync. A group message's number is "group_seq", never "seq": "seq" is
// the envelope's request number, echoed on replies.

// Group request and push types.
const (
	TypeGroupCreate   = "group_create"
	TypeGroupRename   = "group_rename"
	TypeGroupAdd      = "group_add"
	TypeGroupRemove   = "group_remove"
	TypeGroupLeave    = "group_leave"
	TypeGroupDissolve = "group_dissolve"
	TypeGroupSetRole  = "group_set_role"
	TypeGroupList     = "group_list"
	TypeGroupInfo     = "group_info"
	TypeGroupMembers  = "group_members"
	TypeGroupSend     = "group_send"
	TypeGroupRead     = "group_read"
	TypeGroupSync     = "group_sync"
	TypeGroupHistory  = "group_history"
	TypeGroupMessage  = "group_message" // push only, never a request
	TypeChatList      = "chat_list"     // the chat list with groups, for Parley clients
)

// Group roles. The owner may do everything and is the only one who can
// dissolve the group or change roles; admins rename, add members and remove
// plain members; members send and read.
const (
	GroupRoleOwner  = "owner"
	GroupRoleAdmin  = "admin"
	GroupRoleMember = "member"
)

// MessageTypeSystem is the message_type of the messages the server writes
// into a group's stream for membership changes; their body is a GroupEvent.
const MessageTypeSystem = "system"

// Group events, GroupEvent.Event.
const (
	GroupEventCreate   = "create"
	GroupEventAdd      = "add"
	GroupEventRemove   = "remove"
	GroupEventLeave    = "leave"
	GroupEventRename   = "rename"
	GroupEventRole     = "role"
	GroupEventDissolve = "dissolve"
)

// GroupEvent is the body of a system message: who (Actor) did what (Event)
// to whom (Users), with the new Name or Role where the event has one.
type GroupEvent struct {
	Event string   `json:"event"`
	Actor string   `json:"actor"`
	Users []string `json:"users,omitempty"`
	Name  string   `json:"name,omitempty"`
	Role  string   `json:"role,omitempty"`
}

// GroupRef names a group: the body of group_leave, group_dissolve and
// group_info.
type GroupRef struct {
	GroupID string `json:"group_id"`
}

// GroupCreate asks for a new group named Name with the creator as owner and
// Members (each an accepted friend of the creator) as members.
type GroupCreate struct {
	Name    string   `json:"name"`
	Members []string `json:"members"`
}

// GroupRename renames a group.
type GroupRename struct {
	GroupID string `json:"group_id"`
	Name    string `json:"name"`
}

// GroupAdd adds Members (accepted friends of the one who adds them).
type GroupAdd struct {
	GroupID string   `json:"group_id"`
	Members []string `json:"members"`
}

// GroupUser names one member: group_remove, and group_set_role with Role.
// Not "user_id": in a request that field names the caller (the auth
// middleware refuses any other value).
type GroupUser struct {
	GroupID  string `json:"group_id"`
	MemberID string `json:"member_id"`
	Role     string `json:"role,omitempty"`
}

// GroupMembersRequest pages the members by user id: those after After, at
// most Limit.
type GroupMembersRequest struct {
	GroupID string `json:"group_id"`
	After   string `json:"after,omitempty"`
	Limit   int    `json:"limit,omitempty"`
}

// GroupSend sends a message to a group. ClientMsgID makes a resend
// idempotent (unique per sender and group).
type GroupSend struct {
	GroupID     string `json:"group_id"`
	Body        string `json:"body"`
	MessageType string `json:"message_type,omitempty"`
	ClientMsgID string `json:"client_msg_id,omitempty"`
}

// GroupSendReply acknowledges a stored group message.
type GroupSendReply struct {
	Type     string `json:"type"`
	Status   string `json:"status"`
	GroupID  string `json:"group_id"`
	GroupSeq string `json:"group_seq"`
	Time     string `json:"time"`
}

// GroupMessage is one message of a group's stream: the group_message push,
// and each entry of group_sync and group_history.
type GroupMessage struct {
	Type        string `json:"type"`
	Status      string `json:"status"`
	GroupID     string `json:"group_id"`
	GroupSeq    string `json:"group_seq"`
	SenderID    string `json:"sender_id"`
	Body        string `json:"body"`
	MessageType string `json:"message_type"`
	Time        string `json:"time"`
	ClientMsgID string `json:"client_msg_id,omitempty"`
}

// GroupRead moves the caller's read cursor of a group up to GroupSeq.
type GroupRead struct {
	GroupID  string `json:"group_id"`
	GroupSeq string `json:"group_seq"`
}

// GroupSync asks for a group's messages after AfterSeq ("0" or "" for all
// the caller may see), oldest first, at most Limit.
type GroupSync struct {
	GroupID  string `json:"group_id"`
	AfterSeq string `json:"after_seq"`
	Limit    int    `json:"limit,omitempty"`
}

// GroupHistory asks for a group's messages before BeforeSeq ("" or "0" for
// the newest), newest page first, at most Limit; each page is in seq order.
type GroupHistory struct {
	GroupID   string `json:"group_id"`
	BeforeSeq string `json:"before_seq"`
	Limit     int    `json:"limit,omitempty"`
}

// GroupItem is a group as the caller sees it: in group_list, chat_list,
// group_info and the group_create reply.
type GroupItem struct {
	Status     string `json:"status"`
	GroupID    string `json:"group_id"`
	Name       string `json:"name"`
	Owner      string `json:"owner"`
	Role       string `json:"role"`
	Members    string `json:"members"`
	LastSeq    string `json:"last_seq"`
	ReadSeq    string `json:"read_seq"`
	JoinedSeq  string `json:"joined_seq"`
	Unread     string `json:"unread"`
	LastSender string `json:"last_sender,omitempty"`
	LastBody   string `json:"last_message,omitempty"`
	LastType   string `json:"last_message_type,omitempty"`
	LastTime   string `json:"last_time,omitempty"`
}

// GroupMember is one entry of a group_members page.
type GroupMember struct {
	Status    string `json:"status"`
	UserID    string `json:"user_id"`
	Name      string `json:"name"`
	Avatar    string `json:"avatar"`
	Role      string `json:"role"`
	JoinedSeq string `json:"joined_seq"`
}
