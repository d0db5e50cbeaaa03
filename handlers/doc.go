// Package handlers holds the typed request handlers and the Router that
// dispatches to them by message "type".
//
// Register a handler with On, giving the request and reply types; the router
// decodes the raw body into the request type (any key order, any whitespace),
// calls the handler, and encodes the reply. Handlers reach storage and other
// users only through narrow interfaces declared in this package, so they can be
// read (and tested) without the rest of the server.
//
// The router is the innermost handler of the pipeline: authentication, rate
// limits and the rest have already run when a handler is called.
package handlers
