// Package db owns Parley's storage: opening the database (SQLite by default,
// PostgreSQL for several nodes), the schema and its migrations, and the Store
// that handlers call for users, friendships, chats and messages.
//
// # What it owns
//
//   - Open: picks the driver (github.com/ncruces/go-sqlite3, SQLite compiled
//     to Go without cgo, or pgdriver), sizes the database/sql pool, checks the
//     connection and applies pending migrations before returning.
//   - The schema, as Go migrations (bun/migrate, marked applied only on
//     success), so one definition produces the DDL for both databases:
//     users (id = phone, as the seed), friendships (one row per direction,
//     both naming who sent the request since migration 0005),
//     chats (one summary per owner and peer), messages (ids only grow;
//     a unique (sender_id, client_msg_id) index for idempotent retries).
//     Indexes are few on purpose, since each one is written for every
//     stored message (migrations 0003 and 0004): undelivered messages are
//     found through a partial index (WHERE delivered = false), which a query
//     can use only if it spells that predicate literally; the idempotency
//     index is partial too (WHERE client_msg_id IS NOT NULL: the seed client
//     sends none), so every ON CONFLICT names that predicate
//     (clientMsgIDConflict); the chat list reads the owner's rows by primary
//     key and sorts them. TestIndexPlans checks the plans.
//     Group chats (migration 0007, groups.go) are stored by read diffusion:
//     chat_groups (GROUPS is an SQL keyword), group_members (role, joined,
//     left and read seqs) and group_messages, one row per message whatever
//     the group's size, keyed (group_id, seq).
//   - The Store and its errors: ErrNotFound, ErrConflict and
//     ErrUnavailable (timeouts, lost connections, locked files, deadlocks:
//     see IsUnavailable), and for friend requests ErrForbidden (accepting
//     one's own request) and ErrLimit (a FriendLimits cap, *LimitError);
//     for groups ErrNotMember, ErrForbidden (a role's permission, adding a
//     non-friend) and ErrLimit (GroupLimits). Any other error is internal.
//
// # Rules it keeps
//
//   - Every value reaches SQL through bun's placeholders, which quote it;
//     no value is ever concatenated into a statement. Strings round-trip
//     byte for byte, with two exceptions imposed by bun v1.2.18: NUL
//     characters are dropped and invalid UTF-8 becomes U+FFFD.
//   - Every call runs under the store's query timeout (a stuck database
//     becomes ErrUnavailable, not a stuck worker). One exception: on SQLite
//     a lock held by another process is waited for under busy_timeout (5s
//     unless the DSN sets it), which SQLite does not cut short.
//   - Times are stored in UTC, at microsecond precision at most; times the
//     store makes itself (created, sent) have second precision.
//   - One transaction per call that writes more than one row:
//     RequestFriend (both relation rows), AcceptFriend (both relation rows,
//     both chat rows, the greeting message), DeleteFriend (relations, chats,
//     messages marked deleted), UpdateChat (the owner's chat row, peer
//     messages marked read), SaveMessage (the message and both chat rows),
//     MarkDelivered (all ids). A failed call changes nothing.
//   - SQLite has one writer at a time: the Store serialises its writes in
//     process (a cancellable slot), and transactions begin IMMEDIATE so a
//     writer never fails on a stale read snapshot. WAL lets reads run
//     beside the writer on the other pooled connections, and WAL
//     checkpoints run on a goroutine of their own (StartCheckpointer), not
//     on the committing connection.
//   - On PostgreSQL, transactions that lock both rows of a pair lock the
//     lower user id first (no deadlocks between them), SaveMessage holds a
//     per-receiver advisory lock so a receiver's messages commit in id order
//     (a MessagesAfter cursor never skips one), RequestFriend and
//     AcceptFriend lock both users' rows (FOR NO KEY UPDATE, lower id first)
//     so the per-user caps they count hold under concurrent requests, and
//     migrations run under an advisory lock so nodes may start together.
//   - A group's seq is drawn under its row's lock (FOR UPDATE on
//     PostgreSQL, the one writer on SQLite) inside the transaction that
//     stores the message, the MessageWriter's group commit included
//     (SaveGroup): no gap, no duplicate, commit in seq order. Membership
//     changes take the same lock and append their system message, so a
//     member's visible range is exact; on PostgreSQL they also take a
//     per-user advisory lock so the groups-per-user cap holds.
//   - One process owns a SQLite file. Several processes on one file work
//     (WAL, busy_timeout) but are not what it is tuned for, and their
//     migrations are not serialised.
//
// # What it must not do
//
//   - No protocol knowledge: no JSON, no wire field names, no replies. The
//     handlers map Store results and errors to the seed protocol.
//   - No policy: it does not check that a sender is logged in, that two
//     users are friends before a message, or that a status value is one the
//     client knows (except UpdateChat's status filter, part of its contract).
//     Handlers decide; the store records. The exception is groups: roles,
//     membership and "members are the adder's friends" are checked inside
//     the transaction that changes the group, because a check before it
//     would race with a concurrent removal; and a system message's body is
//     a wire.GroupEvent, encoded here because it is stored in the stream.
//   - No passwords: it stores the hash it is given and never compares.
//   - No logging of errors it returns (the caller logs once, where it is
//     handled); Open logs the migrations it applies.
//   - Never called from a network loop: every method may block on I/O.
package db
