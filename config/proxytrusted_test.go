package config

import (
	"fmt"
	"net/netip"
	"reflect"
	"testing"
)

// TestProxyTrustedBadEntryNamedByLine: each refused entry of
// transport.proxy_trusted is reported at its own line, all at once.
func TestProxyTrustedBadEntryNamedByLine(t *testing.T) {
	src := `transport:
  proxy_trusted:
    - 10.0.0.0/8
    - 10.0.0.300/8
    - 2001:db8::/32
    - fe80::1%eth0
    - 192.0.2.7
`
	path := writeConfig(t, src)
	_, err := load(path, nil)
	at := func(marker, rest string) string {
		return fmt.Sprintf("%s:%d: %s", path, lineOf(t, src, marker), rest)
	}
	wantProblems(t, err,
		at("10.0.0.300/8", `transport.proxy_trusted[1]: want a CIDR prefix such as "10.0.0.0/8" or an address such as "192.0.2.7", got "10.0.0.300/8"`),
		at("fe80::1%eth0", `transport.proxy_trusted[3]: want a CIDR prefix`),
	)
}

// TestProxyTrustedFromEnvironment: the list is comma-separated in the
// environment, replaces the file's list, and a bad entry is reported at the
// variable (not at a line of the replaced file list).
func TestProxyTrustedFromEnvironment(t *testing.T) {
	path := writeConfig(t, "transport:\n  proxy_trusted: [10.0.0.0/8]\n")
	cfg, err := load(path, []string{"PARLEY_TRANSPORT_PROXY_TRUSTED=192.0.2.0/24, 2001:db8::7"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"192.0.2.0/24", "2001:db8::7"}; !reflect.DeepEqual(cfg.Transport.ProxyTrusted, want) {
		t.Fatalf("ProxyTrusted = %q, want %q", cfg.Transport.ProxyTrusted, want)
	}
	_, err = load(path, []string{"PARLEY_TRANSPORT_PROXY_TRUSTED=10.0.0.0/8,nope"})
	wantProblems(t, err, `env PARLEY_TRANSPORT_PROXY_TRUSTED: transport.proxy_trusted: want a CIDR prefix such as "10.0.0.0/8" or an address such as "192.0.2.7", got "nope"`)
	cfg, err = load(path, []string{"PARLEY_TRANSPORT_PROXY_TRUSTED="})
	if err != nil || cfg.Transport.ProxyTrusted == nil || len(cfg.Transport.ProxyTrusted) != 0 {
		t.Fatalf("empty variable: %q, %v; want the empty list", cfg.Transport.ProxyTrusted, err)
	}
}

func TestParsePrefix(t *testing.T) {
	for in, want := range map[string]string{
		"10.1.2.3/8":    "10.0.0.0/8",
		"192.0.2.7":     "192.0.2.7/32",
		"2001:db8::1":   "2001:db8::1/128",
		"2001:db8::/32": "2001:db8::/32",
		// Peers are compared unmapped: a mapped address means its IPv4 one.
		"::ffff:10.0.0.5": "10.0.0.5/32",
		"10.0.0.0/33":     "",
		"":                "",
		"example.com":     "",
		"fe80::1%eth0":    "",
	} {
		p, err := ParsePrefix(in)
		if want == "" {
			if err == nil {
				t.Errorf("ParsePrefix(%q) = %v, want an error", in, p)
			}
			continue
		}
		if err != nil || p != netip.MustParsePrefix(want) {
			t.Errorf("ParsePrefix(%q) = %v, %v; want %s", in, p, err, want)
		}
	}
}
