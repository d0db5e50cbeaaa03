// Package wire is the Parley protocol as bytes: the length-prefixed frame, the
// envelope every message shares, and the typed messages of the seed protocol
// and of Parley's extensions.
//
// A frame is a 4-byte big-endian length followed by that many bytes of UTF-8
// JSON. The length counts the body only. Decoding accepts any key order and
// any whitespace, because the seed Qt client sends sorted, indented JSON with
// a trailing newline.
//
// wire is shared by the server and by the Go client SDK, so it must never
// import gev, fx, bun or zap: only the standard library.
package wire
