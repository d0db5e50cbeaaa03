package main

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/parley-im/parley/transport"
	"github.com/parley-im/parley/wire"
)

// The bench's WebSocket client: as thin as its frame client, because it runs
// on the same two cores as the server it measures. An address "ws://host:port"
// makes dialBench upgrade to the server's WebSocket endpoint; each request is
// one masked text frame, each reply one text frame.

const wsScheme = "ws://"

// wsURL turns a WebSocket listener's host:port into the address dialBench
// takes for it.
func wsURL(hostport string) string { return wsScheme + hostport }

// upgradeWS performs the opening handshake on nc and returns the reader
// positioned at the first frame.
func upgradeWS(nc net.Conn, host string, timeout time.Duration) (*bufio.Reader, error) {
	var key [16]byte
	_, _ = rand.Read(key[:])
	_ = nc.SetDeadline(time.Now().Add(timeout))
	defer nc.SetDeadline(time.Time{})
	req := "GET " + transport.WSPath + " HTTP/1.1\r\nHost: " + host + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + base64.StdEncoding.EncodeToString(key[:]) + "\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := io.WriteString(nc, req); err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(nc, 4096)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return nil, fmt.Errorf("websocket upgrade: %s", resp.Status)
	}
	return br, nil
}

// appendWSText appends body as one masked text frame (clients must mask).
func appendWSText(out []byte, body []byte, key [4]byte) []byte {
	n := len(body)
	switch {
	case n <= 125:
		out = append(out, 0x81, 0x80|byte(n))
	case n <= 0xFFFF:
		out = append(out, 0x81, 0x80|126, byte(n>>8), byte(n))
	default:
		out = append(out, 0x81, 0x80|127)
		out = binary.BigEndian.AppendUint64(out, uint64(n))
	}
	out = append(out, key[:]...)
	start := len(out)
	out = append(out, body...)
	for i := range body {
		out[start+i] ^= key[i&3]
	}
	return out
}

var errWSClosed = errors.New("websocket closed by the server")

// wsFrameReader reads the server's unfragmented, unmasked text frames.
type wsFrameReader struct {
	br  *bufio.Reader
	hdr [10]byte
	max int
}

// ReadFrame returns the next text message's payload, skipping pings and
// pongs; a close frame ends the stream.
func (r *wsFrameReader) ReadFrame() ([]byte, error) {
	for {
		if _, err := io.ReadFull(r.br, r.hdr[:2]); err != nil {
			return nil, err
		}
		op := r.hdr[0] & 0x0F
		n := uint64(r.hdr[1] & 0x7F)
		switch n {
		case 126:
			if _, err := io.ReadFull(r.br, r.hdr[2:4]); err != nil {
				return nil, err
			}
			n = uint64(binary.BigEndian.Uint16(r.hdr[2:4]))
		case 127:
			if _, err := io.ReadFull(r.br, r.hdr[2:10]); err != nil {
				return nil, err
			}
			n = binary.BigEndian.Uint64(r.hdr[2:10])
		}
		if n > uint64(r.max) {
			return nil, fmt.Errorf("websocket message of %d bytes", n)
		}
		body := make([]byte, n)
		if _, err := io.ReadFull(r.br, body); err != nil {
			return nil, err
		}
		switch op {
		case 0x1:
			return body, nil
		case 0x8:
			return nil, fmt.Errorf("%w: % x", errWSClosed, body)
		}
	}
}

// frameReader is what readLoop reads replies from: wire frames or
// WebSocket text messages.
type frameReader interface{ ReadFrame() ([]byte, error) }

// dialTarget opens the connection dialBench wraps: plain TCP, or TCP
// upgraded to WebSocket for a "ws://" address.
func dialTarget(addr string, timeout time.Duration) (net.Conn, frameReader, bool, error) {
	host, ws := strings.CutPrefix(addr, wsScheme)
	// No TCP keepalive, like the Qt client (QTcpSocket leaves it off); Go's
	// default (15 s) would make 10,000 bench connections probe in bursts,
	// which the real clients, on their own machines, never do.
	nc, err := (&net.Dialer{Timeout: timeout, KeepAlive: -1}).Dial("tcp", host)
	if err != nil {
		return nil, nil, false, err
	}
	if !ws {
		return nc, wire.NewReader(bufio.NewReaderSize(nc, 4096), wire.DefaultMaxFrame), false, nil
	}
	br, err := upgradeWS(nc, host, timeout)
	if err != nil {
		nc.Close()
		return nil, nil, false, err
	}
	return nc, &wsFrameReader{br: br, max: wire.DefaultMaxFrame}, true, nil
}
