// Package houserules has no code of its own. Its test turns the import rules of
// docs/ARCHITECTURE.md ("Rules of the house") into failures of `go test ./...`:
//
//   - only transport/ imports gev (github.com/Allenxuxu/...), tests included;
//   - wire/ depends on the standard library only (and internal/jsonscan),
//     client/ on the standard library and wire/ only, so the SDK stays light;
//   - go.uber.org/fx is imported only in app/, and reaches no binary but
//     cmd/parleyd, which imports nothing of Parley's but app;
//   - no package imports one of its own layer or above it (the layers are
//     written once, in houserules_test.go).
//
// It lives in a package of its own rather than in app/ or a root test because
// it judges every package equally and belongs to none of them.
package houserules
