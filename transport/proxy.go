package transport

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/Allenxuxu/ringbuffer"
	"go.uber.org/zap"

	"github.com/parley-im/parley/config"
	"github.com/parley-im/parley/wire"
)

// The PROXY protocol (HAProxy's proxy-protocol.txt, v1 and v2).
//
// Behind a TCP load balancer every connection comes from the balancer, so
// per-address limits would throttle it as one client. A balancer listed in
// transport.proxy_trusted sends, before anything else, a header naming the
// client; the session's peer becomes that client. Only trusted peers are
// read this way: from anyone else the same bytes are an ordinary (and, as a
// length prefix, oversized) frame, so a client cannot choose its address.
//
// The header is parsed from gev's ring buffer inside UnPacket, a piece at a
// time as reads bring it (it may be split anywhere, and may share a read with
// the first frame). Nothing of it is held in gev's buffer: the bytes needed
// to decide are copied into the connection's proxyHeader (at most 107 for
// v1, 52 for v2), and v2's TLVs are skipped as they arrive, never stored. A
// header missing, malformed, or not complete within transport.frame_timeout
// of the connection's start closes that connection only.
//
// github.com/pires/go-proxyproto was considered: v0.16.0 needs a newer Go
// than this module's, and its reader blocks on a bufio.Reader, which a gev
// loop cannot do; this parser is small, strict, and fuzzed
// (FuzzProxyHeader).

// Sizes fixed by the specification.
const (
	proxyV1Max   = 107 // the longest v1 line, "\r\n" included
	proxyV2Fixed = 16  // signature, version/command, family, length
	proxyV2Inet  = 12  // two IPv4 addresses and two ports
	proxyV2Inet6 = 36  // two IPv6 addresses and two ports
	proxyV2Unix  = 216 // two socket paths
)

var (
	proxyV1Sig = []byte("PROXY ")
	proxyV2Sig = []byte("\r\n\r\n\x00\r\nQUIT\n")
)

// proxyHeader reads one PROXY header fed in pieces. Once done, src is the
// client it names, or the invalid AddrPort when it names none (v2 LOCAL, a
// health check of the balancer itself; v1 UNKNOWN; v2 UNSPEC or a non-TCP
// family), and the connection keeps its TCP peer.
type proxyHeader struct {
	buf  [proxyV1Max]byte // the bytes read so far, up to the addresses
	n    int
	want int // v2: bytes to collect into buf (proxyV2Fixed, then the addresses too)
	skip int // v2: bytes after buf still to pass over (TLVs, unused addresses)
	done bool
	src  netip.AddrPort
}

// errNoProxyHeader is what a trusted peer gets for not starting with one.
var errNoProxyHeader = errors.New("no PROXY protocol header from a trusted peer")

// feed consumes header bytes from the front of b and returns how many it
// used: all of b while the header is incomplete, fewer once it is done
// (the rest is the client's first frame). An error means the stream is not
// a valid header; nothing more may be fed then.
func (h *proxyHeader) feed(b []byte) (int, error) {
	used := 0
	for used < len(b) && !h.done {
		if h.skip > 0 && h.n >= h.want { // v2, once buf holds what it needs
			k := min(h.skip, len(b)-used)
			used += k
			h.skip -= k
			h.done = h.skip == 0
			continue
		}
		h.buf[h.n] = b[used]
		h.n++
		used++
		if err := h.step(); err != nil {
			return used, err
		}
	}
	return used, nil
}

// step checks the byte just appended to buf.
func (h *proxyHeader) step() error {
	n, c := h.n, h.buf[h.n-1]
	switch h.buf[0] {
	case proxyV1Sig[0]:
		switch {
		case n <= len(proxyV1Sig):
			if c != proxyV1Sig[n-1] {
				return errNoProxyHeader
			}
		case c == '\n':
			if h.buf[n-2] != '\r' {
				return errors.New("PROXY v1: line not ended by CRLF")
			}
			return h.parseV1(h.buf[len(proxyV1Sig) : n-2])
		case n == proxyV1Max:
			return fmt.Errorf("PROXY v1: no CRLF within %d bytes", proxyV1Max)
		}
	case proxyV2Sig[0]:
		switch {
		case n <= len(proxyV2Sig):
			if c != proxyV2Sig[n-1] {
				return errNoProxyHeader
			}
		case n == proxyV2Fixed:
			return h.parseV2Fixed()
		case n == h.want:
			h.parseV2Addrs()
		}
	default:
		return errNoProxyHeader
	}
	return nil
}

// parseV1 reads the line between "PROXY " and CRLF: "TCP4 src dst sport
// dport", the same with TCP6, or "UNKNOWN" and anything (ignored).
func (h *proxyHeader) parseV1(line []byte) error {
	if rest, ok := bytes.CutPrefix(line, []byte("UNKNOWN")); ok && (len(rest) == 0 || rest[0] == ' ') {
		h.done = true
		return nil
	}
	var f [5][]byte
	rest, more := line, true
	for i := range f {
		if !more {
			return fmt.Errorf("PROXY v1: want 5 fields after PROXY, got %q", line)
		}
		f[i], rest, more = bytes.Cut(rest, []byte(" "))
	}
	if more {
		return fmt.Errorf("PROXY v1: want 5 fields after PROXY, got %q", line)
	}
	var v6 bool
	switch string(f[0]) {
	case "TCP4":
	case "TCP6":
		v6 = true
	default:
		return fmt.Errorf("PROXY v1: unknown protocol %q", f[0])
	}
	src, err1 := v1Addr(f[1], v6)
	_, err2 := v1Addr(f[2], v6)
	sport, err3 := v1Port(f[3])
	_, err4 := v1Port(f[4])
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return fmt.Errorf("PROXY v1: %w", err)
	}
	h.src = netip.AddrPortFrom(src.Unmap(), sport)
	h.done = true
	return nil
}

func v1Addr(b []byte, v6 bool) (netip.Addr, error) {
	a, err := netip.ParseAddr(string(b))
	if err != nil || a.Zone() != "" || a.Is6() != v6 {
		return netip.Addr{}, fmt.Errorf("bad address %q", b)
	}
	return a, nil
}

// v1Port reads a decimal port: digits only, no sign, no leading zero.
func v1Port(b []byte) (uint16, error) {
	if len(b) == 0 || len(b) > 5 || (b[0] == '0' && len(b) > 1) {
		return 0, fmt.Errorf("bad port %q", b)
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("bad port %q", b)
		}
		n = n*10 + int(c-'0')
	}
	if n > 0xFFFF {
		return 0, fmt.Errorf("bad port %q", b)
	}
	return uint16(n), nil
}

// parseV2Fixed reads version/command, family and length, and decides what
// to collect (the addresses of a TCP client) and what to skip.
func (h *proxyHeader) parseV2Fixed() error {
	verCmd, fam := h.buf[12], h.buf[13]
	length := int(binary.BigEndian.Uint16(h.buf[14:16]))
	if verCmd>>4 != 2 || verCmd&0xF > 1 {
		return fmt.Errorf("PROXY v2: bad version/command byte %#02x", verCmd)
	}
	var need int
	switch fam {
	case 0x00: // UNSPEC
	case 0x11, 0x12: // TCP, UDP over IPv4
		need = proxyV2Inet
	case 0x21, 0x22: // TCP, UDP over IPv6
		need = proxyV2Inet6
	case 0x31, 0x32: // UNIX stream, datagram
		need = proxyV2Unix
	default:
		return fmt.Errorf("PROXY v2: bad address family byte %#02x", fam)
	}
	local := verCmd&0xF == 0
	if !local && length < need {
		return fmt.Errorf("PROXY v2: %d address bytes, family %#02x needs %d", length, fam, need)
	}
	h.want, h.skip = proxyV2Fixed, length
	if !local && (fam == 0x11 || fam == 0x21) {
		// A TCP client: collect its addresses; the rest (TLVs) is skipped.
		h.want, h.skip = proxyV2Fixed+need, length-need
		return nil
	}
	h.done = length == 0
	return nil
}

// parseV2Addrs reads the source of a TCP client once its addresses are in.
func (h *proxyHeader) parseV2Addrs() {
	var src netip.Addr
	var port []byte
	if h.buf[13] == 0x11 {
		src = netip.AddrFrom4([4]byte(h.buf[16:20]))
		port = h.buf[24:26]
	} else {
		src = netip.AddrFrom16([16]byte(h.buf[16:32])).Unmap()
		port = h.buf[48:50]
	}
	h.src = netip.AddrPortFrom(src, binary.BigEndian.Uint16(port))
	h.done = h.skip == 0
}

// trusted reports whether the TCP peer "ip:port" is a configured load
// balancer. Loop goroutine (OnConnect); the set is fixed after New.
func (s *Server) trusted(peer string) bool {
	if len(s.cfg.proxyTrusted) == 0 {
		return false
	}
	ap, err := netip.ParseAddrPort(peer)
	if err != nil {
		return false
	}
	a := ap.Addr().Unmap()
	for _, p := range s.cfg.proxyTrusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// trustedPrefixes parses transport.proxy_trusted (config.ParsePrefix).
func trustedPrefixes(list []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(list))
	for _, s := range list {
		p, err := config.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("transport: proxy_trusted: %w", err)
		}
		out = append(out, p)
	}
	return out, nil
}

// awaitProxyHeader makes a new connection from a trusted balancer read a
// PROXY header before any frame. Its clock is the frame timeout's, from now.
// Loop goroutine (OnConnect).
func (c *conn) awaitProxyHeader() {
	c.proxy = new(proxyHeader)
	c.proxyPending.Store(true)
	c.partialSince.Store(time.Now().UnixNano())
}

// readProxyHeader feeds the connection's PROXY header from buf, consuming
// only header bytes. It reports true once the header is complete and the
// connection admitted, with the frames that followed it still in buf; false
// while more is needed (buf is then empty) or when the connection is being
// closed (bad header, or the accept check refused the client it names).
// Loop goroutine (UnPacket).
func (c *conn) readProxyHeader(buf *ringbuffer.RingBuffer) bool {
	h := c.proxy
	first, end := buf.PeekAll()
	n, err := h.feed(first)
	if err == nil && !h.done {
		var m int
		m, err = h.feed(end)
		n += m
	}
	buf.Retrieve(n)
	if err != nil {
		c.dropInput = true
		buf.RetrieveAll()
		c.closeFor(reasonProxyHeader, zap.Error(err))
		return false
	}
	if !h.done {
		return false
	}
	c.proxy = nil
	c.proxyPending.Store(false)
	c.partialSince.Store(0)
	if h.src.IsValid() {
		c.sess.SetPeer(h.src.String())
	}
	// The per-address accept check, skipped at accept for the balancer,
	// applies to the client it named (or, for LOCAL/UNKNOWN, to the
	// balancer).
	if !c.srv.accepts(c.sess.Peer()) {
		c.srv.refused.Add(1)
		c.dropInput = true
		buf.RetrieveAll()
		refusal := wire.EncodeError("error", wire.CodeOverloaded, refusedByPolicy, 0)
		if c.ws != nil {
			// Before the upgrade: an HTTP answer, written as it is.
			_ = c.send(outRaw, httpRefusal(refusal))
		} else {
			_ = c.Send(refusal)
		}
		c.closeFor(reasonRefused)
		return false
	}
	return true
}
