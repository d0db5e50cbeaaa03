// Package jsoncmp measures encoding/json against two drop-in alternatives
// (github.com/goccy/go-json, github.com/json-iterator/go) on Parley's two
// hottest JSON operations: decoding a send_message body as the Qt client
// writes it, and encoding the receive_message push. It is a module of its own
// so that the server does not depend on the alternatives; the result and the
// decision are in docs/PERFORMANCE.md (Round 3, "JSON").
//
//	cd docs/perf/jsoncmp && go test -run '^$' -bench . -benchmem -count 5
package jsoncmp
