// Package handlers holds the typed request handlers of the seed protocol and
// the Router that dispatches to them by message "type".
//
// Register a handler with On, giving the request and reply types; the router
// decodes the raw body into the request type (any key order, any whitespace),
// calls the handler, and encodes the reply. The requests are answered by one
// type per area, each built by New with only what it uses: Accounts
// (accounts.go, resume.go), Friends (friends.go), Chats (chats.go) and
// Messages (messages.go, sync.go). What areas share is a small collaborator
// New hands to each explicitly (chatLists, delivery, friendship). Areas
// holds them and registers every request, with ping, in Areas.Register.
// docs/PROTOCOL.md is the reference for what each one accepts and answers.
//
// What this package owns:
//   - the protocol's rules that the unchanged Qt client depends on: ids and
//     counts as strings, whole lists in one frame, the seed's null objects,
//     one catch-up message per frame, a non-empty file_path;
//   - delivery bookkeeping: a message is acknowledged only after it is
//     committed, pushed (encoded once) to every session of the receiver, and
//     its delivered flag corrected to what the push achieved;
//   - passwords: argon2id on a bounded pool whose full queue answers
//     "overloaded" (hashpool.go), behind a cache of recently verified
//     credentials that never holds a password (credentials.go); a login
//     that needs a hash parks its session instead of holding a worker, and
//     failed logins are limited per account (loginfailures.go).
//
// What it must not do: reach into the session registry or the database other
// than through the narrow interfaces declared beside the code that uses them
// (AccountStore, FriendStore... and Binder, Presence; Store and
// SessionDirectory are only their unions, for New),
// so storage and delivery can change (PostgreSQL, NATS) without touching a
// handler; turn errors into frames itself (it returns *pipeline.Error and the
// edge encodes it); or log a password, a hash or a message body.
//
// The router is the innermost handler of the pipeline: authentication, rate
// limits and the rest have already run when a handler is called. Handlers
// still check the session's identity themselves, so they stay correct under
// any pipeline configuration. They run on dispatcher workers, never on a gev
// loop, and may block on the database and on password hashing.
package handlers
