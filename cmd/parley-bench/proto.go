package main

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/parley-im/parley/wire"
)

// qtBody renders members exactly as the seed's Qt client does
// (wire.QtJSON): sorted keys, one member per line, four spaces of indent.
// Members that need no escaping (printable ASCII without '"' or '\\', all
// the bench sends) are written directly: encoding/json with its indent pass
// was a sixth of the load generator's CPU in the chat scenario, on the cores
// the server under test needs. Anything else goes through wire.QtJSON;
// TestQtBodyMatchesQtJSON holds the two to the same bytes.
func qtBody(members map[string]string) []byte {
	keys := make([]string, 0, len(members))
	size := 4
	for k, v := range members {
		if !plainASCII(k) || !plainASCII(v) {
			keys = nil
			break
		}
		keys = append(keys, k)
		size += len(k) + len(v) + 12
	}
	if len(keys) == 0 {
		b, err := wire.QtJSON(members)
		if err != nil {
			panic(err) // a map of strings always encodes
		}
		return b
	}
	slices.Sort(keys)
	b := make([]byte, 0, size)
	b = append(b, "{\n"...)
	for i, k := range keys {
		b = append(append(append(append(append(b, `    "`...), k...), `": "`...), members[k]...), '"')
		if i < len(keys)-1 {
			b = append(b, ',')
		}
		b = append(b, '\n')
	}
	return append(b, "}\n"...)
}

// plainASCII reports whether s is JSON-encoded as itself between quotes.
func plainASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// Request bodies, as the Qt client builds them (seed-protocol.md §2.3).
func loginBody(user, password string) []byte {
	return qtBody(map[string]string{"type": wire.TypeLogin, "user_id": user, "user_password": password})
}

// resumeBody is Parley's resume request (an extension).
func resumeBody(token string) []byte {
	return qtBody(map[string]string{"token": token, "type": wire.TypeResume})
}

// sendBody is the Qt client's send_message; clientMsgID (a Parley
// extension) is added when not empty.
func sendBody(from, to, body, clientMsgID string) []byte {
	m := map[string]string{
		"chat_type": "friend", "file_path": " ", "message_body": body,
		"message_timestamp": time.Now().Format(wire.TimeLayout), "message_type": "text",
		"receiver_id": to, "send_id": from, "type": wire.TypeSendMessage,
	}
	if clientMsgID != "" {
		m["client_msg_id"] = clientMsgID
	}
	return qtBody(m)
}

// pingBody is Parley's heartbeat (an extension; the Qt client never pings).
var pingBody = qtBody(map[string]string{"type": wire.TypePing})

// field returns the raw value of the first `"key":"value"` string member in
// a compact or indented JSON body, without decoding the whole body: the
// bench reads tens of thousands of frames per second on the same two cores
// as the server, so it must not spend them in encoding/json. It does not
// unescape (the values the bench reads are plain ASCII).
func field(body []byte, key string) []byte {
	pat := make([]byte, 0, len(key)+2)
	pat = append(append(append(pat, '"'), key...), '"')
	i := bytes.Index(body, pat)
	if i < 0 {
		return nil
	}
	rest := bytes.TrimLeft(body[i+len(pat):], " \t\r\n")
	if len(rest) == 0 || rest[0] != ':' {
		return nil
	}
	rest = bytes.TrimLeft(rest[1:], " \t\r\n")
	if len(rest) == 0 || rest[0] != '"' {
		return nil
	}
	end := bytes.IndexByte(rest[1:], '"')
	if end < 0 {
		return nil
	}
	return rest[1 : 1+end]
}

// stamp puts the send time in a message body, so the receiver can measure
// send → push delivery on the same clock.
func stamp(t time.Time) string { return "bench t=" + strconv.FormatInt(t.UnixNano(), 10) }

// unstamp reads stamp's time back from a pushed message_body.
func unstamp(body []byte) (time.Time, bool) {
	i := bytes.Index(body, []byte("t="))
	if i < 0 {
		return time.Time{}, false
	}
	n, err := strconv.ParseInt(string(body[i+2:]), 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(0, n), true
}

// reply is one non-push frame: its type, whether status was "success", and
// when it arrived.
type reply struct {
	typ  string
	ok   bool
	code string // an error reply's code
	at   time.Time
}

// failure names why an awaited reply is not a success of type want.
func failure(r reply, err error, want string) string {
	switch {
	case err != nil:
		return "read: " + err.Error()
	case !r.ok:
		return "error reply: " + r.code
	case r.typ != want:
		return "unexpected reply: " + r.typ
	}
	return ""
}

// benchConn is one client connection: writes from any goroutine (serialised),
// one reader goroutine that hands replies to a FIFO (the server answers a
// connection's requests in order; seed replies carry no seq) and pushes to
// onPush.
type benchConn struct {
	nc      net.Conn
	fr      frameReader
	ws      bool    // WebSocket: each body is a masked text frame
	mask    [4]byte // this connection's mask key
	wmu     sync.Mutex
	wbuf    []byte
	replies chan reply
	onReply func(reply) // if set, replies go here instead of replies
	onPush  func(body []byte, at time.Time)
	done    chan struct{}
	err     error
}

var errConnClosed = errors.New("connection closed")

// dialBench connects and starts the reader. Both callbacks may be nil; they
// run on the reader goroutine and must not block.
// An addr "ws://host:port" speaks WebSocket (ws.go).
func dialBench(addr string, timeout time.Duration, onPush func([]byte, time.Time), onReply func(reply)) (*benchConn, error) {
	nc, fr, ws, err := dialTarget(addr, timeout)
	if err != nil {
		return nil, err
	}
	c := &benchConn{nc: nc, fr: fr, ws: ws, replies: make(chan reply, 64), onPush: onPush, onReply: onReply, done: make(chan struct{})}
	if ws {
		_, _ = rand.Read(c.mask[:])
	}
	go c.readLoop()
	return c, nil
}

// send writes one frame.
func (c *benchConn) send(body []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.ws {
		c.wbuf = appendWSText(c.wbuf[:0], body, c.mask)
	} else {
		c.wbuf = wire.AppendFrame(c.wbuf[:0], body)
	}
	_, err := c.nc.Write(c.wbuf)
	return err
}

// await returns the next reply, or an error after timeout or connection loss.
func (c *benchConn) await(timeout time.Duration) (reply, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case r := <-c.replies:
		return r, nil
	case <-c.done:
		select {
		case r := <-c.replies:
			return r, nil
		default:
		}
		return reply{}, fmt.Errorf("%w: %v", errConnClosed, c.err) // c.err is set before done closes
	case <-t.C:
		return reply{}, errors.New("timeout")
	}
}

func (c *benchConn) close() { _ = c.nc.Close() }

func (c *benchConn) readLoop() {
	defer close(c.done)
	for {
		body, err := c.fr.ReadFrame()
		if err != nil {
			c.err = err
			return
		}
		now := time.Now()
		typ := string(field(body, "type"))
		if typ == wire.TypeReceiveMessage || typ == wire.TypeGroupMessage {
			if c.onPush != nil {
				c.onPush(body, now)
			}
			continue
		}
		r := reply{typ: typ, ok: string(field(body, "status")) == wire.StatusSuccess, at: now}
		if !r.ok {
			r.code = string(field(body, "code"))
		}
		if c.onReply != nil {
			c.onReply(r)
			continue
		}
		select {
		case c.replies <- r:
		default:
			// Nobody is waiting for this many replies (a fire-and-forget
			// sender): drop the oldest so the reader never blocks.
			select {
			case <-c.replies:
			default:
			}
			c.replies <- r
		}
	}
}

// userBody is a request that names only its user (friends, chatting,
// get_unread_messages), as the Qt client builds it.
func userBody(typ, user string) []byte {
	return qtBody(map[string]string{"type": typ, "user_id": user})
}
