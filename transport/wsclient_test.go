package transport

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/config"
	"github.com/parley-im/parley/session"
)

// rawWS is a WebSocket client over a raw socket that can break every rule:
// it writes frames bit by bit as the test says and reads what the server
// sends.
type rawWS struct {
	t  testing.TB
	c  net.Conn
	br *bufio.Reader
}

// startWSServer runs a server with a WebSocket listener on a free port.
func startWSServer(t *testing.T, cfg config.Transport, web config.Web, fs FrameServer) *Server {
	t.Helper()
	srv, err := New(cfg, "127.0.0.1:0", session.NewRegistry(), fs, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	web.WSListen = "127.0.0.1:0"
	if err := srv.ListenWebSocket(web); err != nil {
		t.Fatal(err)
	}
	srv.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return srv
}

// upgradeRequest is a valid upgrade request for host with extra header
// lines ("Origin: ...\r\n").
func upgradeRequest(host, extra string) string {
	key := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef"))
	return "GET " + WSPath + " HTTP/1.1\r\nHost: " + host + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n" + extra + "\r\n"
}

// dialRawWS connects and sends request (as is), returning the client and
// the HTTP response.
func dialRawWS(t testing.TB, addr, request string) (*rawWS, *http.Response) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	w := &rawWS{t: t, c: c, br: bufio.NewReader(c)}
	w.write([]byte(request))
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(w.br, nil)
	if err != nil {
		t.Fatalf("reading the handshake response: %v", err)
	}
	return w, resp
}

// upgradeRaw opens an upgraded raw connection.
func upgradeRaw(t testing.TB, addr string) *rawWS {
	t.Helper()
	w, resp := dialRawWS(t, addr, upgradeRequest(addr, ""))
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %s", resp.Status)
	}
	if got, want := resp.Header.Get("Sec-WebSocket-Accept"), acceptKey(base64.StdEncoding.EncodeToString([]byte("0123456789abcdef"))); got != want {
		t.Fatalf("Sec-WebSocket-Accept %q, want %q", got, want)
	}
	return w
}

func (w *rawWS) write(b []byte) {
	w.t.Helper()
	_ = w.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := w.c.Write(b); err != nil {
		w.t.Fatalf("write: %v", err)
	}
}

// frame encodes one client frame: b0 is FIN|RSV|opcode as sent, masked says
// whether to mask (clients must).
func frame(b0 byte, masked bool, payload []byte) []byte {
	out := []byte{b0}
	maskBit := byte(0)
	if masked {
		maskBit = 0x80
	}
	switch n := len(payload); {
	case n <= 125:
		out = append(out, maskBit|byte(n))
	case n <= 0xFFFF:
		out = append(out, maskBit|126, byte(n>>8), byte(n))
	default:
		out = append(out, maskBit|127)
		out = binary.BigEndian.AppendUint64(out, uint64(n))
	}
	if !masked {
		return append(out, payload...)
	}
	key := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	out = append(out, key[:]...)
	start := len(out)
	out = append(out, payload...)
	for i := range payload {
		out[start+i] ^= key[i&3]
	}
	return out
}

const fin = 0x80

func text(s string) []byte { return frame(fin|opText, true, []byte(s)) }

// readFrame reads one server frame; servers never mask.
func (w *rawWS) readFrame() (op byte, payload []byte, err error) {
	_ = w.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var h [2]byte
	if _, err := io.ReadFull(w.br, h[:]); err != nil {
		return 0, nil, err
	}
	if h[0]&0x80 == 0 || h[0]&0x70 != 0 || h[1]&0x80 != 0 {
		return 0, nil, fmt.Errorf("bad server frame header % x", h)
	}
	n := uint64(h[1] & 0x7F)
	switch n {
	case 126:
		var e [2]byte
		_, err = io.ReadFull(w.br, e[:])
		n = uint64(binary.BigEndian.Uint16(e[:]))
	case 127:
		var e [8]byte
		_, err = io.ReadFull(w.br, e[:])
		n = binary.BigEndian.Uint64(e[:])
	}
	if err != nil {
		return 0, nil, err
	}
	payload = make([]byte, n)
	_, err = io.ReadFull(w.br, payload)
	return h[0] & 0x0F, payload, err
}

// readText reads frames up to the next text message.
func (w *rawWS) readText() string {
	w.t.Helper()
	for {
		op, p, err := w.readFrame()
		if err != nil {
			w.t.Fatalf("reading a text message: %v", err)
		}
		switch op {
		case opText:
			return string(p)
		case opClose:
			w.t.Fatalf("closed with %d %q while expecting text", closeCodeOf(p), p[min(2, len(p)):])
		}
	}
}

func closeCodeOf(p []byte) uint16 {
	if len(p) < 2 {
		return closeNoStatus
	}
	return binary.BigEndian.Uint16(p)
}

// expectClose reads until the server's close frame, checks its code, and
// then that the server closes the TCP connection (it answers our close or
// closes after its linger; the test answers, as a client must).
func (w *rawWS) expectClose(code uint16) {
	w.t.Helper()
	for {
		op, p, err := w.readFrame()
		if err != nil {
			w.t.Fatalf("connection ended without a close frame (want %d): %v", code, err)
		}
		if op != opClose {
			continue
		}
		if got := closeCodeOf(p); got != code {
			w.t.Fatalf("close code %d (%q), want %d", got, p[min(2, len(p)):], code)
		}
		break
	}
	// Answer as RFC 6455 asks; the write may fail if the server has closed.
	_, _ = w.c.Write(frame(fin|opClose, true, binary.BigEndian.AppendUint16(nil, code)))
	w.expectEOF()
}

// expectEOF checks that the server closes the connection (not a timeout).
func (w *rawWS) expectEOF() {
	w.t.Helper()
	_ = w.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := io.Copy(io.Discard, w.br)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		w.t.Fatal("server did not close the connection")
	}
}

// echoOK checks that the connection still works: a text message comes back.
func (w *rawWS) echoOK(msg string) {
	w.t.Helper()
	w.write(text(msg))
	if got := w.readText(); got != msg {
		w.t.Fatalf("echo %q, want %q", got, msg)
	}
}

func header(resp *http.Response, name string) string {
	return strings.Join(resp.Header.Values(name), ",")
}
