package importseed

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"
)

// Steps, in the order they run. A later step needs the users of the first.
const (
	StepUsers     = "users"
	StepRelations = "relations"
	StepChats     = "chats"
	StepMessages  = "messages"
)

var steps = []string{StepUsers, StepRelations, StepChats, StepMessages}

// Decisions taken about a dirty row.
const (
	Skipped  = "skipped"  // the row is not imported
	Repaired = "repaired" // the row is imported with the field fixed as said
)

// Problem is one kind of dirty data found in a step, with the decision
// taken; Summary counts them.
type Problem struct {
	Step, What, Decision string
}

// Counts are one step's rows.
type Counts struct {
	Read int64 // rows read from the seed
	// Added are the rows written to Parley (for relations: directed rows,
	// two per pair); in a dry run, the rows that would be.
	Added int64
	// Present are rows already in Parley from an earlier run (nothing
	// written).
	Present int64
	// Skipped rows are not imported (see Problems for why); Repaired rows
	// are, with at least one field fixed.
	Skipped, Repaired int64
}

// Summary is what an import did (or, in a dry run, would do).
type Summary struct {
	DryRun bool
	// Resumed lists the steps that continued after a checkpoint.
	Resumed  []string
	Steps    map[string]*Counts
	Problems map[Problem]int64
	// Hashed passwords, the wall time spent hashing them (workers in
	// parallel) and the CPU time the process used meanwhile; the wall time
	// spent in write transactions (all steps); the whole run's wall time
	// and the CPU time the process used (Linux; 0 elsewhere). On a shared
	// machine CPU times measure the work, wall times also the wait.
	Hashed             int64
	HashWall, HashCPU  time.Duration
	WriteWall, Elapsed time.Duration
	CPU                time.Duration
	// WouldHash counts, in a dry run, the passwords a real run would hash.
	WouldHash   int64
	Workers     int
	Interrupted bool
}

func newSummary(dry bool, workers int) *Summary {
	s := &Summary{DryRun: dry, Workers: workers, Steps: map[string]*Counts{}, Problems: map[Problem]int64{}}
	for _, st := range steps {
		s.Steps[st] = &Counts{}
	}
	return s
}

// Changes is the number of rows written (or, dry, that would be).
func (s *Summary) Changes() int64 {
	var n int64
	for _, c := range s.Steps {
		n += c.Added
	}
	return n
}

// Write prints the summary for people.
func (s *Summary) Write(w io.Writer) {
	verb := "import-seed"
	if s.DryRun {
		verb = "import-seed DRY RUN (nothing written; \"added\" = would be added)"
	}
	if s.Interrupted {
		verb += " INTERRUPTED (run it again to continue)"
	}
	fmt.Fprintf(w, "%s: %d changes in %s\n", verb, s.Changes(), s.Elapsed.Round(time.Millisecond))
	fmt.Fprintf(w, "  %-10s %9s %9s %9s %9s %9s\n", "step", "read", "added", "present", "skipped", "repaired")
	for _, st := range steps {
		c := s.Steps[st]
		fmt.Fprintf(w, "  %-10s %9d %9d %9d %9d %9d\n", st, c.Read, c.Added, c.Present, c.Skipped, c.Repaired)
	}
	if len(s.Resumed) > 0 {
		fmt.Fprintf(w, "  resumed after a checkpoint: %s\n", strings.Join(s.Resumed, ", "))
	}
	if s.Hashed > 0 || s.WriteWall > 0 {
		fmt.Fprintf(w, "  hashing: %d passwords on %d workers, %s wall, %s CPU; writing: %s wall; the whole run: %s CPU\n",
			s.Hashed, s.Workers, s.HashWall.Round(time.Millisecond), s.HashCPU.Round(time.Millisecond),
			s.WriteWall.Round(time.Millisecond), s.CPU.Round(time.Millisecond))
	}
	if s.WouldHash > 0 {
		fmt.Fprintf(w, "  passwords to hash: %d (about %s on %d workers at %s a hash)\n", s.WouldHash,
			(time.Duration(s.WouldHash) * hashCost / time.Duration(s.Workers)).Round(time.Second), s.Workers, hashCost)
	}
	if len(s.Problems) == 0 {
		fmt.Fprintln(w, "  dirty data: none")
		return
	}
	fmt.Fprintln(w, "  dirty data (each row is in the log with its keys):")
	keys := make([]Problem, 0, len(s.Problems))
	for p := range s.Problems {
		keys = append(keys, p)
	}
	slices.SortFunc(keys, func(a, b Problem) int {
		if c := slices.Index(steps, a.Step) - slices.Index(steps, b.Step); c != 0 {
			return c
		}
		return strings.Compare(a.What, b.What)
	})
	for _, p := range keys {
		fmt.Fprintf(w, "    %-9s %7d %-8s %s\n", p.Step, s.Problems[p], p.Decision, p.What)
	}
}

// hashCost is about one argon2id hash with passhash.Current on one core
// of an unloaded machine (docs/PERFORMANCE.md), for a dry run's estimate.
const hashCost = 40 * time.Millisecond

// maxLoggedPerProblem bounds the log lines of one kind of problem: the
// counts stay exact, the log stays readable when one bad user has 100,000
// messages.
const maxLoggedPerProblem = 100

// reporter counts problems and logs each (up to maxLoggedPerProblem per
// kind) with its keys. It never logs a value that could be a password.
type reporter struct {
	log *zap.Logger
	sum *Summary
}

func (r *reporter) problem(step, key, what, decision string) {
	p := Problem{Step: step, What: what, Decision: decision}
	r.sum.Problems[p]++
	switch n := r.sum.Problems[p]; {
	case n <= maxLoggedPerProblem:
		r.log.Warn("seed row", zap.String("step", step), zap.String("key", key),
			zap.String("problem", what), zap.String("decision", decision))
	case n == maxLoggedPerProblem+1:
		r.log.Warn("more seed rows with this problem: counted in the summary, not logged",
			zap.String("step", step), zap.String("problem", what))
	}
}
