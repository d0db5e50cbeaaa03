package app_test

import (
	"fmt"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/parley-im/parley/app/apptest"
	"github.com/parley-im/parley/config"
	"github.com/parley-im/parley/wire"
)

// TestProxyProtocolPerAddressConnectionCap: behind a trusted balancer (this
// test, over loopback), ratelimit's per-address connection cap counts the
// clients the PROXY headers name: a second connection of one client is
// refused while another client behind the same balancer gets in. Without
// the trusted list, the same cap sees only the balancer and refuses its
// second connection whoever the client.
func TestProxyProtocolPerAddressConnectionCap(t *testing.T) {
	oneConnEach := func(trusted []string) apptest.Option {
		var with yaml.Node
		if err := yaml.Unmarshal([]byte("{idle_ttl: 1000h, conn_per_ip: {rate: 0.001, burst: 1}}"), &with); err != nil {
			t.Fatal(err)
		}
		return apptest.WithConfig(func(c *config.Config) {
			c.Transport.ProxyTrusted = trusted
			for i := range c.Pipeline {
				if c.Pipeline[i].Use == "ratelimit" {
					c.Pipeline[i].With = *with.Content[0]
				}
			}
		})
	}
	viaBalancer := func(srv *apptest.Server, header string) *apptest.Client {
		c := srv.Dial(t)
		c.SendRaw(append([]byte(header), wire.AppendFrame(nil, ping(1))...))
		return c
	}
	v1 := func(client string) string {
		return fmt.Sprintf("PROXY TCP4 %s 127.0.0.1 40000 12345\r\n", client)
	}

	srv := apptest.Start(t, oneConnEach([]string{"127.0.0.1"}))
	expectPong(t, viaBalancer(srv, v1("192.0.2.1")), 1)
	again := viaBalancer(srv, v1("192.0.2.1"))
	expectError(t, again, wire.CodeOverloaded)
	again.ExpectClosed(5 * time.Second)
	expectPong(t, viaBalancer(srv, v1("192.0.2.2")), 1)

	direct := apptest.Start(t, oneConnEach(nil))
	first := direct.Dial(t)
	first.Send(ping(1))
	expectPong(t, first, 1)
	second := direct.Dial(t)
	expectError(t, second, wire.CodeOverloaded)
	second.ExpectClosed(5 * time.Second)
}
