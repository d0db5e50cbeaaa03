package main

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/app/apptest"
)

// A mixed storm against a parleyd started here: a share of the users is not
// warmed up, and the bench reports cached and cold logins apart, each
// through the Qt client's whole login (login, get_unread_messages, chatting),
// with the cached-only reference storm and the cold logins' estimated CPU.
func TestMixedStormReportsCachedAndCold(t *testing.T) {
	srv, err := startServer(serverFlags{parleyd: apptest.BuildParleyd(t), driver: "sqlite"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.stop)
	out := captureStdout(t, func() error {
		return runStorm(srv, stormOpts{n: 8, coldShare: 0.25, loginTimeout: time.Minute, pushTimeout: time.Minute})
	})
	for _, want := range []string{
		"warm-up: 6 logins", "cache=mixed,25%cold", "login cached ok=100.00%", "login cold ok=100.00%", "delivery ok=100.00%",
		"cpu per cold login: server=",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in the output", want)
		}
	}
	// Every client went through the catch-up (its chatting reply came),
	// in the reference storm and in the mixed one.
	for _, row := range []string{`\+ catch-up \(reference\)\s+6\s+100\.00`, `\+ catch-up \(cached\)\s+6\s+100\.00`, `\+ catch-up \(cold\)\s+2\s+100\.00`} {
		if !regexp.MustCompile(row).MatchString(out) {
			t.Errorf("no row %s", row)
		}
	}
}

func TestIsColdSpreadsTheShare(t *testing.T) {
	for _, c := range []struct {
		n     int
		share float64
		want  int
	}{{2000, 0, 0}, {2000, 1, 2000}, {2000, 0.1, 200}, {8, 0.25, 2}, {10, 0.5, 5}} {
		got, run := 0, 0
		for i := range c.n {
			if isCold(i, c.share) {
				got++
				run++
				if c.share < 0.5 && run > 1 {
					t.Errorf("share %v: cold users %d and %d are neighbours, want them spread", c.share, i-1, i)
				}
			} else {
				run = 0
			}
		}
		if got != c.want {
			t.Errorf("n=%d share=%v: %d cold, want %d", c.n, c.share, got, c.want)
		}
	}
}
