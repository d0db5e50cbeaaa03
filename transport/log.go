package transport

import (
	"fmt"
	"strings"

	gevlog "github.com/Allenxuxu/gev/log"
	"go.uber.org/zap"
)

// RouteGevLog sends gev's own log lines (which otherwise go to the standard
// library logger) to l, named "gev", at warn level: on Linux gev logs only
// errors (a failed accept, epoll_ctl or close), and its API does not say
// which level a line was. It also lowers gev's threshold to errors: at its
// default level gev drops every one of them. gev's logger is process-wide
// and not synchronised, so call this once, before any Server starts.
func RouteGevLog(l *zap.Logger) {
	gevlog.SetPrefix("")
	gevlog.SetLevel(gevlog.LevelError)
	gevlog.SetLogger(gevLogger{l.Named("gev").WithOptions(zap.AddCallerSkip(4))})
}

type gevLogger struct{ l *zap.Logger }

func (g gevLogger) Log(v ...any) { g.l.Warn(strings.TrimSpace(fmt.Sprint(v...))) }

func (g gevLogger) Logf(format string, v ...any) {
	g.l.Warn(strings.TrimSpace(fmt.Sprintf(format, v...)))
}
