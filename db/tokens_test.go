package db

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestResumeTokens(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := ctxT(t)
		mustUsers(t, s, "1", "2")
		at := time.Now().UTC().Truncate(time.Second)
		tok := ResumeToken{Hash: "aa", UserID: "1", CreatedAt: at, ExpiresAt: at.Add(time.Hour)}
		if err := s.SaveResumeToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
		wantErr(t, "same hash twice", s.SaveResumeToken(ctx, tok), ErrConflict)
		wantErr(t, "unknown user", s.SaveResumeToken(ctx, ResumeToken{Hash: "bb", UserID: "9", ExpiresAt: at.Add(time.Hour)}), ErrNotFound)

		if u, err := s.ResumeTokenUser(ctx, "aa", at); err != nil || u != "1" {
			t.Fatalf("valid token: %q %v", u, err)
		}
		_, err := s.ResumeTokenUser(ctx, "aa", at.Add(time.Hour))
		wantErr(t, "expired token", err, ErrNotFound)
		_, err = s.ResumeTokenUser(ctx, "zz", at)
		wantErr(t, "unknown token", err, ErrNotFound)

		if err := s.RevokeResumeToken(ctx, "aa"); err != nil {
			t.Fatal(err)
		}
		_, err = s.ResumeTokenUser(ctx, "aa", at)
		wantErr(t, "revoked token", err, ErrNotFound)

		// Revoking a user's tokens leaves other users' alone.
		for i, u := range []string{"1", "1", "2"} {
			if err := s.SaveResumeToken(ctx, ResumeToken{Hash: fmt.Sprint("r", i), UserID: u, CreatedAt: at, ExpiresAt: at.Add(time.Hour)}); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.RevokeResumeTokens(ctx, "1"); err != nil {
			t.Fatal(err)
		}
		for _, h := range []string{"r0", "r1"} {
			if _, err := s.ResumeTokenUser(ctx, h, at); !errors.Is(err, ErrNotFound) {
				t.Fatalf("token %s of a revoked user: %v", h, err)
			}
		}
		if u, err := s.ResumeTokenUser(ctx, "r2", at); err != nil || u != "2" {
			t.Fatalf("other user's token: %q %v", u, err)
		}
	})
}

// A user who logs in again and again keeps a bounded number of tokens, the
// newest; expired ones go at the next issue.
func TestResumeTokensBounded(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := ctxT(t)
		mustUsers(t, s, "1")
		at := time.Now().UTC().Truncate(time.Second)
		if err := s.SaveResumeToken(ctx, ResumeToken{Hash: "old", UserID: "1", CreatedAt: at.Add(-2 * time.Hour), ExpiresAt: at.Add(-time.Hour)}); err != nil {
			t.Fatal(err)
		}
		n := MaxResumeTokensPerUser + 5
		for i := 0; i < n; i++ {
			if err := s.SaveResumeToken(ctx, ResumeToken{Hash: fmt.Sprintf("t%03d", i), UserID: "1", CreatedAt: at.Add(time.Duration(i) * time.Second), ExpiresAt: at.Add(time.Hour)}); err != nil {
				t.Fatal(err)
			}
		}
		count, err := s.db.NewSelect().Model((*resumeTokenRow)(nil)).Where("user_id = ?", "1").Count(ctx)
		if err != nil || count != MaxResumeTokensPerUser {
			t.Fatalf("%d tokens stored (%v), want %d", count, err, MaxResumeTokensPerUser)
		}
		if _, err := s.ResumeTokenUser(ctx, "t000", at); !errors.Is(err, ErrNotFound) {
			t.Fatalf("oldest token survived: %v", err)
		}
		if u, err := s.ResumeTokenUser(ctx, fmt.Sprintf("t%03d", n-1), at); err != nil || u != "1" {
			t.Fatalf("newest token: %q %v", u, err)
		}
	})
}

// SaveResumeTokens stores a batch and keeps SaveResumeToken's bounds; a
// batch with an unknown user stores nothing.
func TestSaveResumeTokensBatch(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := ctxT(t)
		mustUsers(t, s, "1", "2")
		at := time.Now().UTC().Truncate(time.Second)
		if err := s.SaveResumeToken(ctx, ResumeToken{Hash: "old", UserID: "1", CreatedAt: at.Add(-2 * time.Hour), ExpiresAt: at.Add(-time.Hour)}); err != nil {
			t.Fatal(err)
		}
		var batch []ResumeToken
		n := MaxResumeTokensPerUser + 5
		for i := 0; i < n; i++ {
			batch = append(batch, ResumeToken{Hash: fmt.Sprintf("t%03d", i), UserID: "1", CreatedAt: at.Add(time.Duration(i) * time.Second), ExpiresAt: at.Add(time.Hour)})
		}
		batch = append(batch, ResumeToken{Hash: "u2", UserID: "2", ExpiresAt: at.Add(time.Hour)})
		if err := s.SaveResumeTokens(ctx, batch); err != nil {
			t.Fatal(err)
		}
		count, err := s.db.NewSelect().Model((*resumeTokenRow)(nil)).Where("user_id = ?", "1").Count(ctx)
		if err != nil || count != MaxResumeTokensPerUser {
			t.Fatalf("%d tokens stored for 1 (%v), want %d", count, err, MaxResumeTokensPerUser)
		}
		for _, h := range []string{"old", "t000", "t004"} {
			if _, err := s.ResumeTokenUser(ctx, h, at); !errors.Is(err, ErrNotFound) {
				t.Fatalf("token %s survived: %v", h, err)
			}
		}
		for h, want := range map[string]string{"t005": "1", fmt.Sprintf("t%03d", n-1): "1", "u2": "2"} {
			if u, err := s.ResumeTokenUser(ctx, h, at); err != nil || u != want {
				t.Fatalf("token %s: %q %v", h, u, err)
			}
		}
		bad := []ResumeToken{{Hash: "x1", UserID: "2", ExpiresAt: at.Add(time.Hour)}, {Hash: "x2", UserID: "404", ExpiresAt: at.Add(time.Hour)}}
		if err := s.SaveResumeTokens(ctx, bad); err == nil {
			t.Fatal("a batch with an unknown user was stored")
		}
		if _, err := s.ResumeTokenUser(ctx, "x1", at); !errors.Is(err, ErrNotFound) {
			t.Fatalf("part of a failed batch was stored: %v", err)
		}
	})
}

func TestMarkDeliveredUpTo(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := ctxT(t)
		mustUsers(t, s, "1", "2", "3")
		mustFriends(t, s, "1", "2")
		mustFriends(t, s, "1", "3")
		var to2 []Message
		for i := 0; i < 4; i++ {
			to2 = append(to2, mustSend(t, s, "1", "2", fmt.Sprint(i)))
		}
		to3 := mustSend(t, s, "1", "3", "other user")
		if err := s.MarkDeliveredUpTo(ctx, "2", to2[1].ID); err != nil {
			t.Fatal(err)
		}
		un, err := s.Undelivered(ctx, "2", 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(un) != 2 || un[0].ID != to2[2].ID || un[1].ID != to2[3].ID {
			t.Fatalf("undelivered after ack: %+v", un)
		}
		// Another receiver's messages are untouched, even with lower ids.
		if err := s.MarkDeliveredUpTo(ctx, "2", to3.ID+100); err != nil {
			t.Fatal(err)
		}
		un3, err := s.Undelivered(ctx, "3", 0)
		if err != nil || len(un3) != 1 {
			t.Fatalf("user 3's message: %+v %v", un3, err)
		}
	})
}
