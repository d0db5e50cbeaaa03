// Package apptest starts a whole Parley server inside a test, on a free port,
// with a fresh SQLite file or a fresh PostgreSQL schema, and speaks the wire
// protocol to it over real sockets. It is the harness of every end-to-end test
// (in the manner of nats-server's test.RunServer).
package apptest
