// Package client is the Go SDK for Parley: dial, log in (or resume), send
// messages with idempotent retries, receive them exactly once and in order,
// keep the connection alive with heartbeats, and reconnect by itself.
//
// It owns one TCP connection at a time to one server and everything a Parley
// aware program needs on top of the seed protocol (docs/PROTOCOL.md):
//
//   - Requests carry a "seq"; object replies echo it and are matched by it.
//     The seed's list replies are arrays without seq; they are matched by type,
//     first come first served, because the server answers one connection's
//     requests strictly in order.
//   - Send gives every message a client_msg_id, so a resend after a lost reply
//     is stored once and answered with the same message_id.
//   - Messages() delivers receive_message pushes, deduplicated by message_id.
//     After a reconnect the client resumes (token) or logs in again, then
//     syncs from the last message it has seen and acknowledges what it
//     delivered, so nothing is lost or repeated across reconnects.
//   - Groups (docs/PROTOCOL.md §6.6): CreateGroup, AddGroupMembers and the
//     other membership calls, SendGroup (idempotent like Send), Groups and
//     ChatList with unread counts, MarkGroupRead, GroupSync and GroupHistory.
//     GroupMessages() delivers group_message pushes, best effort (a full
//     channel drops, order across senders may vary): GroupSync from the
//     highest group_seq seen fills any gap.
//   - A ping every heartbeat interval keeps the server's heartbeat timeout
//     armed; a silent server is dropped and the client reconnects with
//     jittered exponential backoff. A goaway push reconnects at once.
//
// What it must not do: import anything but the standard library and wire (it
// is used by the bench tool and by third-party programs, which should not pull
// in the server), start goroutines that outlive Close, or buffer without bound.
package client
