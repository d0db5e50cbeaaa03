package wire

// Parley's extensions to the seed protocol. The seed client never sends these
// types and ignores fields and pushes it does not know, so none of them change
// what it sees. Ids and counts are JSON strings, like everywhere in the seed
// protocol, so one client-side convention covers both.

// Extension message types.
const (
	TypeResume  = "resume"
	TypeSync    = "sync"
	TypeAck     = "ack"
	TypeGoAway  = "goaway"
	TypeHistory = "history"
	// TypeSyncHint is pushed when the server knows a session may have
	// missed pushes while it stayed connected (a cluster node lost NATS
	// for a while): a Parley client answers with sync. The seed client
	// ignores unknown types.
	TypeSyncHint = "sync_hint"
)

// Resume restores a session from the token a login reply carried, without a
// password hash. The reply is ResumeReply.
type Resume struct {
	Type  string `json:"type"`
	Token string `json:"token"`
}

// ResumeReply answers Resume. The token is the same one, still valid.
type ResumeReply struct {
	Type   string `json:"type"`
	Status string `json:"status"`
	UserID string `json:"user_id"`
}

// Sync asks for the messages received after AfterID (a message_id, "0" for
// all), oldest first, at most Limit (default and cap 500).
type Sync struct {
	Type    string `json:"type"`
	AfterID string `json:"after_id"`
	Limit   int    `json:"limit,omitempty"`
}

// SyncReply carries one page of messages; More says another page follows.
type SyncReply struct {
	Type     string    `json:"type"`
	Status   string    `json:"status"`
	Messages []Message `json:"messages"`
	More     bool      `json:"more"`
}

// History asks for one conversation's messages, both directions, with an
// id below BeforeID ("" or "0": from the newest), newest first, at most Limit
// (default 50, cap 200). The reply is HistoryReply.
type History struct {
	Type     string `json:"type"`
	PeerID   string `json:"peer_id"`
	BeforeID string `json:"before_id,omitempty"`
	Limit    int    `json:"limit,omitempty"`
}

// HistoryReply carries one page of a conversation, newest first, each
// message rendered like the receive_message push. More says older messages
// follow: ask again with the last message_id of this page as BeforeID.
type HistoryReply struct {
	Type     string    `json:"type"`
	Status   string    `json:"status"`
	PeerID   string    `json:"peer_id"`
	Messages []Message `json:"messages"`
	More     bool      `json:"more"`
}

// Ack marks every message up to and including MessageID as delivered to this
// user: it will not be offered again by get_unread_messages or sync after it.
type Ack struct {
	Type      string `json:"type"`
	MessageID string `json:"message_id"`
}

// GoAway is pushed to every connection before a graceful shutdown closes it,
// so Parley clients reconnect elsewhere (or later) at once. It has the shape
// of an error reply: status "error", code "going_away".
type GoAway struct {
	Type    string `json:"type"`
	Status  string `json:"status"`
	Code    string `json:"code"`
	Message string `json:"message,omitempty"`
}

// SyncHint is the sync_hint push: {"type":"sync_hint","status":"success"}.
type SyncHint struct {
	Type   string `json:"type"`
	Status string `json:"status"`
}

// SyncHintBody is the sync_hint push, encoded once for every sender of it.
var SyncHintBody, _ = Marshal(SyncHint{Type: TypeSyncHint, Status: StatusSuccess})
