package app

import (
	"go.uber.org/fx"

	"github.com/parley-im/parley/config"
	"github.com/parley-im/parley/transport"
	"github.com/parley-im/parley/web"
)

// webModule serves the browser client's page and assets on web.listen (nil
// *web.Server when that is empty). The page chats over the transport's
// WebSocket endpoint, whose address it is given per request: the page's
// host name with the endpoint's bound port. It starts after the transport
// and stops before it, so a page is never served for a chat that is gone.
var webModule = fx.Module("web",
	fx.Provide(func(cfg *config.Config, srv *transport.Server, l Logger, lc fx.Lifecycle) *web.Server {
		if cfg.Web.Listen == "" {
			return nil
		}
		w := web.New(web.Options{
			Listen: cfg.Web.Listen,
			WebSocket: func(host string, tls bool) string {
				if cfg.Web.WSListen == "" {
					return ""
				}
				return web.URL(host, srv.WSAddr(), transport.WSPath, tls)
			},
			Log: l.Named("web"),
		})
		lc.Append(fx.StartStopHook(func() error {
			if err := w.Start(); err != nil {
				return err
			}
			// The Origin check compares with the page's bound address, so
			// web.listen ":0" (tests) is same-origin like a fixed port.
			return srv.SetPageAddr(w.Addr())
		}, w.Stop))
		return w
	}),
	fx.Invoke(func(*web.Server) {}),
)
