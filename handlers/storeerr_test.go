package handlers

import (
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// TestStoreUnavailableLoggedOnce: a refusal is logged by the logging
// middleware, sampled. The handler must not add a warn line of its own for
// every request while the database is down (that line was unsampled: an
// outage under load wrote one per request); it keeps the cause at debug.
func TestStoreUnavailableLoggedOnce(t *testing.T) {
	e := newEnv(t)
	a, _ := e.friends()
	core, logs := observer.New(zapcore.DebugLevel)
	e.svc.Accounts.log = zap.New(core)
	_ = e.bdb.Close() // every query now fails as unavailable

	got := object(t, a.one(map[string]any{"type": "search_user", "user_id": "1", "search_id": "2"}))
	want(t, got, map[string]string{"type": "search_user", "status": "error", "code": "unavailable"})
	if n := logs.FilterLevelExact(zapcore.DebugLevel).FilterMessage("store unavailable").Len(); n != 1 {
		t.Fatalf("%d debug lines with the cause, want 1: %v", n, logs.All())
	}
	if n := logs.Filter(func(e observer.LoggedEntry) bool { return e.Level > zapcore.InfoLevel }).Len(); n != 0 {
		t.Fatalf("%d warn or error lines for a refusal the logging middleware already logs: %v", n, logs.All())
	}
}
