package config

import (
	"fmt"
	"math"
	"sort"
	"strings"
)

// Problem is one thing wrong with the configuration, located as precisely as
// its source allows.
type Problem struct {
	// Where is "parley.yaml:12" for a value from the file, "env PARLEY_DB_DSN"
	// for one from the environment, "defaults" for a built-in pipeline entry,
	// or "" for a value set in code.
	Where string
	// Key is the dotted key path, e.g. "transport.max_frame" or "pipeline[2]".
	Key string
	// Msg says what is wrong and, where it helps, what would be right.
	Msg string

	// line orders file problems top to bottom; 0 when not from the file.
	line int
}

// String is "where: key: msg", leaving out empty parts.
func (p Problem) String() string {
	parts := make([]string, 0, 3)
	for _, s := range []string{p.Where, p.Key, p.Msg} {
		if s != "" {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, ": ")
}

// Error carries every problem found by Load or Validate, so an operator fixes
// the whole file in one pass instead of one error per restart.
type Error struct {
	Problems []Problem
}

// Error prints one problem per line.
func (e *Error) Error() string {
	if len(e.Problems) == 1 {
		return "config: " + e.Problems[0].String()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "config: %d problems:", len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	return b.String()
}

// errorOf returns nil for no problems, so callers can return it directly.
// File problems come first, top to bottom, as an editor would visit them;
// the rest keep the order they were found in.
func errorOf(problems []Problem) error {
	if len(problems) == 0 {
		return nil
	}
	sorted := append([]Problem(nil), problems...)
	rank := func(p Problem) int {
		if p.line > 0 {
			return p.line
		}
		return math.MaxInt
	}
	sort.SliceStable(sorted, func(i, j int) bool { return rank(sorted[i]) < rank(sorted[j]) })
	return &Error{Problems: sorted}
}

// origin is where one key's value came from.
type origin struct {
	file string // set for a value from the file
	line int
	env  string // set for a value from the environment
}

func (o origin) where() string {
	switch {
	case o.env != "":
		return "env " + o.env
	case o.file != "":
		return fmt.Sprintf("%s:%d", o.file, o.line)
	}
	return ""
}

// problemAt builds a Problem located at o.
func problemAt(o origin, key, msg string) Problem {
	p := Problem{Where: o.where(), Key: key, Msg: msg}
	if o.env == "" {
		p.line = o.line
	}
	return p
}
