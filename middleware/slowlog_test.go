package middleware

import (
	"context"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/parley-im/parley/pipeline"
)

func TestSlowLog(t *testing.T) {
	for _, tc := range []struct {
		name  string
		with  string
		sleep time.Duration
		lines int
	}{
		{name: "fast request", with: "{threshold: 1h}", lines: 0},
		{name: "slow request", with: "{threshold: 1ms}", sleep: 5 * time.Millisecond, lines: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			core, logs := observer.New(zapcore.DebugLevel)
			d := testDeps(zap.New(core))
			h := one(t, "slowlog", tc.with, d, func(context.Context, *pipeline.Request) (pipeline.Reply, error) {
				time.Sleep(tc.sleep)
				return okReply, nil
			})
			s, _ := newSession(d.Sessions, "10.0.0.1:1")

			if reply, err := h(context.Background(), request(s, "friends", nil)); err != nil || reply == nil {
				t.Fatalf("slowlog changed the result: %q, %v", reply, err)
			}

			if logs.Len() != tc.lines {
				t.Fatalf("%d lines, want %d: %v", logs.Len(), tc.lines, logs.All())
			}
			if tc.lines == 1 {
				e := logs.All()[0]
				if e.Level != zapcore.WarnLevel || e.ContextMap()["type"] != "friends" || e.ContextMap()["dur"] == nil {
					t.Fatalf("line %v %v", e.Level, e.ContextMap())
				}
			}
		})
	}
}

func TestSlowLogOptionErrors(t *testing.T) {
	for with, want := range map[string]string{
		"{threshold: -1s}": "must be positive",
		"{threshold: 250}": `line 2: threshold: want a duration`,
		"{treshold: 1s}":   `line 2: unknown option "treshold"`,
	} {
		if got := buildErr(t, "slowlog", with, testDeps(nil)); !contains(got, want) {
			t.Errorf("%s: got %q, want %q", with, got, want)
		}
	}
}
