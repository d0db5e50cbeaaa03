package transport

import (
	"bytes"
	"context"
	"encoding/binary"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/parley-im/parley/config"
	"github.com/parley-im/parley/session"
)

// dialCoder opens a well-behaved client (github.com/coder/websocket).
func dialCoder(t *testing.T, srv *Server) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws://"+srv.WSAddr()+WSPath, nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	c.SetReadLimit(-1)
	t.Cleanup(func() { _ = c.CloseNow() })
	return c
}

func coderEcho(t *testing.T, c *websocket.Conn, msg []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Write(ctx, websocket.MessageText, msg); err != nil {
		t.Fatalf("write: %v", err)
	}
	typ, got, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if typ != websocket.MessageText || !bytes.Equal(got, msg) {
		t.Fatalf("echo: %v of %d bytes, want text of %d", typ, len(got), len(msg))
	}
}

// TestWSEchoAcrossLengthEncodings sends and receives messages at every
// boundary of the frame length encoding, up to max_frame, with a
// well-behaved client.
func TestWSEchoAcrossLengthEncodings(t *testing.T) {
	cfg := testConfig()
	srv := startWSServer(t, cfg, config.Web{}, echo)
	c := dialCoder(t, srv)
	for _, n := range []int{0, 1, 125, 126, 0xFFFF, cfg.MaxFrame} {
		coderEcho(t, c, bytes.Repeat([]byte("é"), n/2)) // UTF-8, two bytes a rune
	}
	if st := srv.Stats(); st.Conns != 1 || st.Frames != 6 {
		t.Fatalf("stats %+v", st)
	}
}

// TestWSBadInputClosesOnlyThatConnection: every violation closes its own
// connection with its close code, and a bystander keeps chatting.
func TestWSBadInputClosesOnlyThatConnection(t *testing.T) {
	cfg := testConfig() // max_frame 64 KiB
	srv := startWSServer(t, cfg, config.Web{}, echo)
	bystander := dialCoder(t, srv)
	big := bytes.Repeat([]byte("a"), cfg.MaxFrame+1)
	half := bytes.Repeat([]byte("b"), cfg.MaxFrame/2+1)
	closeWith := func(code uint16, reason string) []byte {
		return frame(fin|opClose, true, append(binary.BigEndian.AppendUint16(nil, code), reason...))
	}
	for _, tc := range []struct {
		name string
		send []byte
		code uint16
	}{
		{"oversize message", frame(fin|opText, true, big), closeTooBig},
		{"oversize across fragments", append(frame(opText, true, half), frame(fin|opContinuation, true, half)...), closeTooBig},
		{"binary message", frame(fin|opBinary, true, []byte(`{"type":"ping"}`)), closeUnsupportedData},
		{"unmasked frame", frame(fin|opText, false, []byte(`{"type":"ping"}`)), closeProtocolError},
		{"reserved bit", frame(fin|0x40|opText, true, []byte("x")), closeProtocolError},
		{"reserved data opcode", frame(fin|0x3, true, []byte("x")), closeProtocolError},
		{"reserved control opcode", frame(fin|0xB, true, nil), closeProtocolError},
		{"fragmented ping", frame(opPing, true, []byte("p")), closeProtocolError},
		{"ping over 125 bytes", frame(fin|opPing, true, bytes.Repeat([]byte("p"), 126)), closeProtocolError},
		{"continuation without a message", frame(fin|opContinuation, true, []byte("x")), closeProtocolError},
		{"text inside a fragmented message", append(frame(opText, true, []byte("a")), frame(fin|opText, true, []byte("b"))...), closeProtocolError},
		{"64-bit length with the high bit", append([]byte{fin | opText, 0x80 | 127}, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4), closeProtocolError},
		{"invalid UTF-8", text("{\"a\":\"\xff\xfe\"}"), closeInvalidPayload},
		{"truncated UTF-8 at the end", text("\xe4\xbd"), closeInvalidPayload},
		{"close with a 1-byte payload", frame(fin|opClose, true, []byte{3}), closeProtocolError},
		{"close with a reserved code", closeWith(1005, ""), closeProtocolError},
		{"close reason not UTF-8", closeWith(closeNormal, "\xff"), closeInvalidPayload},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := upgradeRaw(t, srv.WSAddr())
			w.echoOK("before")
			w.write(tc.send)
			w.expectClose(tc.code)
			coderEcho(t, bystander, []byte(`{"type":"ping","seq":1}`))
		})
	}
	eventually(t, 5*time.Second, "only the bystander left", func() bool { return srv.Stats().Conns == 1 })
	if st := srv.Stats(); st.Oversize != 2 || st.WSProtocol != 15 || st.PartialBytes != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestWSFragmentsReassembledWithControlFramesBetween: a message in four
// fragments, a UTF-8 character split across two of them, with a ping, a
// pong and another ping between them, written a few bytes at a time.
func TestWSFragmentsReassembledWithControlFramesBetween(t *testing.T) {
	srv := startWSServer(t, testConfig(), config.Web{}, echo)
	w := upgradeRaw(t, srv.WSAddr())
	msg := `{"type":"send_message","message_body":"你好 🎉"}`
	cut := strings.Index(msg, "好") + 1 // inside the character
	parts := []string{msg[:5], msg[5:cut], msg[cut : cut+4], msg[cut+4:]}
	var stream []byte
	stream = append(stream, frame(opText, true, []byte(parts[0]))...)
	stream = append(stream, frame(fin|opPing, true, []byte("p1"))...)
	stream = append(stream, frame(opContinuation, true, []byte(parts[1]))...)
	stream = append(stream, frame(fin|opPong, true, nil)...)
	stream = append(stream, frame(opContinuation, true, []byte(parts[2]))...)
	stream = append(stream, frame(fin|opPing, true, nil)...)
	stream = append(stream, frame(fin|opContinuation, true, []byte(parts[3]))...)
	for len(stream) > 0 {
		n := min(3, len(stream))
		w.write(stream[:n])
		stream = stream[n:]
	}
	for _, want := range []struct {
		op      byte
		payload string
	}{{opPong, "p1"}, {opPong, ""}, {opText, msg}} {
		op, p, err := w.readFrame()
		if err != nil || op != want.op || string(p) != want.payload {
			t.Fatalf("got op %x %q (%v), want op %x %q", op, p, err, want.op, want.payload)
		}
	}
	if st := srv.Stats(); st.Frames != 1 || st.PartialBytes != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestWSIncompleteMessageCountsAndTimesOut: a fragmented message holds its
// bytes in the partial budget, and one not completed within frame_timeout
// closes the connection (1008); a header cut short does the same.
func TestWSIncompleteMessageCountsAndTimesOut(t *testing.T) {
	cfg := testConfig()
	cfg.FrameTimeout = 300 * time.Millisecond
	srv := startWSServer(t, cfg, config.Web{}, echo)
	w := upgradeRaw(t, srv.WSAddr())
	w.write(frame(opText, true, bytes.Repeat([]byte("x"), 10000)))
	eventually(t, 5*time.Second, "the fragment counted", func() bool { return srv.Stats().PartialBytes >= 10000 })
	w.expectClose(closePolicy)

	cut := upgradeRaw(t, srv.WSAddr())
	cut.write(text("hello")[:3])
	cut.expectClose(closePolicy)
	st := srv.Stats()
	if st.FrameTimeout != 2 || st.PartialBytes != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestWSCloseHandshake: the client's close is echoed with its code, then
// the server closes the socket.
func TestWSCloseHandshake(t *testing.T) {
	srv := startWSServer(t, testConfig(), config.Web{}, echo)
	w := upgradeRaw(t, srv.WSAddr())
	w.echoOK("hi")
	w.write(frame(fin|opClose, true, append(binary.BigEndian.AppendUint16(nil, 4001), "bye"...)))
	op, p, err := w.readFrame()
	if err != nil || op != opClose || closeCodeOf(p) != 4001 {
		t.Fatalf("got op %x %v (%v), want close 4001", op, p, err)
	}
	w.expectEOF()
	eventually(t, 5*time.Second, "the session removed", func() bool { return srv.Stats().Conns == 0 })

	// A well-behaved client's close completes too.
	c := dialCoder(t, srv)
	coderEcho(t, c, []byte("x"))
	if err := c.Close(websocket.StatusNormalClosure, ""); err != nil {
		t.Fatalf("close: %v", err)
	}
}

// TestWSPeerDropsWithoutCloseFrame: a client that vanishes (TCP close, no
// close frame), in the middle of a message or between messages, is
// forgotten, with its held bytes.
func TestWSPeerDropsWithoutCloseFrame(t *testing.T) {
	srv := startWSServer(t, testConfig(), config.Web{}, echo)
	other := dialCoder(t, srv)
	mid := upgradeRaw(t, srv.WSAddr())
	mid.write(frame(opText, true, bytes.Repeat([]byte("x"), 5000)))
	idle := upgradeRaw(t, srv.WSAddr())
	idle.echoOK("hi")
	eventually(t, 5*time.Second, "the fragment counted", func() bool { return srv.Stats().PartialBytes >= 5000 })
	_ = mid.c.Close()
	_ = idle.c.Close()
	eventually(t, 5*time.Second, "both forgotten", func() bool {
		st := srv.Stats()
		return st.Conns == 1 && st.PartialBytes == 0
	})
	coderEcho(t, other, []byte("still here"))
}

// TestWSHandshakeNeverCompletes: a connection that sends part of its
// upgrade request, or nothing, is closed after ws_handshake_timeout
// without a response.
func TestWSHandshakeNeverCompletes(t *testing.T) {
	srv := startWSServer(t, testConfig(), config.Web{WSHandshakeTimeout: 300 * time.Millisecond}, echo)
	partial := dial(t, srv.WSAddr())
	write(t, partial, []byte(upgradeRequest(srv.WSAddr(), "")[:40]))
	silent := dial(t, srv.WSAddr())
	start := time.Now()
	expectClosed(t, partial, 5*time.Second)
	expectClosed(t, silent, 5*time.Second)
	if waited := time.Since(start); waited < 200*time.Millisecond {
		t.Fatalf("closed after %v, before the handshake timeout", waited)
	}
	if st := srv.Stats(); st.HandshakeTimeout != 2 || st.Conns != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestWSHandshakeRefusals: each bad upgrade request gets its HTTP status and
// the connection is closed.
func TestWSHandshakeRefusals(t *testing.T) {
	srv := startWSServer(t, testConfig(), config.Web{Listen: "127.0.0.1:8080", WSMaxHeader: 2048}, echo)
	addr := srv.WSAddr()
	good := upgradeRequest(addr, "")
	for _, tc := range []struct {
		name, request string
		status        int
		header        string // a response header that must be present, "Name: value"
	}{
		{"wrong path", strings.Replace(good, WSPath, "/chat", 1), http.StatusNotFound, ""},
		{"not GET", strings.Replace(good, "GET", "POST", 1), http.StatusMethodNotAllowed, "Allow: GET"},
		{"no Upgrade header", strings.Replace(good, "Upgrade: websocket\r\n", "", 1), http.StatusUpgradeRequired, "Upgrade: websocket"},
		{"old version", strings.Replace(good, "Version: 13", "Version: 8", 1), http.StatusUpgradeRequired, "Sec-WebSocket-Version: 13"},
		{"bad key", strings.Replace(good, "MDEy", "!!", 1), http.StatusBadRequest, ""},
		{"malformed", "HELLO\r\n\r\n", http.StatusBadRequest, ""},
		{"headers too large", upgradeRequest(addr, "X-Pad: "+strings.Repeat("p", 3000)+"\r\n"), http.StatusRequestHeaderFieldsTooLarge, ""},
		{"foreign origin", upgradeRequest(addr, "Origin: http://evil.example\r\n"), http.StatusForbidden, ""},
		{"null origin", upgradeRequest(addr, "Origin: null\r\n"), http.StatusForbidden, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, resp := dialRawWS(t, addr, tc.request)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %s, want %d", resp.Status, tc.status)
			}
			if tc.header != "" {
				name, value, _ := strings.Cut(tc.header, ": ")
				if got := header(resp, name); !strings.Contains(got, value) {
					t.Fatalf("%s: %q, want %q", name, got, value)
				}
			}
			w.expectEOF()
		})
	}
	// The page's origin is allowed: same host, web.listen's port.
	w, resp := dialRawWS(t, addr, upgradeRequest(addr, "Origin: http://127.0.0.1:8080\r\n"))
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("page origin: %s", resp.Status)
	}
	w.echoOK("welcome")
	if st := srv.Stats(); st.HandshakeFailed != 9 {
		t.Fatalf("stats %+v", st)
	}
}

func TestWSOriginPolicy(t *testing.T) {
	for _, tc := range []struct {
		name      string
		allowed   []string
		webListen string
		origin    string
		host      string
		want      bool
	}{
		{"no origin (not a browser)", nil, ":8080", "", "chat.example:8081", true},
		{"page on web.listen, same host", nil, ":8080", "http://chat.example:8080", "chat.example:8081", true},
		{"page on web.listen, host case", nil, ":8080", "http://CHAT.example:8080", "chat.example:8081", true},
		{"other host on web.listen's port", nil, ":8080", "http://evil.example:8080", "chat.example:8081", false},
		{"same host, other port", nil, ":8080", "http://chat.example:9999", "chat.example:8081", false},
		{"origin equals Host (one proxy in front)", nil, ":8080", "https://chat.example", "chat.example:443", true},
		{"origin equals Host, default port omitted", nil, ":8080", "https://chat.example", "chat.example", true},
		{"scheme default differs", nil, ":8080", "http://chat.example", "chat.example:443", false},
		{"web.listen with a host", nil, "10.0.0.1:8080", "http://10.0.0.1:8080", "10.0.0.1:8081", true},
		{"web.listen with a host, other name", nil, "10.0.0.1:8080", "http://localhost:8080", "localhost:8081", false},
		{"web.listen 0.0.0.0 is every interface", nil, "0.0.0.0:8080", "http://localhost:8080", "localhost:8081", true},
		{"listed", []string{"https://app.example"}, ":8080", "https://app.example:443", "chat.example:8081", true},
		{"listed, other scheme", []string{"https://app.example"}, ":8080", "http://app.example", "chat.example:8081", false},
		{"any", []string{"*"}, ":8080", "http://evil.example", "chat.example:8081", true},
		{"null", nil, ":8080", "null", "chat.example:8081", false},
		{"web off, no match", nil, "", "http://chat.example:8080", "chat.example:8081", false},
		{"ipv6 page", nil, ":8080", "http://[::1]:8080", "[::1]:8081", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := newOriginPolicy(tc.allowed, tc.webListen)
			if err != nil {
				t.Fatal(err)
			}
			if got := p.allow(tc.origin, tc.host); got != tc.want {
				t.Fatalf("allow(%q, %q) = %v, want %v", tc.origin, tc.host, got, tc.want)
			}
		})
	}
	if _, err := newOriginPolicy([]string{"chat.example"}, ""); err == nil {
		t.Fatal("an origin without a scheme was accepted")
	}
}

// TestWSSetPageAddr: with web.listen ":0" (tests) the page's port is known
// only once it listens; SetPageAddr makes the same-origin rule use it.
func TestWSSetPageAddr(t *testing.T) {
	srv := startWSServer(t, testConfig(), config.Web{Listen: "127.0.0.1:0"}, echo)
	addr := srv.WSAddr()
	page := upgradeRequest(addr, "Origin: http://127.0.0.1:43210\r\n")
	if _, resp := dialRawWS(t, addr, page); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("before SetPageAddr: %s", resp.Status)
	}
	if err := srv.SetPageAddr("127.0.0.1:43210"); err != nil {
		t.Fatal(err)
	}
	w, resp := dialRawWS(t, addr, page)
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("after SetPageAddr: %s", resp.Status)
	}
	w.echoOK("same origin")
	if _, resp := dialRawWS(t, addr, upgradeRequest(addr, "Origin: http://127.0.0.1:43211\r\n")); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("another port: %s", resp.Status)
	}
}

// TestWSPingPongAreLiveness: for the heartbeat rule (sessions that pinged
// are closed after heartbeat_timeout of silence), WebSocket pings and pongs
// count as activity: a client that only sends them stays, one that goes
// silent is closed with 1001.
func TestWSPingPongAreLiveness(t *testing.T) {
	cfg := testConfig()
	cfg.HeartbeatTimeout = 300 * time.Millisecond
	srv := startWSServer(t, cfg, config.Web{}, pingAware)
	pinger, ponger, silent := upgradeRaw(t, srv.WSAddr()), upgradeRaw(t, srv.WSAddr()), upgradeRaw(t, srv.WSAddr())
	for _, w := range []*rawWS{pinger, ponger, silent} {
		w.echoOK("ping") // a heartbeat speaker from now on
	}
	// Keep two of them alive with control frames only, for several heartbeat
	// timeouts, until the silent one has been closed.
	done := make(chan struct{})
	go func() {
		defer close(done)
		silent.expectClose(closeGoingAway)
	}()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	start := time.Now()
	for alive := true; alive; {
		select {
		case <-done:
			alive = false
		case <-tick.C:
			pinger.write(frame(fin|opPing, true, []byte("hb")))
			if op, p, err := pinger.readFrame(); err != nil || op != opPong || string(p) != "hb" {
				t.Fatalf("pong: %x %q %v", op, p, err)
			}
			ponger.write(frame(fin|opPong, true, nil)) // unsolicited pongs are allowed (RFC 6455 §5.5.3)
		}
	}
	if waited := time.Since(start); waited < 200*time.Millisecond {
		t.Fatalf("silent client closed after %v, before the heartbeat timeout", waited)
	}
	// Outlive the heartbeat timeout a few more times, then check both.
	for range 3 * int(cfg.HeartbeatTimeout/(50*time.Millisecond)) {
		<-tick.C
		pinger.write(frame(fin|opPing, true, nil))
		if op, _, err := pinger.readFrame(); err != nil || op != opPong {
			t.Fatalf("pong: %x %v", op, err)
		}
		ponger.write(frame(fin|opPong, true, nil))
	}
	pinger.echoOK("still here")
	ponger.echoOK("still here")
	if st := srv.Stats(); st.HeartbeatTimeout != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// TestWSSharesMaxConnsWithTCP: one cap over both listeners; a WebSocket
// refused at accept gets HTTP 503 with the JSON error.
func TestWSSharesMaxConnsWithTCP(t *testing.T) {
	cfg := testConfig()
	cfg.MaxConns = 1
	srv := startWSServer(t, cfg, config.Web{}, echo)
	tcp := dial(t, srv.Addr())
	write(t, tcp, frames([]byte("hi")))
	readFrame(t, tcp)
	w, resp := dialRawWS(t, srv.WSAddr(), upgradeRequest(srv.WSAddr(), ""))
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("status %s", resp.Status)
	}
	w.expectEOF()
	_ = tcp.Close()
	eventually(t, 5*time.Second, "the TCP slot freed", func() bool { return srv.Stats().Conns == 0 })
	upgradeRaw(t, srv.WSAddr()).echoOK("now there is room")
}

// TestWSFloodClosesWithPolicy: requests queued faster than they are served
// past max_queued close that connection with 1008.
func TestWSFloodClosesWithPolicy(t *testing.T) {
	cfg := testConfig()
	cfg.MaxFrame, cfg.MaxQueued = 1024, 2048
	release := make(chan struct{})
	blocked := serveFunc(func(_ context.Context, s *session.Session, body []byte) {
		<-release
		_ = s.Send(body)
	})
	srv := startWSServer(t, cfg, config.Web{}, blocked)
	defer close(release)
	w := upgradeRaw(t, srv.WSAddr())
	for range 8 {
		w.write(text(strings.Repeat("f", 900)))
	}
	w.expectClose(closePolicy)
	if st := srv.Stats(); st.Flood != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// TestWSShutdownSendsGoawayThenClose: Stop sends the goaway body as a text
// message, then the close frame 1001.
func TestWSShutdownSendsGoawayThenClose(t *testing.T) {
	srv := startWSServer(t, testConfig(), config.Web{}, echo)
	w := upgradeRaw(t, srv.WSAddr())
	w.echoOK("hi")
	// A peer that never answers the close frame holds the stop for at most
	// wsLinger.
	mute := upgradeRaw(t, srv.WSAddr())
	mute.echoOK("hi")
	stopped := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		stopped <- srv.Stop(ctx)
	}()
	if got := w.readText(); !strings.Contains(got, `"type":"goaway"`) {
		t.Fatalf("got %s", got)
	}
	w.expectClose(closeGoingAway)
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	if got := mute.readText(); !strings.Contains(got, `"type":"goaway"`) {
		t.Fatalf("got %s", got)
	}
	if op, p, err := mute.readFrame(); err != nil || op != opClose || closeCodeOf(p) != closeGoingAway {
		t.Fatalf("got op %x %v (%v), want close 1001", op, p, err)
	}
	mute.expectEOF()
}

// TestWSSlowReaderIsClosed: the slow-consumer and write-stall rules hold
// for WebSocket too: a client that asks for a lot and reads nothing is
// closed (without a close frame: it reads nothing), and another client
// keeps chatting.
func TestWSSlowReaderIsClosed(t *testing.T) {
	cfg := testConfig()
	cfg.MaxPending = 256 << 10
	cfg.WriteStall = 500 * time.Millisecond
	reply := bytes.Repeat([]byte{'r'}, 60<<10)
	flood := serveFunc(func(_ context.Context, s *session.Session, body []byte) {
		if string(body) != "flood" {
			_ = s.Send(body)
			return
		}
		for range 200 {
			if s.Send(reply) != nil {
				return
			}
		}
	})
	srv := startWSServer(t, cfg, config.Web{}, flood)
	other := dialCoder(t, srv)
	w := upgradeRaw(t, srv.WSAddr())
	w.write(text("flood"))
	eventually(t, 10*time.Second, "the slow reader closed", func() bool {
		st := srv.Stats()
		return st.Conns == 1 && st.SlowConsumer+st.WriteStall == 1
	})
	coderEcho(t, other, []byte("unaffected"))
}

// TestWSPartialBudgetClosesTheOldestHolder: incomplete WebSocket messages
// share max_partial_bytes with TCP's incomplete frames; past it the
// connection that has held bytes the longest is closed (1008) and the
// newer one completes its message.
func TestWSPartialBudgetClosesTheOldestHolder(t *testing.T) {
	cfg := testConfig() // max_frame 64 KiB
	cfg.MaxPartialBytes = cfg.MaxFrame
	srv := startWSServer(t, cfg, config.Web{}, echo)
	old, young := upgradeRaw(t, srv.WSAddr()), upgradeRaw(t, srv.WSAddr())
	part := bytes.Repeat([]byte("p"), 40<<10)
	old.write(frame(opText, true, part))
	eventually(t, 5*time.Second, "the first fragment counted", func() bool { return srv.Stats().PartialBytes >= 40<<10 })
	young.write(frame(opText, true, part[:20<<10]))
	young.write(frame(opContinuation, true, part[:20<<10]))
	old.expectClose(closePolicy)
	young.write(frame(fin|opContinuation, true, []byte("!")))
	if got := young.readText(); len(got) != 40<<10+1 {
		t.Fatalf("young's message: %d bytes", len(got))
	}
	if st := srv.Stats(); st.PartialBudget != 1 || st.PartialBytes != 0 {
		t.Fatalf("stats %+v", st)
	}
}
