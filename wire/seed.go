package wire

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"time"
)

// The message types of the seed protocol. The seed client knows exactly these
// strings; renaming one breaks it.
const (
	TypeLogin             = "login"
	TypeRegister          = "register"
	TypeFriends           = "friends"
	TypeChatting          = "chatting"
	TypeSendMessage       = "send_message"
	TypeReceiveMessage    = "receive_message" // push only, never a request
	TypeUpdateChat        = "update_chat"
	TypeGetUnreadMessages = "get_unread_messages"
	TypeSearchUser        = "search_user"
	TypeAddFriend         = "add_friend"
	TypeAcceptFriend      = "accept_friend"
	TypeDeleteFriend      = "delete_friend"
	TypePing              = "ping" // Parley extension
	TypePong              = "pong" // Parley extension
)

// Field values the seed client compares against.
const (
	RelationAccepted = "accepted" // friend_relation shown under friends
	RelationPending  = "pending"  // anything but "accepted" gets an accept button
	ChatStatusOpen   = "chatting" // chat_status of a visible chat
	ChatStatusClosed = "close"    // chat_status of a chat the client hides
	ChatTypeFriend   = "friend"
	MessageTypeText  = "text"
	// NoFile is the file_path of a message without a file. The client's
	// history reader needs every field non-empty, so it is a space, never "".
	NoFile = " "
)

// TimeLayout is the format of every timestamp on the wire: local time, no
// zone. The client sorts chats by last_time as a string, so the zero padding
// matters.
const TimeLayout = "2006-01-02 15:04:05"

// FormatTime renders t in the server's local time zone with TimeLayout. The
// zero time renders as "" (a field the store never set).
func FormatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Local().Format(TimeLayout)
}

// ParseTime parses a TimeLayout timestamp in the server's local time zone.
func ParseTime(s string) (time.Time, error) {
	return time.ParseInLocation(TimeLayout, s, time.Local)
}

// FormatID renders a numeric id as the decimal string the client expects:
// every id and count on the wire is a JSON string, never a number.
func FormatID(n int64) string { return strconv.FormatInt(n, 10) }

// FlexInt is an integer that decodes from a JSON number or a JSON string of
// digits. The seed client sends update_chat.unread_count as a number; other
// clients (and the seed's own replies) use strings. null and "" decode as 0.
type FlexInt int64

// UnmarshalJSON accepts 3, "3", null and "".
func (f *FlexInt) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) {
		*f = 0
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return notInteger(b)
		}
		if s == "" {
			*f = 0
			return nil
		}
		b = []byte(s)
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return notInteger(b)
	}
	*f = FlexInt(n)
	return nil
}

// notInteger is FlexInt's refusal: a type error, so that json.Unmarshal adds
// the field's name to it (ClientDecodeError then says "unread_count must be
// an integer").
func notInteger(b []byte) error {
	return &json.UnmarshalTypeError{Value: fmt.Sprintf("%.32q", b), Type: reflect.TypeFor[int64]()}
}

// MarshalJSON writes a FlexInt as a JSON string, the form the client reads.
func (f FlexInt) MarshalJSON() ([]byte, error) {
	return strconv.AppendQuote(nil, strconv.FormatInt(int64(f), 10)), nil
}

// Requests. Field names are the seed's; every field is a JSON string unless
// noted. The envelope's "type" and the optional "seq" are decoded separately
// (see Envelope), so the structs do not repeat them.

// LoginRequest logs the connection in. UserID is whatever the user typed.
type LoginRequest struct {
	UserID   string `json:"user_id"`
	Password string `json:"user_password"`
	// WantToken is a Parley extension: ask for a resume token in the reply
	// (LoginReply.Token). The seed client never sends it and could not use a
	// token, so its logins store none: a warm seed login writes nothing.
	WantToken bool `json:"want_token,omitempty"`
}

// RegisterRequest creates an account; the new user id is the phone number.
type RegisterRequest struct {
	Name     string `json:"user_name"`
	Password string `json:"user_password"`
	Phone    string `json:"user_phone"`
}

// UserRequest is the body of the requests that name only their user:
// friends, chatting and get_unread_messages.
type UserRequest struct {
	UserID string `json:"user_id"`
}

// SendMessageRequest sends one message. MessageTimestamp is the client's
// clock; the server replaces it with its own.
type SendMessageRequest struct {
	ChatType         string `json:"chat_type"`
	FilePath         string `json:"file_path"`
	MessageBody      string `json:"message_body"`
	MessageTimestamp string `json:"message_timestamp"`
	MessageType      string `json:"message_type"`
	ReceiverID       string `json:"receiver_id"`
	SendID           string `json:"send_id"`
	// ClientMsgID is a Parley extension: an id chosen by the sender so that
	// a resent message is stored once. The seed client never sends it.
	ClientMsgID string `json:"client_msg_id,omitempty"`
}

// UpdateChatRequest marks a chat read and carries its last-message summary.
// UnreadCount is a JSON number from the seed client (always 0).
type UpdateChatRequest struct {
	ChatStatus      string  `json:"chat_status"`
	ChatType        string  `json:"chat_type"`
	CommID          string  `json:"comm_id"`
	LastMessage     string  `json:"last_message"`
	LastMessageType string  `json:"last_message_type"`
	LastTime        string  `json:"last_time"`
	UnreadCount     FlexInt `json:"unread_count"`
	UserID          string  `json:"user_id"`
}

// SearchUserRequest looks a user up by exact id.
type SearchUserRequest struct {
	SearchID string `json:"search_id"`
	UserID   string `json:"user_id"`
}

// FriendRequest is the body of add_friend, accept_friend and delete_friend.
type FriendRequest struct {
	FriendID string `json:"friend_id"`
	UserID   string `json:"user_id"`
}

// Replies and pushes. Fields are declared in alphabetical order so encoded
// keys come out sorted like the seed's, which makes captures easy to compare;
// the client itself accepts any order.

// StatusReply is a bare {"status","type"} reply (update_chat).
type StatusReply struct {
	Status string `json:"status"`
	Type   string `json:"type"`
}

// NullReply is the seed's answer to an empty list: a non-success element the
// client takes as "nothing". It is always sent as a one-element array.
type NullReply struct {
	Message string `json:"message"`
	Status  string `json:"status"`
	Type    string `json:"type"`
}

// Null returns the one-element array the seed sends for an empty list of typ.
func Null(typ, message string) []NullReply {
	return []NullReply{{Message: message, Status: StatusNull, Type: typ}}
}

// The messages of the seed's null objects, kept verbatim.
const (
	NullFriends  = "have not friends"
	NullChatting = "have not chatting"
	NullMessages = "don't have messages" // get_unread_messages and search_user
)

// UserReply is a user profile, as in the search_user reply. It never carries
// a password.
type UserReply struct {
	Status  string `json:"status"`
	Type    string `json:"type"`
	Avatar  string `json:"user_avatar"`
	Created string `json:"user_created"`
	Email   string `json:"user_email"`
	UserID  string `json:"user_id"`
	Name    string `json:"user_name"`
	Phone   string `json:"user_phone"`
	UStatus string `json:"user_status"`
}

// LoginReply is the one element of a successful login reply. The seed echoed
// the plaintext password; Parley sends the key with an empty value (the client
// never reads it after login, and a missing key would read the same).
type LoginReply struct {
	UserReply
	Password string `json:"user_password"`
	// Token is a Parley extension: the resume token of this login (see
	// Resume), when the request asked for one (LoginRequest.WantToken). It is
	// omitted otherwise, or when the server could not issue one.
	Token string `json:"token,omitempty"`
}

// RegisterReply answers a successful register, as a bare object.
type RegisterReply struct {
	Status string `json:"status"`
	Type   string `json:"type"`
	UserID string `json:"user_id"`
}

// FriendItem is one element of the friends list: the friend's profile (with
// type "friends") and the relation. friend_relation "accepted" shows under
// friends; anything else gets an accept button.
type FriendItem struct {
	UserReply
	CreatedRelation string `json:"created_relation"`
	Relation        string `json:"friend_relation"`
	// Push is set only on an unsolicited row, to the request type that
	// caused it ("add_friend"): a Parley client then never takes the push
	// for the reply to its own friends request (arrays carry no seq). The
	// Qt client ignores the key.
	Push string `json:"push,omitempty"`
}

// ChatItem is one element of the chatting list. UnreadCount is a decimal
// string: the client reads it with toString().toInt().
type ChatItem struct {
	ChatStatus      string `json:"chat_status"`
	ChatType        string `json:"chat_type"`
	CommID          string `json:"comm_id"`
	LastMessage     string `json:"last_message"`
	LastMessageType string `json:"last_message_type"`
	LastTime        string `json:"last_time"`
	Status          string `json:"status"`
	Type            string `json:"type"`
	UnreadCount     string `json:"unread_count"`
	Avatar          string `json:"user_avatar"`
	Name            string `json:"user_name"`
}

// Message is a stored message as the client sees it: the receive_message
// push and each get_unread_messages element. MessageID is a Parley extension
// (the client ignores unknown keys).
type Message struct {
	ChatType         string `json:"chat_type"`
	FilePath         string `json:"file_path"`
	MessageBody      string `json:"message_body"`
	MessageID        string `json:"message_id"`
	MessageTimestamp string `json:"message_timestamp"`
	MessageType      string `json:"message_type"`
	ReceiverID       string `json:"receiver_id"`
	SendID           string `json:"send_id"`
	Status           string `json:"status"`
	Type             string `json:"type"`
}

// SendMessageReply acknowledges a stored message. The seed sent it only when
// the receiver was offline and without an id; Parley always sends it, after
// the message is committed, with the id the store assigned.
type SendMessageReply struct {
	MessageID string `json:"message_id"`
	Status    string `json:"status"`
	Type      string `json:"type"`
}

// FriendReply answers add_friend, accept_friend and delete_friend. It echoes
// both ids exactly as received: on delete_friend the client deletes the
// history file named by them.
type FriendReply struct {
	FriendID string `json:"friend_id"`
	Status   string `json:"status"`
	Type     string `json:"type"`
	UserID   string `json:"user_id"`
}
