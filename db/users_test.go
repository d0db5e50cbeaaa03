package db

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestCreateUserDefaults(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		u := User{Phone: "13800000000", Name: "alice", PasswordHash: "$2a$10$hash"}
		if err := s.CreateUser(ctxT(t), &u); err != nil {
			t.Fatalf("CreateUser: %v", err)
		}
		if u.ID != "13800000000" || u.Email != "13800000000@an.com" ||
			u.Avatar != "/default.jpg" || u.Status != "inactive" {
			t.Fatalf("defaults not filled: %+v", u)
		}
		if u.Created.IsZero() || u.Created.Location() != time.UTC || u.Created.Nanosecond() != 0 {
			t.Fatalf("Created = %v, want now in UTC at second precision", u.Created)
		}
		got, err := s.UserByID(ctxT(t), "13800000000")
		if err != nil {
			t.Fatalf("UserByID: %v", err)
		}
		if !got.Created.Equal(u.Created) {
			t.Fatalf("Created round trip: got %v want %v", got.Created, u.Created)
		}
		got.Created = u.Created
		if *got != u {
			t.Fatalf("round trip:\n got %+v\nwant %+v", *got, u)
		}
	})
}

func TestCreateUserExplicitFields(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		created := time.Date(2024, 11, 2, 16, 8, 43, 0, time.FixedZone("CST", 8*3600))
		u := User{ID: "1", Phone: "555", Name: "x", Email: "aa@an.com", Avatar: ":/images/avatar/1.png",
			Status: "active", Created: created}
		if err := s.CreateUser(ctxT(t), &u); err != nil {
			t.Fatalf("CreateUser: %v", err)
		}
		got, err := s.UserByID(ctxT(t), "1")
		if err != nil {
			t.Fatalf("UserByID: %v", err)
		}
		if got.Phone != "555" || got.Email != "aa@an.com" || got.Avatar != ":/images/avatar/1.png" ||
			got.Status != "active" || !got.Created.Equal(created) || got.Created.Location() != time.UTC {
			t.Fatalf("got %+v", *got)
		}
	})
}

func TestCreateUserConflict(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		mustUsers(t, s, "42")
		err := s.CreateUser(ctxT(t), &User{Phone: "42", Name: "impostor"})
		wantErr(t, "duplicate CreateUser", err, ErrConflict)
		if IsUnavailable(err) {
			t.Fatalf("conflict classified unavailable: %v", err)
		}
		got, err := s.UserByID(ctxT(t), "42")
		if err != nil || got.Name != "n42" {
			t.Fatalf("original user changed: %+v, %v", got, err)
		}
	})
}

func TestCreateUserEmptyID(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		err := s.CreateUser(ctxT(t), &User{Name: "nobody"})
		if err == nil || errors.Is(err, ErrConflict) || errors.Is(err, ErrNotFound) {
			t.Fatalf("CreateUser without id/phone: err = %v, want a plain error", err)
		}
	})
}

func TestUserByIDNotFound(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		_, err := s.UserByID(ctxT(t), "missing")
		wantErr(t, "UserByID(missing)", err, ErrNotFound)
	})
}

func TestSetPasswordHashAndStatus(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		mustUsers(t, s, "7")
		if err := s.SetPasswordHash(ctxT(t), "7", "$argon2id$v=19$x"); err != nil {
			t.Fatalf("SetPasswordHash: %v", err)
		}
		if err := s.SetUserStatus(ctxT(t), "7", "busy"); err != nil {
			t.Fatalf("SetUserStatus: %v", err)
		}
		got, err := s.UserByID(ctxT(t), "7")
		if err != nil {
			t.Fatalf("UserByID: %v", err)
		}
		if got.PasswordHash != "$argon2id$v=19$x" || got.Status != "busy" {
			t.Fatalf("got %+v", *got)
		}
		wantErr(t, "SetPasswordHash(missing)", s.SetPasswordHash(ctxT(t), "missing", "h"), ErrNotFound)
		wantErr(t, "SetUserStatus(missing)", s.SetUserStatus(ctxT(t), "missing", "active"), ErrNotFound)
	})
}

// hostile strings are stored and returned byte for byte: values are always
// bound (bun quotes them), never spliced into SQL. '?' matters because it is
// bun's placeholder.
var hostile = []string{
	`'`,
	`'); DELETE FROM users; --`,
	`' OR '1'='1`,
	`Robert"); DROP TABLE messages;--`,
	`back\slash \' \\`,
	`?`, `? ?0 ?TableAlias`,
	`50% _under_`,
	"猫 🐱 café  tab\tnew\nline",
	"العربية עברית",
}

func TestUserStringsVerbatim(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		for i, str := range hostile {
			id := string(rune('a'+i)) + str
			u := User{ID: id, Phone: str, Name: str, Email: str, Avatar: str, Status: str, PasswordHash: str}
			if err := s.CreateUser(ctxT(t), &u); err != nil {
				t.Fatalf("CreateUser(%q): %v", str, err)
			}
			got, err := s.UserByID(ctxT(t), id)
			if err != nil {
				t.Fatalf("UserByID(%q): %v", id, err)
			}
			if got.ID != id || got.Phone != str || got.Name != str || got.Email != str ||
				got.Avatar != str || got.Status != str || got.PasswordHash != str {
				t.Fatalf("not verbatim:\n got %+v\nwant %q", *got, str)
			}
		}
		// Nothing was executed: every user is still there.
		for i, str := range hostile {
			if _, err := s.UserByID(ctxT(t), string(rune('a'+i))+str); err != nil {
				t.Fatalf("user %d lost: %v", i, err)
			}
		}
		// A lookup with an injection string finds nothing rather than everything.
		_, err := s.UserByID(ctxT(t), `' OR '1'='1`)
		wantErr(t, "UserByID(injection)", err, ErrNotFound)
	})
}

func TestCanceledContext(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := s.UserByID(ctx, "x")
		if err == nil || errors.Is(err, ErrNotFound) {
			t.Fatalf("UserByID on a canceled context: err = %v", err)
		}
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled in the chain", err)
		}
	})
}
