// Package web serves the browser client: one HTML page, its JavaScript
// modules and its stylesheet, embedded in the binary (static/), over plain
// net/http on web.listen.
//
// It owns the page, the assets and the HTTP headers that fence them in: a
// strict Content-Security-Policy (scripts, styles and images from this
// origin only, no inline code, no eval, connections only to the chat's
// WebSocket address), nosniff, no framing, no referrer. The page learns the
// WebSocket address from a meta tag rendered per request.
//
// What it must not do: carry chat traffic (that is the WebSocket endpoint's,
// on gev's reactors in transport/), import anything of Parley's (it is handed
// the WebSocket address as a function), or serve anything but its embedded
// files: no directory listing, no file from disk.
package web
