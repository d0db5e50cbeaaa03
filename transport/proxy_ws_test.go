package transport

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/parley-im/parley/config"
	"github.com/parley-im/parley/session"
)

// TestProxyHeaderOnWebSocketListener: behind a balancer the PROXY header
// comes before the upgrade request. Sent in one write with it, the header's
// client is the session's peer; a trusted peer that starts with the upgrade
// request instead is closed, and the accept check refusing the named
// client gets an HTTP answer, not a frame.
func TestProxyHeaderOnWebSocketListener(t *testing.T) {
	cfg := testConfig()
	cfg.ProxyTrusted = []string{"127.0.0.0/8"}
	peers := make(chan string, 8)
	srv, err := New(cfg, "127.0.0.1:0", session.NewRegistry(), serveFunc(func(_ context.Context, s *session.Session, body []byte) {
		peers <- s.Peer()
		_ = s.Send(body)
	}), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	srv.SetAcceptCheck(func(ip string) bool { return ip != "192.0.2.66" })
	if err := srv.ListenWebSocket(config.Web{WSListen: "127.0.0.1:0"}); err != nil {
		t.Fatal(err)
	}
	srv.Start()
	stopAtCleanup(t, srv)
	addr := srv.WSAddr()

	src := netip.MustParseAddrPort("198.51.100.7:40002")
	w, resp := dialRawWS(t, addr, string(proxyV2(v2Proxy, src, balancer, nil))+upgradeRequest(addr, ""))
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake behind the balancer: %s", resp.Status)
	}
	w.echoOK(`{"type":"ping"}`)
	if got := <-peers; got != src.String() {
		t.Fatalf("served with peer %s, want the header's %s", got, src)
	}

	// No header from a trusted balancer: the upgrade request is not one.
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(upgradeRequest(addr, ""))); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.Copy(io.Discard, c); err != nil {
		t.Fatalf("a trusted peer without a PROXY header was not closed: %v", err)
	}

	// A refused client named by the header gets an HTTP 503.
	refused := netip.MustParseAddrPort("192.0.2.66:5000")
	r, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.Write(append(proxyV1(refused, balancer), upgradeRequest(addr, "")...)); err != nil {
		t.Fatal(err)
	}
	_ = r.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err = http.ReadResponse(bufio.NewReader(r), nil)
	if err != nil {
		t.Fatalf("refused client: %v", err)
	}
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("refused client got %s, want 503", resp.Status)
	}
	if st := srv.Stats(); st.ProxyHeader != 1 || st.Refused != 1 {
		t.Fatalf("stats: ProxyHeader %d Refused %d, want 1 and 1", st.ProxyHeader, st.Refused)
	}
}
