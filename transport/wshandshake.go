package transport

import (
	"bufio"
	"bytes"
	"crypto/sha1" //nolint:gosec // RFC 6455 §4.2.2 specifies SHA-1 for Sec-WebSocket-Accept
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/Allenxuxu/ringbuffer"
	"go.uber.org/zap"

	"github.com/parley-im/parley/config"
)

// WSPath is the WebSocket endpoint's path: ws://HOST:PORT/ws.
const WSPath = "/ws"

// wsSettings is config.Web's WebSocket part, resolved.
type wsSettings struct {
	handshakeTimeout time.Duration
	maxHeader        int
	origins          *originPolicy
}

// ListenWebSocket binds cfg.WSListen (":0" picks a free port, see WSAddr) for
// WebSocket connections on their own gev reactors (transport.loops of them),
// sharing everything else with the TCP listener: the dispatcher and its
// workers, the limits, max_conns, the sweep and Stop. Call it before Start.
// Zero fields take config.Default().Web's values.
func (s *Server) ListenWebSocket(cfg config.Web) error {
	if s.ws != nil {
		return fmt.Errorf("transport: WebSocket already listening on %s", s.ws.addr)
	}
	def := config.Default().Web
	set := wsSettings{handshakeTimeout: cfg.WSHandshakeTimeout, maxHeader: cfg.WSMaxHeader}
	if set.handshakeTimeout <= 0 {
		set.handshakeTimeout = def.WSHandshakeTimeout
	}
	if set.maxHeader <= 0 {
		set.maxHeader = def.WSMaxHeader
	}
	origins, err := newOriginPolicy(cfg.AllowedOrigins, cfg.Listen)
	if err != nil {
		return err
	}
	set.origins = origins
	e := &engine{}
	if err := e.listen(cfg.WSListen, s.cfg.loops, events{s, true}, wsProtocol{s}); err != nil {
		return err
	}
	s.wsc, s.ws = set, e
	s.cfg.sweepEvery = min(s.cfg.sweepEvery, max(min(set.handshakeTimeout, wsLinger)/4, 5*time.Millisecond))
	return nil
}

// SetPageAddr tells the Origin check where the web client's page is served
// now, "host:port" as bound (web.listen ":0" in tests picks its port only
// when it listens): the same-origin rule then compares with this address
// instead of web.listen's. Any goroutine, at any time; without a WebSocket
// listener it does nothing.
func (s *Server) SetPageAddr(addr string) error {
	if s.ws == nil {
		return nil
	}
	return s.wsc.origins.setPage(addr)
}

// WSAddr is the WebSocket listener's bound "host:port", "" without one.
func (s *Server) WSAddr() string {
	if s.ws == nil {
		return ""
	}
	return s.ws.addr
}

var headerEnd = []byte("\r\n\r\n")

// handshake reads the upgrade request from buf and answers it. It returns
// true once the connection is upgraded (buf then holds only frame bytes);
// false while the request is incomplete (buf consumed) or after a failure
// (an HTTP error is queued and the connection closing). Loop goroutine.
func (s *Server) handshake(c *conn, buf *ringbuffer.RingBuffer) bool {
	w := c.ws
	old := len(w.hs)
	take := min(buf.Length(), s.wsc.maxHeader-old)
	if w.hs == nil {
		w.hs = make([]byte, 0, min(take, s.wsc.maxHeader))
	}
	first, end := buf.Peek(take)
	w.hs = append(append(w.hs, first...), end...)
	i := bytes.Index(w.hs[max(old-3, 0):], headerEnd)
	if i < 0 {
		buf.Retrieve(take)
		if len(w.hs) >= s.wsc.maxHeader {
			s.refuseUpgrade(c, http.StatusRequestHeaderFieldsTooLarge, "", "upgrade request too large")
			buf.RetrieveAll()
			return false
		}
		if !buf.IsEmpty() {
			// Only when maxHeader cut the read: the rest is over the cap.
			s.refuseUpgrade(c, http.StatusRequestHeaderFieldsTooLarge, "", "upgrade request too large")
			buf.RetrieveAll()
			return false
		}
		if d := int64(cap(w.hs)) - w.counted; d > 0 {
			w.counted += d
			s.partial.grow(c, d)
		}
		return false
	}
	reqEnd := max(old-3, 0) + i + len(headerEnd)
	buf.Retrieve(reqEnd - old)
	raw := w.hs[:reqEnd]
	w.hs = nil
	if w.counted > 0 {
		s.partial.release(c)
		w.counted = 0
	}
	resp, status, extra, why := s.upgrade(raw)
	if status != http.StatusSwitchingProtocols {
		s.refuseUpgrade(c, status, extra, why)
		buf.RetrieveAll()
		return false
	}
	w.upgraded.Store(true)
	c.sess.Touch(s.now())
	_ = c.send(outRaw, resp)
	return true
}

// refuseUpgrade answers an upgrade request with an HTTP error and closes.
func (s *Server) refuseUpgrade(c *conn, status int, extra, why string) {
	c.dropInput = true
	_ = c.send(outRaw, httpError(status, extra, why))
	c.closeFor(reasonHandshake, zap.Int("status", status), zap.String("why", why))
}

// upgrade checks an upgrade request (RFC 6455 §4.2.1) and returns the 101
// response, or the HTTP status to refuse with, extra response headers and
// why.
func (s *Server) upgrade(raw []byte) (resp []byte, status int, extra, why string) {
	req, err := http.ReadRequest(bufio.NewReaderSize(bytes.NewReader(raw), len(raw)))
	switch {
	case err != nil:
		return nil, http.StatusBadRequest, "", "malformed HTTP request"
	case req.Method != http.MethodGet:
		return nil, http.StatusMethodNotAllowed, "Allow: GET\r\n", "method must be GET"
	case req.URL.Path != WSPath:
		return nil, http.StatusNotFound, "", "the WebSocket endpoint is " + WSPath
	case !headerHasToken(req.Header, "Upgrade", "websocket") || !headerHasToken(req.Header, "Connection", "upgrade"):
		return nil, http.StatusUpgradeRequired, "Upgrade: websocket\r\nConnection: Upgrade\r\n", "not a WebSocket upgrade"
	case req.Header.Get("Sec-WebSocket-Version") != "13":
		return nil, http.StatusUpgradeRequired, "Sec-WebSocket-Version: 13\r\n", "Sec-WebSocket-Version must be 13"
	case !s.wsc.origins.allow(req.Header.Get("Origin"), req.Host):
		return nil, http.StatusForbidden, "", "origin not allowed"
	}
	key := req.Header.Get("Sec-WebSocket-Key")
	if k, err := base64.StdEncoding.DecodeString(key); err != nil || len(k) != 16 {
		return nil, http.StatusBadRequest, "", "bad Sec-WebSocket-Key"
	}
	resp = fmt.Appendf(nil, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n", acceptKey(key))
	return resp, http.StatusSwitchingProtocols, "", ""
}

// acceptKey is Sec-WebSocket-Accept for a Sec-WebSocket-Key.
func acceptKey(key string) string {
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")) //nolint:gosec // RFC 6455
	return base64.StdEncoding.EncodeToString(h[:])
}

// headerHasToken reports whether a comma-separated header lists token
// (case-insensitive), over all its lines.
func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// httpError is a complete HTTP error response that closes the connection.
func httpError(status int, extra, why string) []byte {
	return fmt.Appendf(nil, "HTTP/1.1 %d %s\r\nConnection: close\r\n%sContent-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\n\r\n%s",
		status, http.StatusText(status), extra, len(why)+1, why+"\n")
}

// httpRefusal wraps the error frame body sent to a connection refused at
// accept (overloaded, shutting down) as an HTTP 503 response.
func httpRefusal(body []byte) []byte {
	return append(fmt.Appendf(nil, "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", len(body)), body...)
}

// originPolicy decides which browser origins may open a WebSocket
// (config.Web.AllowedOrigins documents the rule).
type originPolicy struct {
	any     bool
	allowed map[string]bool // normalized "scheme://host:port"
	// The page's address (web.listen, or SetPageAddr's): nil when there is
	// no page. Read on every handshake, replaced at most once at start-up.
	page atomic.Pointer[pageAddr]
}

// pageAddr is where the page is served: its port, and its host unless it
// binds every interface.
type pageAddr struct{ host, port string }

func newOriginPolicy(allowed []string, webListen string) (*originPolicy, error) {
	p := &originPolicy{allowed: make(map[string]bool)}
	for _, a := range allowed {
		if a == "*" {
			p.any = true
			continue
		}
		scheme, host, port, ok := parseOrigin(a)
		if !ok {
			return p, fmt.Errorf("transport: web.allowed_origins: %q is not an origin", a)
		}
		p.allowed[scheme+"://"+net.JoinHostPort(host, port)] = true
	}
	if webListen != "" {
		if err := p.setPage(webListen); err != nil {
			return p, err
		}
	}
	return p, nil
}

// setPage records the page's "host:port".
func (p *originPolicy) setPage(addr string) error {
	h, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("transport: web page address %q: %w", addr, err)
	}
	if ip := net.ParseIP(h); ip != nil && ip.IsUnspecified() {
		h = ""
	}
	p.page.Store(&pageAddr{strings.ToLower(h), port})
	return nil
}

// parseOrigin splits an origin into lower-case scheme and host and its
// port, the scheme's default when absent.
func parseOrigin(o string) (scheme, host, port string, ok bool) {
	u, err := url.Parse(o)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "", "", "", false
	}
	scheme, host, port = u.Scheme, strings.ToLower(u.Hostname()), u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[scheme]
	}
	return scheme, host, port, true
}

// allow reports whether a handshake with this Origin and Host header may
// proceed.
func (p *originPolicy) allow(origin, hostHeader string) bool {
	if origin == "" || p.any {
		return true // not a browser, or every origin allowed
	}
	scheme, host, port, ok := parseOrigin(origin)
	if !ok {
		return false // "null" (sandboxed pages, file://) and anything else
	}
	if p.allowed[scheme+"://"+net.JoinHostPort(host, port)] {
		return true
	}
	hh, hp, err := net.SplitHostPort(hostHeader)
	if err != nil {
		hh, hp = hostHeader, "" // no port: the scheme's default
	}
	hh = strings.ToLower(strings.Trim(hh, "[]"))
	if host == hh && (port == hp || (hp == "" && port == map[string]string{"http": "80", "https": "443"}[scheme])) {
		return true // the page and the endpoint share host and port (a proxy in front)
	}
	if pg := p.page.Load(); pg != nil && port == pg.port {
		if pg.host != "" {
			return host == pg.host
		}
		return host == hh // the page this parleyd serves, reached by the same name
	}
	return false
}
