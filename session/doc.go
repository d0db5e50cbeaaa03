// Package session owns what the server knows about one connection (Session)
// and which connections belong to which user (Registry).
//
// A Session is created by transport when a connection opens and closed when it
// ends. It does not know about gev: it talks to the connection through the Conn
// interface, whose Send and Close are safe from any goroutine. Handlers and
// middleware see sessions through pipeline.Request; pushes to other users go
// through the Deliverer interface, never by reaching into the Registry, so that
// a multi-node backend (NATS) can replace it later.
package session
