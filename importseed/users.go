package importseed

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/parley-im/parley/db"
	"github.com/parley-im/parley/internal/passhash"
)

// userStatuses are the seed's m_user.user_status values (Parley keeps them).
var userStatuses = []string{"active", db.DefaultUserStatus, "busy"}

// candidate is one seed user on its way in. password lives only until it
// is hashed.
type candidate struct {
	user     db.User
	password string
	hash     bool // a password to hash (else the account has none)
	repaired bool
}

// importUsers reads every seed user (there is no users checkpoint: each
// run checks every user against Parley, which is one indexed lookup per
// batch and no hashing for users already there, and it rebuilds the set of
// importable ids the other steps need).
func (im *importer) importUsers(ctx context.Context) error {
	total, err := userTable.count(im.work, im.src, nil)
	if err != nil {
		return err
	}
	im.opts.Progress.Start(StepUsers, total)
	defer im.opts.Progress.Finish()
	n := usersPerWorker * im.opts.Workers
	var key []any
	for {
		if ctx.Err() != nil {
			return ErrInterrupted
		}
		rows, err := userTable.page(im.work, im.src, key, n)
		if err != nil {
			return fmt.Errorf("reading m_user: %w", err)
		}
		var batch []*candidate
		var last []byte
		read := 0
		for rows.Next() {
			var id, pw, phone, name, email, avatar, status, created []byte
			if err := rows.Scan(&id, &pw, &phone, &name, &email, &avatar, &status, &created); err != nil {
				rows.Close()
				return fmt.Errorf("reading m_user: %w", err)
			}
			read++
			last = id
			if c := im.userRow(id, pw, phone, name, email, avatar, status, created); c != nil {
				batch = append(batch, c)
			}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return fmt.Errorf("reading m_user: %w", err)
		}
		if read == 0 {
			return nil
		}
		im.sum.Steps[StepUsers].Read += int64(read)
		if err := im.userBatch(batch); err != nil {
			return err
		}
		key = []any{string(last)}
		im.opts.Progress.Add(read)
	}
}

// userRow maps one m_user row, or reports why it is skipped.
func (im *importer) userRow(id, pw, phone, name, email, avatar, status, created []byte) *candidate {
	key := keyOf("user_id", id)
	uid, why := seedID(id)
	if why != "" {
		im.skip(StepUsers, key, "user_id "+why)
		return nil
	}
	f := im.fixer(StepUsers, key)
	c := &candidate{user: db.User{
		ID:      uid,
		Phone:   f.text("user_phone", phone, uid, maxShortRunes),
		Name:    f.text("user_name", name, uid, maxNameRunes),
		Email:   f.text("user_email", email, uid+"@an.com", maxShortRunes),
		Avatar:  f.text("user_avatar", avatar, db.DefaultAvatar, maxShortRunes),
		Status:  f.enum("user_status", status, db.DefaultUserStatus, userStatuses...),
		Created: f.when("user_created", created),
	}}
	// Never a password's value in a report: only what is wrong with it.
	switch {
	case pw == nil || len(pw) == 0:
		f.fix("user_password is NULL or empty: imported without a password (the account cannot log in)")
	case len(pw) > passhash.MaxPasswordBytes:
		f.fix(fmt.Sprintf("user_password longer than %d bytes (login refuses it): imported without a password", passhash.MaxPasswordBytes))
	default:
		if !utf8.Valid(pw) {
			// Hashed as stored: repairing would not make it typeable
			// either (the client sends UTF-8).
			im.rep.problem(StepUsers, key, "user_password is not valid UTF-8: hashed as stored (the user may need a new password)", "kept")
		}
		c.password, c.hash = string(pw), true
	}
	c.repaired = f.repaired
	return c
}

// userBatch sorts a batch into users already in Parley (the same account:
// nothing to do; another account with that id: skipped), and new ones,
// which are hashed on the workers and written in one transaction.
func (im *importer) userBatch(batch []*candidate) error {
	ids := make([]string, len(batch))
	for i, c := range batch {
		ids[i] = c.user.ID
	}
	existing, err := im.store.UsersByIDs(im.work, ids)
	if err != nil {
		return err
	}
	have := make(map[string]*db.User, len(existing))
	for i := range existing {
		have[existing[i].ID] = &existing[i]
	}
	counts := im.sum.Steps[StepUsers]
	var fresh []*candidate
	for _, c := range batch {
		if c.repaired {
			counts.Repaired++
		}
		if old, ok := have[c.user.ID]; ok {
			c.password = ""
			if !sameAccount(old, &c.user) {
				im.skip(StepUsers, keyOf("user_id", c.user.ID),
					"user_id is taken by a different Parley account (phone, name, email or creation time differ)")
				continue
			}
			counts.Present++
			im.users[c.user.ID] = struct{}{}
			continue
		}
		fresh = append(fresh, c)
	}
	if len(fresh) == 0 {
		return nil
	}
	if im.opts.DryRun {
		for _, c := range fresh {
			if c.hash {
				im.sum.WouldHash++
			}
			c.password = ""
		}
	} else {
		im.hash(fresh)
	}
	users := make([]db.User, len(fresh))
	for i, c := range fresh {
		users[i] = c.user
		im.users[c.user.ID] = struct{}{}
	}
	return im.write(StepUsers, "", len(users), func(ctx context.Context, tx db.ImportTx) (int64, error) {
		return tx.InsertUsers(ctx, users)
	})
}

// sameAccount: the Parley user with a seed user's id is that seed user
// (imported by an earlier run) when the fields the server never changes
// match. Status, avatar and password may have changed since.
func sameAccount(old, u *db.User) bool {
	return old.Phone == u.Phone && old.Name == u.Name && old.Email == u.Email &&
		old.Created.Truncate(time.Second).Equal(u.Created.UTC().Truncate(time.Second))
}

// hash replaces each candidate's password by its argon2id hash, on
// Options.Workers goroutines, and forgets the password.
func (im *importer) hash(cs []*candidate) {
	// The process does nothing else meanwhile, so its CPU time is the
	// hashes' (argon2 runs on goroutines of its own: a thread's time
	// would miss it).
	start, cpu := time.Now(), processCPU()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(im.opts.Workers, len(cs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(cs) {
					return
				}
				c := cs[i]
				if !c.hash {
					continue
				}
				c.user.PasswordHash = passhash.Hash(c.password, passhash.Current)
				c.password = ""
			}
		}()
	}
	wg.Wait()
	for _, c := range cs {
		if c.hash {
			im.sum.Hashed++
		}
	}
	im.sum.HashWall += time.Since(start)
	im.sum.HashCPU += processCPU() - cpu
}
