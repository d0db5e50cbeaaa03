package middleware

import (
	"context"
	"fmt"

	"github.com/parley-im/parley/internal/jsonscan"
	"github.com/parley-im/parley/pipeline"
	"github.com/parley-im/parley/wire"
)

func init() { pipeline.Register("auth", newAuth) }

// authOptions configure the auth middleware:
//
//	pipeline:
//	  - use: auth
//	    with:
//	      public: [register, login, ping, resume]
//	      identity_fields: [user_id, send_id]
type authOptions struct {
	// Public are the types served before login. They also skip the identity
	// check: login and register name the account in user_id, which is not
	// (yet) the session's user. Absent means the default list; an explicit
	// empty list means nothing is served before login.
	Public []string `yaml:"public"`
	// IdentityFields are the top-level body fields that name the acting user.
	// After login each one present must equal the session's user. Absent
	// means the default list; an explicit empty list turns the check off.
	IdentityFields []string `yaml:"identity_fields"`
}

var (
	defaultPublic         = []string{wire.TypeRegister, wire.TypeLogin, wire.TypePing, wire.TypeResume}
	defaultIdentityFields = []string{"user_id", "send_id"}
)

// newAuth builds the middleware that binds requests to the logged-in user.
// The seed server trusted the user_id in every body and served everything
// before login (seed-protocol.md §6, B11); the seed client always sends the
// id the login reply gave it, so enforcing both is invisible to it.
//
// Refusals are *pipeline.Error values: the connection stays open, because a
// confused client deserves an answer, not a hang-up.
func newAuth(o authOptions, _ pipeline.Deps) (pipeline.Middleware, error) {
	if o.Public == nil {
		o.Public = defaultPublic
	}
	if o.IdentityFields == nil {
		o.IdentityFields = defaultIdentityFields
	}
	for _, f := range o.IdentityFields {
		if f == "" || !jsonscan.Plain([]byte(f)) {
			return nil, fmt.Errorf("identity_fields: %q: field names must be plain ASCII", f)
		}
	}
	// Public names are not checked against the router: the default list is
	// written for the full router, a narrower one (a tool, a test) need not
	// serve all of it, and allowing a type nobody serves is harmless (the
	// router refuses it).
	public := make(map[string]struct{}, len(o.Public))
	for _, t := range o.Public {
		public[t] = struct{}{}
	}
	identity := newIdentityCheck(o.IdentityFields)

	return func(next pipeline.Handler) pipeline.Handler {
		return func(ctx context.Context, req *pipeline.Request) (pipeline.Reply, error) {
			if _, ok := public[req.Type]; ok {
				return next(ctx, req)
			}
			user := req.Session.UserID()
			if user == "" {
				return nil, pipeline.ErrUnauthenticated
			}
			if err := identity.check(req.Body, user); err != nil {
				return nil, err
			}
			return next(ctx, req)
		}
	}, nil
}
