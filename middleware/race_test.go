//go:build race

package middleware

// raceEnabled shrinks the flood tests under the race detector, which makes
// map operations about ten times slower; the bound they check is the same.
const raceEnabled = true
