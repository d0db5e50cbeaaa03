package transport

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/Allenxuxu/ringbuffer"

	"github.com/parley-im/parley/config"
	"github.com/parley-im/parley/session"
	"github.com/parley-im/parley/wire"
)

// balancer is the address the test balancer (this test, over loopback)
// forwards to, as a PROXY header's destination.
var balancer = netip.MustParseAddrPort("127.0.0.1:12345")

// proxyV1 is a v1 header naming src (TCP4 or TCP6 by its family).
func proxyV1(src, dst netip.AddrPort) []byte {
	proto := "TCP4"
	if src.Addr().Is6() {
		proto = "TCP6"
	}
	return fmt.Appendf(nil, "PROXY %s %s %s %d %d\r\n", proto, src.Addr(), dst.Addr(), src.Port(), dst.Port())
}

// v2 commands.
const (
	v2Local = 0x20
	v2Proxy = 0x21
)

// proxyV2 is a v2 header with command cmd naming src (TCP over its family),
// followed by tlvs. An invalid src gives the UNSPEC family.
func proxyV2(cmd byte, src, dst netip.AddrPort, tlvs []byte) []byte {
	var fam byte
	var addrs []byte
	switch {
	case !src.IsValid():
	case src.Addr().Is4():
		fam = 0x11
		s, d := src.Addr().As4(), dst.Addr().Unmap().As4()
		addrs = append(append(addrs, s[:]...), d[:]...)
	default:
		fam = 0x21
		s, d := src.Addr().As16(), dst.Addr().As16()
		addrs = append(append(addrs, s[:]...), d[:]...)
	}
	if src.IsValid() {
		addrs = binary.BigEndian.AppendUint16(addrs, src.Port())
		addrs = binary.BigEndian.AppendUint16(addrs, dst.Port())
	}
	b := append([]byte{}, proxyV2Sig...)
	b = append(b, cmd, fam)
	b = binary.BigEndian.AppendUint16(b, uint16(len(addrs)+len(tlvs)))
	return append(append(b, addrs...), tlvs...)
}

// someTLVs are what HAProxy may append (an ALPN and a unique id): skipped.
var someTLVs = []byte{0x01, 0x00, 0x02, 'h', '2', 0x05, 0x00, 0x04, 'a', 'b', 'c', 'd'}

func TestProxyHeaderParse(t *testing.T) {
	v4 := netip.MustParseAddrPort("192.0.2.1:40000")
	v6 := netip.MustParseAddrPort("[2001:db8::1]:40001")
	dst6 := netip.MustParseAddrPort("[2001:db8::2]:12345")
	mapped := netip.AddrPortFrom(netip.AddrFrom16(v4.Addr().As16()), 7)
	none := netip.AddrPort{}
	for _, tc := range []struct {
		name string
		in   []byte
		src  netip.AddrPort // none: keeps the TCP peer
		err  string         // "" when valid
	}{
		{"v1 tcp4", proxyV1(v4, balancer), v4, ""},
		{"v1 tcp6", proxyV1(v6, dst6), v6, ""},
		{"v1 longest", []byte("PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n"),
			netip.MustParseAddrPort("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535"), ""},
		{"v1 unknown", []byte("PROXY UNKNOWN\r\n"), none, ""},
		{"v1 unknown with addresses", []byte("PROXY UNKNOWN 1.2.3.4 5.6.7.8 1 2\r\n"), none, ""},
		{"v2 tcp4", proxyV2(v2Proxy, v4, balancer, nil), v4, ""},
		{"v2 tcp6 with TLVs", proxyV2(v2Proxy, v6, dst6, someTLVs), v6, ""},
		{"v2 tcp6 v4-mapped", proxyV2(v2Proxy, mapped, dst6, nil), netip.AddrPortFrom(v4.Addr(), 7), ""},
		{"v2 local", proxyV2(v2Local, none, none, nil), none, ""},
		{"v2 local with addresses", proxyV2(v2Local, v4, balancer, someTLVs), none, ""},
		{"v2 unspec", proxyV2(v2Proxy, none, none, someTLVs), none, ""},
		{"v2 udp4", append(append([]byte{}, proxyV2Sig...), 0x21, 0x12, 0, 12, 1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2), none, ""},

		{"no header: a frame", frames([]byte(`{"type":"ping"}`)), none, "no PROXY protocol header"},
		{"no header: text", []byte("GET / HTTP/1.1\r\n"), none, "no PROXY protocol header"},
		{"v1 lower case", []byte("proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n"), none, "no PROXY protocol header"},
		{"v1 bare LF", []byte("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n"), none, "not ended by CRLF"},
		{"v1 too long", append([]byte("PROXY UNKNOWN "), bytes.Repeat([]byte{'x'}, 100)...), none, "no CRLF within 107"},
		{"v1 missing port", []byte("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n"), none, "want 5 fields"},
		{"v1 double space", []byte("PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n"), none, "want 5 fields"},
		{"v1 family mismatch", []byte("PROXY TCP4 2001:db8::1 5.6.7.8 1 2\r\n"), none, "bad address"},
		{"v1 v4 as TCP6", []byte("PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n"), none, "bad address"},
		{"v1 leading zero octet", []byte("PROXY TCP4 1.2.3.04 5.6.7.8 1 2\r\n"), none, "bad address"},
		{"v1 zone", []byte("PROXY TCP6 fe80::1%eth0 fe80::2 1 2\r\n"), none, "bad address"},
		{"v1 port too big", []byte("PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n"), none, "bad port"},
		{"v1 port sign", []byte("PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n"), none, "bad port"},
		{"v1 port leading zero", []byte("PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n"), none, "bad port"},
		{"v1 udp", []byte("PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n"), none, "unknown protocol"},
		{"v1 unknownX", []byte("PROXY UNKNOWNX\r\n"), none, "want 5 fields"},
		{"v2 bad signature", append([]byte("\r\n\r\n\x00\r\nQUIX\n"), 0x21, 0x11, 0, 12), none, "no PROXY protocol header"},
		{"v2 version 1", append(append([]byte{}, proxyV2Sig...), 0x11, 0x11, 0, 0), none, "bad version/command"},
		{"v2 command 2", append(append([]byte{}, proxyV2Sig...), 0x22, 0x11, 0, 0), none, "bad version/command"},
		{"v2 family 4", append(append([]byte{}, proxyV2Sig...), 0x21, 0x41, 0, 0), none, "bad address family"},
		{"v2 transport 3", append(append([]byte{}, proxyV2Sig...), 0x21, 0x13, 0, 12), none, "bad address family"},
		{"v2 short tcp4", append(append([]byte{}, proxyV2Sig...), 0x21, 0x11, 0, 11), none, "11 address bytes"},
		{"v2 short tcp6", append(append([]byte{}, proxyV2Sig...), 0x21, 0x21, 0, 12), none, "12 address bytes"},
		{"v2 short unix", append(append([]byte{}, proxyV2Sig...), 0x21, 0x31, 0, 100), none, "100 address bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Whole, with a frame behind it, then a byte at a time: the same.
			next := frames([]byte("next"))
			for _, split := range []bool{false, true} {
				var h proxyHeader
				stream := append(append([]byte{}, tc.in...), next...)
				used, err := feedHeader(&h, stream, split)
				if tc.err != "" {
					if err == nil || !strings.Contains(err.Error(), tc.err) {
						t.Fatalf("split %v: err %v, want %q", split, err, tc.err)
					}
					continue
				}
				if err != nil || !h.done || used != len(tc.in) || h.src != tc.src {
					t.Fatalf("split %v: used %d of %d, done %v, src %v (want %v), err %v", split, used, len(tc.in), h.done, h.src, tc.src, err)
				}
			}
		})
	}
}

// feedHeader feeds stream whole, or a byte per call, until the header is
// done or fails; it returns the bytes used.
func feedHeader(h *proxyHeader, stream []byte, byteByByte bool) (int, error) {
	if !byteByByte {
		return h.feed(stream)
	}
	used := 0
	for used < len(stream) && !h.done {
		n, err := h.feed(stream[used : used+1])
		used += n
		if err != nil {
			return used, err
		}
	}
	return used, nil
}

// FuzzProxyHeader: any input, cut anywhere, gives the same outcome as fed
// whole (bytes used, done, source, error or not), never uses more than a
// v1 line or the v2 length says, and never panics.
func FuzzProxyHeader(f *testing.F) {
	v4 := netip.MustParseAddrPort("192.0.2.1:40000")
	v6 := netip.MustParseAddrPort("[2001:db8::1]:40001")
	f.Add(proxyV1(v4, balancer), uint8(7))
	f.Add(proxyV1(v6, v6), uint8(30))
	f.Add([]byte("PROXY UNKNOWN\r\n"), uint8(1))
	f.Add(append(proxyV2(v2Proxy, v4, balancer, someTLVs), 'x'), uint8(13))
	f.Add(proxyV2(v2Proxy, v6, v6, nil), uint8(16))
	f.Add(proxyV2(v2Local, netip.AddrPort{}, netip.AddrPort{}, someTLVs), uint8(15))
	f.Add(frames([]byte("x")), uint8(2))
	f.Fuzz(func(t *testing.T, in []byte, cut uint8) {
		var whole, split proxyHeader
		used, err := whole.feed(in)
		k := min(int(cut), len(in))
		sUsed, sErr := split.feed(in[:k])
		if sErr == nil && !split.done {
			var m int
			m, sErr = split.feed(in[k:])
			sUsed += m
		}
		if used != sUsed || (err == nil) != (sErr == nil) || whole.done != split.done || whole.src != split.src {
			t.Fatalf("whole: used %d done %v src %v err %v; cut at %d: used %d done %v src %v err %v",
				used, whole.done, whole.src, err, k, sUsed, split.done, split.src, sErr)
		}
		if err != nil || !whole.done {
			return
		}
		switch in[0] {
		case 'P':
			if used > proxyV1Max || !bytes.HasSuffix(in[:used], []byte("\r\n")) {
				t.Fatalf("v1 header of %d bytes: %q", used, in[:used])
			}
		default:
			if want := proxyV2Fixed + int(binary.BigEndian.Uint16(in[14:16])); used != want {
				t.Fatalf("v2 header used %d bytes, its length says %d", used, want)
			}
		}
	})
}

// proxyServer runs a server whose balancer (trusted) is the loopback
// address the tests dial from, recording the peer of every served frame and
// the addresses the accept check was asked about (it refuses refuseIP).
type proxyServer struct {
	*Server
	peers  chan string // Session.Peer of each served frame
	asked  chan string // accept check arguments
	refuse string
}

func startProxyServer(t *testing.T, trusted []string, mutate func(*config.Transport)) *proxyServer {
	t.Helper()
	cfg := testConfig()
	cfg.ProxyTrusted = trusted
	if mutate != nil {
		mutate(&cfg)
	}
	ps := &proxyServer{peers: make(chan string, 64), asked: make(chan string, 64), refuse: "192.0.2.66"}
	srv, err := New(cfg, "127.0.0.1:0", session.NewRegistry(), serveFunc(func(_ context.Context, s *session.Session, body []byte) {
		ps.peers <- s.Peer()
		_ = s.Send(body)
	}), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	srv.SetAcceptCheck(func(ip string) bool { ps.asked <- ip; return ip != ps.refuse })
	srv.Start()
	stopAtCleanup(t, srv)
	ps.Server = srv
	return ps
}

// expectServed sends body on c and checks the echo and the peer the
// session had when serving it.
func (ps *proxyServer) expectServed(t *testing.T, c net.Conn, body, peer string) {
	t.Helper()
	write(t, c, frames([]byte(body)))
	ps.expectEcho(t, c, body, peer)
}

func (ps *proxyServer) expectEcho(t *testing.T, c net.Conn, body, peer string) {
	t.Helper()
	if got := readFrame(t, c); string(got) != body {
		t.Fatalf("got %q, want the echo %q", got, body)
	}
	if got := <-ps.peers; got != peer {
		t.Fatalf("served with peer %s, want %s", got, peer)
	}
}

func (ps *proxyServer) expectAsked(t *testing.T, ip string) {
	t.Helper()
	select {
	case got := <-ps.asked:
		if got != ip {
			t.Fatalf("accept check asked about %s, want %s", got, ip)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("accept check not asked about %s", ip)
	}
}

// TestProxyHeaderNamesTheClient: a trusted balancer's v1 and v2 headers,
// IPv4 and IPv6, each written in one write with the first frame behind it:
// the per-address accept check is asked about the client the header names
// (never about the balancer), and that client is the session's peer.
func TestProxyHeaderNamesTheClient(t *testing.T) {
	ps := startProxyServer(t, []string{"127.0.0.0/8"}, nil)
	dst6 := netip.MustParseAddrPort("[2001:db8::2]:12345")
	for i, tc := range []struct {
		name   string
		header func(src netip.AddrPort) []byte
		src    netip.AddrPort
	}{
		{"v1 IPv4", func(s netip.AddrPort) []byte { return proxyV1(s, balancer) }, netip.MustParseAddrPort("192.0.2.1:40000")},
		{"v1 IPv6", func(s netip.AddrPort) []byte { return proxyV1(s, dst6) }, netip.MustParseAddrPort("[2001:db8::1]:40001")},
		{"v2 IPv4", func(s netip.AddrPort) []byte { return proxyV2(v2Proxy, s, balancer, nil) }, netip.MustParseAddrPort("198.51.100.7:40002")},
		{"v2 IPv6 with TLVs", func(s netip.AddrPort) []byte { return proxyV2(v2Proxy, s, dst6, someTLVs) }, netip.MustParseAddrPort("[2001:db8:1::9]:40003")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, ps.Addr())
			body := fmt.Sprintf(`{"type":"ping","seq":%d}`, i)
			write(t, c, append(tc.header(tc.src), frames([]byte(body))...))
			ps.expectAsked(t, tc.src.Addr().String())
			ps.expectEcho(t, c, body, tc.src.String())
			ps.expectServed(t, c, "again", tc.src.String())
		})
	}
	if st := ps.Stats(); st.Accepted != 4 || st.Frames != 8 || st.Refused != 0 || st.ProxyHeader != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestProxyHeaderKeepsPeerWithoutClient: a v2 LOCAL header (a balancer's
// health check) and a v1 UNKNOWN one name no client; the connection keeps
// its TCP peer, which the accept check is then asked about.
func TestProxyHeaderKeepsPeerWithoutClient(t *testing.T) {
	ps := startProxyServer(t, []string{"127.0.0.1"}, nil)
	for _, header := range [][]byte{
		proxyV2(v2Local, netip.AddrPort{}, netip.AddrPort{}, nil),
		proxyV2(v2Local, netip.MustParseAddrPort("192.0.2.1:1"), balancer, someTLVs),
		[]byte("PROXY UNKNOWN\r\n"),
	} {
		c := dial(t, ps.Addr())
		write(t, c, header)
		ps.expectAsked(t, "127.0.0.1")
		ps.expectServed(t, c, "check", c.LocalAddr().String())
	}
}

// TestProxyHeaderFromUntrustedPeerIsNotHonoured: with a trusted set that
// does not hold the loopback client, its PROXY headers are bytes like any
// other: read as a length prefix, far above max_frame, they close it as an
// oversized frame; nothing is served and the accept check saw only the TCP
// peer.
func TestProxyHeaderFromUntrustedPeerIsNotHonoured(t *testing.T) {
	ps := startProxyServer(t, []string{"10.0.0.0/8", "2001:db8::/32"}, nil)
	src := netip.MustParseAddrPort("192.0.2.1:40000")
	for _, header := range [][]byte{proxyV1(src, balancer), proxyV2(v2Proxy, src, balancer, nil)} {
		c := dial(t, ps.Addr())
		write(t, c, append(header, frames([]byte("hi"))...))
		ps.expectAsked(t, "127.0.0.1")
		expectClosed(t, c, 5*time.Second)
	}
	if st := ps.Stats(); st.Oversize != 2 || st.Frames != 0 || st.ProxyHeader != 0 {
		t.Fatalf("stats %+v", st)
	}
	// And a plain client of the untrusted peer is served as itself.
	c := dial(t, ps.Addr())
	ps.expectAsked(t, "127.0.0.1")
	ps.expectServed(t, c, "plain", c.LocalAddr().String())
}

// TestProxyHeaderMissingOrBadClosesOnlyThatConnection: from a trusted
// balancer, a connection that starts with a frame, with a malformed header,
// with half a header, or with nothing at all is closed (the last two when
// frame_timeout passes), and a proxied client connected throughout is
// served before, during and after.
func TestProxyHeaderMissingOrBadClosesOnlyThatConnection(t *testing.T) {
	ps := startProxyServer(t, []string{"127.0.0.1"}, func(c *config.Transport) { c.FrameTimeout = 300 * time.Millisecond })
	src := netip.MustParseAddrPort("192.0.2.1:40000")
	good := dial(t, ps.Addr())
	write(t, good, proxyV2(v2Proxy, src, balancer, nil))
	ps.expectAsked(t, src.Addr().String())
	ps.expectServed(t, good, "before", src.String())

	full := proxyV2(v2Proxy, src, balancer, someTLVs)
	for _, start := range [][]byte{
		frames([]byte(`{"type":"ping"}`)),                                     // no header
		[]byte("PROXY TCP4 192.0.2.1 127.0.0.1 40000\r\n"),                    // a field short
		append(append([]byte{}, proxyV2Sig...), 0x21, 0x11, 0, 4, 1, 2, 3, 4), // addresses cut short by the length
		full[:20], // half a header: times out
		nil,       // nothing: times out
	} {
		c := dial(t, ps.Addr())
		if start != nil {
			write(t, c, start)
		}
		expectClosed(t, c, 5*time.Second)
		ps.expectServed(t, good, "during", src.String())
	}
	if st := ps.Stats(); st.ProxyHeader != 5 || st.FrameTimeout != 0 || st.Conns != 1 {
		t.Fatalf("stats %+v", st)
	}
	ps.expectServed(t, good, "after", src.String())
	select {
	case ip := <-ps.asked:
		t.Fatalf("accept check asked about %s for a connection without a valid header", ip)
	default:
	}
}

// TestProxyHeaderClientRefused: the accept check refusing the client a
// header names answers it like a refusal at accept (an overloaded error
// frame, then close) and leaves the balancer's other clients alone.
func TestProxyHeaderClientRefused(t *testing.T) {
	ps := startProxyServer(t, []string{"127.0.0.1"}, nil)
	bad := netip.AddrPortFrom(netip.MustParseAddr(ps.refuse), 1)
	c := dial(t, ps.Addr())
	write(t, c, append(proxyV1(bad, balancer), frames([]byte("hi"))...))
	ps.expectAsked(t, ps.refuse)
	if code := errorCode(t, readFrame(t, c)); code != wire.CodeOverloaded {
		t.Fatalf("code %q", code)
	}
	expectClosed(t, c, 5*time.Second)
	ok := netip.MustParseAddrPort("192.0.2.1:2")
	c2 := dial(t, ps.Addr())
	write(t, c2, proxyV1(ok, balancer))
	ps.expectAsked(t, ok.Addr().String())
	ps.expectServed(t, c2, "fine", ok.String())
	if st := ps.Stats(); st.Refused != 1 || st.Frames != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// firstReads are the first reads BenchmarkUnPacketFirstRead compares: one
// frame, alone or behind a PROXY header (v1, v2 with TLVs).
func firstReads() (names []string, reads [][]byte) {
	frame := frames([]byte(`{"type":"login","username":"alice","password":"secret"}`))
	src := netip.MustParseAddrPort("192.0.2.1:40000")
	for _, h := range []struct {
		name   string
		header []byte
	}{
		{"plain", nil},
		{"proxy-v1", proxyV1(src, balancer)},
		{"proxy-v2", proxyV2(v2Proxy, src, balancer, someTLVs)},
	} {
		names = append(names, h.name)
		reads = append(reads, append(append([]byte{}, h.header...), frame...))
	}
	return names, reads
}

// unpackFirstRead runs a new connection's UnPacket over its first read.
func unpackFirstRead(b *testing.B, srv *Server, buf *ringbuffer.RingBuffer, read []byte, proxied bool) {
	c := &conn{srv: srv}
	c.sess = session.New(1, "127.0.0.1:1", c)
	if proxied {
		c.awaitProxyHeader()
	}
	_, _ = buf.Write(read)
	if ctx, _ := c.unpack(buf); ctx != frameReady || !buf.IsEmpty() {
		b.Fatal("no frame")
	}
}

// BenchmarkUnPacketFirstRead is the first read of a connection through the
// server's UnPacket (a new conn and session included), per variant of
// firstReads. The header is read once per connection, so the difference is
// the whole per-connection cost of the PROXY protocol.
func BenchmarkUnPacketFirstRead(b *testing.B) {
	names, reads := firstReads()
	for i, name := range names {
		b.Run(name, func(b *testing.B) {
			srv := &Server{partial: partialBudget{limit: 1 << 30}}
			srv.cfg.maxFrame = 1 << 20
			buf := ringbuffer.New(4096)
			b.ReportAllocs()
			for range b.N {
				unpackFirstRead(b, srv, buf, reads[i], i > 0)
			}
		})
	}
}

// BenchmarkUnPacketFirstReadRatio runs the variants of firstReads in turn
// within each iteration, timing each, so that on a loaded machine all of
// them see the same load; it reports each one's ns and the ratios to plain.
func BenchmarkUnPacketFirstReadRatio(b *testing.B) {
	names, reads := firstReads()
	srv := &Server{partial: partialBudget{limit: 1 << 30}}
	srv.cfg.maxFrame = 1 << 20
	buf := ringbuffer.New(4096)
	spent := make([]time.Duration, len(reads))
	for range b.N {
		for i, read := range reads {
			t0 := time.Now()
			unpackFirstRead(b, srv, buf, read, i > 0)
			spent[i] += time.Since(t0)
		}
	}
	for i, name := range names {
		b.ReportMetric(float64(spent[i].Nanoseconds())/float64(b.N), name+"-ns")
		if i > 0 {
			b.ReportMetric(float64(spent[i])/float64(spent[0]), name+"/plain")
		}
	}
}
