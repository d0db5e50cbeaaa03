package client

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/parley-im/parley/wire"
)

// Extension request types not named in wire.
const (
	typeResume = wire.TypeResume
	typeSync   = wire.TypeSync
	typeAck    = wire.TypeAck
)

func formatID(n int64) string { return strconv.FormatInt(n, 10) }

// User is a user profile as the server shows it (never with a password).
type User struct {
	ID      string
	Name    string
	Phone   string
	Email   string
	Avatar  string // a Qt resource path in the seed client, e.g. ":/images/avatar/1.png"
	Status  string // active, inactive or busy
	Created string // "YYYY-MM-DD HH:MM:SS"
}

func userFrom(u wire.UserReply) User {
	return User{ID: u.UserID, Name: u.Name, Phone: u.Phone, Email: u.Email, Avatar: u.Avatar,
		Status: u.UStatus, Created: u.Created}
}

// LoginInfo is the result of a successful login.
type LoginInfo struct {
	User
	// Token resumes the session on another connection without the password
	// (see Resume). Empty when the server does not issue tokens.
	Token string
}

// loginItem is one element of the login reply; token is Parley's extension.
type loginItem struct {
	wire.LoginReply
	Token string `json:"token"`
}

// Login logs in as userID. The reply's canonical id (the server accepts a
// phone number for id-equals-phone accounts) becomes the client's user. The
// client keeps the password and the resume token to log in again after a
// reconnect. After login the client syncs undelivered messages into
// Messages().
func (c *Client) Login(ctx context.Context, userID, password string) (LoginInfo, error) {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	for {
		cn, err := c.current(ctx)
		if err != nil {
			return LoginInfo{}, err
		}
		info, err := c.loginOn(ctx, cn, userID, password)
		if err == ErrConnLost {
			continue
		}
		if err != nil {
			return LoginInfo{}, err
		}
		// If cn died before the credentials were stored, the reconnect may
		// have come up without them: log in again on the new connection.
		if !cn.alive() {
			continue
		}
		c.startSync()
		return info, nil
	}
}

// loginOn logs in on cn and stores the credentials.
func (c *Client) loginOn(ctx context.Context, cn *conn, userID, password string) (LoginInfo, error) {
	body, err := c.roundTrip(ctx, cn, wire.TypeLogin, wire.LoginRequest{UserID: userID, Password: password, WantToken: true})
	if err != nil {
		return LoginInfo{}, err
	}
	var items []loginItem
	if err := json.Unmarshal(body, &items); err != nil || len(items) != 1 {
		// An object success reply is accepted too.
		var one loginItem
		if err := json.Unmarshal(body, &one); err != nil || one.UserID == "" {
			return LoginInfo{}, &ServerError{Type: wire.TypeLogin, Code: wire.CodeInternal, Message: "unreadable login reply"}
		}
		items = []loginItem{one}
	}
	it := items[0]
	info := LoginInfo{User: userFrom(it.UserReply), Token: it.Token}
	c.mu.Lock()
	c.userID, c.password, c.token = info.ID, password, info.Token
	c.mu.Unlock()
	return info, nil
}

// resumeReply answers resume.
type resumeReply struct {
	UserID string `json:"user_id"`
}

// Resume restores the login of token (from LoginInfo.Token of an earlier
// connection or run) without a password. It returns the user id. Without a
// password the client cannot log in again if the token is refused later.
func (c *Client) Resume(ctx context.Context, token string) (string, error) {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	for {
		cn, err := c.current(ctx)
		if err != nil {
			return "", err
		}
		user, err := c.resumeOn(ctx, cn, token)
		if err == ErrConnLost {
			continue
		}
		if err != nil {
			return "", err
		}
		if !cn.alive() {
			continue
		}
		c.startSync()
		return user, nil
	}
}

func (c *Client) resumeOn(ctx context.Context, cn *conn, token string) (string, error) {
	body, err := c.roundTrip(ctx, cn, typeResume, struct {
		Token string `json:"token"`
	}{token})
	if err != nil {
		return "", err
	}
	var r resumeReply
	if err := json.Unmarshal(body, &r); err != nil || r.UserID == "" {
		return "", &ServerError{Type: typeResume, Code: wire.CodeInternal, Message: "unreadable resume reply"}
	}
	c.mu.Lock()
	if c.userID != r.UserID {
		c.password = ""
	}
	c.userID, c.token = r.UserID, token
	c.mu.Unlock()
	return r.UserID, nil
}

// startSync holds pushes back and asks the keeper for a catch-up sync.
func (c *Client) startSync() {
	c.inbox.setHold(true)
	signal(c.syncNow)
}

// Register creates an account and returns its user id (the phone number, in
// the seed's scheme). It is not retried after a lost connection: a second
// attempt would meet the account the first one created.
func (c *Client) Register(ctx context.Context, phone, name, password string) (string, error) {
	body, err := c.do(ctx, wire.TypeRegister, wire.RegisterRequest{Name: name, Password: password, Phone: phone}, false)
	if err != nil {
		return "", err
	}
	var r wire.RegisterReply
	if err := json.Unmarshal(body, &r); err != nil {
		return "", &ServerError{Type: wire.TypeRegister, Code: wire.CodeInternal, Message: "unreadable register reply"}
	}
	return r.UserID, nil
}

// me is the logged-in user, or ErrNotLoggedIn.
func (c *Client) me() (string, error) {
	if u := c.UserID(); u != "" {
		return u, nil
	}
	return "", ErrNotLoggedIn
}

// Send sends a text message to a friend and returns its message_id once the
// server has stored it. It carries a fresh client_msg_id; if the connection
// breaks before the reply, the same request is sent again after the
// reconnect, and the server stores it once and answers with the same id.
func (c *Client) Send(ctx context.Context, to, body string) (string, error) {
	return c.SendWithID(ctx, c.NewClientMsgID(), to, body)
}

// NewClientMsgID returns an id no other Send of any client uses, for
// SendWithID.
func (c *Client) NewClientMsgID() string {
	return c.idPrefix + "-" + strconv.FormatUint(c.msgIDs.Add(1), 36)
}

// SendWithID is Send with a client_msg_id chosen by the caller, for programs
// that retry a send themselves (after ErrUnavailable, or in a new run): the
// same id is stored at most once per sender.
func (c *Client) SendWithID(ctx context.Context, clientMsgID, to, body string) (string, error) {
	me, err := c.me()
	if err != nil {
		return "", err
	}
	req := wire.SendMessageRequest{
		ChatType:         wire.ChatTypeFriend,
		FilePath:         wire.NoFile,
		MessageBody:      body,
		MessageTimestamp: time.Now().Format(wire.TimeLayout),
		MessageType:      wire.MessageTypeText,
		ReceiverID:       to,
		SendID:           me,
		ClientMsgID:      clientMsgID,
	}
	reply, err := c.do(ctx, wire.TypeSendMessage, req, true)
	if err != nil {
		return "", err
	}
	var r wire.SendMessageReply
	if err := json.Unmarshal(reply, &r); err != nil {
		return "", &ServerError{Type: wire.TypeSendMessage, Code: wire.CodeInternal, Message: "unreadable send_message reply"}
	}
	return r.MessageID, nil
}

// Friend is an entry of the friends list: an accepted friend, or a pending
// request in either direction.
type Friend struct {
	User
	Relation string // "accepted" or "pending"
	Since    string // created_relation
}

// Friends returns the friends list, requests included.
func (c *Client) Friends(ctx context.Context) ([]Friend, error) {
	me, err := c.me()
	if err != nil {
		return nil, err
	}
	body, err := c.do(ctx, wire.TypeFriends, wire.UserRequest{UserID: me}, true)
	if err != nil {
		return nil, err
	}
	items, err := decodeList[wire.FriendItem](wire.TypeFriends, body)
	if err != nil {
		return nil, err
	}
	out := make([]Friend, 0, len(items))
	for _, it := range items {
		if it.Status != wire.StatusSuccess {
			continue
		}
		out = append(out, Friend{User: userFrom(it.UserReply), Relation: it.Relation, Since: it.CreatedRelation})
	}
	return out, nil
}

// Chat is an entry of the chat list.
type Chat struct {
	Peer            string // comm_id
	Name, Avatar    string // the peer's
	Type            string // chat_type
	LastMessage     string
	LastMessageType string
	LastTime        string
	Unread          int
	Status          string // "chatting" or "close"
}

// Chats returns the chat list.
func (c *Client) Chats(ctx context.Context) ([]Chat, error) {
	me, err := c.me()
	if err != nil {
		return nil, err
	}
	body, err := c.do(ctx, wire.TypeChatting, wire.UserRequest{UserID: me}, true)
	if err != nil {
		return nil, err
	}
	items, err := decodeList[wire.ChatItem](wire.TypeChatting, body)
	if err != nil {
		return nil, err
	}
	out := make([]Chat, 0, len(items))
	for _, it := range items {
		if it.Status != wire.StatusSuccess {
			continue
		}
		out = append(out, chatFrom(it))
	}
	return out, nil
}

func chatFrom(it wire.ChatItem) Chat {
	n, _ := strconv.Atoi(it.UnreadCount)
	return Chat{Peer: it.CommID, Name: it.Name, Avatar: it.Avatar, Type: it.ChatType,
		LastMessage: it.LastMessage, LastMessageType: it.LastMessageType, LastTime: it.LastTime,
		Unread: n, Status: it.ChatStatus}
}

// SearchUser looks a user up by exact id; ErrNotFound if there is none.
func (c *Client) SearchUser(ctx context.Context, id string) (User, error) {
	me, err := c.me()
	if err != nil {
		return User{}, err
	}
	body, err := c.do(ctx, wire.TypeSearchUser, wire.SearchUserRequest{SearchID: id, UserID: me}, true)
	if err != nil {
		return User{}, err
	}
	items, err := decodeList[wire.UserReply](wire.TypeSearchUser, body)
	if err != nil {
		return User{}, err
	}
	for _, it := range items {
		if it.Status == wire.StatusSuccess {
			return userFrom(it), nil
		}
	}
	return User{}, &ServerError{Type: wire.TypeSearchUser, Code: wire.CodeNotFound, Message: "no such user"}
}

// AddFriend sends a friend request to id.
func (c *Client) AddFriend(ctx context.Context, id string) error {
	return c.friendCall(ctx, wire.TypeAddFriend, id)
}

// AcceptFriend accepts id's friend request; the two users can then chat.
func (c *Client) AcceptFriend(ctx context.Context, id string) error {
	return c.friendCall(ctx, wire.TypeAcceptFriend, id)
}

// DeleteFriend ends the friendship with id (or withdraws a request).
func (c *Client) DeleteFriend(ctx context.Context, id string) error {
	return c.friendCall(ctx, wire.TypeDeleteFriend, id)
}

// friendCall sends add/accept/delete_friend. They change state, so a lost
// reply is returned as ErrConnLost instead of being retried blindly.
func (c *Client) friendCall(ctx context.Context, typ, id string) error {
	me, err := c.me()
	if err != nil {
		return err
	}
	_, err = c.do(ctx, typ, wire.FriendRequest{FriendID: id, UserID: me}, false)
	return err
}

// Ping sends a heartbeat and waits for the pong: a round-trip check.
func (c *Client) Ping(ctx context.Context) error {
	_, err := c.do(ctx, wire.TypePing, nil, true)
	return err
}

// decodeList decodes a list reply: an array of items, or (from a server that
// answers one item as an object) a single object.
func decodeList[T any](typ string, body []byte) ([]T, error) {
	var items []T
	if len(body) > 0 && body[0] == '[' {
		if err := json.Unmarshal(body, &items); err != nil {
			return nil, &ServerError{Type: typ, Code: wire.CodeInternal, Message: fmt.Sprintf("unreadable reply: %v", err)}
		}
		return items, nil
	}
	var one T
	if err := json.Unmarshal(body, &one); err != nil {
		return nil, &ServerError{Type: typ, Code: wire.CodeInternal, Message: fmt.Sprintf("unreadable reply: %v", err)}
	}
	return []T{one}, nil
}

// syncReply is one page of sync, decoded into the seed's message type.
type syncReply struct {
	Messages []wire.Message `json:"messages"`
	More     bool           `json:"more"`
}

// syncPage fetches the messages after id after.
func (c *Client) syncPage(cn *conn, after int64) ([]wire.Message, bool, error) {
	ctx, cancel := context.WithTimeout(c.ctx, c.opts.requestTimeout)
	defer cancel()
	body, err := c.roundTrip(ctx, cn, typeSync, syncPayload{AfterID: formatID(after), Limit: syncPage})
	if err != nil {
		return nil, false, err
	}
	var r syncReply
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, false, &ServerError{Type: typeSync, Code: wire.CodeInternal, Message: "unreadable sync reply"}
	}
	return r.Messages, r.More, nil
}

// historyPayload is the history request without "type" (encodeRequest
// writes it).
type historyPayload struct {
	PeerID   string `json:"peer_id"`
	BeforeID string `json:"before_id,omitempty"`
	Limit    int    `json:"limit,omitempty"`
}

// History returns one page of the conversation with peer, both directions,
// newest first: the messages with an id below beforeID ("" for the newest),
// at most limit (0: the server's default, 50; it caps at 200 and at its
// reply budget). more says older messages follow: call again with the ID of
// the page's last message. It reads what the server stored and changes
// nothing: it does not deliver, acknowledge or mark anything read.
func (c *Client) History(ctx context.Context, peer, beforeID string, limit int) (page []Message, more bool, err error) {
	body, err := c.do(ctx, wire.TypeHistory, historyPayload{PeerID: peer, BeforeID: beforeID, Limit: limit}, true)
	if err != nil {
		return nil, false, err
	}
	var r struct {
		Messages []wire.Message `json:"messages"`
		More     bool           `json:"more"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, false, &ServerError{Type: wire.TypeHistory, Code: wire.CodeInternal, Message: "unreadable history reply"}
	}
	page = make([]Message, 0, len(r.Messages))
	for _, w := range r.Messages {
		if m, ok := fromWire(w); ok {
			page = append(page, m)
		}
	}
	return page, r.More, nil
}
