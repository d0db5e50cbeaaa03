// Package transport is Parley's network edge and the only package that
// imports gev (github.com/Allenxuxu/gev v0.5.0). It owns accepting
// connections, framing ([4-byte big-endian length][body], the wire rules; or
// WebSocket text messages on the second listener, below), handing frames
// to the pipeline in order, the slow-consumer and idle policies, and a
// graceful shutdown. It must not decode bodies, know about users or touch a
// store: a frame body goes to FrameServer.Serve and replies come back through
// session.Session.Send. gev types never leave this package.
//
// # Goroutines and what may run on them
//
//   - The main reactor (gev's listener loop) accepts and assigns each new
//     connection round-robin to a sub reactor. Stop also runs one task on it.
//   - cfg.Loops sub reactors (gev loops) run, for their connections only:
//     OnConnect, UnPacket, OnMessage, Packet, OnClose and the afterSend hook.
//     These must never block: a blocked loop stalls reads, writes, Sends,
//     Closes and new connections of every connection on it. They take only
//     short mutexes (a mailbox, the run queue, the connection map, a
//     connection's gone lock) and never do I/O besides gev's own. The accept
//     check (SetAcceptCheck) runs here too, so it must be just as quick.
//   - Dispatcher goroutines run FrameServer.Serve in two lanes:
//     cfg.Workers for logged-in sessions and cfg.LoginWorkers for sessions
//     not logged in yet, so logins waiting for password hashing can hold
//     only the login lane. A session's frames run one at a time, in arrival
//     order, always on one worker at a time (a session's turn is queued on
//     one lane at a time; it moves to the user lane after its login frame);
//     different sessions run in parallel. A worker runs at most 16 frames of
//     a session before requeueing it behind the others. Serve may block
//     (database, group commit, password hashing): that holds a worker, not a
//     loop.
//   - One sweep goroutine applies the frame-timeout, write-stall and idle
//     policies, every quarter of the shortest deadline.
//   - Session.Send and Session.Close (session.Conn) are safe from any
//     goroutine and never wait for the network: Send frames the body into
//     the connection's output buffer and, unless one is already queued,
//     queues one flush task on the connection's loop (gev Connection.Send),
//     which writes everything buffered so far with one write(2). Sends from
//     one goroutine are written in order. OnMessage never returns a reply,
//     because gev writes a returned value at once, ahead of queued Sends.
//   - Start, Stop, Addr, Stats may be called from any goroutine;
//     SetAcceptCheck only before Start.
//
// # Limits (config.Transport; zero means config.Default()'s value)
//
//   - MaxFrame: a longer length prefix closes the connection (the stream
//     cannot be resynchronised). A zero-length frame is passed on as an
//     empty body; the pipeline answers bad_request.
//   - MaxQueued: bytes of received frames waiting for a worker, per
//     connection (each frame also counts 32 bytes, so empty frames are
//     bounded). Above it the connection is closed as a flood.
//   - FrameTimeout and MaxPartialBytes: UnPacket consumes all input; a
//     frame that has started but not finished is held by the connection's
//     assembler (partial.go), never in gev's buffer. It must complete within
//     FrameTimeout of its first byte (the sweep checks), and all connections
//     together hold at most MaxPartialBytes in such frames: past it the
//     connections that have held bytes longest are closed.
//   - MaxPending: bytes of output not yet taken by the kernel. A Send is
//     always queued while the backlog is at most MaxPending (one reply of
//     any size reaches a reading peer); above it, until the backlog would
//     pass 2 x MaxPending, where the connection is closed as a slow consumer.
//   - WriteStall: output pending, in gev or unacknowledged in the kernel's
//     send queue (SIOCOUTQ), of which the peer took nothing for this long
//     closes the connection; progress, not emptiness, resets the clock.
//   - MaxConns: 0 means RLIMIT_NOFILE minus a reserve (fdReserve) for the
//     database, logs and admin port. HeartbeatTimeout applies to sessions that
//     have pinged (Session.Pinged); LegacyIdle (long: 6 h in the shipped
//     configuration, 0 turns it off) to those that never did, because the
//     seed client neither pings nor reconnects.
//   - MaxConns and the accept check refuse at accept with an "overloaded"
//     error frame; Stop finishes the frames already received, flushes their
//     replies, then sends a "goaway" frame before closing.
//   - ProxyTrusted (proxy.go): a connection from a listed load balancer, on
//     either listener, must begin with a PROXY protocol header (v1 or v2),
//     read in UnPacket before any frame (or WebSocket upgrade request) and
//     within FrameTimeout of the connect; the client it names
//     becomes the session's peer (Session.SetPeer), and the accept check is
//     asked about that client then, not about the balancer at accept. A
//     missing or bad header closes the connection. From other peers the
//     header is never read: its bytes are a frame length like any other.
//
// # WebSocket (ws.go, wshandshake.go, wsclose.go)
//
// ListenWebSocket adds a second gev server (its own main reactor and
// cfg.Loops sub reactors) whose connections speak RFC 6455 with Parley's own
// parser instead of the wire framing; everything else is shared: the
// dispatcher, the limits (MaxFrame caps a message over all its fragments),
// MaxConns, the sweep and Stop. A connection's framing is fixed at accept
// (conn.ws), and Session.Send writes one text frame there. The upgrade
// request must complete within web.ws_handshake_timeout and web.ws_max_header
// bytes; a refusal is an HTTP error, then a close. A violation closes that
// connection with its close code; the server's close frame is followed by a
// write shutdown and a short linger (wsLinger) so that the peer reads it
// instead of an RST. WebSocket ping and pong touch the session (liveness).
//
// # gev v0.5.0 bugs contained here (LIBRARIES.md §1)
//
//   - Zero-length frames: returning (nil, empty) from UnPacket ends gev's
//     parse loop and strands the frames behind it; complete frames are
//     reported with a non-nil ctx (frameReady).
//   - Loop-shared read buffer: UnPacket copies every body out.
//   - No maximum frame size: enforced in UnPacket.
//   - Busy loop with a peer that sends but does not read: gev keeps EPOLLIN
//     armed while output is pending but ignores it, so level-triggered epoll
//     spins. After a Send leaves output pending, afterSend re-registers the
//     fd for EPOLLOUT only; gev re-enables reads itself when output drains.
//   - Unbounded output and a stale WriteBufferLength (refreshed only after
//     socket events): afterSend publishes the real length after every Send,
//     and MaxPending plus the write-stall sweep bound memory and time.
//   - Ring buffers that grow, never shrink, and are pooled grown on close
//     (the next connection keeps them for life): partial frames never enter
//     gev's input buffer, and OnClose swaps grown buffers for empty ones
//     before gev pools them (shedBuffers).
//   - Stop: gev's Stop closes no connection, calls no OnClose, leaves the
//     listener's dup(2) fd open (the port stays bound) and is lost when
//     called right after Start (a poller closed before its Poll began never
//     stops). Server.Stop closes both listener fds itself, runs a task on
//     every loop first (so each is polling), closes and drains connections,
//     then repeats gev's Stop until its Start returns.
//   - Logging: gev drops its own error lines at its default level and
//     prints the rest through the standard logger; RouteGevLog sends them to
//     zap.
//   - No API for the accepted fd (keepalive, TCP_NODELAY), the bound port
//     with ":0", the output buffer, the poller or the loops: gevinternals.go
//     reads these unexported fields at offsets found by reflection and
//     checked by type, so a different gev version fails New instead of
//     corrupting memory. Nothing else in the package uses unsafe.
//
// Not contained: a failing accept (EMFILE) is logged by gev and retried on
// every loop wake-up while the listener stays readable.
package transport
