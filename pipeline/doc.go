// Package pipeline is the path every decoded frame takes between transport and
// the typed handlers: Request in, Reply (or error) out, through a Chain of
// Middleware built once at start-up from the YAML list.
//
// It owns three things:
//   - the contract: Request, Reply, Handler, Middleware;
//   - the registry of named middleware factories with typed, strictly decoded
//     options, and Build, which turns the configured list into one Handler;
//   - the error model, applied in exactly one place (Edge.Serve): a *Error is
//     an error reply and the connection stays open, a *Disconnect is an error
//     reply followed by a close, anything else (or a panic) is an "internal"
//     error reply, logged once with its stack.
//
// Nothing here may block on I/O other than what a handler chooses to do; the
// chain runs on dispatcher workers, never on a gev loop.
package pipeline
