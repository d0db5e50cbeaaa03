// Package importseed owns `parleyd import-seed`: reading the C++ seed
// server's MySQL/MariaDB database (../shared/seed-protocol.md §4: m_user,
// m_friends_relation, m_chatlist, m_friends_message) and writing it into
// Parley's database, so that unchanged Qt clients log in with their old
// passwords and find their friends, chat lists and unread messages.
//
// It owns the mapping from the seed's rows to Parley's (and the decisions
// about dirty rows: each one reported with its keys and counted), the order
// and batching of the reads, password hashing on bounded workers, progress
// reporting and the resume rules. It does not own Parley's tables: every
// write goes through db's import batch (db/seedimport.go), which also keeps
// the checkpoints.
//
// It must never write or log a password in plain text: a password exists
// only between the read of its row and its argon2id hash (internal/passhash,
// the same encoding as register and login). It must not require the seed
// server to be stopped to read (it only SELECTs), but the Parley server
// should not run on the target while it writes.
package importseed
