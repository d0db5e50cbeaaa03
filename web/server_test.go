package web

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, method, target, host string) *http.Response {
	t.Helper()
	r := httptest.NewRequest(method, target, nil)
	if host != "" {
		r.Host = host
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Result()
}

func body(t *testing.T, r *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The page carries the WebSocket address in its meta tag and in the CSP's
// connect-src, and every response has the fencing headers.
func TestPageAndHeaders(t *testing.T) {
	h := New(Options{WebSocket: func(host string, tls bool) string { return URL(host, "[::]:8081", "/ws", tls) }}).Handler()
	r := get(t, h, http.MethodGet, "/", "chat.example.com:8080")
	if r.StatusCode != http.StatusOK || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /: %d %s", r.StatusCode, r.Header.Get("Content-Type"))
	}
	page := body(t, r)
	if !strings.Contains(page, `<meta name="parley-websocket" content="ws://chat.example.com:8081/ws">`) {
		t.Fatalf("no WebSocket address in the page:\n%s", page)
	}
	// Behind a TLS proxy: wss:// on the page's own host.
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Host = "chat.example.com"
	req.Header.Set("X-Forwarded-Proto", "https")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if csp := w.Result().Header.Get("Content-Security-Policy"); !strings.Contains(csp, "connect-src 'self' wss://chat.example.com/ws;") ||
		!strings.Contains(w.Body.String(), `content="wss://chat.example.com/ws"`) {
		t.Errorf("behind TLS: CSP %q", csp)
	}
	csp := r.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'self'", "script-src 'self';", "style-src 'self';",
		"connect-src 'self' ws://chat.example.com:8081/ws;", "frame-ancestors 'none'", "object-src 'none'", "base-uri 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	for _, bad := range []string{"unsafe-inline", "unsafe-eval", "*"} {
		if strings.Contains(csp, bad) {
			t.Errorf("CSP %q allows %q", csp, bad)
		}
	}
	for k, v := range map[string]string{"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY", "Cache-Control": "no-store"} {
		if got := r.Header.Get(k); got != v {
			t.Errorf("%s: %q, want %q", k, got, v)
		}
	}
	// No inline script or style in the page: the CSP would refuse them.
	for _, inline := range []string{"<script>", "<style", " style=", " onclick=", " onload="} {
		if strings.Contains(page, inline) {
			t.Errorf("page has inline %q", inline)
		}
	}
}

// Assets are served with their types and the same headers; anything else is
// 404, including the template unrendered, directories and dot-dot paths.
func TestAssetsOnly(t *testing.T) {
	h := New(Options{}).Handler()
	for path, ctype := range map[string]string{"/app.js": "text/javascript", "/conn.js": "text/javascript", "/dom.js": "text/javascript", "/style.css": "text/css", "/favicon.svg": "image/svg+xml"} {
		r := get(t, h, http.MethodGet, path, "")
		if r.StatusCode != http.StatusOK || !strings.HasPrefix(r.Header.Get("Content-Type"), ctype) || r.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: %d %q", path, r.StatusCode, r.Header.Get("Content-Type"))
		}
	}
	for _, path := range []string{"/static/app.js", "/nope.js", "/static/", "/../server.go", "/index.html/", "/.", "/x/app.js"} {
		r := get(t, h, http.MethodGet, path, "")
		if r.StatusCode == http.StatusOK && path != "/." && path != "/index.html/" {
			t.Errorf("%s: %d, want 404", path, r.StatusCode)
		}
		if b := body(t, r); strings.Contains(b, "{{") {
			t.Errorf("%s served the template unrendered", path)
		}
	}
	if r := get(t, h, http.MethodPost, "/", ""); r.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /: %d", r.StatusCode)
	}
	// Without a WebSocket endpoint the page says so (empty address).
	if page := body(t, get(t, h, http.MethodGet, "/", "")); !strings.Contains(page, `content=""`) {
		t.Errorf("page without WebSocket:\n%s", page)
	}
}

// The Host header is the client's: one that is not a plain name gets no
// WebSocket address, so nothing it holds reaches the CSP header.
func TestURL(t *testing.T) {
	for _, c := range []struct {
		host, addr string
		tls        bool
		want       string
	}{
		{"localhost:8080", "[::]:8081", false, "ws://localhost:8081/ws"},
		{"127.0.0.1:8080", "127.0.0.1:9000", false, "ws://127.0.0.1:9000/ws"},
		{"[::1]:8080", "[::]:8081", false, "ws://[::1]:8081/ws"},
		{"example.com", "[::]:8081", false, "ws://example.com:8081/ws"},
		{"", "[::]:8081", false, "ws://localhost:8081/ws"},
		{"chat.example.com", "[::]:8081", true, "wss://chat.example.com/ws"},
		{"chat.example.com:8443", "[::]:8081", true, "wss://chat.example.com:8443/ws"},
		{"evil; script-src *", "[::]:8081", false, ""},
		{"a'b:8080", "[::]:8081", false, ""},
		{"a:80;x", "[::]:8081", true, ""},
		{"localhost:8080", "", false, ""},
	} {
		if got := URL(c.host, c.addr, "/ws", c.tls); got != c.want {
			t.Errorf("URL(%q, %q, tls %v) = %q, want %q", c.host, c.addr, c.tls, got, c.want)
		}
	}
	h := New(Options{WebSocket: func(host string, tls bool) string { return URL(host, "[::]:8081", "/ws", tls) }}).Handler()
	r := get(t, h, http.MethodGet, "/", "x;script-src")
	if csp := r.Header.Get("Content-Security-Policy"); strings.Contains(csp, "x;") || !strings.Contains(csp, "connect-src 'self';") {
		t.Fatalf("CSP with a hostile Host: %q", csp)
	}
}
