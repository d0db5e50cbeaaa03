package web

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"net"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
)

//go:embed static
var static embed.FS

// indexPage is the page template: the only file rendered, for the
// WebSocket address (html/template escapes it as an attribute value).
var indexPage = template.Must(template.ParseFS(static, "static/index.html"))

// Options configure a Server.
type Options struct {
	// Listen is the HTTP address ("host:port"; port 0 picks a free one).
	Listen string
	// WebSocket returns the chat's WebSocket URL for a page requested at
	// host (the request's Host header: the name the browser used), or ""
	// when there is no WebSocket endpoint; the page then says so. tls is
	// true when a proxy in front terminated TLS for the page
	// (X-Forwarded-Proto: https): the browser then needs wss:// on the
	// proxy's host (see URL).
	WebSocket func(host string, tls bool) string
	// Log receives the server's own lines; nil discards them.
	Log *zap.Logger
}

// Server is the web client's HTTP server.
type Server struct {
	opts Options
	srv  *http.Server
	log  *zap.Logger

	mu   sync.Mutex
	ln   net.Listener
	done chan struct{} // closed when Serve returns
}

// New prepares the server; Start binds it.
func New(o Options) *Server {
	log := o.Log
	if log == nil {
		log = zap.NewNop()
	}
	if o.WebSocket == nil {
		o.WebSocket = func(string, bool) string { return "" }
	}
	s := &Server{opts: o, log: log}
	s.srv = &http.Server{
		Handler: s.Handler(),
		// Slow clients cannot hold a connection open for long: the page is
		// a few small files.
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          zap.NewStdLog(log),
	}
	return s
}

// Handler serves the page at "/" and the embedded assets by name; anything
// else is 404. It is what Start serves, exported for tests.
func (s *Server) Handler() http.Handler {
	assets, _ := fs.Sub(static, "static") // "static" is embedded: cannot fail
	files := http.FileServerFS(assets)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		// The header only changes the address in this requester's own
		// page (never cached), so it needs no trust.
		ws := s.opts.WebSocket(r.Host, r.Header.Get("X-Forwarded-Proto") == "https")
		secure(w.Header(), ws)
		switch name := path.Clean(r.URL.Path); {
		case name == "/" || name == "/index.html":
			s.page(w, r, ws)
		case isAsset(name):
			files.ServeHTTP(w, r)
		default:
			http.NotFound(w, r)
		}
	})
}

// isAsset reports whether name is one of the embedded files the page loads
// (a script, a stylesheet or an image at the top level): http.FileServer
// alone would list directories and serve index.html unrendered.
func isAsset(name string) bool {
	base := strings.TrimPrefix(name, "/")
	if base == "" || strings.Contains(base, "/") || base == "index.html" {
		return false
	}
	switch path.Ext(base) {
	case ".js", ".css", ".svg", ".png", ".ico":
	default:
		return false
	}
	f, err := static.Open("static/" + base)
	if err != nil {
		return false
	}
	_ = f.Close()
	return true
}

// page renders index.html with the WebSocket address.
func (s *Server) page(w http.ResponseWriter, r *http.Request, ws string) {
	var b bytes.Buffer
	if err := indexPage.Execute(&b, struct{ WebSocket string }{ws}); err != nil {
		s.log.Error("render index.html", zap.Error(err))
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	// Rendered per request (the address depends on the Host): never cached.
	h.Set("Cache-Control", "no-store")
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(b.Bytes())
}

// secure sets the headers every response carries. The policy allows
// scripts, styles, images and fonts from this origin only (no inline code,
// no eval: 'unsafe-inline' and 'unsafe-eval' are absent), connections to
// this origin and to the chat's WebSocket address, no plugins, no framing,
// no form posts, no <base> rewriting.
func secure(h http.Header, ws string) {
	connect := "'self'"
	if ws != "" {
		connect += " " + ws
	}
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "+
		"connect-src "+connect+"; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY") // frame-ancestors for browsers that predate it
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
}

// Start binds the listen address and serves in the background.
func (s *Server) Start() error {
	ln, err := net.Listen("tcp", s.opts.Listen)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.ln, s.done = ln, make(chan struct{})
	s.mu.Unlock()
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("web server stopped", zap.Error(err))
		}
	}()
	s.log.Info("web client listening", zap.String("addr", ln.Addr().String()))
	return nil
}

// Addr is the bound address ("" before Start).
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Stop closes the listener and waits for requests in flight, within ctx.
func (s *Server) Stop(ctx context.Context) error {
	s.mu.Lock()
	done := s.done
	s.mu.Unlock()
	if done == nil {
		return nil
	}
	err := s.srv.Shutdown(ctx)
	select {
	case <-done:
	case <-ctx.Done():
	}
	return err
}

// URL returns the WebSocket URL for a page requested at host (its Host
// header). Directly, it is ws:// on the page's host name with the port the
// endpoint is bound at (addr, "host:port" as its listener reports it), so
// the browser reaches the chat by the name it reached the page by
// (localhost, an IP, a DNS name). Behind a proxy that terminated TLS for the
// page (tls), a page on https:// may only open wss://, and the proxy
// forwards path on the page's own host and port to the endpoint
// (docs/OPERATIONS.md): wss://host/path. "" when there is no endpoint or
// host is not a plain name.
func URL(host, addr, path string, tls bool) string {
	_, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" {
		return ""
	}
	name, hostPort := host, ""
	if h, p, err := net.SplitHostPort(host); err == nil {
		name, hostPort = h, p
	}
	name = strings.Trim(name, "[]")
	if name == "" {
		name = "localhost"
	}
	// The Host header is the client's to choose and the URL goes into the
	// Content-Security-Policy header: a name that is not a plain DNS name
	// or IP address (";", spaces, quotes) gets no WebSocket at all.
	if !plainHost(name) || strings.Trim(hostPort, "0123456789") != "" {
		return ""
	}
	if path == "" {
		path = "/"
	}
	if tls {
		if hostPort != "" {
			return "wss://" + net.JoinHostPort(name, hostPort) + path
		}
		if strings.Contains(name, ":") {
			name = "[" + name + "]"
		}
		return "wss://" + name + path
	}
	return "ws://" + net.JoinHostPort(name, port) + path
}

// plainHost reports whether name is a DNS name or an IP address literal:
// letters, digits, '-', '.', and ':' for IPv6.
func plainHost(name string) bool {
	if len(name) > 253 {
		return false
	}
	for _, c := range name {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '.', c == ':':
		default:
			return false
		}
	}
	return true
}
