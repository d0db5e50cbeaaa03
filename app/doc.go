// Package app assembles Parley with fx: one fx.Module per package, started and
// stopped in dependency order, so that the transport stops (and drains) before
// the database closes and the log is flushed last.
//
// The domain packages (transport, pipeline, handlers, db, ...) do not import
// fx; the wiring lives here, in one place a newcomer can read top to bottom.
package app
