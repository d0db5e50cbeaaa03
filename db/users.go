package db

import (
	"context"
	"errors"
	"time"

	"github.com/uptrace/bun"
)

// Defaults of a new account, as the seed's Register procedure sets them.
const (
	DefaultAvatar     = "/default.jpg"
	DefaultUserStatus = "inactive"
	emailDomain       = "@an.com"
)

// User is one account. PasswordHash is whatever the accounts layer stores
// (a bcrypt/argon2 string); this package never sees or compares passwords.
type User struct {
	ID, Phone, Name, Email, Avatar, Status, PasswordHash string
	Created                                              time.Time
}

type userRow struct {
	bun.BaseModel `bun:"table:users"`

	ID           string    `bun:"id,pk"`
	Phone        string    `bun:"phone"`
	Name         string    `bun:"name"`
	Email        string    `bun:"email"`
	Avatar       string    `bun:"avatar"`
	Status       string    `bun:"status"`
	PasswordHash string    `bun:"password_hash"`
	CreatedAt    time.Time `bun:"created_at"`
}

func (r *userRow) user() *User {
	return &User{
		ID: r.ID, Phone: r.Phone, Name: r.Name, Email: r.Email, Avatar: r.Avatar,
		Status: r.Status, PasswordHash: r.PasswordHash, Created: r.CreatedAt.UTC(),
	}
}

// CreateUser inserts u, filling the seed's defaults into u first: ID = Phone
// when empty, Email = ID+"@an.com", Avatar "/default.jpg", Status "inactive",
// Created = now (UTC, seconds) when zero. ErrConflict if the id is taken.
func (s *Store) CreateUser(ctx context.Context, u *User) error {
	if u.ID == "" {
		u.ID = u.Phone
	}
	if u.ID == "" {
		return errors.New("db: CreateUser: empty id and phone")
	}
	if u.Email == "" {
		u.Email = u.ID + emailDomain
	}
	if u.Avatar == "" {
		u.Avatar = DefaultAvatar
	}
	if u.Status == "" {
		u.Status = DefaultUserStatus
	}
	if u.Created.IsZero() {
		u.Created = now()
	} else {
		u.Created = utc(u.Created)
	}
	row := userRow{
		ID: u.ID, Phone: u.Phone, Name: u.Name, Email: u.Email, Avatar: u.Avatar,
		Status: u.Status, PasswordHash: u.PasswordHash, CreatedAt: u.Created,
	}
	return s.write(ctx, "CreateUser", func(ctx context.Context) error {
		// DO NOTHING + row count instead of catching the unique violation:
		// a duplicate registration is an expected answer, not a server error
		// to be logged by PostgreSQL.
		res, err := s.db.NewInsert().Model(&row).On("CONFLICT (id) DO NOTHING").Exec(ctx)
		return affectedOr(res, err, ErrConflict)
	})
}

// UserByID returns the account with this exact id, or ErrNotFound.
func (s *Store) UserByID(ctx context.Context, id string) (*User, error) {
	var row userRow
	err := s.read(ctx, "UserByID", func(ctx context.Context) error {
		return s.queryRow(ctx, nil, &userByID, &row, id)
	})
	if err != nil {
		return nil, err
	}
	return row.user(), nil
}

// userByID is prepared: every password login reads its user row
// (docs/PERFORMANCE.md, storm: 19 % of the server's CPU when bun rendered it).
var userByID = prepared{render: func(s *Store) string {
	return s.db.NewSelect().Model((*userRow)(nil)).Where("?TableAlias.id = ?", s.arg(1)).Limit(1).String()
}}

// SetPasswordHash replaces the stored hash (registration, rehash on login).
// ErrNotFound if there is no such user.
func (s *Store) SetPasswordHash(ctx context.Context, id, hash string) error {
	return s.setUserColumn(ctx, "SetPasswordHash", id, "password_hash", hash)
}

// SetUserStatus stores the presence status ("active", "inactive", "busy";
// not validated here). ErrNotFound if there is no such user.
func (s *Store) SetUserStatus(ctx context.Context, id, status string) error {
	return s.setUserColumn(ctx, "SetUserStatus", id, "status", status)
}

func (s *Store) setUserColumn(ctx context.Context, op, id, column, value string) error {
	return s.write(ctx, op, func(ctx context.Context) error {
		res, err := s.db.NewUpdate().Model((*userRow)(nil)).
			Set("? = ?", bun.Ident(column), value).
			Where("id = ?", id).
			Exec(ctx)
		return affectedOr(res, err, ErrNotFound)
	})
}

// affectedOr turns "the statement changed no row" into none, the error the
// caller gives for that case.
func affectedOr(res interface{ RowsAffected() (int64, error) }, err error, none error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return none
	}
	return nil
}
