// Package middleware holds Parley's shipped middleware, each registered by name
// with pipeline.Register and placed in the chain by the pipeline list of the
// configuration:
//
//	recover    turns a panic below it into an "internal" reply, logged once
//	logging    one line per frame (debug), refusals at warn; never a body
//	metrics    frame counters, refusals by code, time below it (Prometheus)
//	auth       only public types before login; identity fields = the user after
//	ratelimit  token buckets per connection, user and address; accept-time cap
//	maxbody    per-type body size limit (the worked example of docs/MIDDLEWARE.md)
//	slowlog    warns about requests slower than a threshold
//
// The default chain, first entry outermost, is
//
//	pipeline:
//	  - use: recover
//	  - use: logging
//	  - use: metrics
//	  - use: auth
//	  - use: ratelimit
//
// Order is meaning. recover is outermost so it covers everything; logging and
// metrics sit outside auth and ratelimit so refusals are logged and counted.
// ratelimit sits inside auth: requests auth refuses never spend the budget of
// an address that neighbours behind the same NAT share, and public types
// (login, register) still reach it. The price is that a client flooding
// without logging in gets unauthenticated replies, never a rate_limited
// disconnect; list ratelimit before auth to count those too (chain_test.go
// shows both). Order never comes from registration or import order, only from
// that list.
//
// # What this package owns
//
// One file per middleware: its options struct (yaml tags, documented fields
// that double as the configuration reference), its factory (defaults for zero
// values, validation, everything computed once), and its per-request closure.
// Files without a middleware of their own are what several share: deps.go
// (reading pipeline.Deps, classifying results), identity.go (auth's body
// scanner) and buckets.go (ratelimit's bounded bucket map).
//
// # What it must not do
//
//   - Block. The chain runs on dispatcher workers, one request of a session at
//     a time; the accept-time check of ratelimit runs on a gev loop. Nothing
//     here does I/O, waits on a rate limiter (Allow only, never Wait), or
//     holds a lock longer than a map operation. Log writes are buffered by the
//     root logger.
//   - Grow with client input. Every map keyed by something a client chooses is
//     bounded: message types outside Deps.Types become "other" (metrics, logs)
//     or share the default rule (ratelimit, maxbody); per-user and per-address
//     buckets are capped and swept. Per-connection state lives on the
//     session (session.Value) and dies with it.
//   - Log secrets. No line carries a request body or an error message (which
//     may quote one): only the envelope, the session, the user, the outcome
//     and the code.
//   - Allocate per request on the served path. The chain above is measured at
//     0 allocs/op (docs/PERFORMANCE.md); refusals are prebuilt errors.
//   - Keep goroutines. Bounded maps sweep themselves lazily when touched, so
//     no middleware needs to be closed.
//
// Errors follow the pipeline's three outcomes: a *pipeline.Error is a reply
// and the connection stays open (auth, ratelimit, maxbody), a
// *pipeline.Disconnect is a reply and a close (ratelimit, for a client that
// keeps flooding), anything else is "internal" and is logged once.
package middleware
