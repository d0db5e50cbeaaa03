package transport

import (
	"strings"
	"testing"

	gevlog "github.com/Allenxuxu/gev/log"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func TestRouteGevLog(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	RouteGevLog(zap.New(core, zap.AddCaller()))
	defer RouteGevLog(zap.New(gevCore)) // no server runs meanwhile: gev's logger is unsynchronised
	gevlog.Error("[close fd]", "bad file descriptor")
	gevlog.Errorf("accept: %v", "EMFILE")
	entries := logs.AllUntimed()
	if len(entries) != 2 {
		t.Fatalf("%d entries", len(entries))
	}
	for _, e := range entries {
		if e.LoggerName != "gev" || e.Level != zapcore.WarnLevel || strings.Contains(e.Message, "[Gev]") {
			t.Fatalf("entry %+v", e)
		}
		if strings.Contains(e.Caller.File, "transport/log.go") || strings.Contains(e.Caller.File, "gev/log/") {
			t.Fatalf("caller %s should be the code that logged", e.Caller.File)
		}
	}
	if entries[1].Message != "accept: EMFILE" {
		t.Fatalf("message %q", entries[1].Message)
	}
}
