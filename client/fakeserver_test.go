package client

import (
	"encoding/json"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley/wire"
)

// fakeServer speaks just enough of the Parley protocol, over a real socket,
// to test the client where the real server cannot reach: a connection cut
// between storing a message and replying, a silent server, a goaway. It
// answers each connection's frames in order, as the real server does. Tests
// against the real server are in server_test.go.
type fakeServer struct {
	ln net.Listener
	wg sync.WaitGroup

	mu       sync.Mutex
	users    map[string]string // id -> password
	tokens   map[string]string // token -> id
	msgs     []fakeMsg
	acks     map[string]int64 // user -> highest ack
	conns    map[*fakeConn]struct{}
	accepted int
	pings    int
	syncs    map[string]int // user -> sync requests
	nextTok  int
	// dropAfterStore makes the next send_message close the connection
	// after storing the message and before replying.
	dropAfterStore bool
	// refuse answers the next request of a type with an error code.
	refuse map[string]string
	// delay holds the reply to the next request of a type.
	delay map[string]time.Duration
	// noPush stores messages without pushing them (a lost push).
	noPush bool
	// noExt answers sync and ack with unknown_type, like a server without
	// the extensions.
	noExt bool
	// friendPush pushes a friend request row just before each friends
	// reply, as a request landing at that moment does.
	friendPush bool
}

type fakeMsg struct {
	id             int64
	from, to, body string
	cmid           string
}

type fakeConn struct {
	nc    net.Conn
	wmu   sync.Mutex
	user  string
	muted bool // answers nothing (a hung server); under fakeServer.mu
}

// muteExisting makes every current connection hang: it reads but never
// answers. New connections are served normally.
func (s *fakeServer) muteExisting() {
	s.mu.Lock()
	for c := range s.conns {
		c.muted = true
	}
	s.mu.Unlock()
}

func newFakeServer(t testing.TB) *fakeServer {
	t.Helper()
	s, err := startFakeServer("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.close)
	return s
}

// startFakeServer listens on addr ("127.0.0.1:0" for a free port).
func startFakeServer(addr string) (*fakeServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &fakeServer{
		ln:     ln,
		users:  map[string]string{"1": "666", "2": "666", "3": "666"},
		tokens: map[string]string{},
		acks:   map[string]int64{},
		conns:  map[*fakeConn]struct{}{},
		refuse: map[string]string{},
		delay:  map[string]time.Duration{},
	}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

func (s *fakeServer) addr() string { return s.ln.Addr().String() }

func (s *fakeServer) close() {
	_ = s.ln.Close()
	s.dropAll()
	s.wg.Wait()
}

// dropAll closes every connection, as a crash would.
func (s *fakeServer) dropAll() {
	s.mu.Lock()
	for c := range s.conns {
		_ = c.nc.Close()
	}
	s.mu.Unlock()
}

// goAway sends a going_away frame of type typ on every connection, then
// closes them.
func (s *fakeServer) goAway(typ string) {
	s.mu.Lock()
	conns := make([]*fakeConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.send(map[string]any{"type": typ, "status": "error", "code": "going_away", "message": "bye"})
		_ = c.nc.Close()
	}
}

func (s *fakeServer) accept() {
	defer s.wg.Done()
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			return
		}
		c := &fakeConn{nc: nc}
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.accepted++
		s.mu.Unlock()
		s.wg.Add(1)
		go s.serve(c)
	}
}

func (c *fakeConn) send(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	c.sendRaw(b)
}

func (c *fakeConn) sendRaw(b []byte) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, _ = c.nc.Write(wire.AppendFrame(nil, b))
}

func (s *fakeServer) serve(c *fakeConn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		_ = c.nc.Close()
	}()
	r := wire.NewReader(c.nc, 1<<20)
	for {
		body, err := r.ReadFrame()
		if err != nil {
			return
		}
		if !s.handle(c, body) {
			return
		}
	}
}

// req is every field any request uses.
type fakeReq struct {
	Type        string `json:"type"`
	Seq         uint64 `json:"seq"`
	UserID      string `json:"user_id"`
	Password    string `json:"user_password"`
	Phone       string `json:"user_phone"`
	Token       string `json:"token"`
	ReceiverID  string `json:"receiver_id"`
	SendID      string `json:"send_id"`
	Body        string `json:"message_body"`
	ClientMsgID string `json:"client_msg_id"`
	AfterID     string `json:"after_id"`
	Limit       int    `json:"limit"`
	MessageID   string `json:"message_id"`
	FriendID    string `json:"friend_id"`
	SearchID    string `json:"search_id"`
}

// obj adds seq to an object reply, as the real server's edge does.
func obj(seq uint64, v map[string]any) map[string]any {
	if seq != 0 {
		v["seq"] = seq
	}
	return v
}

func (s *fakeServer) push(m fakeMsg) map[string]any {
	return map[string]any{
		"chat_type": "friend", "file_path": " ", "message_body": m.body, "message_id": strconv.FormatInt(m.id, 10),
		"message_timestamp": "2025-07-14 11:00:00", "message_type": "text", "receiver_id": m.to,
		"send_id": m.from, "status": "success", "type": "receive_message",
	}
}

// handle answers one frame; false closes the connection.
func (s *fakeServer) handle(c *fakeConn, body []byte) bool {
	var q fakeReq
	if err := json.Unmarshal(body, &q); err != nil {
		c.send(obj(0, map[string]any{"type": "error", "status": "error", "code": "bad_request"}))
		return true
	}
	s.mu.Lock()
	mute := c.muted
	code := s.refuse[q.Type]
	delete(s.refuse, q.Type)
	if s.noExt && (q.Type == "sync" || q.Type == "ack") {
		code = "unknown_type"
	}
	delay := s.delay[q.Type]
	delete(s.delay, q.Type)
	if q.Type == "ping" {
		s.pings++
	}
	s.mu.Unlock()
	if mute {
		return true
	}
	if delay > 0 {
		time.Sleep(delay)
	}
	if code != "" {
		c.send(obj(q.Seq, map[string]any{"type": q.Type, "status": "error", "code": code, "message": "refused by test"}))
		return true
	}
	switch q.Type {
	case "ping":
		c.send(obj(q.Seq, map[string]any{"type": "pong", "status": "success"}))
	case "login":
		s.mu.Lock()
		ok := q.Password != "" && s.users[q.UserID] == q.Password
		var tok string
		if ok {
			s.nextTok++
			tok = "tok" + strconv.Itoa(s.nextTok)
			s.tokens[tok] = q.UserID
			c.user = q.UserID
		}
		s.mu.Unlock()
		if !ok {
			c.send([]map[string]any{{"message": "name or code error", "status": "error", "type": "login"}})
			return true
		}
		c.send([]map[string]any{{"status": "success", "type": "login", "user_id": q.UserID, "user_name": "u" + q.UserID,
			"user_password": "", "user_phone": q.UserID, "user_avatar": ":/images/avatar/1.png", "user_email": q.UserID + "@an.com",
			"user_status": "active", "user_created": "2025-01-01 00:00:00", "token": tok}})
	case "resume":
		s.mu.Lock()
		u, ok := s.tokens[q.Token]
		if ok {
			c.user = u
		}
		s.mu.Unlock()
		if !ok {
			c.send(obj(q.Seq, map[string]any{"type": "resume", "status": "error", "code": "unauthenticated", "message": "bad token"}))
			return true
		}
		c.send(obj(q.Seq, map[string]any{"type": "resume", "status": "success", "user_id": u}))
	case "register":
		s.mu.Lock()
		_, dup := s.users[q.Phone]
		if !dup {
			s.users[q.Phone] = q.Password
		}
		s.mu.Unlock()
		if dup {
			c.send(obj(q.Seq, map[string]any{"type": "register", "status": "error", "code": "conflict", "message": "exists"}))
			return true
		}
		c.send(obj(q.Seq, map[string]any{"type": "register", "status": "success", "user_id": q.Phone}))
	case "send_message":
		return s.sendMessage(c, q)
	case "sync":
		s.mu.Lock()
		if s.syncs == nil {
			s.syncs = map[string]int{}
		}
		s.syncs[c.user]++
		s.mu.Unlock()
		after, _ := strconv.ParseInt(q.AfterID, 10, 64)
		limit := q.Limit
		if limit <= 0 || limit > 3 {
			limit = 3 // small pages, so paging is exercised
		}
		s.mu.Lock()
		var page []map[string]any
		more := false
		for _, m := range s.msgs {
			if m.to != c.user || m.id <= after {
				continue
			}
			if len(page) == limit {
				more = true
				break
			}
			page = append(page, s.push(m))
		}
		s.mu.Unlock()
		if page == nil {
			page = []map[string]any{}
		}
		c.send(obj(q.Seq, map[string]any{"type": "sync", "status": "success", "messages": page, "more": more}))
	case "ack":
		id, _ := strconv.ParseInt(q.MessageID, 10, 64)
		s.mu.Lock()
		s.acks[c.user] = max(s.acks[c.user], id)
		s.mu.Unlock()
		c.send(obj(q.Seq, map[string]any{"type": "ack", "status": "success"}))
	case "friends":
		s.mu.Lock()
		push := s.friendPush
		s.mu.Unlock()
		if push {
			c.send([]map[string]any{{"status": "success", "type": "friends", "user_id": "9", "user_name": "u9",
				"friend_relation": "pending", "push": "add_friend"}})
		}
		c.send([]map[string]any{{"status": "success", "type": "friends", "user_id": "2", "user_name": "u2", "friend_relation": "accepted"},
			{"status": "success", "type": "friends", "user_id": "3", "user_name": "u3", "friend_relation": "pending"}})
	case "chatting":
		c.send([]map[string]any{{"message": "have not chatting", "status": "null", "type": "chatting"}})
	case "search_user":
		if q.SearchID == "404" {
			c.send([]map[string]any{{"message": "don't have messages", "status": "null", "type": "search_user"}})
			return true
		}
		c.send([]map[string]any{{"status": "success", "type": "search_user", "user_id": q.SearchID, "user_name": "u" + q.SearchID}})
	case "add_friend", "accept_friend", "delete_friend":
		c.send(obj(q.Seq, map[string]any{"type": q.Type, "status": "success", "user_id": q.UserID, "friend_id": q.FriendID}))
	default:
		c.send(obj(q.Seq, map[string]any{"type": q.Type, "status": "error", "code": "unknown_type"}))
	}
	return true
}

func (s *fakeServer) sendMessage(c *fakeConn, q fakeReq) bool {
	s.mu.Lock()
	if c.user == "" {
		s.mu.Unlock()
		c.send(obj(q.Seq, map[string]any{"type": q.Type, "status": "error", "code": "unauthenticated"}))
		return true
	}
	var stored *fakeMsg
	for i := range s.msgs {
		m := &s.msgs[i]
		if q.ClientMsgID != "" && m.from == c.user && m.cmid == q.ClientMsgID {
			stored = m
			break
		}
	}
	fresh := stored == nil
	if fresh {
		s.msgs = append(s.msgs, fakeMsg{id: int64(len(s.msgs) + 1), from: c.user, to: q.ReceiverID, body: q.Body, cmid: q.ClientMsgID})
		stored = &s.msgs[len(s.msgs)-1]
	}
	m := *stored
	drop := s.dropAfterStore
	s.dropAfterStore = false
	var targets []*fakeConn
	if fresh && !s.noPush {
		for o := range s.conns {
			if o.user == m.to {
				targets = append(targets, o)
			}
		}
	}
	s.mu.Unlock()
	for _, o := range targets {
		o.send(s.push(m))
	}
	if drop {
		return false
	}
	c.send(obj(q.Seq, map[string]any{"type": "send_message", "status": "success", "message_id": strconv.FormatInt(m.id, 10)}))
	return true
}

// syncsOf counts the sync requests user's connections have made.
func (s *fakeServer) syncsOf(user string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.syncs[user]
}

// hint pushes a sync_hint to every connection logged in as user.
func (s *fakeServer) hint(user string) {
	s.mu.Lock()
	var to []*fakeConn
	for c := range s.conns {
		if c.user == user {
			to = append(to, c)
		}
	}
	s.mu.Unlock()
	for _, c := range to {
		c.send(map[string]any{"type": "sync_hint", "status": "success"})
	}
}

func (s *fakeServer) stored() []fakeMsg {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]fakeMsg(nil), s.msgs...)
}

func (s *fakeServer) stat() (accepted, pings int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted, s.pings
}

func (s *fakeServer) ackOf(user string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.acks[user]
}

func (s *fakeServer) set(f func(s *fakeServer)) {
	s.mu.Lock()
	f(s)
	s.mu.Unlock()
}

// newFakeServerAt starts a fake server on a given address (a restart),
// waiting for the old listener's port to be free.
func newFakeServerAt(t testing.TB, addr string) *fakeServer {
	t.Helper()
	var s *fakeServer
	var err error
	for i := 0; i < 50; i++ {
		if s, err = startFakeServer(addr); err == nil {
			t.Cleanup(s.close)
			return s
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal(err)
	return nil
}
