package transport

import (
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestProxyHeaderSplitByteByByte: a trusted balancer's header arriving one
// byte per read(2) (each byte is written only once the server's kernel has
// acknowledged the previous one and the loop has read it) is assembled
// across reads, and the frame behind it is served with the header's client
// as the peer.
func TestProxyHeaderSplitByteByByte(t *testing.T) {
	ps := startProxyServer(t, []string{"127.0.0.1"}, nil)
	dst6 := netip.MustParseAddrPort("[2001:db8::2]:12345")
	for _, tc := range []struct {
		header []byte
		src    netip.AddrPort
	}{
		{proxyV1(netip.MustParseAddrPort("[2001:db8::1]:40001"), dst6), netip.MustParseAddrPort("[2001:db8::1]:40001")},
		{proxyV2(v2Proxy, netip.MustParseAddrPort("192.0.2.1:40000"), balancer, someTLVs), netip.MustParseAddrPort("192.0.2.1:40000")},
	} {
		before := ps.snapshot()
		c := dial(t, ps.Addr())
		var sc *conn
		eventually(t, 5*time.Second, "the server to register the connection", func() bool {
			for _, x := range ps.snapshot() {
				if !slices.Contains(before, x) {
					sc = x
				}
			}
			return sc != nil
		})
		for i := range tc.header {
			write(t, c, tc.header[i:i+1])
			eventually(t, 5*time.Second, "the byte to be read", func() bool {
				return socketQueue(t, c, unix.SIOCOUTQ) == 0 && ioctlInt(t, sc.fd, unix.SIOCINQ) == 0
			})
		}
		ps.expectAsked(t, tc.src.Addr().String())
		ps.expectServed(t, c, "whole", tc.src.String())
	}
	if st := ps.Stats(); st.ProxyHeader != 0 || st.Refused != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// socketQueue is ioctl req (SIOCOUTQ: bytes not acknowledged by the peer)
// on the client's socket.
func socketQueue(t *testing.T, c net.Conn, req uint) int {
	t.Helper()
	raw, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	n := -1
	if err := raw.Control(func(fd uintptr) { n = ioctlInt(t, int(fd), req) }); err != nil {
		t.Fatal(err)
	}
	return n
}

func ioctlInt(t *testing.T, fd int, req uint) int {
	t.Helper()
	n, err := unix.IoctlGetInt(fd, req)
	if err != nil {
		t.Fatalf("ioctl %#x: %v", req, err)
	}
	return n
}
