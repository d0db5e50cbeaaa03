// Package cluster makes several parleyd processes one service: every node is
// equal, all share one PostgreSQL database, and pushes cross nodes over NATS
// (docs/CLUSTER.md).
//
// It owns Directory, the multi-node implementation of the handlers' session
// directory (Bind, Online, Deliver): the local session.Registry first, then
// NATS for the sessions other nodes hold. Each node subscribes to one subject
// per locally online user (prefix.u.<user>), so NATS's own interest table is
// the presence map: it needs no heartbeat of ours and heals by itself when a
// node dies, because the server drops a dead connection's subscriptions.
// Control events for every node (revoke, resync after an outage) go on
// prefix.ctl.
//
// What it must not do: make local delivery wait for or depend on NATS (a
// push to a session of this node is queued before NATS is touched, and works
// with NATS down); hold a lock across a NATS round trip; decode or re-encode
// push bodies (they are encoded once, by the handlers, and forwarded as they
// are); import handlers (app wires the few callbacks it needs: resync and
// revoke).
package cluster
